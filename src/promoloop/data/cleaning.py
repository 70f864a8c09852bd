"""Cleaning rules shared by every loader, each recorded in the CleaningReport.

Each rule records its count even when it matched no row, so a report shows
what was checked and not only what was found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from promoloop.data.files import ROW
from promoloop.data.ids import canonical_id
from promoloop.data.report import CleaningReport, RuleAction
from promoloop.data.schema import EVENTS, conform
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)

EVENT_SORT_ORDER = [C.timestamp, C.order_id, C.item_id, C.event_id]
"""Columns that fix the row order of every canonical events table."""

_MAX_ROWS_LISTED = 10


def drop_exact_duplicates(
    df: pd.DataFrame, report: CleaningReport, *, table: str = "events"
) -> pd.DataFrame:
    """Remove rows equal in every column to an earlier row, and count them.

    Parameters
    ----------
    df : DataFrame
        Rows as read from the file.
    report : CleaningReport
        Receives the ``exact_duplicates`` count.
    table : str, default "events"
        Table name in the report.

    Returns
    -------
    DataFrame
        The first of each group of equal rows, in the original order.
    """
    duplicated = df.duplicated(keep="first")
    report.add(
        "exact_duplicates",
        int(duplicated.sum()),
        RuleAction.DROPPED,
        "rows equal in every column to an earlier row",
        table=table,
    )
    return df[~duplicated]


def normalize_discount_signs(
    df: pd.DataFrame,
    columns: Sequence[str],
    report: CleaningReport,
    *,
    file: str | None = None,
) -> pd.DataFrame:
    """Make every discount column non-negative, detecting its sign per column.

    A column whose values are all <= 0, with at least one < 0, stores
    discounts as negative adjustments and is negated. A column with both
    signs is ambiguous and raises. Flipped columns are listed in
    ``report.notes``.

    Parameters
    ----------
    df : DataFrame
        Table with numeric discount columns, indexed by data row.
    columns : sequence of str
        The discount columns.
    report : CleaningReport
        Receives one ``discount_sign_flipped:<column>`` count per column
        (rows with a non-zero value that were negated, 0 when none were).
    file : str, optional
        File name for the error message.

    Returns
    -------
    DataFrame
        A copy with the discount columns >= 0.

    Raises
    ------
    InputError
        If a column has both positive and negative values; the message lists
        the rows of the less common sign.
    """
    out = df.copy()
    for column in columns:
        values = out[column]
        negative = values < 0
        positive = values > 0
        if negative.any() and positive.any():
            minority = negative if negative.sum() <= positive.sum() else positive
            rows = [int(r) for r in values.index[minority.to_numpy()]]
            listed = rows[:_MAX_ROWS_LISTED]
            more = (
                f" and {len(rows) - len(listed)} more"
                if len(rows) > len(listed)
                else ""
            )
            raise InputError(
                f"discount column has both positive and negative values; "
                f"rows {listed}{more} have the less common sign",
                file=file,
                row=rows[0],
                column=column,
                value=float(values.loc[rows[0]]),
                expected="all discounts >= 0, or all <= 0 when stored as negatives",
                fix="correct the rows or split the column by meaning",
            )
        flipped = int(negative.sum())
        if flipped:
            # abs() and not negation, so zeros stay 0.0 and never become -0.0.
            out[column] = values.abs()
            report.notes.append(
                f"discount column {column!r} stored discounts as negative numbers; "
                f"the sign of {flipped} rows was flipped"
            )
        report.add(
            f"discount_sign_flipped:{column}",
            flipped,
            RuleAction.REPAIRED,
            f"negative discounts in {column!r} made positive",
        )
    return out


def canonicalize_ids(
    df: pd.DataFrame,
    columns: Iterable[str],
    report: CleaningReport,
    *,
    table: str = "events",
) -> pd.DataFrame:
    """Make id columns canonical strings and count the values that changed.

    Parameters
    ----------
    df : DataFrame
        Table with canonical column names.
    columns : iterable of str
        Id columns present in ``df``.
    report : CleaningReport
        Receives one ``id_made_canonical:<column>`` count per column.
    table : str, default "events"
        Table name in the report.

    Returns
    -------
    DataFrame
        A copy whose id columns are canonical strings
        (see :func:`promoloop.data.ids.canonical_id`).
    """
    out = df.copy()
    for column in columns:
        before = out[column].astype("string")
        after = canonical_id(out[column])
        changed = (before != after).fillna(False) & before.notna() & after.notna()
        out[column] = after
        report.add(
            f"id_made_canonical:{column}",
            int(changed.sum()),
            RuleAction.REPAIRED,
            f"{column} rewritten as a canonical string, e.g. '30117.0' -> '30117'",
            table=table,
        )
    return out


def unit_price(amount: pd.Series, quantity: pd.Series) -> pd.Series:
    """Divide ``amount`` by ``quantity``, missing (NaN) where quantity is 0.

    Parameters
    ----------
    amount : Series
        Money per line.
    quantity : Series
        Units per line.

    Returns
    -------
    Series of float64
        Never ``inf``: lines with quantity 0 (or missing) get NaN, which
        pandas treats as missing.
    """
    quantity = quantity.astype("float64")
    safe = quantity.where(quantity != 0)
    return (amount.astype("float64") / safe).astype("float64")


def line_prices(df: pd.DataFrame, report: CleaningReport | None = None) -> pd.DataFrame:
    """Compute regular, loyalty and coupon unit prices of loyalty-card lines.

    Uses the Complete Journey layout with discounts already made >= 0 by
    :func:`normalize_discount_signs`::

        regular = (sales_value + retail_disc + coupon_match_disc) / quantity
        loyalty = (sales_value + coupon_match_disc) / quantity
        coupon  = (sales_value - coupon_disc) / quantity
        loyalty_discount_pct = 100 * (regular - loyalty) / regular

    Parameters
    ----------
    df : DataFrame
        Columns ``quantity``, ``sales_value``, ``retail_disc``,
        ``coupon_disc`` and ``coupon_match_disc``.
    report : CleaningReport, optional
        Receives the ``price_missing_zero_quantity`` count.

    Returns
    -------
    DataFrame
        Columns ``regular_price``, ``loyalty_price``, ``coupon_price`` and
        ``loyalty_discount_pct`` on the index of ``df``. Lines with quantity 0
        have missing (NaN) prices, never ``inf``; the discount percentage is
        also missing when the regular price is 0.

    Raises
    ------
    InputError
        If a discount column is negative (signs not normalised).
    """
    for column in ("retail_disc", "coupon_disc", "coupon_match_disc"):
        if (df[column] < 0).any():
            raise InputError(
                "negative discount; normalise the signs first",
                column=column,
                value=float(df[column].min()),
                expected="discounts >= 0",
                fix="call normalize_discount_signs on the discount columns first",
            )
    sales = df["sales_value"]
    quantity = df["quantity"]
    regular = unit_price(sales + df["retail_disc"] + df["coupon_match_disc"], quantity)
    loyalty = unit_price(sales + df["coupon_match_disc"], quantity)
    coupon = unit_price(sales - df["coupon_disc"], quantity)
    pct = 100 * (regular - loyalty) / regular.where(regular != 0)
    out = pd.DataFrame(
        {
            "regular_price": regular,
            "loyalty_price": loyalty,
            "coupon_price": coupon,
            "loyalty_discount_pct": pct,
        },
        index=df.index,
    )
    if report is not None:
        report.add(
            "price_missing_zero_quantity",
            int((quantity == 0).sum()),
            RuleAction.FLAGGED,
            "lines with quantity 0 kept for totals; their unit prices are missing",
        )
    return out


def number_lines(df: pd.DataFrame, group: str, by: Sequence[str]) -> pd.Series:
    """Number the rows of each ``group`` 1, 2, ... in the order of ``by``.

    Sorting by content first makes the numbers, and so ids built from them,
    independent of the row order of the file.
    """
    ordered = df.sort_values([group, *by], kind="stable")
    numbers = ordered.groupby(group, sort=False, dropna=False).cumcount() + 1
    return numbers.reindex(df.index)


def finish_events(
    events: pd.DataFrame, report: CleaningReport, *, source: str
) -> pd.DataFrame:
    """Check and sort a canonical events table, as the last step of every loader.

    Parameters
    ----------
    events : DataFrame
        Events with canonical column names.
    report : CleaningReport
        Receives the ``non_finite_amount`` count.
    source : str
        File or dataset name used in error messages.

    Returns
    -------
    DataFrame
        Conformed to :data:`promoloop.data.schema.EVENTS`, sorted by
        (timestamp, order_id, item_id, event_id), with a fresh index.

    Raises
    ------
    InputError
        If event ids repeat, or an amount, quantity or discount is negative.
    """
    events = conform(events, EVENTS, source=source)

    # Infinite money values cannot come from a parsed file, but a loader's
    # arithmetic can make them; they are made missing and counted.
    money = [C.amount, C.discount, C.quantity]
    infinite = np.isinf(events[money].to_numpy(dtype="float64")).any(axis=1)
    report.add(
        "non_finite_amount",
        int(infinite.sum()),
        RuleAction.REPAIRED,
        "infinite amount, discount or quantity made missing",
    )
    if infinite.any():
        events[money] = events[money].replace([np.inf, -np.inf], np.nan)

    for column in money:
        negative = events[column] < 0
        if negative.any():
            first = int(negative.to_numpy().nonzero()[0][0])
            raise InputError(
                f"negative {column} in the events table",
                file=source,
                row=_row_number(events.index, first),
                column=column,
                value=float(events[column].iloc[first]),
                expected=f"{column} >= 0 (returns are event_type 'return')",
                fix="map returns to event_type 'return' with positive values",
            )

    repeated = events[C.event_id].duplicated(keep=False)
    if repeated.any():
        ids = events.loc[repeated, C.event_id].unique()[:_MAX_ROWS_LISTED].tolist()
        raise InputError(
            f"event ids are not unique: {ids}",
            file=source,
            column=C.event_id,
            value=ids[0],
            expected="one row per event id",
            fix="map a unique event id column, or leave event_id unmapped",
        )

    extra = [c for c in events.columns if c not in EVENTS.names]
    events = events[EVENTS.names + extra]
    events = events.sort_values(EVENT_SORT_ORDER, kind="stable", na_position="last")
    return events.reset_index(drop=True)


def _row_number(index: pd.Index, position: int) -> int | None:
    # Loaders keep the file's 1-based data row number as an index named
    # "row"; a table built in memory has no file row.
    return int(index[position]) if index.name == ROW else None


def item_units_sold(events: pd.DataFrame) -> pd.Series:
    """Return units sold per item: purchased units minus returned units.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.

    Returns
    -------
    Series of float64
        Indexed by item_id, sorted by item_id. Items with only returns get
        negative numbers.
    """
    sign = events[C.event_type].map(
        {EventType.PURCHASE.value: 1.0, EventType.RETURN.value: -1.0}
    )
    units = (events[C.quantity] * sign).fillna(0.0)
    return units.astype("float64").groupby(events[C.item_id]).sum().sort_index()
