"""Propensity weighting for the average effect on the treated (ATT).

The estimator behind :func:`promoloop.evaluation.observational.
estimate_campaign_effects`, usable on any table of covariates:
cross-fitted propensity scores and control outcomes, and
:func:`estimate_att`, which returns the naive, inverse-propensity-weighted
(IPW) and doubly robust (DR) estimates with bootstrap intervals and the
overlap diagnostics of :mod:`promoloop.evaluation.observational_balance`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from promoloop.errors import InputError, UndefinedMetricError
from promoloop.evaluation.observational_balance import (
    HIGH_PROPENSITY,
    att_weights,
    balance_table,
    overlap_diagnostics,
)

logger = logging.getLogger(__name__)

#: Bound on propensity scores when trimming is off, so control odds stay finite.
_CLIP = 1e-6


@dataclass(frozen=True)
class Estimate:
    """Point estimate and percentile bootstrap interval."""

    value: float
    ci_low: float
    ci_high: float


@dataclass
class ATTResult:
    """Result of :func:`estimate_att`.

    Attributes
    ----------
    naive, ipw, dr : dict of str to Estimate
        Per outcome column: the difference in means over all treated and
        controls, the IPW ATT and the doubly robust ATT, both over the
        customers kept after trimming.
    treated_mean, control_mean, weighted_control_mean : dict of str to float
        Per outcome: the treated mean and the control mean over all
        customers, and the ATT-weighted control mean after trimming.
    propensity : ndarray of float
        Cross-fitted propensity score of every customer.
    kept : ndarray of bool
        False for the customers removed by trimming.
    balance : DataFrame
        One row per covariate: ``treated_mean`` and ``control_mean`` over
        everyone, ``treated_mean_kept`` and ``weighted_control_mean`` after
        trimming, ``smd_before`` and ``smd_after`` (weighted, after trimming).
    diagnostics : dict
        Counts, propensity quantiles, SMD summary, control ESS and
        ``poor_overlap`` with its ``overlap_reasons``.
    """

    naive: dict[str, Estimate]
    ipw: dict[str, Estimate]
    dr: dict[str, Estimate]
    treated_mean: dict[str, float]
    control_mean: dict[str, float]
    weighted_control_mean: dict[str, float]
    propensity: np.ndarray
    kept: np.ndarray
    balance: pd.DataFrame
    diagnostics: dict = field(default_factory=dict)


def cross_fit_folds(treated, n_folds: int, seed: int) -> np.ndarray:
    """Return the fold (0 to K-1) of each customer, stratified by group."""
    t = np.asarray(treated, dtype=bool)
    folds = np.empty(len(t), dtype=int)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(t)), t)):
        folds[test] = fold
    return folds


def cross_fit_propensity(x: np.ndarray, treated, folds, *, C: float = 1.0):
    """Return propensity scores, each from a model fitted without its customer's fold.

    The model is an L2-regularized logistic regression (inverse strength
    ``C``, Newton-Cholesky solver) on standardized covariates.
    """
    t = np.asarray(treated, dtype=bool)
    scores = np.empty(len(t))
    for fold in np.unique(folds):
        test = folds == fold
        model = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=C, solver="newton-cholesky", max_iter=200),
        )
        model.fit(x[~test], t[~test])
        scores[test] = model.predict_proba(x[test])[:, 1]
    return scores


def cross_fit_control_outcome(x, y, treated, folds, *, alpha: float = 1.0):
    """Return each customer's predicted outcome without treatment, cross-fitted.

    A ridge regression (strength ``alpha``) on standardized covariates is
    fitted on the controls outside each fold and predicts every customer in
    the fold. ``y`` has one column per outcome.
    """
    t = np.asarray(treated, dtype=bool)
    predicted = np.empty(y.shape, dtype=float)
    for fold in np.unique(folds):
        test = folds == fold
        train = ~test & ~t
        model = make_pipeline(StandardScaler(), Ridge(alpha=alpha))
        model.fit(x[train], y[train])
        predicted[test] = model.predict(x[test]).reshape(-1, y.shape[1])
    return predicted


def estimate_att(
    covariates: pd.DataFrame,
    treated,
    outcomes: pd.DataFrame,
    *,
    n_folds: int = 5,
    n_boot: int = 200,
    alpha: float = 0.05,
    trim_above: float | None = HIGH_PROPENSITY,
    C: float = 1.0,
    n_repeats: int = 3,
    seed: int = 0,
) -> ATTResult:
    """Estimate the average effect on the treated by propensity weighting.

    The propensity score is cross-fitted over ``n_folds`` stratified folds,
    so no customer's own row fits its score, and averaged over
    ``n_repeats`` random fold splits, so that the estimate depends less on
    one split. Customers whose score exceeds
    ``trim_above`` are removed from both groups (the estimand becomes the
    ATT of the treated at or below that score). Controls are weighted by
    e/(1-e), normalized to sum to 1. The estimates are:

    - naive: treated mean minus control mean over all customers;
    - IPW: treated mean minus weighted control mean, after trimming;
    - DR: the IPW estimate applied to Y - m0(X), where m0 is a ridge
      regression of the outcome on the controls, cross-fitted on the same
      folds. It is consistent when either model is right.

    Intervals are percentile intervals over ``n_boot`` resamples of
    customers, drawn within the treated and within the controls so that
    both group sizes stay fixed.

    Parameters
    ----------
    covariates : DataFrame of float, shape (n_samples, n_covariates)
        Pre-treatment covariates; every value must be finite.
    treated : array-like of bool, shape (n_samples,)
    outcomes : DataFrame of float, shape (n_samples, n_outcomes)
        One column per outcome.
    n_folds : int, default 5
        Cross-fitting folds; lowered to the smaller group's size when that
        is smaller (at least 2).
    n_boot : int, default 200
        Bootstrap resamples.
    alpha : float, default 0.05
        One minus the intervals' nominal coverage.
    trim_above : float or None, default 0.95
        Propensity above which customers are removed; None keeps everyone
        (scores are then clipped to 1 - 1e-6).
    C : float, default 1.0
        Inverse L2 strength of the propensity model.
    n_repeats : int, default 3
        Fold splits whose cross-fitted predictions are averaged.
    seed : int, default 0
        Seed of the folds (``seed``, ``seed + 1``, ...) and the bootstrap.

    Returns
    -------
    ATTResult

    Raises
    ------
    InputError
        If shapes differ, a value is not finite or a setting is invalid.
    UndefinedMetricError
        If a group has fewer than 2 customers, or trimming leaves a group
        empty.
    """
    x, t, y = _checked_inputs(covariates, treated, outcomes)
    _check_settings(n_folds, n_boot, alpha, trim_above, n_repeats)
    n_treated, n_control = int(t.sum()), int((~t).sum())
    if min(n_treated, n_control) < 2:
        raise UndefinedMetricError(
            f"need at least 2 treated and 2 control customers, got {n_treated} "
            f"treated and {n_control} controls"
        )
    folds_used = min(n_folds, n_treated, n_control)
    if folds_used < n_folds:
        logger.info("cross-fitting over %d folds: a group is that small", folds_used)

    # Cross-fitted nuisance models: propensity and control outcome. The fits
    # are small, and multi-threaded BLAS made them several times slower when
    # other processes shared the cores, so they run on one thread.
    e = np.zeros(len(t))
    m0 = np.zeros(y.shape)
    with threadpool_limits(limits=1):
        for repeat in range(n_repeats):
            folds = cross_fit_folds(t, folds_used, seed + repeat)
            e += cross_fit_propensity(x, t, folds, C=C) / n_repeats
            m0 += cross_fit_control_outcome(x, y, t, folds) / n_repeats

    # Trimming, then ATT weights over the customers kept
    kept = np.ones(len(t), dtype=bool) if trim_above is None else e <= trim_above
    if not kept[t].any() or not kept[~t].any():
        group = "treated" if not kept[t].any() else "control"
        raise UndefinedMetricError(
            f"every {group} customer has a propensity above {trim_above}: no "
            "overlap between the groups"
        )
    e_kept = np.clip(e[kept], 0.0, 1.0 - _CLIP)
    weights = att_weights(e_kept, t[kept])

    # Point estimates and bootstrap intervals
    names = list(outcomes.columns)
    rng = np.random.default_rng(seed)
    naive = _naive(y, t, rng, n_boot, alpha)
    ipw = _weighted(y[kept], t[kept], e_kept, rng, n_boot, alpha)
    dr = _weighted(y[kept] - m0[kept], t[kept], e_kept, rng, n_boot, alpha)
    weighted_control = weights[~t[kept]] @ y[kept][~t[kept]]

    balance = balance_table(covariates, t, kept, weights)
    diagnostics = overlap_diagnostics(e, t, kept, weights, balance, trim_above)
    diagnostics.update({"folds": folds_used, "repeats": n_repeats})
    return ATTResult(
        naive=_by_name(names, naive),
        ipw=_by_name(names, ipw),
        dr=_by_name(names, dr),
        treated_mean=dict(zip(names, y[t].mean(axis=0).tolist(), strict=True)),
        control_mean=dict(zip(names, y[~t].mean(axis=0).tolist(), strict=True)),
        weighted_control_mean=dict(zip(names, weighted_control.tolist(), strict=True)),
        propensity=e,
        kept=kept,
        balance=balance,
        diagnostics=diagnostics,
    )


def _checked_inputs(covariates, treated, outcomes):
    x = covariates.to_numpy(dtype=float)
    t = np.asarray(treated, dtype=bool)
    y = outcomes.to_numpy(dtype=float)
    if not (len(x) == len(t) == len(y)):
        raise InputError(
            f"covariates ({len(x)} rows), treated ({len(t)}) and outcomes "
            f"({len(y)} rows) differ in length",
            expected="one row per customer in each",
            fix="align the three inputs on the same customers",
        )
    for name, values, columns in (
        ("covariates", x, covariates.columns),
        ("outcomes", y, outcomes.columns),
    ):
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise InputError(
                f"non-finite value in the {name}",
                row=row + 1,
                column=str(columns[col]),
                value=float(values[row, col]),
                expected="finite numbers",
                fix="fill missing values before estimating",
            )
    return x, t, y


def _check_settings(n_folds, n_boot, alpha, trim_above, n_repeats) -> None:
    if n_folds < 2:
        raise InputError(
            "n_folds must be at least 2 for cross-fitting",
            value=n_folds,
            fix="pass n_folds=5",
        )
    if n_boot < 1:
        raise InputError("n_boot must be positive", value=n_boot, fix="pass 200")
    if n_repeats < 1:
        raise InputError("n_repeats must be positive", value=n_repeats, fix="pass 3")
    if not 0 < alpha < 1:
        raise InputError("alpha must be in (0, 1)", value=alpha, fix="pass 0.05")
    if trim_above is not None and not 0.5 < trim_above <= 1:
        raise InputError(
            "trim_above must be in (0.5, 1] or None",
            value=trim_above,
            fix="pass 0.95, or None to keep every customer",
        )


def _naive(y, t, rng, n_boot, alpha) -> list[Estimate]:
    """Difference in means, with a resample of customers within each group."""
    yt, yc = y[t], y[~t]
    point = yt.mean(axis=0) - yc.mean(axis=0)
    draws_t = yt[rng.integers(0, len(yt), size=(n_boot, len(yt)))].mean(axis=1)
    draws_c = yc[rng.integers(0, len(yc), size=(n_boot, len(yc)))].mean(axis=1)
    return _with_intervals(point, draws_t - draws_c, alpha)


def _weighted(y, t, e, rng, n_boot, alpha) -> list[Estimate]:
    """Treated mean minus odds-weighted control mean, with bootstrap draws.

    NOTE: the resamples keep each customer's cross-fitted propensity and
    outcome prediction fixed instead of refitting the models, which keeps
    the bootstrap vectorized. For the doubly robust estimate this is the
    usual cross-fitting practice; for IPW it ignores the propensity model's
    own estimation error.
    """
    yt, yc = y[t], y[~t]
    odds = e[~t] / (1.0 - e[~t])
    point = yt.mean(axis=0) - (odds @ yc) / odds.sum()
    rows_t = rng.integers(0, len(yt), size=(n_boot, len(yt)))
    rows_c = rng.integers(0, len(yc), size=(n_boot, len(yc)))
    drawn_odds = odds[rows_c]
    control = np.einsum("bn,bnk->bk", drawn_odds, yc[rows_c])
    control /= drawn_odds.sum(axis=1, keepdims=True)
    return _with_intervals(point, yt[rows_t].mean(axis=1) - control, alpha)


def _with_intervals(point, draws, alpha) -> list[Estimate]:
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
    return [
        Estimate(float(p), float(lo), float(hi))
        for p, lo, hi in zip(point, low, high, strict=True)
    ]


def _by_name(names: list[str], estimates: list[Estimate]) -> dict[str, Estimate]:
    return dict(zip(names, estimates, strict=True))
