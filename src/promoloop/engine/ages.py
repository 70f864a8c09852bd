"""Times and ages in the engine's expressions, exact to the microsecond.

Every table stage that measures an age (recency, tenure, time decay) uses
these, so the engines and the stages agree on what a day is: 86,400,000,000
microseconds between two UTC timestamps.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

MICROSECONDS_PER_DAY = 86_400 * 1_000_000

UTC_TIMESTAMP = dt.Timestamp(timezone="UTC")


def utc(value: pd.Timestamp | str) -> pd.Timestamp:
    """Return ``value`` as a UTC timestamp; a naive value is taken as UTC."""
    value = pd.Timestamp(value)
    if value.tzinfo is None:
        return value.tz_localize("UTC")
    return value.tz_convert("UTC")


def utc_literal(value: pd.Timestamp | str) -> ibis.Scalar:
    """Return ``value`` as an Ibis UTC timestamp literal."""
    return ibis.literal(utc(value), type=UTC_TIMESTAMP)


def days_between(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    """Build the expression of the days from ``earlier`` to ``later``, as floats."""
    microseconds = later.delta(earlier, unit="microsecond")
    return microseconds.cast("float64") / MICROSECONDS_PER_DAY


def half_life_decay(
    later: ibis.Value,
    earlier: ibis.Value,
    half_life_days: float,
    clip: bool = False,
) -> ibis.Value:
    """Build ``0.5 ** (days from earlier to later / half_life_days)``.

    With ``clip``, a negative number of days counts as 0, so a weight is
    never decayed backwards. A missing timestamp gives a missing factor.
    """
    age_days = days_between(later, earlier)
    if clip:
        age_days = age_days.clip(lower=0)
    return ibis.literal(0.5, type="float64") ** (age_days / half_life_days)
