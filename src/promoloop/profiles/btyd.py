"""Frequency, recency and tenure summary for buy-till-you-die (BTYD) models.

BG/NBD and Gamma-Gamma are defined on purchase occasions, not on rows. A
purchase occasion is a distinct period (day or week) in which the customer's
net spend (purchases minus refunds of that period) is above 0. Orders of one
period merge and their amounts add up. Periods with only refunds or only
zero-price lines are not occasions, and refunds never become a negative
purchase: they are reported in ``refund_total``. The summary depends only on
the set of rows, not on their order.

The summary is defined once, as Ibis expressions in
:mod:`promoloop.engine.value`, so the same definition runs on DuckDB or
Spark. :func:`btyd_summary` and :func:`period_index` are the pandas entry
points.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from promoloop.engine import Engine
from promoloop.engine.backends import engine_or_default
from promoloop.engine.value import (
    PERIOD_DAYS,
    SUMMARY_COLUMNS,
    check_period,
    collect_btyd,
    period_number,
)
from promoloop.profiles.behaviour import _engine_input
from promoloop.vocabulary import Columns as C

__all__ = ["PERIOD_DAYS", "SUMMARY_COLUMNS", "btyd_summary", "period_index"]

logger = logging.getLogger(__name__)

_ROW = "_row"


def period_index(
    timestamps: pd.Series, period: str, engine: Engine | None = None
) -> pd.Series:
    """Number each timestamp's calendar period, counted from 1970-01-01.

    Runs :func:`promoloop.engine.value.period_number` on ``engine``, an
    in-process DuckDB database by default.

    Parameters
    ----------
    timestamps : Series
        Timezone-aware timestamps (naive values are taken as UTC), none
        missing.
    period : {"D", "W"}
        Day, or week starting on Monday.
    engine : Engine, optional
        Engine to run on; left open. Default: a new in-process DuckDB
        engine, closed afterwards.

    Returns
    -------
    Series of int64
        Period numbers, indexed like ``timestamps``. Two timestamps share
        a number when they fall in the same UTC calendar day (or week).

    Raises
    ------
    ValueError
        If ``period`` is not ``"D"`` or ``"W"``, or a timestamp is missing.
    """
    check_period(period)
    if engine is None:
        with engine_or_default() as default:
            return period_index(timestamps, period, default)
    frame = pd.DataFrame(
        {
            C.timestamp: timestamps.reset_index(drop=True),
            _ROW: np.arange(len(timestamps), dtype="int64"),
        }
    )
    table = engine.register_frame("timestamps", frame)
    expr = table.select(_ROW, period=period_number(table[C.timestamp], period))
    periods = engine.to_pandas(expr.order_by(_ROW))["period"]
    if periods.isna().any():
        raise ValueError(
            f"timestamps contain {int(periods.isna().sum())} missing values, "
            "which have no period. Fix: drop the rows without a timestamp first"
        )
    return pd.Series(
        periods.to_numpy(dtype="int64"), index=timestamps.index, name=timestamps.name
    )


def btyd_summary(
    events: pd.DataFrame,
    as_of: pd.Timestamp,
    period: str = "D",
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Summarise each customer's purchase occasions for BG/NBD and Gamma-Gamma.

    Runs :func:`promoloop.engine.value.btyd_table` on ``engine``, an
    in-process DuckDB database by default.

    Parameters
    ----------
    events : DataFrame
        Canonical events table; purchase and return lines are used.
    as_of : Timestamp
        Observation end, timezone-aware UTC.
    period : {"D", "W"}, default "D"
        Time unit of ``recency`` and ``T``.
    engine : Engine, optional
        Engine to run on, e.g. ``Engine.spark()``; left open. Default: a new
        in-process DuckDB engine, closed afterwards.

    Returns
    -------
    DataFrame
        One row per customer with at least one purchase occasion, sorted by
        ``customer_id``, with columns:

        - ``frequency``: occasions minus 1 (repeat occasions).
        - ``recency``: periods from the first to the last occasion.
        - ``T``: periods from the first occasion to ``as_of``.
        - ``monetary_value``: mean net spend of the repeat occasions, the
          chronologically first occasion left out; missing when
          ``frequency`` is 0.
        - ``refund_total``: all refunded amounts of the customer.
        - ``in_gg_fit``: True when the row can enter the Gamma-Gamma fit
          (``frequency >= 1`` and ``monetary_value > 0``).
        - ``spend_total``: net spend of all occasions, the first included.

        Amounts are rounded to 9 decimal places and summed exactly, so a
        period whose purchases are fully refunded nets to exactly 0. Lines
        without a timestamp are left out, and missing amounts count 0.

    Raises
    ------
    ValueError
        If ``period`` is not ``"D"`` or ``"W"``.
    """
    check_period(period)
    if engine is None:
        with engine_or_default() as default:
            return btyd_summary(events, as_of, period, default)
    table = engine.register_frame("events", _engine_input(events))
    summary = collect_btyd(engine, table, as_of, period)
    summary[C.customer_id] = summary[C.customer_id].astype(events[C.customer_id].dtype)
    logger.debug("BTYD summary (%s) for %d customers", period, len(summary))
    return summary
