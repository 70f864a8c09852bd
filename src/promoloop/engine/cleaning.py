"""Cleaning rules as Ibis expressions, for any engine.

This is the one definition of the row-level cleaning rules that every loader
applies: exact duplicates, discount signs, canonical ids, unit and line
prices, line numbers, infinite money values, negative values, repeated event
ids and the canonical sort. :mod:`promoloop.data.cleaning` runs them on
pandas tables, and :func:`promoloop.engine.clean_events.clean_events_parquet`
runs them on a Parquet dataset without loading it into pandas.

The event-type rules (lower case, and the error for a missing or unknown
type) run in :func:`~promoloop.engine.clean_events.clean_events_parquet`
only. The loaders map each type through the mapping file, whose targets
can only be canonical types, and reject a value that the mapping lacks.

Every table given to a rule has the column :data:`SOURCE_ROW`, the row's
place in its source (a position in a frame, or the 0-based row in a Parquet
file), and may have :data:`SOURCE_FILE`. The rules keep both columns, so an
error can name the row after any number of rules, and ties in an order are
broken by source order, as pandas' stable sort does.

Most rules are row-wise expressions. The others are SQL over the whole
table: exact duplicates (an aggregation, then a window function over the
repeated rows), line numbers (a window function), repeated event ids (an
aggregation) and the sort. One rule is not a single expression: a discount
column's sign convention is a property of the whole column, so its counts
are queried first and decide whether the column is negated or rejected (see
:func:`discount_sign_counts`).
"""

from __future__ import annotations

import functools
import operator
import warnings
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import ibis
import pandas as pd

from promoloop.data.report import CleaningReport, RuleAction
from promoloop.engine.backends import DUCKDB, Engine
from promoloop.engine.events import EVENT_TYPES, is_known_type
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

SOURCE_ROW = "_source_row"
"""Column of a row's place in its source: frame position, or row in its file."""

SOURCE_FILE = "_source_file"
"""Column of the file a row was read from, when the source has several files."""

EVENT_SORT_ORDER = [C.timestamp, C.order_id, C.item_id, C.event_id]
"""Columns that fix the row order of every canonical events table."""

MONEY_COLUMNS = [C.amount, C.discount, C.quantity]
"""Events columns that must be finite and not negative."""

COUNTED = "counted"
"""Column of :attr:`RuleResult.changed`: true for the rows in the count."""

MAX_ROWS_LISTED = 10
"""Rows or ids listed in one error message."""

# Characters that Python's str.strip() removes, which pandas uses for ids.
# SQL's trim() removes spaces only, and RE2's and Java's \s omit some of these.
_WHITESPACE_CHARACTERS = [
    *"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680",
    *(chr(code) for code in range(0x2000, 0x200B)),
    *"\u2028\u2029\u202f\u205f\u3000",
]
_WHITESPACE = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _WHITESPACE_CHARACTERS) + "]"
_SURROUNDING_WHITESPACE = f"^{_WHITESPACE}+|{_WHITESPACE}+$"
# \p{Nd} is every Unicode decimal digit, as Python's \d is. RE2's and Java's
# \d are ASCII only.
_INTEGER_WRITTEN_AS_FLOAT = r"^-?\p{Nd}+\.0+$"
_BLANK = f"^{_WHITESPACE}*$"
_CHANGED_BY_CANONICAL = f"^{_WHITESPACE}|{_WHITESPACE}$|^$|{_INTEGER_WRITTEN_AS_FLOAT}"


@dataclass(frozen=True)
class RuleResult:
    """A cleaning rule applied to a table expression.

    Attributes
    ----------
    table : ibis.Table
        Rows and values after the rule, with the source columns.
    count : ibis.Scalar
        Rows the rule matched: the number for the cleaning report.
    changed : ibis.Table
        Input rows that the rule drops or whose values it changes: the
        source columns, for a repair the new values, and the boolean column
        :data:`COUNTED`, true for the rows in ``count``. A caller holding
        the table in memory collects only these rows.
    """

    table: ibis.Table
    count: ibis.Scalar
    changed: ibis.Table


