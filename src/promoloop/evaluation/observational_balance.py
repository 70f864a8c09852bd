"""Overlap and balance of propensity-weighted groups.

ATT weights, the effective sample size, standardized mean differences
(SMD) before and after weighting, and the rule that calls a comparison's
overlap poor: too many treated customers trimmed, too few effective
controls, or a covariate left unbalanced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promoloop.errors import InputError

#: Propensity above which a treated customer has almost no comparable control.
HIGH_PROPENSITY = 0.95
#: Propensity below which a control customer resembles no treated customer.
LOW_PROPENSITY = 0.05
#: |SMD| under which a covariate counts as balanced, a common rule of thumb.
BALANCED_SMD = 0.1
#: Largest |SMD| after weighting that passes the balance check (a looser rule).
MAX_SMD_AFTER = 0.25
#: Largest share of treated customers that trimming may remove.
MAX_TRIMMED_SHARE = 0.1
#: Smallest effective sample size of the weighted controls.
MIN_CONTROL_ESS = 30.0
#: Propensity quantiles reported for each group.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def att_weights(propensity, treated) -> np.ndarray:
    """Return normalized ATT weights: 1 for treated, e/(1-e) for controls.

    The treated weights sum to 1 and so do the control weights, so a
    weighted sum over a group is its weighted mean.

    Parameters
    ----------
    propensity : array-like of float, shape (n_samples,)
        Propensity scores in [0, 1). A control with score 1 has infinite odds
        and is rejected.
    treated : array-like of bool, shape (n_samples,)
        True for treated customers.

    Returns
    -------
    ndarray of float, shape (n_samples,)

    Raises
    ------
    InputError
        If a score is outside [0, 1], a control has score 1, or a group is
        empty or has weights summing to 0.
    """
    e = np.asarray(propensity, dtype=float)
    t = np.asarray(treated, dtype=bool)
    if e.shape != t.shape:
        raise InputError(
            f"propensity has shape {e.shape} but treated has shape {t.shape}",
            expected="one propensity per customer",
            fix="pass arrays of equal length",
        )
    if not np.all((e >= 0) & (e <= 1)):
        raise InputError(
            "propensity scores outside [0, 1]",
            value=float(e[~((e >= 0) & (e <= 1))][0]),
            expected="probabilities",
            fix="pass predicted probabilities of treatment",
        )
    if np.any(~t & (e >= 1)):
        raise InputError(
            "a control customer has propensity 1, so its ATT weight is infinite",
            expected="control propensities below 1",
            fix="trim or clip the propensity scores",
        )
    weights = np.where(t, 1.0, e / np.where(t, 1.0, 1.0 - e))
    for group, name in ((t, "treated"), (~t, "control")):
        total = weights[group].sum()
        if total <= 0:
            raise InputError(
                f"the {name} weights sum to {total}",
                expected=f"at least one {name} customer with a positive weight",
                fix="check the treatment flags and propensity scores",
            )
        weights[group] /= total
    return weights


def effective_sample_size(weights) -> float:
    """Return Kish's effective sample size, (sum w)^2 / sum w^2.

    Raises
    ------
    InputError
        If the weights are empty, negative or all 0.
    """
    w = np.asarray(weights, dtype=float)
    if w.size == 0 or np.any(w < 0) or w.sum() <= 0:
        raise InputError(
            "invalid weights for the effective sample size",
            expected="non-negative weights with a positive sum",
            fix="pass the weights of a non-empty group",
        )
    return float(w.sum() ** 2 / np.square(w).sum())


def standardized_mean_differences(
    covariates: pd.DataFrame, treated, weights=None, *, scale=None
) -> pd.Series:
    """Return the standardized mean difference of each covariate.

    SMD = (treated mean - control mean) / sqrt((s_t^2 + s_c^2) / 2), with
    the unweighted sample variances (ddof=1) in the denominator, so that a
    weighted and an unweighted SMD share one scale. With ``weights`` the
    group means are weighted means. A covariate constant in both groups
    with one value gets SMD 0. One constant in each group at different
    values gets +inf or -inf, because the groups are then separated.

    Parameters
    ----------
    covariates : DataFrame of float, shape (n_samples, n_covariates)
    treated : array-like of bool, shape (n_samples,)
    weights : array-like of float, optional
        Per-customer weights, e.g. from :func:`att_weights`.
    scale : array-like of float, optional
        Denominator per covariate; defaults to the pooled standard deviation
        above. Pass the one of a larger sample to compare SMDs of a subset
        on the sample's scale.

    Returns
    -------
    Series of float
        Indexed by covariate name.
    """
    x = covariates.to_numpy(dtype=float)
    t = np.asarray(treated, dtype=bool)
    w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=float)
    diff = _weighted_mean(x[t], w[t]) - _weighted_mean(x[~t], w[~t])
    sd = pooled_sd(x, t) if scale is None else np.asarray(scale, dtype=float)
    positive = sd > 0
    smd = np.divide(diff, sd, out=np.zeros_like(diff), where=positive)
    # A zero scale means each group is constant. Weighted means of a constant
    # can differ from it by rounding, so the values decide, not the difference.
    varies = np.ptp(x, axis=0) > 0 if len(x) else np.zeros(x.shape[1], dtype=bool)
    separated = ~positive & varies
    smd[separated] = np.sign(diff[separated]) * np.inf
    return pd.Series(smd, index=covariates.columns, dtype=float)


def pooled_sd(x: np.ndarray, treated) -> np.ndarray:
    """Return sqrt((s_t^2 + s_c^2) / 2) per column, a group of one counting 0."""
    t = np.asarray(treated, dtype=bool)
    return np.sqrt((_variance(x[t]) + _variance(x[~t])) / 2)


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w[:, None] * x).sum(axis=0) / w.sum()


def _variance(x: np.ndarray) -> np.ndarray:
    if len(x) < 2:
        return np.zeros(x.shape[1])
    return x.var(axis=0, ddof=1)


def balance_table(covariates, t, kept, weights) -> pd.DataFrame:
    """Compare the groups on each covariate before and after weighting.

    Parameters
    ----------
    covariates : DataFrame, shape (n_samples, n_covariates)
    t : ndarray of bool, shape (n_samples,)
        True for treated customers.
    kept : ndarray of bool, shape (n_samples,)
        False for customers removed by trimming.
    weights : ndarray of float, shape (n_kept,)
        :func:`att_weights` of the kept customers.

    Returns
    -------
    DataFrame
        One row per covariate: ``treated_mean`` and ``control_mean`` over
        everyone, ``treated_mean_kept`` and ``weighted_control_mean`` after
        trimming, ``smd_before`` (everyone, unweighted) and ``smd_after``
        (kept, weighted). Both SMDs use the pooled standard deviation of
        everyone, so that trimming cannot make a covariate look balanced by
        changing the scale.
    """
    scale = pooled_sd(covariates.to_numpy(dtype=float), t)
    kept_cov = covariates[kept]
    before = standardized_mean_differences(covariates, t, scale=scale)
    after = standardized_mean_differences(kept_cov, t[kept], weights, scale=scale)
    x = kept_cov.to_numpy(dtype=float)
    control_kept = ~t[kept]
    return pd.DataFrame(
        {
            "covariate": covariates.columns,
            "treated_mean": covariates[t].mean().to_numpy(),
            "control_mean": covariates[~t].mean().to_numpy(),
            "treated_mean_kept": x[~control_kept].mean(axis=0),
            "weighted_control_mean": weights[control_kept] @ x[control_kept],
            "smd_before": before.to_numpy(),
            "smd_after": after.to_numpy(),
        }
    )


def overlap_diagnostics(e, t, kept, weights, balance, trim_above) -> dict:
    """Summarize overlap and balance, and judge whether they are poor.

    Overlap is poor when trimming removed more than ``MAX_TRIMMED_SHARE`` of
    the treated, when the weighted controls' effective sample size is below
    ``MIN_CONTROL_ESS``, or when a covariate's |SMD| after weighting exceeds
    ``MAX_SMD_AFTER``.

    Returns
    -------
    dict
        Group counts, trimmed counts, counts beyond ``HIGH_PROPENSITY`` and
        ``LOW_PROPENSITY``, propensity quantiles per group, SMD summary,
        ``control_ess``, ``poor_overlap`` and the ``overlap_reasons``.
    """
    n_treated = int(t.sum())
    trimmed_treated = int((t & ~kept).sum())
    ess = effective_sample_size(weights[~t[kept]])
    after = balance["smd_after"].abs()
    diagnostics = {
        "n_treated": n_treated,
        "n_control": int((~t).sum()),
        "n_treated_trimmed": trimmed_treated,
        "n_control_trimmed": int((~t & ~kept).sum()),
        "treated_above_high": int((t & (e > HIGH_PROPENSITY)).sum()),
        "controls_below_low": int((~t & (e < LOW_PROPENSITY)).sum()),
        "propensity_treated": _quantiles(e[t]),
        "propensity_control": _quantiles(e[~t]),
        "max_abs_smd_before": float(balance["smd_before"].abs().max()),
        "max_abs_smd_after": float(after.max()),
        "share_smd_below": float((after < BALANCED_SMD).mean()),
        "control_ess": ess,
        "trim_above": trim_above,
    }
    reasons = []
    if trimmed_treated > MAX_TRIMMED_SHARE * n_treated:
        reasons.append(
            f"{trimmed_treated} of {n_treated} treated customers have a propensity "
            f"above {trim_above} and were trimmed"
        )
    if ess < MIN_CONTROL_ESS:
        reasons.append(
            f"the weighted controls count as {ess:.1f} customers (effective "
            f"sample size below {MIN_CONTROL_ESS:g})"
        )
    if diagnostics["max_abs_smd_after"] > MAX_SMD_AFTER:
        worst = balance.loc[after.idxmax(), "covariate"]
        reasons.append(
            f"after weighting, {worst} has |SMD| "
            f"{diagnostics['max_abs_smd_after']:.2f} > {MAX_SMD_AFTER}"
        )
    diagnostics["poor_overlap"] = bool(reasons)
    diagnostics["overlap_reasons"] = reasons
    return diagnostics


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return {
        f"p{round(100 * q):02d}": float(v)
        for q, v in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True)
    }
