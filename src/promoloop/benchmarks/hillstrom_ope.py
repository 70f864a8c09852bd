"""The Hillstrom e-mail test as a three-action bandit log for off-policy evaluation.

Each customer was randomized to no e-mail, the men's e-mail or the women's
e-mail with probability 1/3, so the held-out part of a split is a bandit log
whose pscore is 1/3 in every round. An uplift policy fitted on the training
part is valued on that log in two ways: by the matched estimate (the mean
outcome of the customers whose randomized arm is the policy's arm) and by
the estimators of :mod:`promoloop.ope`.

For a deterministic policy and pscore :math:`p = 1/3` in every round, with
:math:`m` of the :math:`n` test customers matched,

.. math::

    \\hat{V}_{IPS} = \\frac{1}{n} \\sum_i \\frac{1[a_i = \\pi(x_i)]}{p} y_i
    = \\frac{m}{n p} \\, \\bar{y}_{matched},
    \\qquad \\hat{V}_{SNIPS} = \\bar{y}_{matched},

so IPS is the matched estimate scaled by the matched share over its
expected value :math:`p`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from promoloop.benchmarks.hillstrom_data import (
    ARM_SEGMENTS,
    CONTROL_SEGMENT,
    TEST_SIZE,
    feature_matrix,
)
from promoloop.benchmarks.models import shallow_lgbm
from promoloop.benchmarks.policy import (
    ARMS,
    DESIGN_PROPENSITY,
    NONE,
    bootstrap_mean,
    budgeted_choice,
    ips_contributions,
)
from promoloop.ope import (
    BanditLog,
    InversePropensityScoring,
    deterministic_action_dist,
    evaluate_policy,
    fit_reward_model,
)
from promoloop.uplift import TwoModelLearner

# Assumed cost of one e-mail in outcome units: $0.10 against spend, as in
# the existing policy table, and 0.06 visits against visits. Without a cost
# the visit policy mails almost every customer, since nearly all predicted
# visit effects are positive.
OUTCOME_COSTS = {"spend": 0.10, "visit": 0.06}
OPE_ESTIMATORS = ("ips", "snips", "dr")


def split_customers(raw: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split row positions 70/30, stratified by arm crossed with visit.

    The same split as :func:`promoloop.benchmarks.policy.policy_value_table`.
    """
    arms = logged_arms(raw)
    strata = pd.Series(arms).astype(str) + "/" + raw["visit"].astype(str).to_numpy()
    train, test = train_test_split(
        np.arange(len(raw)), test_size=TEST_SIZE, random_state=seed, stratify=strata
    )
    return train, test


def logged_arms(raw: pd.DataFrame) -> np.ndarray:
    """Return each customer's randomized arm as a label of ``ARMS``."""
    return raw["segment"].map({CONTROL_SEGMENT: NONE, **ARM_SEGMENTS}).to_numpy()


def uplift_policy(
    raw: pd.DataFrame,
    train: np.ndarray,
    test: np.ndarray,
    outcome: str,
    cost: float,
    seed: int,
) -> np.ndarray:
    """Fit a T-learner on ``train`` and choose an arm for each test customer.

    Each test customer gets the e-mail with the larger predicted effect on
    ``outcome`` minus ``cost``, or no e-mail when both are negative
    (:func:`~promoloop.benchmarks.policy.budgeted_choice` without a budget).

    Returns
    -------
    ndarray of float, shape (n_test, 3)
        One-hot rows over ``ARMS``.
    """
    X = feature_matrix(raw)
    arms = logged_arms(raw)
    y = raw[outcome].to_numpy(dtype=float)
    learner = TwoModelLearner(
        shallow_lgbm(outcome == "visit", seed),
        control=NONE,
        treatments=ARMS[1:],
        random_state=seed,
    )
    learner.fit(X.iloc[train], arms[train], y[train])
    effects = learner.predict(X.iloc[test])
    return budgeted_choice(effects, cost, budget=1.0)