@dataclass(frozen=True)
class ReportEntry:
    """Name, action and description of a rule in the cleaning report."""

    rule: str
    action: RuleAction
    description: str

    def record(
        self, report: CleaningReport, rows: int, *, table: str = "events"
    ) -> None:
        """Add the rule with ``rows`` matched rows of ``table`` to ``report``."""
        report.add(self.rule, int(rows), self.action, self.description, table=table)


EXACT_DUPLICATES = ReportEntry(
    "exact_duplicates",
    RuleAction.DROPPED,
    "rows equal in every column to an earlier row",
)
PRICE_MISSING_ZERO_QUANTITY = ReportEntry(
    "price_missing_zero_quantity",
    RuleAction.FLAGGED,
    "lines with quantity 0 kept for totals; their unit prices are missing",
)
NON_FINITE_AMOUNT = ReportEntry(
    "non_finite_amount",
    RuleAction.REPAIRED,
    "infinite amount, discount or quantity made missing",
)
EVENT_TYPE_LOWER_CASED = ReportEntry(
    "event_type_lower_cased",
    RuleAction.REPAIRED,
    "event type with capital letters made lower case, e.g. 'Purchase' -> 'purchase'",
)


def discount_sign_entry(column: str) -> ReportEntry:
    """Return the report entry of the sign rule of one discount column."""
    return ReportEntry(
        f"discount_sign_flipped:{column}",
        RuleAction.REPAIRED,
        f"negative discounts in {column!r} made positive",
    )


def canonical_id_entry(column: str) -> ReportEntry:
    """Return the report entry of the canonical-id rule of one id column."""
    return ReportEntry(
        f"id_made_canonical:{column}",
        RuleAction.REPAIRED,
        f"{column} rewritten as a canonical string, e.g. '30117.0' -> '30117'",
    )


# Source columns


def source_order(table: ibis.Table) -> list[str]:
    """Return the source columns of ``table`` in the order that sorts its rows."""
    return [c for c in (SOURCE_FILE, SOURCE_ROW) if c in table.columns]


def data_columns(table: ibis.Table) -> list[str]:
    """Return the columns of ``table`` other than the source columns."""
    return [c for c in table.columns if c not in (SOURCE_FILE, SOURCE_ROW)]


def source_file_path(name: str) -> str:
    """Return the local path of a :data:`SOURCE_FILE` value.

    Spark names files by URI (``file:/data/a%20b.parquet``), DuckDB by path.
    """
    if name.startswith("file:"):
        return unquote(urlparse(name).path)
    return name


def _ascending(columns: list[str]) -> list[ibis.Value]:
    # pandas sorts missing values last, and Spark sorts them first by default.
    return [ibis.asc(column, nulls_first=False) for column in columns]


# Exact duplicates


def drop_exact_duplicates(table: ibis.Table) -> RuleResult:
    """Remove rows equal in every data column to a row earlier in the source.

    Missing values are equal to each other, as in ``DataFrame.duplicated``.

    Parameters
    ----------
    table : ibis.Table
        Rows with the source columns.

    Returns
    -------
    RuleResult
        ``table``: the first row of each group of equal rows. ``count`` and
        ``changed``: the later rows of each group, which are dropped.
        ``changed`` costs one aggregation and ``count`` another, so a
        caller that collects ``changed`` counts its rows.
    """
    columns = data_columns(table)
    order = source_order(table)
    groups = table.group_by(columns).aggregate(_rows=ibis._.count())
    repeated = groups.filter(groups._rows > 1)

    # Only the rows of repeated groups are numbered, so the window function
    # sorts the few duplicates and not the whole table.
    same_values = [table[c].identical_to(repeated[c]) for c in columns]
    copies = table.semi_join(repeated, same_values)
    copies = copies.mutate(
        _copy_number=ibis.row_number().over(group_by=columns, order_by=order)
    )
    later = copies.filter(copies._copy_number > 0).select(order)
    return RuleResult(
        table=table.anti_join(later, order),
        count=(repeated._rows - 1).sum().fill_null(0),
        changed=later.mutate(**{COUNTED: ibis.literal(True)}),
    )


