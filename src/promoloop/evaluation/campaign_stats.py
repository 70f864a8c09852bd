"""Two-group estimates behind the campaign report: lifts, intervals, MDE, SRM.

Each estimate is an ``Effect``. An effect the data cannot identify (an empty
group, a constant covariate, a zero denominator) has ``defined=False`` and a
reason, and its numbers are None, never NaN or 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

#: Names of the interval methods, as they appear in the report.
NEWCOMBE = "Newcombe hybrid score (Wilson) interval; pooled two-proportion z-test"
WELCH = "Welch t interval and test"
CUPED_WELCH = "Welch t on CUPED-adjusted values (pre-period spend as covariate)"
BOOTSTRAP = "percentile bootstrap over customers, groups resampled separately"


@dataclass(frozen=True)
class Effect:
    """Estimated difference treated minus control of one metric.

    Attributes
    ----------
    metric : str
        Metric name, e.g. ``"conversion_rate"`` or ``"roi"``.
    defined : bool
        Whether the data identify the effect.
    reason : str or None
        Why the effect is undefined; None when it is defined.
    estimate, ci_low, ci_high : float or None
        Point estimate and interval bounds; None when undefined.
    p_value : float or None
        Two-sided p-value of "no difference"; None when no test applies.
    relative_lift : float or None
        Estimate divided by the control value; None when that value is 0.
    treated_value, control_value : float or None
        The metric in each group (per customer), where it has one.
    method : str
        How the interval was computed.
    mde : float or None
        Minimum detectable effect at 80% power for the group sizes.
    """

    metric: str
    defined: bool
    reason: str | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    relative_lift: float | None = None
    treated_value: float | None = None
    control_value: float | None = None
    method: str = ""
    mde: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def undefined_effect(metric: str, reason: str, **values) -> Effect:
    """Build the undefined effect of ``metric`` with its reason."""
    return Effect(metric=metric, defined=False, reason=reason, **values)


def group_size_reason(n_treated: int, n_control: int, minimum: int = 1) -> str | None:
    """Explain why groups of these sizes identify no effect, or return None."""
    if n_control == 0:
        return (
            "no control group (no holdout customer), so the effect is not identifiable"
        )
    if n_treated == 0:
        return "no treated customer, so the effect is not identifiable"
    if n_treated < minimum or n_control < minimum:
        return (
            f"the interval needs at least {minimum} customers per group, got "
            f"{n_treated} treated and {n_control} control"
        )
    return None


def _relative(diff: float, control: float) -> float | None:
    return None if control == 0 else diff / control


def _wilson(successes: int, n: int, alpha: float) -> tuple[float, float]:
    ci = stats.binomtest(successes, n).proportion_ci(1 - alpha, method="wilson")
    return float(ci.low), float(ci.high)


def mde_proportion(p_control: float, n_treated: int, n_control: int, alpha: float):
    """Return the minimum detectable rate difference at 80% power (normal approx.)."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(0.8)
    variance = p_control * (1 - p_control) * (1 / n_treated + 1 / n_control)
    return float(z * math.sqrt(variance))


