"""Interaction tables as Ibis expressions, for any engine.

This is the one definition of what the collaborative recommenders fit on:

* :func:`interaction_events` gives each event its training weight,
* :func:`pair_weights` sums the weights of each (customer, item) pair,
  optionally time-decayed (the co-occurrence matrix of item kNN and the
  input of ALS),
* :func:`item_popularity` sums each item's positive weight.

The ``collect_*`` functions run them on an :class:`Engine` and return
pandas tables. The expressions work on any type of customer and item key:
:mod:`promoloop.recommend.interactions` registers the matrix positions of
the ids, so the sums come back ready to place in the customers x items
matrix.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import pandas as pd

from promoloop.engine.ages import half_life_decay
from promoloop.engine.backends import Engine
from promoloop.engine.events import type_weight
from promoloop.vocabulary import Columns as C

POPULARITY = "popularity"
PAIR_COLUMNS = [C.customer_id, C.item_id, C.weight]
POPULARITY_COLUMNS = [C.item_id, POPULARITY]


def interaction_weight(
    events: ibis.Table, event_weights: Mapping[str, float]
) -> ibis.Value:
    """Build the expression of each event's training weight.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least ``event_type``).
    event_weights : mapping of str to float
        Weight of one event of each type, matched case-insensitively.

    Returns
    -------
    ibis.Value
        Float column: the weight of the event's type, 0 for a type that is
        not listed or missing.
    """
    return type_weight(events, event_weights)


def interaction_events(
    events: ibis.Table, event_weights: Mapping[str, float]
) -> ibis.Table:
    """Build the expression of the interaction table: events with a weight.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least ``item_id`` and ``event_type``).
    event_weights : mapping of str to float
        Weight of one event of each type (see :func:`interaction_weight`).

    Returns
    -------
    ibis.Table
        The columns of ``events`` and ``weight``, one row per event with an
        item id. Events without a customer id are kept, because they count
        for item popularity.
    """
    with_item = events.filter(events[C.item_id].notnull())
    return with_item.mutate(**{C.weight: interaction_weight(with_item, event_weights)})


def pair_weights(
    interactions: ibis.Table, half_life_days: float | None = None
) -> ibis.Table:
    """Build the expression of the summed weight of each (customer, item) pair.

    Parameters
    ----------
    interactions : ibis.Table
        Interaction table: ``customer_id``, ``item_id``, ``weight`` and, for
        decay, ``timestamp``.
    half_life_days : float, optional
        Half-life of a row's weight in days. Each weight is multiplied by
        ``0.5 ** (age_days / half_life_days)``, where the age is measured
        from the latest timestamp of the whole table, anonymous rows
        included. None sums the weights as they are.

    Returns
    -------
    ibis.Table
        Columns :data:`PAIR_COLUMNS`, one row per pair of a known customer
        and an item, in no particular order. A pair whose weights sum to 0
        or less is kept, so that its customer and item stay known.

    Notes
    -----
    With decay, a row without a timestamp weighs 0, and ages are exact to
    the microsecond: elapsed microseconds over 86,400,000,000.
    """
    rows = interactions
    if half_life_days is not None:
        latest = interactions.aggregate(_latest=interactions[C.timestamp].max())
        rows = interactions.cross_join(latest)
        decay = half_life_decay(rows["_latest"], rows[C.timestamp], half_life_days)
        rows = rows.mutate(**{C.weight: (rows[C.weight] * decay).fill_null(0.0)})

    known = rows.filter(rows[C.customer_id].notnull() & rows[C.item_id].notnull())
    return known.group_by(C.customer_id, C.item_id).aggregate(
        **{C.weight: known[C.weight].sum().cast("float64")}
    )


def item_popularity(interactions: ibis.Table) -> ibis.Table:
    """Build the expression of each item's summed positive weight.

    Parameters
    ----------
    interactions : ibis.Table
        Interaction table: ``item_id`` and ``weight``.

    Returns
    -------
    ibis.Table
        Columns :data:`POPULARITY_COLUMNS`, one row per item id, in no
        particular order. Each row's weight counts when it is positive,
        anonymous rows included, so a return never makes an item less
        popular than 0 and an item with only views has popularity 0.
    """
    rows = interactions.filter(interactions[C.item_id].notnull())
    positive = rows[C.weight].clip(lower=0).fill_null(0.0)
    return rows.group_by(C.item_id).aggregate(
        **{POPULARITY: positive.sum().cast("float64")}
    )


def collect_pair_weights(
    engine: Engine, interactions: ibis.Table, half_life_days: float | None = None
) -> pd.DataFrame:
    """Run :func:`pair_weights` on an engine and return a pandas table.

    Returns
    -------
    DataFrame
        Columns :data:`PAIR_COLUMNS` in no particular order, with a default
        index. The keys keep the type the engine returns for them, and the
        weight is float64.
    """
    table = engine.to_pandas(pair_weights(interactions, half_life_days))
    return table[PAIR_COLUMNS].astype({C.weight: "float64"})


def collect_item_popularity(engine: Engine, interactions: ibis.Table) -> pd.DataFrame:
    """Run :func:`item_popularity` on an engine and return a pandas table.

    Returns
    -------
    DataFrame
        Columns :data:`POPULARITY_COLUMNS` in no particular order, with a
        default index. The item key keeps the type the engine returns for
        it, and the popularity is float64.
    """
    table = engine.to_pandas(item_popularity(interactions))
    return table[POPULARITY_COLUMNS].astype({POPULARITY: "float64"})