# Discount signs


def discount_sign_counts(table: ibis.Table, columns: list[str]) -> ibis.Table:
    """Count the negative and positive values of each discount column.

    A discount column stores discounts either as positive numbers or as
    negative adjustments, and which one is a property of the whole column.
    These counts decide it before any row is repaired: a column with
    negative values and no positive one is negated by
    :func:`flip_discount_signs`, and one with both signs is invalid (see
    :func:`minority_sign_rows`).

    Returns
    -------
    ibis.Table
        One row with columns ``negative:<column>`` and ``positive:<column>``.
    """
    counts = {}
    for column in columns:
        counts[f"negative:{column}"] = (table[column] < 0).sum().fill_null(0)
        counts[f"positive:{column}"] = (table[column] > 0).sum().fill_null(0)
    return table.aggregate(**counts)


def flip_discount_signs(table: ibis.Table, columns: list[str]) -> RuleResult:
    """Make the discounts of columns stored as negative numbers positive.

    Parameters
    ----------
    table : ibis.Table
        Rows with the source columns.
    columns : list of str
        Columns that :func:`discount_sign_counts` found to hold negative
        values and no positive one.

    Returns
    -------
    RuleResult
        ``table``: the columns replaced by their absolute values, so zeros
        are 0.0 and never -0.0. ``count``: rows with a negative value in
        any of the columns. ``changed``: every row, because every value of
        a flipped column is rewritten.
    """
    absolute = {column: table[column].abs() for column in columns}
    # Start from a column of False (source rows are never missing), so the
    # count is a column sum even when no column is flipped.
    negative = functools.reduce(
        operator.or_,
        [(table[c] < 0).fill_null(False) for c in columns],
        table[SOURCE_ROW].isnull(),
    )
    return RuleResult(
        table=table.mutate(**absolute),
        count=negative.sum().fill_null(0),
        changed=table.select(*source_order(table), **absolute, **{COUNTED: negative}),
    )


def minority_sign_rows(table: ibis.Table, column: str, negative: bool) -> ibis.Table:
    """Return the rows of a mixed-sign discount column with the less common sign.

    Parameters
    ----------
    table : ibis.Table
        Rows with the source columns.
    column : str
        Discount column with both signs.
    negative : bool
        True when negative values are the less common sign (ties count as
        negative).

    Returns
    -------
    ibis.Table
        The source columns and ``column``, in source order.
    """
    minority = table[column] < 0 if negative else table[column] > 0
    rows = table.filter(minority).select(*source_order(table), column)
    return rows.order_by(source_order(table))


def mixed_signs_error(
    column: str,
    rows: list,
    total: int,
    value: float,
    *,
    file: str | None,
    row: int | None,
) -> InputError:
    """Build the error for a discount column with both signs.

    ``rows`` are the first rows of the less common sign as the caller names
    them, ``total`` how many there are, and ``file``, ``row`` and ``value``
    locate the first.
    """
    listed = rows[:MAX_ROWS_LISTED]
    more = f" and {total - len(listed)} more" if total > len(listed) else ""
    return InputError(
        f"discount column has both positive and negative values; "
        f"rows {listed}{more} have the less common sign",
        file=file,
        row=row,
        column=column,
        value=float(value),
        expected="all discounts >= 0, or all <= 0 when stored as negatives",
        fix="correct the rows or split the column by meaning",
    )


def flipped_signs_note(column: str, rows: int) -> str:
    """Return the report note of a discount column whose signs were flipped."""
    return (
        f"discount column {column!r} stored discounts as negative numbers; "
        f"the sign of {rows} rows was flipped"
    )


# Canonical ids


