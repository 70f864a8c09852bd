"""Interest scores as Ibis expressions, for any engine.

This is the one definition of the interest profile: each known customer's
time-decayed, event-type-weighted affinity to every category and brand they
touched. :func:`interest_table` builds the expression, and
:func:`collect_interest` runs it on an :class:`Engine` and returns the pandas
table that :func:`promoloop.profiles.interest.interest_scores` documents.
"""

from __future__ import annotations

import logging

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from promoloop.config import InterestConfig
from promoloop.engine.backends import Engine
from promoloop.engine.behaviour import MICROSECONDS_PER_DAY, _utc
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

DIMENSIONS = (C.category, C.brand)
INTEREST_COLUMNS = [C.customer_id, "dimension", "value", C.score]

# Columns of the events table that the scores read.
INPUT_COLUMNS = [C.customer_id, C.item_id, C.event_type, C.timestamp]

# pandas dtypes of the collected table, whatever the engine returns.
OUTPUT_DTYPES = {
    C.customer_id: "str",
    "dimension": "str",
    "value": "str",
    C.score: "float64",
}


def event_weight(
    events: ibis.Table, as_of: pd.Timestamp, config: InterestConfig
) -> ibis.Value:
    """Build the expression of each event's type weight times its time decay.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least ``event_type`` and ``timestamp``).
    as_of : Timestamp
        Observation end. A timezone-naive value is taken as UTC. Events are
        ``as_of - timestamp`` days old, and events stamped after it count
        as age 0.
    config : InterestConfig
        Weights per event type and the half-life in days (None: no decay).

    Returns
    -------
    ibis.Value
        Float column. Event types without a weight, including a missing
        type, weigh 0. With decay on, an event without a timestamp weighs
        0 as well.
    """
    event_type = events[C.event_type]
    pairs = [(name, float(weight)) for name, weight in config.event_weights.items()]
    if pairs:
        weight = event_type.cases(*pairs, else_=0.0).cast("float64")
    else:
        weight = ibis.literal(0.0, type="float64")
    if config.half_life_days is None:
        return weight

    as_of_value = ibis.literal(_utc(as_of), type=dt.Timestamp(timezone="UTC"))
    microseconds = as_of_value.delta(events[C.timestamp], unit="microsecond")
    age_days = (microseconds.cast("float64") / MICROSECONDS_PER_DAY).clip(lower=0)
    decay = ibis.literal(0.5, type="float64") ** (age_days / config.half_life_days)
    return (weight * decay).fill_null(0.0)


def interest_table(
    events: ibis.Table,
    items: ibis.Table,
    as_of: pd.Timestamp,
    config: InterestConfig,
) -> ibis.Table | None:
    """Build the expression of every known customer's interest scores.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least :data:`INPUT_COLUMNS`).
    items : ibis.Table
        Canonical items table: ``item_id`` and any of the columns of
        :data:`DIMENSIONS`. An item id listed more than once takes the
        smallest of its values in each dimension.
    as_of : Timestamp
        Observation end. A timezone-naive value is taken as UTC.
    config : InterestConfig
        Event weights and half-life.

    Returns
    -------
    ibis.Table or None
        Columns :data:`INTEREST_COLUMNS`, one row per customer, dimension and
        value that the customer touched, in no particular order. ``value``
        is the dimension's value cast to a string. None when ``items`` has
        none of the dimension columns.

    Notes
    -----
    Events without a customer id or an item id are left out, and so are
    events on items missing from ``items`` or with a missing value in a
    dimension (for that dimension only). Ages are exact to the
    microsecond: elapsed microseconds over 86,400,000,000.
    """
    known = events.filter(events[C.customer_id].notnull() & events[C.item_id].notnull())

    # Sum per customer and item first, so the join with items stays small
    per_item = known.group_by(C.customer_id, C.item_id).aggregate(
        **{C.weight: event_weight(known, as_of, config).sum()}
    )

    dimensions = [name for name in DIMENSIONS if name in items.columns]
    if not dimensions:
        return None
    catalogue = items.group_by(C.item_id).aggregate(
        **{name: items[name].cast("string").min() for name in dimensions}
    )

    parts = []
    for name in dimensions:
        values = catalogue.filter(catalogue[name].notnull()).select(
            C.item_id, value=catalogue[name]
        )
        rows = per_item.join(values, C.item_id)
        scores = rows.group_by(C.customer_id, "value").aggregate(
            **{C.score: rows[C.weight].sum()}
        )
        parts.append(
            scores.select(
                C.customer_id,
                dimension=ibis.literal(name, type="string"),
                value=scores["value"],
                **{C.score: scores[C.score]},
            )
        )
    return ibis.union(*parts)


def collect_interest(
    engine: Engine,
    events: ibis.Table,
    items: ibis.Table,
    as_of: pd.Timestamp,
    config: InterestConfig,
) -> pd.DataFrame:
    """Run :func:`interest_table` on an engine and return a pandas table.

    Parameters
    ----------
    engine : Engine
        Engine on which ``events`` and ``items`` are registered.
    events : ibis.Table
        Canonical events table registered on ``engine``.
    items : ibis.Table
        Canonical items table registered on ``engine``.
    as_of : Timestamp
        Observation end.
    config : InterestConfig
        Event weights and half-life.

    Returns
    -------
    DataFrame
        Columns :data:`INTEREST_COLUMNS` typed as :data:`OUTPUT_DTYPES`,
        sorted by customer, dimension, descending score and value, with a
        default index. Empty when ``items`` has no dimension column.
    """
    expr = interest_table(events, items, as_of, config)
    if expr is None:
        logger.info("items have no category or brand; the interest table is empty")
        table = pd.DataFrame({name: [] for name in INTEREST_COLUMNS})
    else:
        table = engine.to_pandas(expr)
    table = table[INTEREST_COLUMNS].astype(OUTPUT_DTYPES)
    return table.sort_values(
        [C.customer_id, "dimension", C.score, "value"],
        ascending=[True, True, False, True],
        ignore_index=True,
    )
