"""Behaviour features as Ibis expressions, for any engine.

This is the one definition of the behaviour features (recency, frequency,
spend, returns, baskets, discounts, tenure), in two steps:
:func:`behaviour_partials` sums the events per customer, day and order, and
:func:`merge_behaviour` turns any set of those partials into the features as
of a date. :func:`behaviour_table` chains the two over all the events, and
:func:`collect_behaviour` runs it on an :class:`Engine` and returns the
pandas table that :func:`promoloop.profiles.behaviour.behaviour_features`
documents. :mod:`promoloop.engine.incremental` stores the partials of each
date partition, so a daily run sums only the new events.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import pandas as pd

from promoloop.engine.ages import days_between, utc_literal
from promoloop.engine.backends import Engine
from promoloop.engine.events import is_event
from promoloop.engine.money import exact
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

# Key column of the partials: the UTC date of the event's timestamp.
EVENT_DAY = "event_day"

# Value columns of the partials, after the keys.
PARTIAL_COLUMNS = [
    "first_seen",  # earliest event of any type
    "last_purchase",  # latest purchase line
    "purchase_lines",
    "discounted_lines",  # purchase lines with a discount above 0
    "priced_lines",  # purchase lines whose amount is not 0 (or is missing)
    "gross_spend",
    "units",
    "returns_value",
    "distinct_items",  # see behaviour_partials
]


def behaviour_table(events: ibis.Table, as_of: pd.Timestamp) -> ibis.Table:
    """Build the expression of the behaviour features of every known customer.

    The features are :func:`merge_behaviour` of :func:`behaviour_partials`
    over all the events, so a full computation and one from stored partials
    share one definition.

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
    return merge_behaviour(behaviour_partials(events), as_of)


def behaviour_partials(events: ibis.Table, by: Sequence[str] = ()) -> ibis.Table:
    """Build the expression of the behaviour totals per customer, day and order.

    The partials of disjoint sets of events can be stored, concatenated and
    passed to :func:`merge_behaviour` later, without the events.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least :data:`INPUT_COLUMNS`).
    by : sequence of str, default ()
        Further columns of ``events`` to group by, such as the date
        partition the events were read from. Each group is summarized on
        its own (see the Notes).

    Returns
    -------
    ibis.Table
        One row per value of ``by``, known customer id, :data:`EVENT_DAY`
        (the UTC date of the timestamp) and order id, in no particular
        order. Missing days and order ids form groups of their own. The
        columns are the keys and :data:`PARTIAL_COLUMNS`.

    Notes
    -----
    ``distinct_items`` counts the distinct (order, item) pairs of purchase
    lines in the group whose earliest purchase day, within the same value
    of ``by``, is the group's day. Summed over a customer's partials, it
    is the number of distinct pairs exactly when all purchase lines of each
    pair share one value of ``by`` and one call of this function. So a
    customer who buys the same item under the same order id (or under no
    order id) in two date partitions counts it once per partition, and
    ``basket_size`` is larger than in a full computation. Every other
    total merges exactly.
    """
    by = list(by)
    known = events.filter(events[C.customer_id].notnull())
    known = known.mutate(**{EVENT_DAY: known[C.timestamp].date()})
    keys = [*by, C.customer_id, EVENT_DAY, C.order_id]
    is_purchase = is_event(known, EventType.PURCHASE)
    is_return = is_event(known, EventType.RETURN)
    is_zero_price = (known[C.amount] == 0).fill_null(False)

    # One pass over the known events: times, line counts and sums
    totals = known.group_by(keys).aggregate(
        first_seen=known[C.timestamp].min(),
        last_purchase=known[C.timestamp].max(where=is_purchase),
        purchase_lines=known.count(where=is_purchase),
        discounted_lines=known.count(where=is_purchase & (known[C.discount] > 0)),
        priced_lines=known.count(where=is_purchase & ~is_zero_price),
        gross_spend=exact(known[C.amount]).sum(where=is_purchase),
        units=exact(known[C.quantity]).sum(where=is_purchase),
        returns_value=exact(known[C.amount]).sum(where=is_return),
    )

    # Each distinct (order, item) purchase pair counts on its earliest day
    purchases = known.filter(is_purchase)
    pairs = purchases.group_by([*by, C.customer_id, C.order_id, C.item_id]).aggregate(
        **{EVENT_DAY: purchases[EVENT_DAY].min()}
    )
    baskets = pairs.group_by(keys).aggregate(distinct_items=ibis._.count())

    # Null-safe keys: a missing day or order id is a group like any other
    joined = totals.left_join(
        baskets, [totals[key].identical_to(baskets[key]) for key in keys]
    )
    return joined.select(
        *keys,
        *totals.columns[len(keys) :],
        distinct_items=joined.distinct_items.fill_null(0),
    )


