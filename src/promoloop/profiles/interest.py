"""Interest profile: weighted, time-decayed affinity to categories and brands.

A customer's affinity to a value of a dimension (a category, a brand) is

    sum over the customer's events on items with that value of
        weight[event_type] * 0.5 ** (age_days / half_life_days)

where ``age_days`` is the event's age at ``as_of``. Without a half-life every
event counts its full weight. Event types without a weight count 0.

The scores are defined once, as Ibis expressions in
:mod:`promoloop.engine.interest`, so the same definition runs on DuckDB or
Spark. :func:`event_weights` and :func:`interest_scores` are the pandas entry
points. They run that definition on an in-process DuckDB database.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from promoloop.config import InterestConfig
from promoloop.engine import Engine
from promoloop.engine.backends import engine_or_default
from promoloop.engine.interest import (
    DIMENSIONS,
    INPUT_COLUMNS,
    INTEREST_COLUMNS,
    collect_interest,
    event_weight,
)
from promoloop.vocabulary import Columns as C

__all__ = [
    "DIMENSIONS",
    "INTEREST_COLUMNS",
    "event_weights",
    "favourites",
    "interest_scores",
]

logger = logging.getLogger(__name__)

# Arrow types of the input columns, also for columns that contain no value.
_EVENT_TYPES = {
    C.customer_id: pa.string(),
    C.item_id: pa.string(),
    C.event_type: pa.string(),
    C.timestamp: pa.timestamp("us", tz="UTC"),
}
_ROW = "_row"


def event_weights(
    events: pd.DataFrame, as_of: pd.Timestamp, config: InterestConfig
) -> np.ndarray:
    """Compute each event's type weight times its time decay.

    Runs :func:`promoloop.engine.interest.event_weight` on an in-process
    DuckDB database.

    Parameters
    ----------
    events : DataFrame
        Canonical events.
    as_of : Timestamp
        Observation end; events are ``as_of - timestamp`` days old, and
        events stamped after it count as age 0.
    config : InterestConfig
        Weights per event type and the half-life in days (None: no decay).

    Returns
    -------
    ndarray of float
        One weight per row of ``events``. An event without a timestamp
        weighs 0 when decay is on.
    """
    frame = _events_input(events).append_column(
        _ROW, pa.array(np.arange(len(events), dtype="int64"))
    )
    with engine_or_default() as engine:
        table = engine.register_frame("events", frame)
        expr = table.select(table[_ROW], weight=event_weight(table, as_of, config))
        weights = engine.to_pandas(expr.order_by(_ROW))
    return weights["weight"].to_numpy(dtype="float64")


def interest_scores(
    events: pd.DataFrame,
    items: pd.DataFrame,
    as_of: pd.Timestamp,
    config: InterestConfig,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Compute every known customer's affinity to each category and brand.

    Runs :func:`promoloop.engine.interest.interest_table` on ``engine``, an
    in-process DuckDB database by default. Use that function with
    :class:`promoloop.engine.Engine` directly to compute the same table on
    Parquet files.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.
    items : DataFrame
        Canonical items table; its ``category`` and ``brand`` columns are the
        dimensions. Events on items missing from it, or with a missing value,
        do not count for that dimension. When an item id is listed more
        than once, each dimension takes its smallest value among those rows,
        as on every engine.
    as_of : Timestamp
        Observation end, timezone-aware UTC (a naive value is taken as UTC).
    config : InterestConfig
        Event weights and half-life.
    engine : Engine, optional
        Engine to run on, e.g. ``Engine.spark()``; left open. Default: a new
        in-process DuckDB engine, closed afterwards.

    Returns
    -------
    DataFrame
        Long table ``[customer_id, dimension, value, score]``, one row per
        customer, dimension and value that the customer touched, sorted by
        customer, dimension and descending score, then value. Customer ids
        and values are strings.
    """
    if engine is None:
        with engine_or_default() as default:
            return interest_scores(events, items, as_of, config, default)
    events_table = engine.register_frame("events", _events_input(events))
    items_table = engine.register_frame("items", _items_input(items))
    return collect_interest(engine, events_table, items_table, as_of, config)


def _events_input(events: pd.DataFrame) -> pa.Table:
    """Convert the columns the scores read to Arrow, typing empty columns."""
    table = pa.Table.from_pandas(events[INPUT_COLUMNS], preserve_index=False)
    for index, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            column = table.column(index).cast(_EVENT_TYPES[field.name])
            table = table.set_column(index, field.name, column)
    return table


def _items_input(items: pd.DataFrame) -> pa.Table:
    """Convert the item ids and dimension values to Arrow strings.

    Repeated item ids are kept: the engine's interest definition picks one
    value per item and dimension, the same on every path.
    """
    item_ids = pa.array(items[C.item_id], from_pandas=True)
    if pa.types.is_null(item_ids.type):
        item_ids = item_ids.cast(pa.string())
    columns = {C.item_id: item_ids}
    for dimension in DIMENSIONS:
        if dimension in items.columns:
            values = items[dimension]
            strings = values.astype("str").where(values.notna(), None)
            columns[dimension] = pa.array(strings, pa.string(), from_pandas=True)
    return pa.table(columns)


def favourites(interest: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Return each customer's highest-scoring category and brand.

    Ties go to the value that sorts first. A favourite needs a score above 0,
    so a customer whose only contact with a brand is a return has none.

    Parameters
    ----------
    interest : DataFrame
        Output of :func:`interest_scores`.
    index : Index
        Customer ids of the result.

    Returns
    -------
    DataFrame
        Columns ``favourite_category`` and ``favourite_brand``.
    """
    out = pd.DataFrame(index=index)
    positive = interest[interest[C.score] > 0]
    for dimension in DIMENSIONS:
        rows = positive[positive["dimension"] == dimension]
        # Rows are sorted by descending score, then value, within a customer.
        top = rows.drop_duplicates(C.customer_id).set_index(C.customer_id)["value"]
        out[f"favourite_{dimension}"] = top.reindex(index).astype("str")
    return out