def canonical_id(value: ibis.StringValue) -> ibis.StringValue:
    """Build the canonical string of an id.

    Surrounding whitespace is removed, blanks become missing, and integers
    written as floats (``"17850.0"``, which pandas writes when an integer
    column has blanks) become integers (``"17850"``). Other strings are kept
    as they are, so ``"C-0042"`` stays ``"C-0042"``. This is the engine form
    of :func:`promoloop.data.ids.canonical_id`.
    """
    stripped = value.re_replace(_SURROUNDING_WHITESPACE, "")
    padded_or_blank = ibis.ifelse(
        stripped.re_search(_INTEGER_WRITTEN_AS_FLOAT),
        stripped.substr(0, stripped.find(".")),
        stripped,
    ).nullif("")
    integer = value.substr(0, value.find("."))

    # Ibis writes each use of an intermediate expression out in full. So
    # one regular expression picks the ids that change, and a second the
    # common case of an integer written as a float. Only padded or blank
    # ids run through the steps above.
    return ibis.ifelse(
        value.re_search(_CHANGED_BY_CANONICAL),
        ibis.ifelse(
            value.re_search(_INTEGER_WRITTEN_AS_FLOAT), integer, padded_or_blank
        ),
        value,
    )


def canonicalize_id(table: ibis.Table, column: str) -> RuleResult:
    """Rewrite one id column as canonical strings.

    Parameters
    ----------
    table : ibis.Table
        Rows with the source columns. ``column`` contains strings.
    column : str
        Id column.

    Returns
    -------
    RuleResult
        ``count``: values that changed and are not missing before or after,
        so a blank made missing is repaired but not counted. ``changed``:
        every row whose value changed, missing or not.
    """
    # The pattern matches exactly the ids that canonical_id changes.
    changed = table.filter(table[column].re_search(_CHANGED_BY_CANONICAL))
    value = changed[column]
    changed = changed.select(
        *source_order(table),
        **{
            column: canonical_id(value),
            # Only a blank id becomes missing.
            COUNTED: ~value.re_search(_BLANK),
        },
    )
    return RuleResult(
        table=table.mutate(**{column: canonical_id(table[column])}),
        count=changed[COUNTED].sum().fill_null(0),
        changed=changed,
    )


# Prices and line numbers


def unit_price(amount: ibis.NumericValue, quantity: ibis.NumericValue):
    """Build ``amount / quantity`` as a float, missing where quantity is 0."""
    quantity = quantity.cast("float64")
    divisor = ibis.ifelse(quantity != 0, quantity, ibis.null("float64"))
    return amount.cast("float64") / divisor


LINE_PRICE_COLUMNS = [
    "regular_price",
    "loyalty_price",
    "coupon_price",
    "loyalty_discount_pct",
]
LINE_DISCOUNT_COLUMNS = ["retail_disc", "coupon_disc", "coupon_match_disc"]
"""Discount columns of loyalty-card lines, in Complete Journey's layout."""


def line_price_checks(table: ibis.Table) -> ibis.Table:
    """Check the loyalty-card lines that :func:`line_prices` reads, in one row.

    Returns
    -------
    ibis.Table
        ``negative:<column>`` and ``minimum:<column>`` of each discount
        column (negative discounts mean the signs were not normalised), and
        ``zero_quantity``, the lines whose prices are missing.
    """
    checks = {"zero_quantity": (table["quantity"] == 0).sum().fill_null(0)}
    for column in LINE_DISCOUNT_COLUMNS:
        checks[f"negative:{column}"] = (table[column] < 0).any().fill_null(False)
        checks[f"minimum:{column}"] = table[column].min()
    return table.aggregate(**checks)