def merge_behaviour(partials: ibis.Table, as_of: pd.Timestamp) -> ibis.Table:
    """Build the expression of the behaviour features from stored partials.

    Parameters
    ----------
    partials : ibis.Table
        Output of :func:`behaviour_partials`, or several of them
        concatenated (any further columns are ignored). Its events must not
        be later than ``as_of``.
    as_of : Timestamp
        Observation end. A timezone-naive value is taken as UTC.

    Returns
    -------
    ibis.Table
        The table that :func:`behaviour_table` documents. It equals the
        features of all the events behind ``partials``, up to the order of
        floating-point sums, under the condition on ``basket_size`` stated
        in :func:`behaviour_partials`.
    """
    as_of_value = utc_literal(as_of)
    bought = partials.purchase_lines > 0
    day = partials[EVENT_DAY]
    totals = partials.group_by(C.customer_id).aggregate(
        first_seen=partials.first_seen.min(),
        last_purchase=partials.last_purchase.max(),
        frequency=partials[C.order_id].nunique(where=bought),
        purchase_lines=partials.purchase_lines.sum(),
        discounted_lines=partials.discounted_lines.sum(),
        priced_lines=partials.priced_lines.sum(),
        gross_spend=partials.gross_spend.sum(),
        units=partials.units.sum(),
        returns_value=partials.returns_value.sum(),
        distinct_items=partials.distinct_items.sum(),
        first_purchase_day=day.min(where=bought),
        last_purchase_day=day.max(where=bought),
        purchase_days=day.nunique(where=bought),
    )
    return totals.select(C.customer_id, **_derived_columns(totals, as_of_value)).select(
        C.customer_id, *BEHAVIOUR_COLUMNS
    )


def _derived_columns(totals: ibis.Table, as_of_value: ibis.Scalar) -> dict:
    """Return the feature expressions built from the per-customer totals."""
    frequency = totals.frequency.cast("int64")
    # The exact sums become floats once, after the difference is taken.
    gross = totals.gross_spend.fill_null(0)
    returned = totals.returns_value.fill_null(0)
    gross_spend = gross.cast("float64")
    returns_value = returned.cast("float64")
    orders = ibis.ifelse(frequency > 0, frequency, ibis.null()).cast("float64")
    lines = ibis.ifelse(
        totals.purchase_lines > 0, totals.purchase_lines, ibis.null()
    ).cast("float64")
    repeat_days = ibis.ifelse(
        totals.purchase_days > 1, totals.purchase_days - 1, ibis.null()
    )
    span_days = totals.last_purchase_day.delta(totals.first_purchase_day, unit="day")
    return {
        "recency_days": days_between(as_of_value, totals.last_purchase),
        "frequency": frequency,
        "monetary": (gross - returned).cast("float64"),
        "gross_spend": gross_spend,
        "returns_value": returns_value,
        "return_rate": ibis.ifelse(
            gross_spend > 0, returns_value / gross_spend, ibis.null()
        ).cast("float64"),
        "avg_order_value": gross_spend / orders,
        "basket_size": totals.distinct_items.cast("float64") / orders,
        "units_per_order": totals.units.fill_null(0).cast("float64") / orders,
        "interpurchase_days": span_days.cast("float64") / repeat_days,
        "discount_share": totals.discounted_lines.cast("float64") / lines,
        "tenure_days": days_between(as_of_value, totals.first_seen),
        "zero_price_only": (totals.purchase_lines > 0) & (totals.priced_lines == 0),
    }


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
