"""Policy value on the three-arm Hillstrom experiment by inverse propensity weighting.

A policy gives each held-out customer a probability of each arm (none, men's
e-mail, women's e-mail). Because the arms were randomized with known
propensity 1/3, the expected outcome per customer had everyone been treated
by the policy is estimated without bias by inverse propensity weighting
(IPS). The value reported is incremental over mailing nobody, estimated on
the same customers, so mailing nobody is 0 by construction.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from promoloop.benchmarks.hillstrom_data import (
    ARM_SEGMENTS,
    CONTROL_SEGMENT,
    TEST_SIZE,
    feature_matrix,
)
from promoloop.benchmarks.models import linear_outcome, shallow_lgbm
from promoloop.errors import InputError
from promoloop.uplift import TwoModelLearner

logger = logging.getLogger(__name__)

NONE = "none"
ARMS = [NONE, *ARM_SEGMENTS.values()]
DESIGN_PROPENSITY = 1 / 3


def ips_contributions(
    outcome,
    logged_arm,
    policy_probs,
    propensity: float = DESIGN_PROPENSITY,
    cost: float = 0.0,
) -> np.ndarray:
    """Return each customer's IPS term of a policy's value over mailing nobody.

    For customer i with logged arm :math:`a_i`, outcome :math:`y_i` and
    policy probabilities :math:`\\pi_i(a)` over ``ARMS`` (none first),

    .. math:: c_i = \\frac{\\pi_i(a_i) \\, y_i}{p}
        - \\frac{1[a_i = none] \\, y_i}{p} - \\text{cost} \\, (1 - \\pi_i(none))

    The mean of :math:`c_i` is the IPS estimate of the incremental outcome
    per customer, net of the e-mail cost.

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
        Observed outcome per customer.
    logged_arm : array-like of str, shape (n,)
        Arm each customer was randomized to, one of ``ARMS``.
    policy_probs : array-like of float, shape (n, 3)
        Probability of each arm in ``ARMS`` order; rows sum to 1.
    propensity : float, default 1/3
        Known probability of every arm in the randomized log.
    cost : float, default 0.0
        Cost per e-mail sent, in outcome units.

    Returns
    -------
    ndarray of shape (n,)

    Raises
    ------
    InputError
        On an unknown arm, mismatched lengths, policy rows that do not sum to
        1, or a propensity outside (0, 1].
    """
    y = np.asarray(outcome, dtype=float)
    arms = np.asarray(logged_arm).astype(str)
    probs = np.asarray(policy_probs, dtype=float)
    if not 0 < propensity <= 1:
        raise InputError(
            "invalid propensity", value=propensity, expected="a probability in (0, 1]"
        )
    if probs.shape != (y.size, len(ARMS)) or arms.size != y.size:
        raise InputError(
            "outcome, logged_arm and policy_probs do not match",
            value=f"{y.size} outcomes, {arms.size} arms, policy {probs.shape}",
            expected=f"n outcomes, n arms and an (n, {len(ARMS)}) policy",
        )
    unknown = ~np.isin(arms, ARMS)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise InputError(
            "unknown arm in logged_arm",
            row=row,
            value=arms[row],
            expected=f"one of {ARMS}",
        )
    if not np.allclose(probs.sum(axis=1), 1.0):
        row = int(np.flatnonzero(~np.isclose(probs.sum(axis=1), 1.0))[0])
        raise InputError(
            "policy probabilities do not sum to 1",
            row=row,
            value=float(probs[row].sum()),
            expected="rows summing to 1",
        )

    # Probability the policy gives to the arm that was actually logged.
    codes = pd.Categorical(arms, categories=ARMS).codes
    logged = probs[np.arange(y.size), codes]
    control = (arms == NONE).astype(float)
    return (logged - control) * y / propensity - cost * (1.0 - probs[:, 0])


def bootstrap_mean(values: np.ndarray, n_boot: int, seed: int) -> dict:
    """Return the mean and a percentile bootstrap 95% interval over customers."""
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    # One resample at a time keeps memory at one index vector.
    for b in range(n_boot):
        means[b] = values[rng.integers(0, values.size, values.size)].mean()
    low, high = np.percentile(means, [2.5, 97.5])
    return {"estimate": float(values.mean()), "low": float(low), "high": float(high)}


def budgeted_choice(effects: np.ndarray, cost: float, budget: float) -> np.ndarray:
    """Return one-hot policy rows from per-arm effects, net of cost, under a budget.

    Each customer gets the arm with the larger net effect when it is positive,
    and only the ``budget`` share with the largest net effects is mailed.
    """
    net = effects - cost
    best = net.argmax(axis=1)
    value = net[np.arange(net.shape[0]), best]
    mailed = value > 0
    limit = int(np.floor(budget * net.shape[0]))
    if mailed.sum() > limit:
        keep = np.argsort(-value, kind="stable")[:limit]
        mailed = np.zeros_like(mailed)
        mailed[keep] = True
    probs = np.zeros((net.shape[0], len(ARMS)))
    probs[np.arange(net.shape[0]), np.where(mailed, best + 1, 0)] = 1.0
    return probs


def policy_value_table(
    raw: pd.DataFrame,
    cost: float = 0.10,
    budget: float = 0.5,
    seed: int = 0,
    n_boot: int = 1000,
    estimator: str = "lightgbm",
) -> dict:
    """Estimate the incremental visits and net spend of mailing policies.

    promoloop's T-learner is fitted on a 70% split of all three arms
    (stratified by segment x visit) for visit and for spend. On the held-out
    30%, each policy is valued by IPS with the design propensity 1/3:

    * model policy (spend): the e-mail with the larger predicted spend
      effect minus ``cost``, mailed when that is positive, to at most
      ``budget`` of the customers (largest net effects first);
    * model policy (visit): the same ranking on the predicted visit effect;
    * everyone gets the better single e-mail, chosen by the difference in
      mean spend on the training part;
    * everyone gets a random e-mail (1/2 each);
    * a random ``budget`` share gets a random e-mail;
    * nobody is mailed.

    Parameters
    ----------
    raw : DataFrame
        The Hillstrom file (all three segments).
    cost : float, default 0.10
        Cost per e-mail in dollars, subtracted from spend (not from visits).
    budget : float, default 0.5
        Maximum share of customers the model policies mail.
    seed : int, default 0
        Seed of the split, the models and the bootstrap.
    n_boot : int, default 1000
        Bootstrap resamples of the customers for the 95% intervals.
    estimator : {"lightgbm", "linear"}, default "lightgbm"
        Outcome models of the T-learner: shallow LightGBM, or logistic
        regression for visit and ridge for spend.

    Returns
    -------
    dict
        ``parameters``, ``n_test`` and ``rows``: one per policy with
        ``share_mailed``, ``visits`` and ``net_spend``, each an
        ``estimate`` per customer with bootstrap ``low`` and ``high``.

    Raises
    ------
    InputError
        On a cost below 0, a budget outside (0, 1] or an unknown estimator.
    """
    if cost < 0:
        raise InputError("invalid cost", value=cost, expected="dollars >= 0")
    if not 0 < budget <= 1:
        raise InputError("invalid budget", value=budget, expected="a share in (0, 1]")
    if estimator not in ("lightgbm", "linear"):
        raise InputError(
            "invalid estimator", value=estimator, expected="'lightgbm' or 'linear'"
        )

    # Three-arm log and a split stratified by arm x visit.
    arms = raw["segment"].map({CONTROL_SEGMENT: NONE, **ARM_SEGMENTS}).to_numpy()
    X = feature_matrix(raw)
    strata = pd.Series(arms).astype(str) + "/" + raw["visit"].astype(str).to_numpy()
    train, test = train_test_split(
        np.arange(len(raw)), test_size=TEST_SIZE, random_state=seed, stratify=strata
    )

    # Per-arm effects on the test customers, columns in ARMS[1:] order.
    effects = {}
    for outcome in ("visit", "spend"):
        binary = outcome == "visit"
        base = (
            shallow_lgbm(binary, seed)
            if estimator == "lightgbm"
            else (linear_outcome(binary))
        )
        learner = TwoModelLearner(
            base, control=NONE, treatments=ARMS[1:], random_state=seed
        )
        y = raw[outcome].to_numpy(dtype=float)
        learner.fit(X.iloc[train], arms[train], y[train])
        effects[outcome] = learner.predict(X.iloc[test])

    # Policies as probabilities over ARMS for each test customer.
    n = test.size
    spend = raw["spend"].to_numpy(dtype=float)
    train_means = [spend[train][arms[train] == a].mean() for a in ARMS]
    better = int(np.argmax(train_means[1:])) + 1
    everyone_better = np.zeros((n, len(ARMS)))
    everyone_better[:, better] = 1.0
    policies = {
        "model policy (spend net of cost)": budgeted_choice(
            effects["spend"], cost, budget
        ),
        "model policy (visit)": budgeted_choice(effects["visit"], 0.0, budget),
        f"everyone gets the {ARMS[better]} e-mail": everyone_better,
        "everyone gets a random e-mail": np.tile([0.0, 0.5, 0.5], (n, 1)),
        f"random {budget:.0%} get a random e-mail": np.tile(
            [1 - budget, budget / 2, budget / 2], (n, 1)
        ),
        "nobody": np.tile([1.0, 0.0, 0.0], (n, 1)),
    }

    # IPS value of each policy with bootstrap intervals over the same resamples.
    rows = []
    for name, probs in policies.items():
        visits = ips_contributions(
            raw["visit"].to_numpy(float)[test], arms[test], probs
        )
        net_spend = ips_contributions(spend[test], arms[test], probs, cost=cost)
        rows.append(
            {
                "policy": name,
                "share_mailed": float(1 - probs[:, 0].mean()),
                "visits": bootstrap_mean(visits, n_boot, seed),
                "net_spend": bootstrap_mean(net_spend, n_boot, seed),
            }
        )
    return {
        "parameters": {
            "cost_per_email": cost,
            "budget_share": budget,
            "seed": seed,
            "n_boot": n_boot,
            "estimator": estimator,
            "propensity": DESIGN_PROPENSITY,
        },
        "n_train": int(train.size),
        "n_test": int(n),
        "rows": rows,
    }
