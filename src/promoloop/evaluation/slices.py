"""Effect metrics on a slice of customers: uplift at k and the average effect."""

from __future__ import annotations

import numpy as np

from promoloop.evaluation._checks import check_arrays, slice_size
from promoloop.evaluation.result import (
    ErrorPolicy,
    UpliftMetricResult,
    check_error_policy,
    group_reason,
    undefined,
)

STRATEGIES = ("overall", "by_group")


def _top(score: np.ndarray, size: int) -> np.ndarray:
    """Mark the ``size`` highest scores, plus every score tied with the last one."""
    threshold = np.sort(score)[::-1][size - 1]
    return score >= threshold


def _rate(y: np.ndarray, mask: np.ndarray) -> float | None:
    return float(y[mask].mean()) if mask.any() else None


def _effect(
    metric: str,
    y: np.ndarray,
    treated: np.ndarray,
    in_slice: np.ndarray,
    errors: ErrorPolicy,
    slice_name: str | None,
) -> UpliftMetricResult:
    """Treated rate minus control rate inside ``in_slice``, or why it is undefined."""
    treated_in = in_slice & treated
    control_in = in_slice & ~treated
    counts = {
        "n_treated": int(treated_in.sum()),
        "n_control": int(control_in.sum()),
        "treated_rate": _rate(y, treated_in),
        "control_rate": _rate(y, control_in),
    }

    # A missing group in the whole campaign explains more than one in a slice.
    reason = group_reason(int(treated.sum()), int((~treated).sum()))
    if reason is None and slice_name is not None:
        for group, n in (
            ("control", counts["n_control"]),
            ("treated", counts["n_treated"]),
        ):
            if n == 0:
                reason = f"{slice_name} has 0 {group} users; need >= 1"
                break
    if reason is not None:
        return undefined(metric, reason, errors, **counts)

    value = counts["treated_rate"] - counts["control_rate"]
    return UpliftMetricResult(metric, value, True, None, **counts)


def uplift_at_k(
    y,
    treatment,
    score,
    k: int | float = 0.3,
    strategy: str = "overall",
    errors: ErrorPolicy = "return",
) -> UpliftMetricResult:
    """Compute the uplift among the customers with the top k scores.

    .. math:: \\text{uplift@k} = Y_t(S) / N_t(S) - Y_c(S) / N_c(S)

    for the slice S of top-scored customers, with :math:`Y` the summed
    outcomes and :math:`N` the counts of treated and control customers in S.

    Parameters
    ----------
    y : array-like of float
        Outcome per customer.
    treatment : array-like of {0, 1}
        1 for treated, 0 for control customers.
    score : array-like of float
        Predicted uplift; higher scores are targeted first.
    k : int or float, default 0.3
        A float in (0, 1] is a share of customers, rounded up to a count; an
        int is a count of customers. With ``"by_group"`` both apply to each
        group separately.
    strategy : {"overall", "by_group"}, default "overall"
        ``"overall"`` takes the top k of all customers, which can leave one
        group out of the slice. ``"by_group"`` takes the top k of the treated
        and the top k of the control customers.
    errors : {"return", "raise"}, default "return"
        What to do when the metric is undefined.

    Returns
    -------
    UpliftMetricResult
        Counts and response rates of treated and control customers in the
        slice. Undefined when the campaign has no treated or no control
        group, or when the slice contains no customer of one group.

    Raises
    ------
    InputError
        On invalid input, or k outside (0, 1] (float) or [1, group size] (int).
    UndefinedMetricError
        When the metric is undefined and ``errors="raise"``.

    Notes
    -----
    Customers tied with the last one in a slice all enter it, so the slice
    can be larger than k but never depends on row order.
    """
    check_error_policy(errors)
    if strategy not in STRATEGIES:
        raise ValueError(
            f"strategy={strategy!r} is invalid. Expected one of {STRATEGIES}"
        )
    y, treated, score = check_arrays(y, treatment, score)

    # Mark the slice; a group with no customers contributes nothing.
    if strategy == "overall":
        in_slice = _top(score, slice_size(k, score.size, "the population"))
    else:
        in_slice = np.zeros(score.size, dtype=bool)
        for group, name in ((treated, "treated"), (~treated, "control")):
            n_group = int(group.sum())
            if n_group:
                size = slice_size(k, n_group, f"the {name} group")
                in_slice[group] = _top(score[group], size)
    return _effect("uplift_at_k", y, treated, in_slice, errors, "top-k slice")


def average_treatment_effect(
    y, treatment, errors: ErrorPolicy = "return"
) -> UpliftMetricResult:
    """Compute the average treatment effect of a randomized campaign.

    .. math:: \\text{ATE} = Y_t / N_t - Y_c / N_c

    over all customers: treated response rate minus control response rate.

    Parameters
    ----------
    y : array-like of float
        Outcome per customer.
    treatment : array-like of {0, 1}
        1 for treated, 0 for control customers.
    errors : {"return", "raise"}, default "return"
        What to do when the metric is undefined.

    Returns
    -------
    UpliftMetricResult
        Undefined, with the response rate of the group that exists, when the
        campaign has no treated or no control group.

    Raises
    ------
    InputError
        On invalid input.
    UndefinedMetricError
        When the metric is undefined and ``errors="raise"``.
    """
    check_error_policy(errors)
    y, treated, _ = check_arrays(y, treatment)
    everyone = np.ones(y.size, dtype=bool)
    return _effect("average_treatment_effect", y, treated, everyone, errors, None)
