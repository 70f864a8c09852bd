"""Bootstrap percentile intervals for uplift metrics that can be undefined."""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from promoloop.errors import UndefinedMetricError
from promoloop.evaluation._checks import check_arrays
from promoloop.evaluation.result import UpliftMetricResult

logger = logging.getLogger(__name__)

MetricFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], object]


class BootstrapInterval(NamedTuple):
    """Point estimate and percentile interval of a metric.

    ``n_defined`` is the number of resamples that defined the metric; the
    others were skipped.
    """

    estimate: float
    low: float
    high: float
    n_defined: int


def _value_of(metric: MetricFunction, y, treatment, score) -> tuple[float | None, str]:
    """Call ``metric`` and return its value, or None and the reason it is undefined."""
    try:
        result = metric(y, treatment, score)
    except UndefinedMetricError as exc:
        return None, str(exc)
    if isinstance(result, UpliftMetricResult):
        return result.value, result.reason or ""
    value = float(result)
    if not math.isfinite(value):
        return None, f"the metric returned {value}"
    return value, ""


def bootstrap_interval(
    metric: MetricFunction,
    y,
    treatment,
    score,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    stratify: bool = True,
) -> BootstrapInterval:
    """Estimate a metric and its bootstrap percentile interval.

    Each resample draws customers with replacement: within the treated and
    within the control group when ``stratify`` (so both group sizes stay
    fixed), or from all customers otherwise. Resamples where the metric is
    undefined are skipped and counted. The interval is the
    :math:`\\alpha/2` and :math:`1 - \\alpha/2` quantiles of the defined
    resample values.

    Parameters
    ----------
    metric : callable
        ``metric(y, treatment, score)`` returning an ``UpliftMetricResult``
        or a float, e.g. ``functools.partial(uplift_at_k, k=0.3)``. A result
        with ``defined=False``, a raised ``UndefinedMetricError`` or a
        non-finite float counts as undefined.
    y : array-like of float
        Outcome per customer.
    treatment : array-like of {0, 1}
        1 for treated, 0 for control customers.
    score : array-like of float
        Predicted uplift.
    n_boot : int, default 200
        Number of resamples.
    alpha : float, default 0.05
        One minus the interval's nominal coverage.
    seed : int, default 0
        Seed of the random generator, so equal inputs give equal intervals.
    stratify : bool, default True
        Resample within treatment groups.

    Returns
    -------
    BootstrapInterval
        ``(estimate, low, high, n_defined)``; ``estimate`` is the metric on
        the full input.

    Raises
    ------
    ValueError
        When ``n_boot`` is not a positive int or ``alpha`` is outside (0, 1).
    InputError
        On invalid input arrays.
    UndefinedMetricError
        When the metric is undefined on the full input, or on more than half
        of the resamples.
    """
    if (
        isinstance(n_boot, bool)
        or not isinstance(n_boot, numbers.Integral)
        or n_boot < 1
    ):
        raise ValueError(f"n_boot={n_boot!r} is invalid. Expected a positive int")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} is outside (0, 1)")
    y, treated, score = check_arrays(y, treatment, score)
    flags = treated.astype(int)

    estimate, reason = _value_of(metric, y, flags, score)
    if estimate is None:
        raise UndefinedMetricError(
            f"cannot bootstrap a metric undefined on the full input: {reason}"
        )

    # Draw all resample indices at once: one row per resample.
    # NOTE: this keeps n_boot * n int64 indices in memory, about 7 MB for 200
    # resamples of 4,400 customers; pass one row per customer, not per event.
    rng = np.random.default_rng(seed)
    if stratify:
        blocks = [
            members[rng.integers(0, members.size, size=(n_boot, members.size))]
            for members in (np.flatnonzero(treated), np.flatnonzero(~treated))
            if members.size
        ]
        draws = np.concatenate(blocks, axis=1)
    else:
        draws = rng.integers(0, y.size, size=(n_boot, y.size))

    # Each metric call is vectorised, so looping over resamples is cheap.
    values = []
    for rows in draws:
        value, _ = _value_of(metric, y[rows], flags[rows], score[rows])
        if value is not None:
            values.append(value)
    n_defined = len(values)
    if n_defined < n_boot:
        logger.info(
            "Skipped %d of %d bootstrap resamples where the metric is undefined",
            n_boot - n_defined,
            n_boot,
        )
    if 2 * n_defined < n_boot:
        raise UndefinedMetricError(
            f"the metric is defined on only {n_defined} of {n_boot} bootstrap "
            "resamples; need at least half. Use a larger slice (k), "
            "strategy='by_group' or stratify=True"
        )

    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return BootstrapInterval(float(estimate), float(low), float(high), n_defined)
