"""Frequency, recency and tenure summary for buy-till-you-die (BTYD) models.

BG/NBD and Gamma-Gamma are defined on purchase occasions, not on rows. A
purchase occasion is a distinct period (day or week) in which the customer's
net spend (purchases minus refunds of that period) is above 0. Orders of one
period merge and their amounts add up. Periods with only refunds or only
zero-price lines are not occasions, and refunds never become a negative
purchase: they are reported in ``refund_total``. The summary depends only on
the set of rows, not on their order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from promoloop.profiles.behaviour import known_customer_events
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

PERIOD_DAYS = {"D": 1, "W": 7}

SUMMARY_COLUMNS = [
    C.customer_id,
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "refund_total",
    "in_gg_fit",
    "spend_total",
]


def period_index(timestamps: pd.Series, period: str) -> pd.Series:
    """Number each timestamp's calendar period, counted from 1970-01-01.

    Parameters
    ----------
    timestamps : Series
        Timezone-aware timestamps.
    period : {"D", "W"}
        Day, or week starting on Monday.

    Returns
    -------
    Series of int64
        Period number; two timestamps share a number when they fall in the
        same calendar day (or week).

    Raises
    ------
    ValueError
        If ``period`` is not ``"D"`` or ``"W"``.
    """
    _check_period(period)
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    days = ((timestamps - epoch) // pd.Timedelta(days=1)).astype("int64")
    if period == "W":
        # 1970-01-01 was a Thursday, so shifting by 3 days starts weeks on Monday.
        return (days + 3) // 7
    return days


def _check_period(period: str) -> None:
    if period not in PERIOD_DAYS:
        raise ValueError(
            f"invalid period {period!r}; expected 'D' (day) or 'W' (week). "
            "Fix: set value.period to D or W"
        )


def btyd_summary(
    events: pd.DataFrame, as_of: pd.Timestamp, period: str = "D"
) -> pd.DataFrame:
    """Summarise each customer's purchase occasions for BG/NBD and Gamma-Gamma.

    Parameters
    ----------
    events : DataFrame
        Canonical events table; purchase and return lines are used.
    as_of : Timestamp
        Observation end, timezone-aware UTC.
    period : {"D", "W"}, default "D"
        Time unit of ``recency`` and ``T``.

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

    Raises
    ------
    ValueError
        If ``period`` is not ``"D"`` or ``"W"``.
    """
    _check_period(period)
    known = known_customer_events(events)
    money_lines = known[
        known[C.event_type].isin([EventType.PURCHASE, EventType.RETURN])
    ]

    # Net spend per customer and period: purchases add, refunds subtract
    sign = np.where(money_lines[C.event_type] == EventType.PURCHASE, 1.0, -1.0)
    lines = pd.DataFrame(
        {
            C.customer_id: money_lines[C.customer_id].to_numpy(),
            "period": period_index(money_lines[C.timestamp], period).to_numpy(),
            "net": money_lines[C.amount].to_numpy() * sign,
        }
    )
    per_period = lines.groupby([C.customer_id, "period"], sort=True)["net"].sum()
    occasions = per_period[per_period > 0].reset_index()

    # Refunds are reported apart and never become a negative purchase
    refunds = money_lines.loc[
        money_lines[C.event_type] == EventType.RETURN, [C.customer_id, C.amount]
    ]
    refund_total = refunds.groupby(C.customer_id)[C.amount].sum()

    # Occasions are sorted by period within a customer, so the first row of a
    # group is the chronologically first occasion, whatever the input order.
    grouped = occasions.groupby(C.customer_id, sort=True)
    first = grouped["period"].min()
    last = grouped["period"].max()
    count = grouped["period"].size()
    first_amount = grouped["net"].first()
    total_amount = grouped["net"].sum()

    as_of_period = int(period_index(pd.Series([as_of]), period).iloc[0])
    summary = pd.DataFrame(
        {
            "frequency": (count - 1).astype("int64"),
            "recency": (last - first).astype("float64"),
            "T": (as_of_period - first).astype("float64"),
        }
    )
    repeats = summary["frequency"].where(summary["frequency"] > 0)
    summary["monetary_value"] = (total_amount - first_amount) / repeats
    summary["refund_total"] = refund_total.reindex(summary.index).fillna(0.0)
    summary["in_gg_fit"] = (summary["frequency"] >= 1) & (summary["monetary_value"] > 0)
    summary["spend_total"] = total_amount
    summary.index.name = C.customer_id
    return summary.reset_index()[SUMMARY_COLUMNS]
