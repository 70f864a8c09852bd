"""Behaviour features per customer: recency, frequency, spend, returns, discounts.

Every feature is computed from the canonical events table with vectorised
group-bys. Anonymous lines (missing customer id) are left out, because a
profile describes one known customer.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)

DAY = pd.Timedelta(days=1)

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


def behaviour_features(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Compute the behaviour features of every known customer.

    Parameters
    ----------
    events : DataFrame
        Canonical events table; events after ``as_of`` must already be removed.
    as_of : Timestamp
        Observation end, timezone-aware UTC.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (every customer with at least one event),
        with the columns of :data:`BEHAVIOUR_COLUMNS`:

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
          days (missing for customers who bought on one day only).
        - ``discount_share``: share of purchase lines with a discount above 0.
        - ``tenure_days``: days from the first event of any type to ``as_of``.
        - ``zero_price_only``: True when the customer has purchase lines and
          all of them had amount 0.
    """
    known = known_customer_events(events)
    customer_ids = pd.Index(known[C.customer_id].unique(), name=C.customer_id)
    out = pd.DataFrame(index=customer_ids.sort_values())

    # Tenure from the first event of any kind
    first_seen = known.groupby(C.customer_id)[C.timestamp].min()
    out["tenure_days"] = (as_of - first_seen) / DAY

    # Purchase lines: orders, spend, units, discounts
    purchases = known[known[C.event_type] == EventType.PURCHASE]
    by_customer = purchases.groupby(C.customer_id)
    out["recency_days"] = (as_of - by_customer[C.timestamp].max()) / DAY
    out["frequency"] = by_customer[C.order_id].nunique()
    out["gross_spend"] = by_customer[C.amount].sum()
    units = by_customer[C.quantity].sum()
    out["discount_share"] = (
        (purchases[C.discount] > 0).groupby(purchases[C.customer_id]).mean()
    )
    out["zero_price_only"] = (
        (purchases[C.amount] == 0).groupby(purchases[C.customer_id]).all()
    )

    # Refunds
    returns = known[known[C.event_type] == EventType.RETURN]
    out["returns_value"] = returns.groupby(C.customer_id)[C.amount].sum()

    # Fill customers without purchases or returns, then derive ratios
    out["frequency"] = out["frequency"].fillna(0).astype("int64")
    out["gross_spend"] = out["gross_spend"].fillna(0.0)
    out["returns_value"] = out["returns_value"].fillna(0.0)
    out["zero_price_only"] = out["zero_price_only"].fillna(False).astype(bool)
    out["monetary"] = out["gross_spend"] - out["returns_value"]
    has_spend = out["gross_spend"] > 0
    out["return_rate"] = (out["returns_value"] / out["gross_spend"]).where(has_spend)
    orders = out["frequency"].where(out["frequency"] > 0)
    out["avg_order_value"] = out["gross_spend"] / orders
    distinct_items = (
        purchases.drop_duplicates([C.order_id, C.item_id])
        .groupby(C.customer_id)[C.item_id]
        .size()
    )
    out["basket_size"] = distinct_items.reindex(out.index) / orders
    out["units_per_order"] = units.reindex(out.index) / orders

    # Mean gap between distinct purchase days
    out["interpurchase_days"] = _interpurchase_days(purchases).reindex(out.index)

    logger.debug("behaviour features for %d customers", len(out))
    return out[BEHAVIOUR_COLUMNS]


def _interpurchase_days(purchases: pd.DataFrame) -> pd.Series:
    days = purchases[C.timestamp].dt.floor("D")
    span = days.groupby(purchases[C.customer_id]).agg(["min", "max", "nunique"])
    gaps = span["nunique"] - 1
    mean_gap = ((span["max"] - span["min"]) / DAY) / gaps.where(gaps > 0)
    return mean_gap.astype("float64")


def discount_share_of_value(events: pd.DataFrame) -> pd.DataFrame:
    """Compute each customer's discount as a share of the regular value bought.

    Regular value is ``amount + discount``. Only purchase lines with quantity
    above 0 count, because lines of quantity 0 (voids, adjustments) have no
    price.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` with ``discount_value_share`` (total
        discount divided by total regular value; missing when the regular
        value is 0) and ``discounted_line_share`` (share of those lines with
        a discount above 0).
    """
    known = known_customer_events(events)
    lines = known[(known[C.event_type] == EventType.PURCHASE) & (known[C.quantity] > 0)]
    frame = pd.DataFrame(
        {
            C.customer_id: lines[C.customer_id],
            "discount": lines[C.discount],
            "regular": lines[C.amount] + lines[C.discount],
            "discounted": (lines[C.discount] > 0).astype("float64"),
        }
    )
    sums = frame.groupby(C.customer_id).agg(
        discount=("discount", "sum"),
        regular=("regular", "sum"),
        discounted_line_share=("discounted", "mean"),
    )
    regular = sums["regular"].where(sums["regular"] > 0)
    sums["discount_value_share"] = sums["discount"] / regular
    return sums[["discount_value_share", "discounted_line_share"]]


def population_discount_share(events: pd.DataFrame) -> float:
    """Return total discount over total regular value for all known customers.

    Returns ``nan`` when the regular value is 0. Same line selection as
    :func:`discount_share_of_value`.
    """
    known = known_customer_events(events)
    lines = known[(known[C.event_type] == EventType.PURCHASE) & (known[C.quantity] > 0)]
    regular = float((lines[C.amount] + lines[C.discount]).sum())
    if regular <= 0:
        return float(np.nan)
    return float(lines[C.discount].sum()) / regular