def mde_mean(sd_pooled: float, n_treated: int, n_control: int, alpha: float) -> float:
    """Return the minimum detectable mean difference at 80% power (normal approx.)."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(0.8)
    return float(z * sd_pooled * math.sqrt(1 / n_treated + 1 / n_control))


def proportion_effect(
    metric: str, treated: np.ndarray, control: np.ndarray, alpha: float
) -> Effect:
    """Estimate a difference of proportions of 0/1 outcomes.

    The interval is Newcombe's hybrid score interval (his method 10), built
    from the Wilson interval of each group, so it stays inside [-1, 1] and
    has a width also when a group has no success. The p-value is the pooled
    two-proportion z-test, 1.0 when both groups have the same rate of 0 or 1.
    """
    n_t, n_c = treated.size, control.size
    reason = group_size_reason(n_t, n_c)
    if reason is not None:
        rate_t = float(treated.mean()) if n_t else None
        rate_c = float(control.mean()) if n_c else None
        return undefined_effect(
            metric, reason, treated_value=rate_t, control_value=rate_c, method=NEWCOMBE
        )

    # Newcombe's interval from the two Wilson intervals.
    x_t, x_c = int(treated.sum()), int(control.sum())
    p_t, p_c = x_t / n_t, x_c / n_c
    diff = p_t - p_c
    low_t, high_t = _wilson(x_t, n_t, alpha)
    low_c, high_c = _wilson(x_c, n_c, alpha)
    ci_low = diff - math.sqrt((p_t - low_t) ** 2 + (high_c - p_c) ** 2)
    ci_high = diff + math.sqrt((high_t - p_t) ** 2 + (p_c - low_c) ** 2)

    # Pooled z-test; a pooled rate of 0 or 1 leaves no variance and no evidence.
    pooled = (x_t + x_c) / (n_t + n_c)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    p_value = 1.0 if se == 0 else float(2 * stats.norm.sf(abs(diff) / se))
    return Effect(
        metric=metric,
        defined=True,
        estimate=diff,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        relative_lift=_relative(diff, p_c),
        treated_value=p_t,
        control_value=p_c,
        method=NEWCOMBE,
        mde=mde_proportion(p_c, n_t, n_c, alpha),
    )


def mean_effect(
    metric: str,
    treated: np.ndarray,
    control: np.ndarray,
    alpha: float,
    method: str = WELCH,
) -> Effect:
    """Estimate a difference of means with Welch's t interval and test.

    When both groups are constant, the difference is exact: the interval is
    the single point and the p-value is 1.0 for equal values, 0.0 otherwise.
    """
    n_t, n_c = treated.size, control.size
    reason = group_size_reason(n_t, n_c, minimum=2)
    mean_t = float(treated.mean()) if n_t else None
    mean_c = float(control.mean()) if n_c else None
    if reason is not None:
        return undefined_effect(
            metric, reason, treated_value=mean_t, control_value=mean_c, method=method
        )

    diff = mean_t - mean_c
    var_t, var_c = float(treated.var(ddof=1)), float(control.var(ddof=1))
    sd_pooled = math.sqrt(((n_t - 1) * var_t + (n_c - 1) * var_c) / (n_t + n_c - 2))
    common = {
        "metric": metric,
        "defined": True,
        "estimate": diff,
        "relative_lift": _relative(diff, mean_c),
        "treated_value": mean_t,
        "control_value": mean_c,
        "method": method,
        "mde": mde_mean(sd_pooled, n_t, n_c, alpha),
    }
    if var_t == 0 and var_c == 0:
        p_value = 1.0 if diff == 0 else 0.0
        return Effect(**common, ci_low=diff, ci_high=diff, p_value=p_value)

    result = stats.ttest_ind(treated, control, equal_var=False)
    ci = result.confidence_interval(confidence_level=1 - alpha)
    return Effect(
        **common,
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        p_value=float(result.pvalue),
    )


def scale_effect(effect: Effect, metric: str, factor: float) -> Effect:
    """Multiply an effect's estimate and interval by a constant such as a count."""
    if not effect.defined:
        return undefined_effect(metric, effect.reason or "", method=effect.method)
    return Effect(
        metric=metric,
        defined=True,
        estimate=effect.estimate * factor,
        ci_low=effect.ci_low * factor,
        ci_high=effect.ci_high * factor,
        p_value=effect.p_value,
        relative_lift=effect.relative_lift,
        method=f"{effect.method}, times {factor:g} treated customers",
    )


@dataclass(frozen=True)
class CupedResult:
    """CUPED estimate of a mean lift next to the plain one.

    ``theta`` is cov(pre, post) / var(pre) over both groups pooled, and
    ``variance_reduction`` is 1 - var(adjusted) / var(post), the share of
    outcome variance the covariate removed.
    """

    effect: Effect
    plain: Effect
    theta: float | None
    variance_reduction: float | None


def cuped_effect(
    metric: str,
    treated: np.ndarray,
    control: np.ndarray,
    pre_treated: np.ndarray,
    pre_control: np.ndarray,
    alpha: float,
) -> CupedResult:
    """Estimate a mean lift with CUPED (Deng et al., WSDM 2013) and plainly.

    Each outcome y becomes y - theta (x - mean x), with x the pre-period
    value. Randomization makes x independent of the group, so the adjusted
    difference estimates the same lift with less variance when x and y are
    correlated.
    """
    plain = mean_effect(metric, treated, control, alpha)
    if not plain.defined:
        effect = undefined_effect(
            f"{metric}_cuped", plain.reason or "", method=CUPED_WELCH
        )
        return CupedResult(effect, plain, None, None)

    post = np.concatenate([treated, control])
    pre = np.concatenate([pre_treated, pre_control])
    pre_variance = float(pre.var(ddof=1))
    if pre_variance == 0:
        reason = (
            "pre-period spend is the same for every customer, so CUPED has no covariate"
        )
        effect = undefined_effect(f"{metric}_cuped", reason, method=CUPED_WELCH)
        return CupedResult(effect, plain, None, None)

    # theta from the pooled covariance; the adjustment keeps each group's mean shift.
    theta = float(np.cov(pre, post, ddof=1)[0, 1] / pre_variance)
    adjusted = post - theta * (pre - pre.mean())
    post_variance = float(post.var(ddof=1))
    reduction = (
        None if post_variance == 0 else 1 - float(adjusted.var(ddof=1)) / post_variance
    )
    n_t = treated.size
    effect = mean_effect(
        f"{metric}_cuped", adjusted[:n_t], adjusted[n_t:], alpha, method=CUPED_WELCH
    )
    return CupedResult(effect, plain, theta, reduction)


def sample_ratio_test(n_holdout: int, n_total: int, planned_share: float) -> float:
    """Return the chi-square p-value of the observed holdout count against the plan."""
    expected = np.array([planned_share, 1 - planned_share]) * n_total
    observed = np.array([n_holdout, n_total - n_holdout])
    return float(stats.chisquare(observed, expected).pvalue)