def line_prices(table: ibis.Table) -> ibis.Table:
    """Build regular, loyalty and coupon unit prices of loyalty-card lines.

    The formulas are those of :func:`promoloop.data.cleaning.line_prices`,
    on discounts already made >= 0.

    Returns
    -------
    ibis.Table
        The source columns and :data:`LINE_PRICE_COLUMNS`.
    """
    sales = table["sales_value"]
    quantity = table["quantity"]
    regular = unit_price(
        sales + table["retail_disc"] + table["coupon_match_disc"], quantity
    )
    loyalty = unit_price(sales + table["coupon_match_disc"], quantity)
    coupon = unit_price(sales - table["coupon_disc"], quantity)
    nonzero_regular = ibis.ifelse(regular != 0, regular, ibis.null("float64"))
    return table.select(
        *source_order(table),
        regular_price=regular,
        loyalty_price=loyalty,
        coupon_price=coupon,
        loyalty_discount_pct=100 * (regular - loyalty) / nonzero_regular,
    )


def unnormalised_discount_error(column: str, value: float) -> InputError:
    """Build the error for line prices computed on a negative discount."""
    return InputError(
        "negative discount; normalise the signs first",
        column=column,
        value=float(value),
        expected="discounts >= 0",
        fix="call normalize_discount_signs on the discount columns first",
    )


def line_number(table: ibis.Table, group: str, by: list[str]) -> ibis.IntegerValue:
    """Number the rows of each ``group`` 1, 2, ... in the order of ``by``.

    Ordering by content first makes the numbers, and so ids built from
    them, independent of the row order of the file. Ties keep the source
    order, and missing values sort last.
    """
    order = [*_ascending(by), *source_order(table)]
    return ibis.row_number().over(group_by=group, order_by=order) + 1


# Event types


def lower_case_event_types(table: ibis.Table) -> RuleResult:
    """Write every event type in lower case, the form of the canonical types.

    Returns
    -------
    RuleResult
        ``count`` and ``changed``: rows whose type has a capital letter,
        and ``changed`` has their lower-case types. Missing types stay
        missing.
    """
    value = table[C.event_type]
    lowered = value.lower()
    capitals = (value != lowered).fill_null(False)
    return RuleResult(
        table=table.mutate(**{C.event_type: lowered}),
        count=capitals.sum().fill_null(0),
        changed=table.filter(capitals).select(
            *source_order(table),
            **{C.event_type: lowered, COUNTED: ibis.literal(True)},
        ),
    )


def unknown_event_type_rows(table: ibis.Table) -> ibis.Table:
    """Return the rows whose event type is missing or not canonical, in source order.

    The types are matched as :func:`promoloop.engine.events.is_known_type`
    matches them, ignoring case.

    Returns
    -------
    ibis.Table
        The source columns and ``event_type``.
    """
    rows = table.filter(~is_known_type(table)).select(
        *source_order(table), C.event_type
    )
    return rows.order_by(source_order(table))


def unknown_event_type_error(
    value: str | None,
    total: int,
    *,
    file: str | None,
    row: int | None,
    fix: str,
) -> InputError:
    """Build the error for events whose type is missing or not canonical.

    ``value``, ``file`` and ``row`` locate the first such event, and
    ``total`` is how many there are.
    """
    problem = "unknown event type" if value is not None else "missing event type"
    if total > 1:
        problem += f" ({total - 1} other row{'s' if total > 2 else ''} too)"
    return InputError(
        problem,
        file=file,
        row=row,
        column=C.event_type,
        value=value,
        expected=f"one of {', '.join(EVENT_TYPES)}, in any case",
        fix=fix,
    )


# Events checks and order


def _infinite(value: ibis.NumericValue) -> ibis.BooleanValue:
    # Ibis 12 compiles isinf() to FALSE on Spark, so compare with infinity.
    infinity = ibis.literal(float("inf"), type="float64")
    return ((value == infinity) | (value == -infinity)).fill_null(False)


