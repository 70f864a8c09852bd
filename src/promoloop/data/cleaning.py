"""Cleaning rules shared by every loader, each recorded in the CleaningReport.

The rules are defined once, as Ibis expressions, in
:mod:`promoloop.engine.cleaning`. Each function here runs one of them on a
pandas table: it registers the columns the rule reads, with each row's
position, on an engine (a new in-process DuckDB database unless one is
passed), collects what the rule returns (the rows it drops or changes, a
new column, or the row order) and applies that to the table. The index,
the other columns and the dtypes stay as they were.

Each rule records its count even when it matched no row, so a report shows
what was checked and not only what was found.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from promoloop.data.files import ROW
from promoloop.data.report import CleaningReport
from promoloop.data.schema import EVENTS, conform
from promoloop.engine import Engine, engine_or_default
from promoloop.engine import cleaning as rules
from promoloop.engine.cleaning import COUNTED, EVENT_SORT_ORDER, SOURCE_ROW
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)

DISCOUNT_COLUMNS = rules.LINE_DISCOUNT_COLUMNS
"""Discount columns of loyalty-card lines read by :func:`line_prices`."""

_INPUT_TABLE = "cleaning_input"


def drop_exact_duplicates(
    df: pd.DataFrame,
    report: CleaningReport,
    *,
    table: str = "events",
    engine: Engine | None = None,
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
    engine : Engine, optional
        Engine that runs the rule; left open. Default: a new in-process
        DuckDB engine, closed afterwards.

    Returns
    -------
    DataFrame
        The first of each group of equal rows, in the original order.
    """
    with _engine(engine) as running:
        rule = rules.drop_exact_duplicates(_register(running, df, list(df.columns)))
        dropped = rules.collect(running, rule.changed)
    count = int(dropped[COUNTED].sum())
    rules.EXACT_DUPLICATES.record(report, count, table=table)
    keep = np.ones(len(df), dtype=bool)
    keep[_positions(dropped)] = False
    return df[keep]


