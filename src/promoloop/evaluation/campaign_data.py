"""Per-customer campaign outcomes from the exposures and outcomes tables.

A campaign's treated group is every customer exposed to one of its
promotions with ``holdout`` False, and its control group is its holdout.
Each customer's outcome is measured from the first exposure timestamp to
``window_days`` days later, over all of the customer's outcome rows (control
customers' orders carry no campaign, so rows are not matched by campaign).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from promoloop.data.schema import EXPOSURES, OUTCOMES, conform
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.warnings import DataQualityWarning

logger = logging.getLogger(__name__)

TREATED = "treated"
CONTROL = "control"
GROUP = "group"
EXPOSED_AT = "exposed_at"
CONVERTED = "converted"
ORDERS = "orders"
REDEMPTIONS = "redemptions"
PRE_SPEND = "pre_spend"
SEGMENT = "segment"
UNKNOWN_SEGMENT = "(no segment)"


def _require_columns(df: pd.DataFrame, columns: list[str], argument: str) -> None:
    for column in columns:
        if column not in df.columns:
            raise InputError(
                f"missing required column {column!r} in {argument}",
                column=column,
                expected=f"columns {columns}",
                fix=f"add the column {column!r} to {argument}",
            )


def _checked_exposures(exposures: pd.DataFrame) -> pd.DataFrame:
    _require_columns(
        exposures, [C.customer_id, C.campaign_id, C.holdout, C.timestamp], "exposures"
    )
    if C.decision_id not in exposures.columns:
        exposures = exposures.assign(**{C.decision_id: pd.NA})
    ex = conform(exposures, EXPOSURES, source="exposures")
    missing = ex[C.holdout].isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise InputError(
            "missing holdout flag in exposures",
            row=row + 1,
            column=C.holdout,
            expected="True for the control group, False for treated customers",
            fix="fill the holdout column for every exposure",
        )
    return ex


def _checked_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    _require_columns(outcomes, [C.customer_id, C.timestamp, C.revenue], "outcomes")
    oc = conform(outcomes, OUTCOMES, source="outcomes")
    _reject_bad_revenue(oc)
    no_margin = oc[C.margin].isna() & oc[C.revenue].notna()
    if no_margin.any():
        warnings.warn(
            f"{int(no_margin.sum())} outcome rows have revenue but no margin; their "
            "margin counts as 0. Fill the margin column to measure margin lift",
            DataQualityWarning,
            stacklevel=3,
        )
    return oc.assign(
        **{C.revenue: oc[C.revenue].fillna(0.0), C.margin: oc[C.margin].fillna(0.0)}
    )


def _reject_bad_revenue(oc: pd.DataFrame) -> None:
    """Raise on blank or negative revenue: neither may count as a zero sale."""
    for problem, bad, fix in (
        (
            "missing revenue in outcomes",
            oc[C.revenue].isna(),
            "fill the revenue of every outcome row, or drop rows that are no order",
        ),
        (
            "negative revenue in outcomes",
            oc[C.revenue] < 0,
            "leave refunds out of the outcomes; record them as returns",
        ),
    ):
        bad = bad.fillna(False).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{problem} ({int(bad.sum())} rows)",
                file="outcomes",
                row=row + 1,
                column=C.revenue,
                value=oc[C.revenue].iloc[row],
                expected="a revenue of 0 or more",
                fix=fix,
            )


def outcome_row_counts(units: pd.DataFrame, oc: pd.DataFrame, window_days: float):
    """Count outcome rows by what the evaluation did with them.

    Returns a dict: ``rows`` read, ``unknown_customer`` (no exposure in any
    campaign), ``in_window`` (inside some campaign's window), ``before``
    (before every exposure of the customer: pre-period spend) and ``after``
    (after every window). The counts tell an analyst when outcomes and
    exposures do not match, for example pseudonymized ids against raw ids.
    """
    known = oc[C.customer_id].isin(units[C.customer_id])
    first = units.groupby(C.customer_id)[EXPOSED_AT].min()
    last_end = units.groupby(C.customer_id)[EXPOSED_AT].max() + pd.Timedelta(
        days=window_days
    )
    stamps = oc[C.timestamp]
    start = oc[C.customer_id].map(first)
    end = oc[C.customer_id].map(last_end)
    before = known & (stamps < start)
    after = known & (stamps > end)
    return {
        "rows": int(len(oc)),
        "unknown_customer": int((~known).sum()),
        "before": int(before.sum()),
        "after": int(after.sum()),
        "in_window": int((known & ~before & ~after).sum()),
    }


def _assign_groups(ex: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Keep one row per (campaign, customer) and drop customers found in both groups."""
    treated = ~ex[C.holdout].astype(bool) & ex[C.promotion_id].notna()
    control = ex[C.holdout].astype(bool)
    nothing = ~treated & ~control
    if nothing.any():
        logger.info(
            "%d exposures with holdout False and no promotion are neither treated "
            "nor control; they are left out",
            int(nothing.sum()),
        )
    units = ex.loc[treated | control].assign(
        **{GROUP: np.where(control[treated | control], CONTROL, TREATED)}
    )

    # Customers with rows in both groups of one campaign belong to neither.
    keys = [C.campaign_id, C.customer_id]
    group_count = units.groupby(keys)[GROUP].nunique()
    both = group_count[group_count > 1]
    in_both = both.groupby(level=C.campaign_id).size()
    if not both.empty:
        units = units.set_index(keys).drop(index=both.index).reset_index()

    # NOTE: a treated customer with several promotions in one campaign is
    # counted under the promotion of the first exposure.
    units = units.sort_values(C.timestamp, kind="stable").drop_duplicates(keys)
    units = units.rename(columns={C.timestamp: EXPOSED_AT})
    return units[[*keys, GROUP, C.promotion_id, EXPOSED_AT]], in_both


def _window_outcomes(
    units: pd.DataFrame, oc: pd.DataFrame, window_days: float
) -> pd.DataFrame:
    """Sum each customer's outcomes inside the window and spend before it."""
    keys = [C.campaign_id, C.customer_id]
    columns = [
        C.customer_id,
        C.order_id,
        C.promotion_id,
        C.revenue,
        C.margin,
        C.timestamp,
    ]
    rows = units.merge(
        oc[columns].rename(columns={C.promotion_id: "redeemed"}), on=C.customer_id
    )
    end = rows[EXPOSED_AT] + pd.Timedelta(days=window_days)
    inside = (rows[C.timestamp] >= rows[EXPOSED_AT]) & (rows[C.timestamp] <= end)
    before = rows[C.timestamp] < rows[EXPOSED_AT]

    # Orders are distinct order ids, or rows where the outcome has no order id.
    window = rows.loc[inside]
    order_key = (
        window[C.order_id]
        .astype("string")
        .fillna("row-" + pd.Series(window.index.astype(str), index=window.index))
    )
    redeemed = window[GROUP].eq(TREATED) & window["redeemed"].eq(window[C.promotion_id])
    sums = (
        window.assign(order_key=order_key, redeemed_flag=redeemed.fillna(False))
        .groupby(keys)
        .agg(
            **{
                C.revenue: (C.revenue, "sum"),
                C.margin: (C.margin, "sum"),
                ORDERS: ("order_key", "nunique"),
                REDEMPTIONS: ("redeemed_flag", "sum"),
            }
        )
    )
    pre = rows.loc[before].groupby(keys)[C.revenue].sum().rename(PRE_SPEND)
    return sums.join(pre, how="outer")


def customer_outcomes(
    exposures: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    window_days: float = 14,
    pre_period: pd.DataFrame | None = None,
    segments: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Build one row per campaign and customer with the outcome of the window.

    Parameters
    ----------
    exposures, outcomes : DataFrame
        Canonical exposures and outcomes tables (see ``promoloop.data.schema``).
    window_days : float, default 14
        Length of the outcome window after each customer's first exposure.
    pre_period : DataFrame, optional
        Columns ``customer_id`` and ``pre_spend``. When None, pre-period
        spend is the customer's outcome revenue before the exposure.
    segments : DataFrame, optional
        Columns ``customer_id`` and ``segment``.

    Returns
    -------
    customers : DataFrame
        ``campaign_id, customer_id, group, promotion_id, exposed_at, revenue,
        margin, orders, redemptions, converted, pre_spend`` and ``segment``
        (when segments are given). Non-buyers have 0 revenue and margin.
    in_both : Series
        Customers removed because they were in both groups, by campaign.

    Raises
    ------
    InputError
        When a required column is missing or a value cannot be read.
    """
    ex = _checked_exposures(exposures)
    oc = _checked_outcomes(outcomes)
    if window_days <= 0:
        raise InputError(
            "invalid outcome window",
            value=window_days,
            expected="a positive number of days",
            fix="pass window_days such as 14",
        )

    units, in_both = _assign_groups(ex)
    sums = _window_outcomes(units, oc, window_days)
    keys = [C.campaign_id, C.customer_id]
    customers = units.merge(sums.reset_index(), on=keys, how="left")
    filled = {c: 0.0 for c in (C.revenue, C.margin, ORDERS, REDEMPTIONS, PRE_SPEND)}
    customers = customers.fillna(filled)
    customers[CONVERTED] = customers[ORDERS] > 0
    customers.attrs["outcome_rows"] = outcome_row_counts(units, oc, window_days)

    # A given pre-period table replaces the spend computed from outcomes.
    if pre_period is not None:
        _require_columns(pre_period, [C.customer_id, PRE_SPEND], "pre_period")
        pre = pre_period.assign(
            **{C.customer_id: pre_period[C.customer_id].astype("string")}
        )
        pre = pre.groupby(C.customer_id)[PRE_SPEND].sum()
        customers[PRE_SPEND] = (
            customers[C.customer_id].map(pre).astype("float64").fillna(0.0)
        )

    if segments is not None:
        _require_columns(segments, [C.customer_id, SEGMENT], "segments")
        seg = segments.assign(
            **{C.customer_id: segments[C.customer_id].astype("string")}
        )
        seg = seg.drop_duplicates(C.customer_id).set_index(C.customer_id)[SEGMENT]
        customers[SEGMENT] = (
            customers[C.customer_id].map(seg).astype("string").fillna(UNKNOWN_SEGMENT)
        )
    return customers, in_both
