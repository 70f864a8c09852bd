"""Result type of the uplift metrics, and the undefined-metric policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from promoloop.errors import UndefinedMetricError

ErrorPolicy = Literal["return", "raise"]


@dataclass(frozen=True)
class UpliftMetricResult:
    """Value of one uplift metric, with the group counts behind it.

    Attributes
    ----------
    metric : str
        Name of the metric, e.g. ``"uplift_at_k"``.
    value : float or None
        The metric; None exactly when ``defined`` is False.
    defined : bool
        Whether the data identify the metric.
    reason : str or None
        Why the metric is undefined; None when it is defined.
    n_treated : int
        Treated customers the metric was computed on (inside the slice for
        uplift at k, the whole input otherwise).
    n_control : int
        Control customers the metric was computed on, counted the same way.
    treated_rate : float or None
        Mean outcome of those treated customers; None when there are none.
    control_rate : float or None
        Mean outcome of those control customers; None when there are none.
    """

    metric: str
    value: float | None
    defined: bool
    reason: str | None
    n_treated: int
    n_control: int
    treated_rate: float | None = None
    control_rate: float | None = None


def check_error_policy(errors: str) -> None:
    """Raise ValueError unless ``errors`` is "return" or "raise"."""
    if errors not in ("return", "raise"):
        raise ValueError(
            f"errors={errors!r} is invalid. Expected 'return' (give an undefined "
            "result) or 'raise' (raise UndefinedMetricError)"
        )


def undefined(
    metric: str,
    reason: str,
    errors: ErrorPolicy,
    *,
    n_treated: int,
    n_control: int,
    treated_rate: float | None = None,
    control_rate: float | None = None,
) -> UpliftMetricResult:
    """Build the undefined result of ``metric``, or raise it under "raise"."""
    if errors == "raise":
        raise UndefinedMetricError(f"{metric} is undefined: {reason}")
    return UpliftMetricResult(
        metric=metric,
        value=None,
        defined=False,
        reason=reason,
        n_treated=n_treated,
        n_control=n_control,
        treated_rate=treated_rate,
        control_rate=control_rate,
    )


def group_reason(n_treated: int, n_control: int) -> str | None:
    """Explain why a whole population identifies no effect, or return None."""
    if n_control == 0:
        return (
            f"no control group: all {n_treated} customers are treated, so the "
            "effect is not identifiable"
        )
    if n_treated == 0:
        return (
            f"no treated group: all {n_control} customers are in control, so the "
            "effect is not identifiable"
        )
    return None