def normalize_discount_signs(
    df: pd.DataFrame,
    columns: Sequence[str],
    report: CleaningReport,
    *,
    file: str | None = None,
    engine: Engine | None = None,
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
    engine : Engine, optional
        Engine that runs the rule; left open. Default: a new in-process
        DuckDB engine, closed afterwards.

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
    columns = list(columns)
    out = df.copy()
    if not columns:
        return out
    with _engine(engine) as running:
        source = _register(running, df, columns)
        counts = rules.collect(running, rules.discount_sign_counts(source, columns))
        for column in columns:
            negative = int(counts[f"negative:{column}"].iloc[0])
            positive = int(counts[f"positive:{column}"].iloc[0])
            if negative and positive:
                _raise_mixed_signs(
                    running, source, df.index, column, negative, positive, file
                )
            flipped = 0
            if negative:
                rule = rules.flip_discount_signs(source, [column])
                changed = rules.collect(running, rule.changed)
                flipped = int(changed[COUNTED].sum())
                values = _by_position(changed, column, len(df))
                out[column] = pd.Series(values, index=df.index).astype(df[column].dtype)
                report.notes.append(rules.flipped_signs_note(column, flipped))
            rules.discount_sign_entry(column).record(report, flipped)
    return out


def _raise_mixed_signs(engine, source, index, column, negative, positive, file):
    minority_negative = negative <= positive
    rows = rules.collect(
        engine,
        rules.minority_sign_rows(source, column, minority_negative).limit(
            rules.MAX_ROWS_LISTED
        ),
    )
    # File rows when the loader kept them, else 1-based positions.
    labels = [
        int(index[position]) if index.name == ROW else int(position) + 1
        for position in _positions(rows)
    ]
    raise rules.mixed_signs_error(
        column,
        labels,
        negative if minority_negative else positive,
        rows[column].iloc[0],
        file=file,
        row=labels[0],
    )


def canonicalize_ids(
    df: pd.DataFrame,
    columns: Iterable[str],
    report: CleaningReport,
    *,
    table: str = "events",
    engine: Engine | None = None,
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
    engine : Engine, optional
        Engine that runs the rule; left open. Default: a new in-process
        DuckDB engine, closed afterwards.

    Returns
    -------
    DataFrame
        A copy whose id columns are canonical strings
        (see :func:`promoloop.engine.cleaning.canonical_id`).
    """
    columns = list(columns)
    out = df.copy()
    if not columns:
        return out
    text = pd.DataFrame({column: out[column].astype("string") for column in columns})
    with _engine(engine) as running:
        source = _register(running, text, columns)
        for column in columns:
            changed = rules.collect(
                running, rules.canonicalize_id(source, column).changed
            )
            after = text[column].copy()
            after.iloc[_positions(changed)] = pd.array(
                changed[column].tolist(), dtype=after.dtype
            )
            out[column] = after
            rules.canonical_id_entry(column).record(
                report, int(changed[COUNTED].sum()), table=table
            )
    return out


def unit_price(
    amount: pd.Series, quantity: pd.Series, *, engine: Engine | None = None
) -> pd.Series:
    """Divide ``amount`` by ``quantity``, missing (NaN) where quantity is 0.

    Parameters
    ----------
    amount : Series
        Money per line.
    quantity : Series
        Units per line, aligned with ``amount`` on the index.
    engine : Engine, optional
        Engine that runs the division; left open. Default: a new in-process
        DuckDB engine, closed afterwards.

    Returns
    -------
    Series of float64
        Never ``inf``: lines with quantity 0 (or missing) get NaN, which
        pandas treats as missing.
    """
    lines = pd.DataFrame({"amount": amount, "quantity": quantity})
    with _engine(engine) as running:
        source = _register(running, lines, ["amount", "quantity"])
        price = source.select(
            SOURCE_ROW, price=rules.unit_price(source.amount, source.quantity)
        )
        values = _by_position(rules.collect(running, price), "price", len(lines))
    name = amount.name if amount.name == quantity.name else None
    return pd.Series(values, index=lines.index, dtype="float64", name=name)


def line_prices(
    df: pd.DataFrame,
    report: CleaningReport | None = None,
    *,
    engine: Engine | None = None,
) -> pd.DataFrame:
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
    engine : Engine, optional
        Engine that computes the prices; left open. Default: a new
        in-process DuckDB engine, closed afterwards.

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
    with _engine(engine) as running:
        source = _register(running, df, ["quantity", "sales_value", *DISCOUNT_COLUMNS])
        checks = rules.collect(running, rules.line_price_checks(source)).iloc[0]
        for column in DISCOUNT_COLUMNS:
            if checks[f"negative:{column}"]:
                raise rules.unnormalised_discount_error(
                    column, checks[f"minimum:{column}"]
                )
        prices = rules.collect(running, rules.line_prices(source))
    out = pd.DataFrame(
        {
            column: _by_position(prices, column, len(df))
            for column in rules.LINE_PRICE_COLUMNS
        },
        index=df.index,
        dtype="float64",
    )
    if report is not None:
        rules.PRICE_MISSING_ZERO_QUANTITY.record(report, checks["zero_quantity"])
    return out


def number_lines(
    df: pd.DataFrame, group: str, by: Sequence[str], *, engine: Engine | None = None
) -> pd.Series:
    """Number the rows of each ``group`` 1, 2, ... in the order of ``by``.

    Sorting by content first makes the numbers, and so ids built from them,
    independent of the row order of the file. Ties keep the row order of
    ``df``, and missing values sort last. ``engine`` runs the numbering and
    is left open; the default is a new in-process DuckDB engine.
    """
    by = list(by)
    with _engine(engine) as running:
        source = _register(running, df, list(dict.fromkeys([group, *by])))
        lines = source.select(SOURCE_ROW, line=rules.line_number(source, group, by))
        numbers = _by_position(rules.collect(running, lines), "line", len(df))
    return pd.Series(numbers, index=df.index, dtype="int64")


def finish_events(
    events: pd.DataFrame,
    report: CleaningReport,
    *,
    source: str,
    engine: Engine | None = None,
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
    engine : Engine, optional
        Engine that runs the checks and the sort; left open. Default: a new
        in-process DuckDB engine, closed afterwards.

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
    columns = list(dict.fromkeys([*rules.MONEY_COLUMNS, *EVENT_SORT_ORDER]))
    with _engine(engine) as running:
        table = _register(running, events, columns)

        # Infinite money values are made missing and counted.
        infinite = rules.make_infinite_missing(table)
        changed = rules.collect(running, infinite.changed)
        rules.NON_FINITE_AMOUNT.record(report, int(changed[COUNTED].sum()))
        if len(changed):
            for column in rules.MONEY_COLUMNS:
                values = events[column].to_numpy(dtype="float64", copy=True)
                values[_positions(changed)] = changed[column].to_numpy("float64")
                events[column] = values
        table = infinite.table

        _check_events(running, table, events.index, source)
        order = _positions(
            rules.collect(running, rules.sort_events(table).select(SOURCE_ROW))
        )

    extra = [c for c in events.columns if c not in EVENTS.names]
    events = events[EVENTS.names + extra]
    return events.take(order).reset_index(drop=True)


def _check_events(engine: Engine, table: ibis.Table, index: pd.Index, source: str):
    """Raise for negative money values and repeated event ids."""
    negatives = rules.collect(engine, rules.negative_counts(table)).iloc[0]
    for column in rules.MONEY_COLUMNS:
        if negatives[column]:
            first = rules.first_row(engine, rules.negative_rows(table, column))
            raise rules.negative_value_error(
                column,
                first[column],
                file=source,
                row=_row_number(index, int(first[SOURCE_ROW])),
            )
    if rules.scalar(engine, rules.repeated_event_id_count(table)):
        first = rules.repeated_event_ids(table).limit(rules.MAX_ROWS_LISTED)
        rows = rules.collect(engine, first)
        ids = [
            pd.NA if pd.isna(event_id) else event_id for event_id in rows[C.event_id]
        ]
        row = _row_number(index, int(rows[SOURCE_ROW].iloc[0]))
        raise rules.repeated_event_ids_error(ids, file=source, row=row)


def _row_number(index: pd.Index, position: int) -> int | None:
    # Loaders keep the file's 1-based data row number as an index named
    # "row"; a table built in memory has no file row.
    return int(index[position]) if index.name == ROW else None


# Running the rules on a pandas table


@contextmanager
def _engine(engine: Engine | None) -> Iterator[Engine]:
    """Yield ``engine``, the active engine, or a new DuckDB engine closed on exit."""
    with engine_or_default(engine) as chosen:
        yield chosen


def _register(engine: Engine, df: pd.DataFrame, columns: list[str]) -> ibis.Table:
    """Register ``columns`` of ``df`` with each row's position as ``SOURCE_ROW``.

    Timestamps are registered as integers since the epoch in their own unit,
    because :meth:`Engine.register_frame` truncates them to microseconds,
    and the rules compare and sort them at full resolution, as pandas does.
    """
    arrays = []
    for column in columns:
        values = df[column]
        if values.dtype.kind == "M":
            stamps = pd.DatetimeIndex(values)
            arrays.append(pa.array(stamps.asi8, mask=stamps.isna()))
        else:
            array = pa.array(values, from_pandas=True)
            # A column of only missing values has Arrow's null type; string
            # is a type that every engine holds.
            arrays.append(
                array.cast(pa.string()) if pa.types.is_null(array.type) else array
            )
    arrays.append(pa.array(np.arange(len(df), dtype="int64")))
    frame = pa.Table.from_arrays(arrays, names=[*columns, SOURCE_ROW])
    return engine.register_frame(_INPUT_TABLE, frame)


def _positions(rows: pd.DataFrame) -> np.ndarray:
    return rows[SOURCE_ROW].to_numpy(dtype="int64")


def _by_position(rows: pd.DataFrame, column: str, length: int) -> np.ndarray:
    """Return ``column`` of collected rows in the order of ``SOURCE_ROW``."""
    values = np.empty(length, dtype=rows[column].dtype)
    values[_positions(rows)] = rows[column].to_numpy()
    return values


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
