"""Build canonical tables from a shop's own files, following a mapping."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from promoloop.data.cleaning import (
    canonicalize_ids,
    drop_exact_duplicates,
    finish_events,
    normalize_discount_signs,
    number_lines,
)
from promoloop.data.files import parse_numbers, parse_timestamps, read_file
from promoloop.data.mapping import EventsMapping, EventTypeColumn, TableMapping
from promoloop.data.report import CleaningReport, RuleAction
from promoloop.data.schema import CUSTOMERS, ITEMS, TableSpec, conform
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

ORDER_LEVEL_ITEM = "order"
"""Item id of order-level rows when the mapping gives none."""

_NEVER_BLANK = (
    C.event_id,
    C.item_id,
    C.order_id,
    C.timestamp,
    C.amount,
    C.quantity,
    C.discount,
)
"""Events columns that, when mapped to a file column, need a value on every row."""

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def build_events(
    path: Path, mapping: EventsMapping, report: CleaningReport
) -> pd.DataFrame:
    """Read the events file and return the canonical events table.

    Parameters
    ----------
    path : Path
        Events file.
    mapping : EventsMapping
        Column names, constants and read options.
    report : CleaningReport
        Receives the count of every cleaning rule.

    Returns
    -------
    DataFrame
        Canonical events, sorted by (timestamp, order_id, item_id, event_id).

    Raises
    ------
    InputError
        For a missing column, a blank value in a mapped column other than
        customer_id, an invalid value, an unmapped event type, mixed discount
        signs, or (order-level files) one order id with two contents.
    """
    source = str(path)
    type_column = (
        [mapping.event_type.column]
        if isinstance(mapping.event_type, EventTypeColumn)
        else []
    )
    required = [*mapping.columns.values(), *type_column, *mapping.extra_columns]
    raw = read_file(path, mapping, required=required)
    report.rows_read["events"] = len(raw)
    raw = drop_exact_duplicates(raw, report)

    # Canonical columns as text, then numbers and dates parsed over the whole
    # column so every invalid value is counted before the first is reported.
    df = _rename(raw, mapping)
    _check_no_blanks(df, mapping, source)
    for column, default, rule in (
        (C.quantity, 1.0, "default_quantity_one"),
        (C.discount, 0.0, "default_discount_zero"),
    ):
        defaulted = column not in df
        if defaulted:
            df[column] = default
        else:
            df[column] = parse_numbers(
                df[column], mapping, file=source, column=_source_name(mapping, column)
            )
        report.add(
            rule,
            len(df) if defaulted else 0,
            RuleAction.REPAIRED,
            f"{column} not mapped: set to {default:g} on every row",
        )
    if C.amount in df:
        df[C.amount] = parse_numbers(
            df[C.amount], mapping, file=source, column=_source_name(mapping, C.amount)
        )
    if C.timestamp in df:
        df[C.timestamp] = parse_timestamps(
            df[C.timestamp],
            mapping,
            file=source,
            column=_source_name(mapping, C.timestamp),
        )
    df[C.event_type] = _event_types(raw, mapping, source)

    # Discount sign convention and canonical ids.
    df = normalize_discount_signs(df, [C.discount], report, file=source)
    ids = [c for c in (C.customer_id, C.item_id, C.order_id, C.event_id) if c in df]
    df = canonicalize_ids(df, ids, report)
    if C.customer_id in df:
        report.add(
            "missing_customer",
            int(df[C.customer_id].isna().sum()),
            RuleAction.KEPT,
            "blank customer id: kept for item statistics, left out of customer "
            "profiles",
        )
    report.add(
        "zero_quantity",
        int((df[C.quantity] == 0).sum()),
        RuleAction.KEPT,
        "quantity 0: kept for totals; no unit price is computed from it",
    )

    # Order-level rows: one row per order, so a repeated order id with other
    # content is a conflict, not a second line.
    if mapping.order_level:
        if C.item_id not in df:
            df[C.item_id] = ORDER_LEVEL_ITEM
        _check_order_conflicts(df, source)

    # Generated ids: one order per customer and timestamp when no order id is
    # mapped, and lines numbered within each order by their content.
    if C.order_id not in df:
        stamp = (
            df[C.timestamp].dt.strftime("%Y%m%dT%H%M%S") if C.timestamp in df else ""
        )
        df[C.order_id] = df[C.customer_id].fillna("anonymous") + "@" + stamp
    if C.event_id not in df:
        content = [
            c
            for c in (
                C.item_id,
                C.timestamp,
                C.event_type,
                C.quantity,
                C.amount,
                C.discount,
                C.customer_id,
            )
            if c in df
        ]
        line = number_lines(df, C.order_id, content)
        df[C.event_id] = df[C.order_id] + "-" + line.astype("string")
    return finish_events(df, report, source=source)


def build_items(
    path: Path | None,
    mapping: TableMapping,
    events: pd.DataFrame,
    report: CleaningReport,
) -> pd.DataFrame:
    """Read the items file, or list the event items when there is none.

    Items that occur in events but not in the file are added with missing
    attributes and counted as ``item_without_catalog_row``.

    Raises
    ------
    InputError
        For a missing column, an invalid price or one item id with two rows.
    """
    if path is None:
        items = pd.DataFrame({C.item_id: events[C.item_id].dropna().unique()})
    else:
        items = _read_table(
            path, mapping, ITEMS, report, numeric=(C.price, C.margin_rate)
        )
    known = set(items[C.item_id].dropna())
    unknown = pd.Index(events[C.item_id].dropna().unique()).difference(list(known))
    report.add(
        "item_without_catalog_row",
        len(unknown),
        RuleAction.REPAIRED,
        "event item missing from the items file: added without attributes",
        table="items",
    )
    items = pd.concat(
        [items.reset_index(drop=True), pd.DataFrame({C.item_id: unknown})],
        ignore_index=True,
    )
    items = items.sort_values(C.item_id).reset_index(drop=True)
    return conform(items, ITEMS, source=str(path))


def build_customers(
    path: Path | None,
    mapping: TableMapping,
    events: pd.DataFrame,
    report: CleaningReport,
) -> pd.DataFrame:
    """Read the customers file, or list the event customers when there is none.

    Raises
    ------
    InputError
        For a missing column, an invalid consent value or one customer id
        with two rows.
    """
    if path is None:
        customers = pd.DataFrame(
            {C.customer_id: events[C.customer_id].dropna().unique()}
        )
        return conform(
            customers.sort_values(C.customer_id, ignore_index=True),
            CUSTOMERS,
            source="<events>",
        )
    customers = _read_table(path, mapping, CUSTOMERS, report, numeric=())
    if C.consent in customers:
        customers[C.consent] = _parse_bool(
            customers[C.consent], str(path), _source_name(mapping, C.consent)
        )
    customers = customers.sort_values(C.customer_id, ignore_index=True)
    return conform(customers, CUSTOMERS, source=str(path))


def _read_table(path, mapping, spec: TableSpec, report, numeric) -> pd.DataFrame:
    source = str(path)
    raw = read_file(
        path, mapping, required=[*mapping.columns.values(), *mapping.extra_columns]
    )
    report.rows_read[spec.name] = len(raw)
    raw = drop_exact_duplicates(raw, report, table=spec.name)
    df = _rename(raw, mapping)
    key = spec.names[0]
    if key not in df:
        raise InputError(
            f"the {spec.name} mapping has no {key!r} column",
            file=source,
            expected=f"columns: {{{key}: <column in the file>}}",
            fix=f"map {key} in the mapping's {spec.name} section",
        )
    for column in numeric:
        if column in df:
            df[column] = parse_numbers(
                df[column], mapping, file=source, column=_source_name(mapping, column)
            )
    df = canonicalize_ids(df, [key], report, table=spec.name)
    repeated = df[key].duplicated(keep=False) & df[key].notna()
    if repeated.any():
        rows = [int(r) for r in df.index[repeated.to_numpy()]]
        raise InputError(
            f"{key} {df.loc[rows[0], key]!r} has several different rows {rows[:10]}",
            file=source,
            row=rows[0],
            column=_source_name(mapping, key),
            value=df.loc[rows[0], key],
            expected=f"one row per {key}",
            fix="remove or merge the conflicting rows",
        )
    return df


def _rename(raw: pd.DataFrame, mapping: TableMapping) -> pd.DataFrame:
    df = pd.DataFrame(index=raw.index)
    for canonical, column in mapping.columns.items():
        df[canonical] = raw[column]
    for canonical, value in mapping.constants.items():
        df[canonical] = pd.Series(
            str(value) if not isinstance(value, float) else value, index=raw.index
        )
    for column in mapping.extra_columns:
        df[column] = raw[column]
    return df


def _check_no_blanks(df: pd.DataFrame, mapping: EventsMapping, source: str) -> None:
    # Every row needs these values. A blank customer id is allowed because it
    # marks an anonymous line, and constants are never blank.
    for column in _NEVER_BLANK:
        if column not in mapping.columns:
            continue
        text = df[column].astype("string").str.strip()
        blank = text.isna() | text.eq("").fillna(False)
        if blank.any():
            rows = df.index[blank.to_numpy()]
            others = len(rows) - 1
            problem = f"blank {column}"
            if others:
                problem += f" ({others} other row{'s' if others > 1 else ''} too)"
            raise InputError(
                problem,
                file=source,
                row=int(rows[0]),
                column=mapping.columns[column],
                value="",
                expected="a value on every row",
                fix="fill in the value or drop the row",
            )


def _source_name(mapping: TableMapping, canonical: str) -> str:
    return mapping.columns.get(canonical, f"{canonical} (constant)")


def _event_types(raw: pd.DataFrame, mapping: EventsMapping, source: str) -> pd.Series:
    if not isinstance(mapping.event_type, EventTypeColumn):
        return pd.Series(mapping.event_type.value, index=raw.index, dtype="string")
    column = mapping.event_type.column
    values = raw[column].astype("string").str.strip()
    types = values.map({k: v.value for k, v in mapping.event_type.values.items()})
    unmapped = types.isna()
    if unmapped.any():
        rows = raw.index[unmapped.to_numpy()]
        raise InputError(
            f"event type value not in the mapping ({len(rows) - 1} other rows too)"
            if len(rows) > 1
            else "event type value not in the mapping",
            file=source,
            row=int(rows[0]),
            column=column,
            value=values.loc[rows[0]],
            expected=f"one of {sorted(mapping.event_type.values)}",
            fix="add the value to event_type.values in the mapping",
        )
    return types.astype("string")


def _check_order_conflicts(df: pd.DataFrame, source: str) -> None:
    repeated = df[C.order_id].duplicated(keep=False) & df[C.order_id].notna()
    if not repeated.any():
        return
    first = df.loc[repeated, C.order_id].iloc[0]
    rows = [int(r) for r in df.index[(df[C.order_id] == first).to_numpy()]]
    raise InputError(
        f"order {first!r} appears in rows {rows} with different content",
        file=source,
        row=rows[0],
        column=C.order_id,
        value=first,
        expected="one row per order in an order-level file (exact copies are removed)",
        fix="remove the wrong row, or set order_level: false for line-level files",
    )


def _parse_bool(values: pd.Series, source: str, column: str) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    parsed = pd.Series(pd.NA, index=values.index, dtype="boolean")
    parsed[text.isin(_TRUE).fillna(False)] = True
    parsed[text.isin(_FALSE).fillna(False)] = False
    bad = parsed.isna() & text.notna()
    if bad.any():
        row = values.index[bad.to_numpy()][0]
        raise InputError(
            "invalid consent value",
            file=source,
            row=int(row),
            column=column,
            value=values.loc[row],
            expected="true/false, yes/no or 1/0",
            fix="correct the value",
        )
    return parsed
