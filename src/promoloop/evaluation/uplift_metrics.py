"""Uplift metrics for randomized campaigns: curves, areas, uplift at k, ATE.

Every function takes the outcome ``y``, the 0/1 ``treatment`` flag and, for
ranking metrics, the model ``score`` (higher means more persuadable), as numpy
arrays or pandas Series of equal length. Customers with equal scores always
enter a ranking together, so no metric depends on row order.

Some metrics are not identified by the data, for example without a control
group, with no control customer in the top-k slice, or when the perfect model
is no better than random. Such a metric is an ``UpliftMetricResult`` with
``defined=False`` and a reason, or raises ``UndefinedMetricError`` when called
with ``errors="raise"``. It is never reported as NaN or as 0. Invalid input
(empty, lengths differ, NaN, non-binary treatment) raises ``InputError``.

The Qini coefficient and normalized AUUC follow the definitions of
scikit-uplift 0.5.1 (``qini_auc_score`` and ``uplift_auc_score``), which are
reimplemented here so that undefined cases come back as typed results.
"""

from __future__ import annotations

import logging

import numpy as np

from promoloop.errors import UndefinedMetricError
from promoloop.evaluation._checks import (
    check_arrays,
    check_binary_outcome,
)
from promoloop.evaluation.bootstrap import BootstrapInterval, bootstrap_interval
from promoloop.evaluation.result import (
    ErrorPolicy,
    UpliftMetricResult,
    check_error_policy,
    group_reason,
    undefined,
)
from promoloop.evaluation.slices import average_treatment_effect, uplift_at_k

logger = logging.getLogger(__name__)

__all__ = [
    "BootstrapInterval",
    "UpliftMetricResult",
    "auuc",
    "average_treatment_effect",
    "bootstrap_interval",
    "qini_coefficient",
    "qini_curve",
    "uplift_at_k",
    "uplift_curve",
]


def _cumulative_counts(y: np.ndarray, treated: np.ndarray, score: np.ndarray):
    """Cumulative counts and responses at the end of each block of tied scores."""
    order = np.argsort(-score, kind="stable")
    y_sorted = y[order]
    t_sorted = treated[order]
    s_sorted = score[order]

    # Cut-offs fall only after the last customer of a tie block.
    ends = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
    n_targeted = ends + 1
    n_t = np.cumsum(t_sorted)[ends]
    n_c = n_targeted - n_t
    y_t = np.cumsum(np.where(t_sorted, y_sorted, 0.0))[ends]
    y_c = np.cumsum(np.where(t_sorted, 0.0, y_sorted))[ends]
    return n_targeted, n_t.astype(float), n_c.astype(float), y_t, y_c