def held_out_log(raw: pd.DataFrame, test: np.ndarray, outcome: str) -> BanditLog:
    """Build the bandit log of the test customers: arm, outcome, pscore 1/3."""
    X = feature_matrix(raw).iloc[test].reset_index(drop=True)
    table = X.assign(
        arm=logged_arms(raw)[test],
        outcome=raw[outcome].to_numpy(dtype=float)[test],
        pscore=DESIGN_PROPENSITY,
    )
    return BanditLog.from_frame(
        table,
        action="arm",
        reward="outcome",
        pscore="pscore",
        context=list(X.columns),
        actions=ARMS,
        source=f"Hillstrom test customers, {outcome}",
    )


def matched_estimate(
    log: BanditLog, policy_probs: np.ndarray, n_boot: int, seed: int
) -> dict:
    """Estimate a policy's value by the mean outcome of the matched customers.

    A customer is matched when the randomized arm is the policy's arm.

    Returns
    -------
    dict
        ``estimate``, bootstrap ``low`` and ``high`` over the matched
        customers, ``n_matched`` and ``share_matched`` (of all rounds).
    """
    policy_codes = np.argmax(policy_probs, axis=1)
    matched = log.action == policy_codes
    result = bootstrap_mean(log.reward[matched], n_boot, seed)
    result["n_matched"] = int(matched.sum())
    result["share_matched"] = float(matched.mean())
    return result


def evaluate_split(raw: pd.DataFrame, seed: int, n_boot: int = 1000) -> list[dict]:
    """Value the spend and the visit uplift policies of one split both ways.

    Returns
    -------
    list of dict
        One per outcome, with these keys:

        * ``share_mailed``: share of test customers the policy mails;
        * ``matched``: the result of :func:`matched_estimate`;
        * ``ope``: IPS, SNIPS and DR estimates with intervals, DR with a
          LightGBM reward model cross-fitted on the test part;
        * ``ips_identity_gap``: IPS minus matched mean x share / (1/3);
        * ``incremental_ips_benchmark`` and ``incremental_ips_promoloop``:
          the value over mailing nobody from ``ips_contributions`` and from
          promoloop's IPS;
        * ``intervals_overlap`` and ``estimate_in_matched_interval``: per
          OPE estimator, whether its interval overlaps the matched interval
          and whether its estimate lies inside it.
    """
    train, test = split_customers(raw, seed)
    rows = []
    for outcome, cost in OUTCOME_COSTS.items():
        probs = uplift_policy(raw, train, test, outcome, cost, seed)
        log = held_out_log(raw, test, outcome)
        labels = np.asarray(ARMS)[np.argmax(probs, axis=1)]
        action_dist = deterministic_action_dist(log, labels)
        reward_hat = fit_reward_model(
            log, model="lightgbm", n_folds=2, random_state=seed
        )
        evaluation = evaluate_policy(
            log, action_dist, reward_hat, n_bootstrap=n_boot, random_state=seed
        )
        matched = matched_estimate(log, probs, n_boot, seed)
        ope = {
            name: {
                "estimate": evaluation[name].value,
                "low": evaluation[name].ci_low,
                "high": evaluation[name].ci_high,
            }
            for name in OPE_ESTIMATORS
        }

        # The existing benchmark's incremental value over mailing nobody,
        # and the same difference from promoloop's IPS.
        nobody = deterministic_action_dist(log, np.full(log.n_rounds, NONE))
        ips = InversePropensityScoring()
        logged = np.asarray(log.action_names)[log.action]
        incremental = float(np.mean(ips_contributions(log.reward, logged, probs)))
        rows.append(
            {
                "seed": seed,
                "outcome": outcome,
                "cost_per_email": cost,
                "share_mailed": float(1 - probs[:, 0].mean()),
                "n_test": log.n_rounds,
                "matched": matched,
                "ope": ope,
                "ips_identity_gap": ope["ips"]["estimate"]
                - matched["estimate"] * matched["share_matched"] / DESIGN_PROPENSITY,
                "incremental_ips_benchmark": incremental,
                "incremental_ips_promoloop": ips.estimate_policy_value(log, action_dist)
                - ips.estimate_policy_value(log, nobody),
                "intervals_overlap": {
                    name: bool(
                        values["low"] <= matched["high"]
                        and matched["low"] <= values["high"]
                    )
                    for name, values in ope.items()
                },
                "estimate_in_matched_interval": {
                    name: bool(matched["low"] <= values["estimate"] <= matched["high"])
                    for name, values in ope.items()
                },
            }
        )
    return rows
