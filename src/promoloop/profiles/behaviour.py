"""Behaviour features per customer: recency, frequency, spend, returns, discounts.

The behaviour features are defined once, as Ibis expressions in
:mod:`promoloop.engine.behaviour`, so the same definition runs on DuckDB or
Spark. :func:`behaviour_features` is the pandas entry point: it runs that
definition on an in-process DuckDB database. Anonymous lines (missing
customer id) are left out, because a profile describes one known customer.
"""

from __future__ import annotations

import logging

import pandas as pd
import pyarrow as pa

from promoloop.engine import Engine
from promoloop.engine.backends import engine_or_default
from promoloop.engine.behaviour import (
    BEHAVIOUR_COLUMNS,
    INPUT_COLUMNS,
    collect_behaviour,
)
from promoloop.engine.value import (
    collect_discount_shares,
    collect_population_discount_share,
)
from promoloop.vocabulary import Columns as C

__all__ = [
    "BEHAVIOUR_COLUMNS",
    "DAY",
    "behaviour_features",
    "discount_share_of_value",
    "known_customer_events",
    "population_discount_share",
]

logger = logging.getLogger(__name__)

DAY = pd.Timedelta(days=1)

# Arrow types for input columns that contain no value, so their type is unknown.
_EMPTY_COLUMN_TYPES = {
    C.customer_id: pa.string(),
    C.event_type: pa.string(),
    C.order_id: pa.string(),
    C.item_id: pa.string(),
    C.timestamp: pa.timestamp("us", tz="UTC"),
    C.quantity: pa.float64(),
    C.amount: pa.float64(),
    C.discount: pa.float64(),
}


def known_customer_events(events: pd.DataFrame) -> pd.DataFrame:
    """Return the events that carry a customer id.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.

    Returns
    -------
    DataFrame
        The rows whose ``customer_id`` is present.
    """
    return events[events[C.customer_id].notna()]


def behaviour_features(
    events: pd.DataFrame, as_of: pd.Timestamp, engine: Engine | None = None
) -> pd.DataFrame:
    """Compute the behaviour features of every known customer.

    Runs :func:`promoloop.engine.behaviour.behaviour_table` on ``engine``,
    an in-process DuckDB database by default. Use that function with
    :class:`promoloop.engine.Engine` directly to compute the same table on
    Parquet files.

    Parameters
    ----------
    events : DataFrame
        Canonical events table; events after ``as_of`` must already be removed.
    as_of : Timestamp
        Observation end, timezone-aware UTC (a naive value is taken as UTC).
    engine : Engine, optional
        Engine to run on, e.g. ``Engine.spark()``; left open. Default: a new
        in-process DuckDB engine, closed afterwards.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (every customer with at least one event,
        ascending), with the columns of :data:`BEHAVIOUR_COLUMNS`:

        - ``recency_days``: days from the last purchase to ``as_of`` (missing
          when the customer never bought).
        - ``frequency``: distinct purchase orders.
        - ``gross_spend``, ``returns_value``, ``monetary``: purchase amounts,
          refunded amounts and their difference (net spend).
        - ``return_rate``: ``returns_value / gross_spend`` (missing when gross
          spend is 0).
        - ``avg_order_value``: gross spend per purchase order.
        - ``basket_size``: mean distinct items per purchase order. Distinct
          items, not units, because units mix counts with weights and
          volumes (fuel sold by the hundredth of a gallon).
        - ``units_per_order``: mean units per purchase order.
        - ``interpurchase_days``: mean gap in days between distinct purchase
          days (UTC dates; missing for customers who bought on one day only).
        - ``discount_share``: share of purchase lines with a discount above 0.
        - ``tenure_days``: days from the first event of any type to ``as_of``.
        - ``zero_price_only``: True when the customer has purchase lines and
          all of them had amount 0.

        The ratios per order are missing for customers without purchase
        orders. Missing amounts, quantities and discounts count as 0 in
        sums, and a line with a missing discount counts as not discounted.
    """
    if engine is None:
        with engine_or_default() as default:
            return behaviour_features(events, as_of, default)
    table = engine.register_frame("events", _engine_input(events))
    out = collect_behaviour(engine, table, as_of)
    out.index = out.index.astype(events[C.customer_id].dtype)
    logger.debug("behaviour features for %d customers", len(out))
    return out


def _engine_input(events: pd.DataFrame) -> pa.Table:
    """Convert the columns the features read to Arrow, typing empty columns."""
    table = pa.Table.from_pandas(events[INPUT_COLUMNS], preserve_index=False)
    for index, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            column = table.column(index).cast(_EMPTY_COLUMN_TYPES[field.name])
            table = table.set_column(index, field.name, column)
    return table


def discount_share_of_value(
    events: pd.DataFrame, engine: Engine | None = None
) -> pd.DataFrame:
    """Compute each customer's discount as a share of the regular value bought.

    Regular value is ``amount + discount``. Only purchase lines with quantity
    above 0 count, because lines of quantity 0 (voids, adjustments) have no
    price. Runs :func:`promoloop.engine.value.discount_share_table` on
    ``engine``, an in-process DuckDB database by default.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.
    engine : Engine, optional
        Engine to run on; left open. Default: a new in-process DuckDB
        engine, closed afterwards.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (customers with such lines, ascending)
        with ``discount_value_share`` (total discount divided by total
        regular value; missing when the regular value is 0) and
        ``discounted_line_share`` (share of those lines with a discount
        above 0). A line with a missing amount or discount adds nothing to
        the regular value, and a missing discount counts as not discounted.
    """
    if engine is None:
        with engine_or_default() as default:
            return discount_share_of_value(events, default)
    table = engine.register_frame("events", _engine_input(events))
    shares = collect_discount_shares(engine, table)
    shares.index = shares.index.astype(events[C.customer_id].dtype)
    return shares[["discount_value_share", "discounted_line_share"]]


def population_discount_share(
    events: pd.DataFrame, engine: Engine | None = None
) -> float:
    """Return total discount over total regular value for all known customers.

    Returns ``nan`` when the regular value is 0. Same line selection as
    :func:`discount_share_of_value`, and the same ``engine`` argument.
    """
    if engine is None:
        with engine_or_default() as default:
            return population_discount_share(events, default)
    table = engine.register_frame("events", _engine_input(events))
    return collect_population_discount_share(engine, table)
