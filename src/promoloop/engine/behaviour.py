"""Behaviour features as Ibis expressions, for any engine.

This is the one definition of the behaviour features (recency, frequency,
spend, returns, baskets, discounts, tenure). :func:`behaviour_table` builds
the expression, :func:`collect_behaviour` runs it on an :class:`Engine` and
returns the pandas table that
:func:`promoloop.profiles.behaviour.behaviour_features` documents.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from promoloop.engine.backends import Engine
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

BEHAVIOUR_COLUMNS = [
    "recency_days",
    "frequency",
    "monetary",
    "gross_spend",
    "returns_value",
    "return_rate",
    "avg_order_value",
    "basket_size",
    "units_per_order",
    "interpurchase_days",
    "discount_share",
    "tenure_days",
    "zero_price_only",
]

# Columns of the events table that the features read.
INPUT_COLUMNS = [
    C.customer_id,
    C.event_type,
    C.order_id,
    C.item_id,
    C.timestamp,
    C.quantity,
    C.amount,
    C.discount,
]

# pandas dtypes of the collected table, whatever the engine returns.
OUTPUT_DTYPES = {
    **{name: "float64" for name in BEHAVIOUR_COLUMNS},
    "frequency": "int64",
    "zero_price_only": "bool",
}

MICROSECONDS_PER_DAY = 86_400 * 1_000_000


def behaviour_table(events: ibis.Table, as_of: pd.Timestamp) -> ibis.Table:
    """Build the expression of the behaviour features of every known customer.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least :data:`INPUT_COLUMNS`); events after
        ``as_of`` must already be removed.
    as_of : Timestamp
        Observation end. A timezone-naive value is taken as UTC.

    Returns
    -------
    ibis.Table
        One row per customer id with at least one event, in no particular
        order: ``customer_id`` and the columns of :data:`BEHAVIOUR_COLUMNS`,
        defined in :func:`promoloop.profiles.behaviour.behaviour_features`.
        Integer and boolean columns are not null. Floating columns are null
        where that function documents a missing value.

    Notes
    -----
    The mean gap between purchase days needs no window function: the gaps
    between consecutive distinct days add up to the span from the first to
    the last day, so the mean is that span over the number of days minus 1.

    Time differences are exact to the microsecond: ``recency_days`` and
    ``tenure_days`` are elapsed microseconds over 86,400,000,000. Calendar
    days (for ``interpurchase_days``) are UTC dates, because both engines
    run with the session time zone set to UTC.

    ``basket_size`` counts distinct (order, item) pairs within each
    customer. An order id shared by two customers therefore counts once
    for each of them.
    """
    as_of_value = ibis.literal(_utc(as_of), type=dt.Timestamp(timezone="UTC"))
    known = events.filter(events[C.customer_id].notnull())
    is_purchase = known[C.event_type] == EventType.PURCHASE.value
    is_return = known[C.event_type] == EventType.RETURN.value
    purchase_day = known[C.timestamp].date()

    # One pass over the known events: tenure, purchase and refund totals
    totals = known.group_by(C.customer_id).aggregate(
        first_seen=known[C.timestamp].min(),
        last_purchase=known[C.timestamp].max(where=is_purchase),
        frequency=known[C.order_id].nunique(where=is_purchase),
        gross_spend=known[C.amount].sum(where=is_purchase),
        units=known[C.quantity].sum(where=is_purchase),
        discounted_lines=(known[C.discount] > 0)
        .fill_null(False)
        .cast("float64")
        .mean(where=is_purchase),
        zero_price_only=(known[C.amount] == 0).fill_null(False).all(where=is_purchase),
        returns_value=known[C.amount].sum(where=is_return),
        first_purchase_day=purchase_day.min(where=is_purchase),
        last_purchase_day=purchase_day.max(where=is_purchase),
        purchase_days=purchase_day.nunique(where=is_purchase),
    )

    # Distinct items per order, summed over each customer's orders
    purchases = known.filter(is_purchase)
    baskets = (
        purchases.select(C.customer_id, C.order_id, C.item_id)
        .distinct()
        .group_by(C.customer_id)
        .aggregate(distinct_items=ibis._.count())
    )
    joined = totals.left_join(baskets, C.customer_id).drop(f"{C.customer_id}_right")

    return joined.select(C.customer_id, **_derived_columns(joined, as_of_value)).select(
        C.customer_id, *BEHAVIOUR_COLUMNS
    )


def _derived_columns(totals: ibis.Table, as_of_value: ibis.Scalar) -> dict:
    """Return the feature expressions built from the per-customer totals."""
    frequency = totals.frequency.cast("int64")
    gross_spend = totals.gross_spend.fill_null(0.0)
    returns_value = totals.returns_value.fill_null(0.0)
    orders = ibis.ifelse(frequency > 0, frequency, ibis.null()).cast("float64")
    repeat_days = ibis.ifelse(
        totals.purchase_days > 1, totals.purchase_days - 1, ibis.null()
    )
    span_days = totals.last_purchase_day.delta(totals.first_purchase_day, unit="day")
    return {
        "recency_days": _days_between(as_of_value, totals.last_purchase),
        "frequency": frequency,
        "monetary": gross_spend - returns_value,
        "gross_spend": gross_spend,
        "returns_value": returns_value,
        "return_rate": ibis.ifelse(
            gross_spend > 0, returns_value / gross_spend, ibis.null()
        ).cast("float64"),
        "avg_order_value": gross_spend / orders,
        "basket_size": totals.distinct_items.cast("float64") / orders,
        "units_per_order": totals.units.fill_null(0.0) / orders,
        "interpurchase_days": span_days.cast("float64") / repeat_days,
        "discount_share": totals.discounted_lines,
        "tenure_days": _days_between(as_of_value, totals.first_seen),
        "zero_price_only": totals.zero_price_only.fill_null(False),
    }


def _days_between(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    microseconds = later.delta(earlier, unit="microsecond")
    return microseconds.cast("float64") / MICROSECONDS_PER_DAY


def _utc(as_of: pd.Timestamp) -> pd.Timestamp:
    as_of = pd.Timestamp(as_of)
    if as_of.tzinfo is None:
        return as_of.tz_localize("UTC")
    return as_of.tz_convert("UTC")


def collect_behaviour(
    engine: Engine, events: ibis.Table, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Run :func:`behaviour_table` on an engine and return a pandas table.

    Parameters
    ----------
    engine : Engine
        Engine on which ``events`` is registered.
    events : ibis.Table
        Canonical events table registered on ``engine``.
    as_of : Timestamp
        Observation end.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` in ascending order, with the columns of
        :data:`BEHAVIOUR_COLUMNS` typed as :data:`OUTPUT_DTYPES` (missing
        values are ``nan``).
    """
    table = engine.to_pandas(behaviour_table(events, as_of))
    table = table.set_index(C.customer_id).sort_index()
    return table.astype(OUTPUT_DTYPES)[BEHAVIOUR_COLUMNS]
