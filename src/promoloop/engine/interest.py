"""Interest scores as Ibis expressions, for any engine.

This is the one definition of the interest profile: each known customer's
time-decayed, event-type-weighted affinity to every category and brand they
touched. It takes two steps: :func:`interest_partials` sums the decayed
event weights per customer and item up to a reference time, and
:func:`merge_interest` decays any set of those partials to a date and sums
them per category and brand. :func:`interest_table` chains the two over all
the events, and :func:`collect_interest` runs it on an :class:`Engine` and
returns the pandas table that
:func:`promoloop.profiles.interest.interest_scores` documents.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import ibis
import pandas as pd

from promoloop.config import InterestConfig
from promoloop.engine.ages import half_life_decay, utc_literal
from promoloop.engine.backends import Engine
from promoloop.engine.events import type_weight
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

# Decimals of the score that decide the order of a customer's values.
_SORT_DECIMALS = 9

DIMENSIONS = (C.category, C.brand)
INTEREST_COLUMNS = [C.customer_id, "dimension", "value", C.score]

# Column of the partials: the time their weights are decayed to.
REFERENCE = "reference_time"

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
        Float column. Event types match case-insensitively. A type without
        a weight, including a missing type, weighs 0. With decay on, an
        event without a timestamp weighs 0 as well.
    """
    return _decayed_weight(events, utc_literal(as_of), config)


def interest_table(
    events: ibis.Table,
    items: ibis.Table,
    as_of: pd.Timestamp,
    config: InterestConfig,
) -> ibis.Table | None:
    """Build the expression of every known customer's interest scores.

    The scores are :func:`merge_interest` of :func:`interest_partials` over
    all the events, decayed to ``as_of``, so a full computation and one from
    stored partials share one definition.

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
    if not _dimensions(items):
        return None
    partials = interest_partials(events, config, reference=as_of)
    return merge_interest(partials, items, as_of, config)


def interest_partials(
    events: ibis.Table,
    config: InterestConfig,
    reference: pd.Timestamp | str,
    by: Sequence[str] = (),
) -> ibis.Table:
    """Build the expression of the decayed event weights per customer and item.

    The weights are decayed to a reference time and stored with it. Since
    ``0.5 ** ((as_of - t) / h) == 0.5 ** ((as_of - r) / h) * 0.5 ** ((r - t) / h)``
    for any reference time ``r``, :func:`merge_interest` later decays each
    partial sum from ``r`` to its ``as_of`` without the events.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least :data:`INPUT_COLUMNS`).
    config : InterestConfig
        Event weights and half-life.
    reference : Timestamp or str
        Reference time: one timestamp (a timezone-naive value is taken as
        UTC), or the name of a timestamp column of ``events`` that holds
        each event's reference time. It must be the same for all events of
        a group. Events later than their reference count as age 0, as in
        :func:`event_weight`.
    by : sequence of str, default ()
        Further columns of ``events`` to group by, such as the date
        partition the events were read from.

    Returns
    -------
    ibis.Table
        Columns ``by``, ``customer_id``, ``item_id``, :data:`REFERENCE` and
        ``weight`` (the sum of the events' weights decayed to the
        reference), one row per group of known customer and item ids.
    """
    known = events.filter(events[C.customer_id].notnull() & events[C.item_id].notnull())
    keys = [*by, C.customer_id, C.item_id]
    if not isinstance(reference, str):
        # One reference for all: add it after the sums, not to every event
        literal = utc_literal(reference)
        sums = known.group_by(keys).aggregate(
            **{C.weight: _decayed_weight(known, literal, config).sum()}
        )
        return sums.select(*keys, **{REFERENCE: literal, C.weight: sums[C.weight]})
    weight = _decayed_weight(known, known[reference], config)
    return known.group_by(keys).aggregate(
        **{REFERENCE: known[reference].max(), C.weight: weight.sum()}
    )


def merge_interest(
    partials: ibis.Table,
    items: ibis.Table,
    as_of: pd.Timestamp,
    config: InterestConfig,
) -> ibis.Table | None:
    """Build the expression of the interest scores from stored partials.

    Parameters
    ----------
    partials : ibis.Table
        Output of :func:`interest_partials` with the same ``config``, or
        several of them concatenated (any further columns are ignored).
    items : ibis.Table
        Canonical items table, as in :func:`interest_table`.
    as_of : Timestamp
        Observation end. A timezone-naive value is taken as UTC.
    config : InterestConfig
        Event weights and half-life.

    Returns
    -------
    ibis.Table or None
        The table that :func:`interest_table` documents, or None when
        ``items`` has none of the dimension columns.

    Notes
    -----
    The scores equal those of :func:`interest_table` on the events behind
    ``partials``, up to floating-point rounding, when no event is later
    than its partial's reference and no reference is later than
    ``as_of``. A partial whose reference is later than ``as_of`` is decayed
    backwards (its weight grows), whereas the full computation counts its
    events after ``as_of`` at age 0.
    """
    dimensions = _dimensions(items)
    if not dimensions:
        return None

    # Decay each partial sum from its reference time to as_of. The partials
    # are already summed per customer and item, so the join with items
    # stays small.
    decay = _decay(utc_literal(as_of), partials[REFERENCE], config)
    per_item = partials.select(
        C.customer_id,
        C.item_id,
        **{C.weight: (partials[C.weight] * decay).fill_null(0.0)},
    )

    # One value per item and dimension: the smallest, for repeated item ids
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


def _decayed_weight(
    events: ibis.Table, reference: ibis.Value, config: InterestConfig
) -> ibis.Value:
    """Return each event's type weight decayed to ``reference``, ages clipped at 0."""
    weight = type_weight(events, config.event_weights)
    if config.half_life_days is None:
        return weight
    decay = _decay(reference, events[C.timestamp], config, clip=True)
    return (weight * decay).fill_null(0.0)


def _decay(
    later: ibis.Value, earlier: ibis.Value, config: InterestConfig, clip: bool = False
) -> ibis.Value:
    """Return ``0.5 ** (days from earlier to later / half-life)``, 1 without decay.

    With ``clip``, a negative number of days counts as 0.
    """
    if config.half_life_days is None:
        return ibis.literal(1.0, type="float64")
    return half_life_decay(later, earlier, config.half_life_days, clip=clip)


def _dimensions(items: ibis.Table) -> list[str]:
    return [name for name in DIMENSIONS if name in items.columns]


def ordered_interest(scores: ibis.Table) -> ibis.Table:
    """Sort interest scores by customer, dimension, descending score and value.

    Scores are sums of exponentials, added in each engine's own order, so
    equal scores can differ in the last bits. The sort uses the score
    rounded to 9 decimals, so such ties fall to the value on every engine.
    """
    key = scores[C.score].round(_SORT_DECIMALS)
    return scores.order_by([C.customer_id, "dimension", key.desc(), "value"])


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
        table = engine.to_pandas(ordered_interest(expr))
    table = table[INTEREST_COLUMNS].astype(OUTPUT_DTYPES)
    return table.reset_index(drop=True)