def _ratio_or_zero(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(
        numerator,
        denominator,
        out=np.zeros_like(numerator, dtype=float),
        where=denominator > 0,
    )


def _qini_points(y, treated, score) -> tuple[np.ndarray, np.ndarray]:
    n_targeted, n_t, n_c, y_t, y_c = _cumulative_counts(y, treated, score)
    qini = y_t - y_c * _ratio_or_zero(n_t, n_c)
    return np.r_[0, n_targeted], np.r_[0.0, qini]


def _uplift_points(y, treated, score) -> tuple[np.ndarray, np.ndarray]:
    n_targeted, n_t, n_c, y_t, y_c = _cumulative_counts(y, treated, score)
    uplift = (_ratio_or_zero(y_t, n_t) - _ratio_or_zero(y_c, n_c)) * n_targeted
    return np.r_[0, n_targeted], np.r_[0.0, uplift]


def _require_both_groups(treated: np.ndarray, metric: str) -> None:
    reason = group_reason(int(treated.sum()), int((~treated).sum()))
    if reason is not None:
        raise UndefinedMetricError(f"{metric} is undefined: {reason}")


def qini_curve(y, treatment, score) -> tuple[np.ndarray, np.ndarray]:
    """Compute the Qini curve of a ranking by descending score.

    At each cut-off k (after the top k customers)

    .. math:: Q(k) = Y_t(k) - Y_c(k) \\, N_t(k) / N_c(k)

    where :math:`Y_t(k), Y_c(k)` are the summed outcomes and
    :math:`N_t(k), N_c(k)` the counts of treated and control customers among
    the top k. Where :math:`N_c(k) = 0` the control term is 0, the usual
    convention (scikit-uplift's too), so the curve follows the treated
    responses until the first control customer enters.

    Parameters
    ----------
    y : array-like of float
        Outcome per customer (1 = converted for a binary outcome).
    treatment : array-like of {0, 1}
        1 for treated, 0 for control customers.
    score : array-like of float
        Predicted uplift; higher scores are targeted first.

    Returns
    -------
    n_targeted : ndarray of int
        Number of customers targeted at each point, starting at 0. Customers
        with equal scores enter together, so there is one point per distinct
        score.
    qini : ndarray of float
        Q(k) at each point, starting at 0.

    Raises
    ------
    InputError
        On invalid input (see ``check_arrays``).
    UndefinedMetricError
        When the input has no treated or no control customer.
    """
    y, treated, score = check_arrays(y, treatment, score)
    _require_both_groups(treated, "qini_curve")
    return _qini_points(y, treated, score)


def uplift_curve(y, treatment, score) -> tuple[np.ndarray, np.ndarray]:
    """Compute the uplift curve of a ranking by descending score.

    At each cut-off k

    .. math:: U(k) = \\left( Y_t(k) / N_t(k) - Y_c(k) / N_c(k) \\right) k

    with the notation of ``qini_curve``. A rate over an empty group is taken
    as 0, as scikit-uplift does.

    Parameters
    ----------
    y, treatment, score : array-like
        As in ``qini_curve``.

    Returns
    -------
    n_targeted : ndarray of int
        Number of customers targeted at each point, starting at 0.
    uplift : ndarray of float
        U(k) at each point, starting at 0.

    Raises
    ------
    InputError
        On invalid input.
    UndefinedMetricError
        When the input has no treated or no control customer.
    """
    y, treated, score = check_arrays(y, treatment, score)
    _require_both_groups(treated, "uplift_curve")
    return _uplift_points(y, treated, score)


def _area_metric(
    metric: str,
    y,
    treatment,
    score,
    normalize: bool,
    errors: ErrorPolicy,
    curve,
    perfect_score,
) -> UpliftMetricResult:
    """Area between a curve and its random line, optionally over the perfect one."""
    check_error_policy(errors)
    y, treated, score = check_arrays(y, treatment, score)
    n_treated, n_control = int(treated.sum()), int((~treated).sum())
    counts = {"n_treated": n_treated, "n_control": n_control}
    treated_rate = float(y[treated].mean()) if n_treated else None
    control_rate = float(y[~treated].mean()) if n_control else None
    rates = {"treated_rate": treated_rate, "control_rate": control_rate}

    reason = group_reason(n_treated, n_control)
    if reason is not None:
        return undefined(metric, reason, errors, **counts, **rates)

    # The random ranking is the straight line from (0, 0) to the curve's end.
    x_model, y_model = curve(y, treated, score)
    baseline_area = x_model[-1] * y_model[-1] / 2
    value = float(np.trapezoid(y_model, x_model) - baseline_area)

    if normalize:
        check_binary_outcome(y, metric)
        x_best, y_best = curve(y, treated, perfect_score(y, treated))
        best_gain = float(np.trapezoid(y_best, x_best) - baseline_area)
        if np.isclose(best_gain, 0.0, rtol=0.0, atol=1e-12):
            reason = (
                "the perfect ranking is no better than a random one (its area "
                "over the random line is 0), e.g. because no customer converted"
            )
            return undefined(metric, reason, errors, **counts, **rates)
        value /= best_gain

    return UpliftMetricResult(metric, value, True, None, **counts, **rates)


def _perfect_qini_score(y: np.ndarray, treated: np.ndarray) -> np.ndarray:
    # Treated responders first, control responders last, everyone else tied
    # in between (scikit-uplift's perfect curve with negative_effect=True).
    return np.where(treated, y, -y)


def _perfect_uplift_score(y: np.ndarray, treated: np.ndarray) -> np.ndarray:
    # Treated responders, then control non-responders, then the larger of the
    # groups of control responders and treated non-responders, then the
    # smaller one. On a tie, control responders come last.
    matches = (y == treated).astype(float)
    control_responders = int(((y == 1) & ~treated).sum())
    treated_nonresponders = int(((y == 0) & treated).sum())
    tiebreak = y if control_responders > treated_nonresponders else treated
    return 2 * matches + tiebreak


def qini_coefficient(
    y,
    treatment,
    score,
    normalize: bool = True,
    errors: ErrorPolicy = "return",
) -> UpliftMetricResult:
    """Compute the Qini coefficient: area between the Qini curve and random.

    With :math:`A(\\cdot)` the trapezoidal area under a Qini curve over the
    number of customers targeted, n customers and :math:`Q(n)` the curve's
    end value, the random ranking's area is :math:`B = n \\, Q(n) / 2` and

    .. math:: \\text{qini} = \\frac{A(\\text{model}) - B}{A(\\text{perfect}) - B}

    when ``normalize``, and :math:`A(\\text{model}) - B` otherwise. The
    perfect model ranks treated responders first, control responders last and
    all other customers tied in between. This is scikit-uplift 0.5.1's
    ``qini_auc_score`` with its default ``negative_effect=True``.

    A constant score puts every customer in one tie block, so the curve is
    the random line itself and the coefficient is exactly 0.

    Parameters
    ----------
    y : array-like of float
        Outcome per customer; must be 0/1 when ``normalize``.
    treatment : array-like of {0, 1}
        1 for treated, 0 for control customers.
    score : array-like of float
        Predicted uplift; higher scores are targeted first.
    normalize : bool, default True
        Divide by the perfect model's area, giving 1.0 for a perfect ranking
        and 0.0 for a random one. Unnormalized values are in customers times
        outcome units.
    errors : {"return", "raise"}, default "return"
        What to do when the metric is undefined.

    Returns
    -------
    UpliftMetricResult
        Undefined when a treatment group is empty, or when normalizing and
        the perfect model's area equals the random one (no responders).

    Raises
    ------
    InputError
        On invalid input, or a non-binary ``y`` with ``normalize``.
    UndefinedMetricError
        When the metric is undefined and ``errors="raise"``.
    """
    return _area_metric(
        "qini_coefficient",
        y,
        treatment,
        score,
        normalize,
        errors,
        _qini_points,
        _perfect_qini_score,
    )


def auuc(
    y,
    treatment,
    score,
    normalize: bool = True,
    errors: ErrorPolicy = "return",
) -> UpliftMetricResult:
    """Compute the area under the uplift curve, relative to random ranking.

    As in ``qini_coefficient`` but on the uplift curve of ``uplift_curve``:
    :math:`(A(\\text{model}) - B) / (A(\\text{perfect}) - B)` when
    ``normalize``, else :math:`A(\\text{model}) - B`, with B the area under
    the line from (0, 0) to the curve's end. The perfect model ranks treated
    responders first, then control non-responders, then whichever of treated
    non-responders and control responders is more numerous, then the other
    group (control responders last on a tie).
    This is scikit-uplift 0.5.1's ``uplift_auc_score``.

    Parameters
    ----------
    y, treatment, score : array-like
        As in ``qini_coefficient``.
    normalize : bool, default True
        Divide by the perfect model's area over random.
    errors : {"return", "raise"}, default "return"
        What to do when the metric is undefined.

    Returns
    -------
    UpliftMetricResult
        Undefined when a treatment group is empty, or when normalizing and
        the perfect model is no better than random.

    Raises
    ------
    InputError
        On invalid input, or a non-binary ``y`` with ``normalize``.
    UndefinedMetricError
        When the metric is undefined and ``errors="raise"``.
    """
    return _area_metric(
        "auuc",
        y,
        treatment,
        score,
        normalize,
        errors,
        _uplift_points,
        _perfect_uplift_score,
    )