def make_infinite_missing(table: ibis.Table) -> RuleResult:
    """Make infinite amounts, discounts and quantities missing.

    A parsed file cannot hold infinity, but a loader's arithmetic can make
    it.

    Returns
    -------
    RuleResult
        ``count`` and ``changed``: rows with an infinite value in any of
        :data:`MONEY_COLUMNS`; ``changed`` has the repaired values.
    """
    infinite = functools.reduce(
        operator.or_, [_infinite(table[c]) for c in MONEY_COLUMNS]
    )
    repaired = {
        c: ibis.ifelse(_infinite(table[c]), ibis.null("float64"), table[c])
        for c in MONEY_COLUMNS
    }
    return RuleResult(
        table=table.mutate(**repaired),
        count=infinite.sum().fill_null(0),
        changed=table.filter(infinite).select(
            *source_order(table), **repaired, **{COUNTED: ibis.literal(True)}
        ),
    )


def negative_counts(table: ibis.Table) -> ibis.Table:
    """Count the negative values of each of :data:`MONEY_COLUMNS`, in one row."""
    return table.aggregate(
        **{c: (table[c] < 0).sum().fill_null(0) for c in MONEY_COLUMNS}
    )


def negative_rows(table: ibis.Table, column: str) -> ibis.Table:
    """Return the rows where ``column`` is negative, in source order."""
    rows = table.filter(table[column] < 0).select(*source_order(table), column)
    return rows.order_by(source_order(table))


def negative_value_error(
    column: str, value: float, *, file: str | None, row: int | None
) -> InputError:
    """Build the error for a negative amount, discount or quantity."""
    return InputError(
        f"negative {column} in the events table",
        file=file,
        row=row,
        column=column,
        value=float(value),
        expected=f"{column} >= 0 (returns are event_type 'return')",
        fix="map returns to event_type 'return' with positive values",
    )


def repeated_event_id_count(table: ibis.Table) -> ibis.Scalar:
    """Count the event ids on more than one row (all missing ids are one id)."""
    groups = table.group_by(C.event_id).aggregate(_rows=ibis._.count())
    return groups.filter(groups._rows > 1).count()


def repeated_event_ids(table: ibis.Table) -> ibis.Table:
    """Return the first row of each repeated event id, in source order.

    Returns
    -------
    ibis.Table
        The source columns and ``event_id``, one row per id that occurs
        more than once.
    """
    order = source_order(table)
    per_id = table.mutate(
        _rows=table[SOURCE_ROW].count().over(group_by=C.event_id),
        _occurrence=ibis.row_number().over(group_by=C.event_id, order_by=order),
    )
    first = per_id.filter((per_id._rows > 1) & (per_id._occurrence == 0))
    return first.select(*order, C.event_id).order_by(order)


def repeated_event_ids_error(
    ids: list, *, file: str | None, row: int | None = None
) -> InputError:
    """Build the error for repeated event ids, listed in order of first row."""
    return InputError(
        f"event ids are not unique: {ids}",
        file=file,
        row=row,
        column=C.event_id,
        value=ids[0],
        expected="one row per event id",
        fix="map a unique event id column, or leave event_id unmapped",
    )


def sort_events(table: ibis.Table) -> ibis.Table:
    """Sort events by :data:`EVENT_SORT_ORDER`, missing values last, then source."""
    return table.order_by([*_ascending(EVENT_SORT_ORDER), *source_order(table)])


# Running expressions


def collect(engine: Engine, expr: ibis.Table) -> pd.DataFrame:
    """Run a table expression on ``engine`` and return a pandas DataFrame.

    On DuckDB the result goes through Arrow, because Ibis 12's DuckDB
    ``to_pandas`` converts every column with a missing value element by
    element, which is slow on millions of rows. Missing floats become
    ``nan``.
    """
    if engine.name != DUCKDB:
        return engine.to_pandas(expr)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return engine.backend.to_pyarrow(expr).to_pandas()


def scalar(engine: Engine, value: ibis.Scalar) -> object:
    """Run a scalar expression on ``engine`` and return its Python value."""
    return collect(engine, value.name("value").as_table())["value"].iloc[0]


def first_row(engine: Engine, rows: ibis.Table) -> pd.Series:
    """Run an ordered table expression and return its first row."""
    return collect(engine, rows.limit(1)).iloc[0]
