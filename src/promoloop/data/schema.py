"""Canonical tables: their columns, types and meaning.

Every loader produces these tables and every later stage reads only these
tables. Timestamps are timezone-aware UTC. Identifiers are strings, never
numbers, so that ``"17850"`` and ``17850.0`` from two files are one customer
(see :func:`promoloop.data.ids.canonical_id`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a canonical table."""

    name: str
    dtype: str  # "string", "float", "int", "bool", "timestamp", "list"
    required: bool
    description: str


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its name and columns."""

    name: str
    columns: tuple[ColumnSpec, ...]
    description: str
    extra_columns_allowed: bool = field(default=True)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


EVENTS = TableSpec(
    "events",
    (
        ColumnSpec(C.event_id, "string", True, "Unique id of the event (line)."),
        ColumnSpec(
            C.customer_id,
            "string",
            True,
            "Customer id; missing for anonymous lines, which count for item "
            "statistics only.",
        ),
        ColumnSpec(C.item_id, "string", True, "Item id."),
        ColumnSpec(
            C.event_type, "string", True, "view, cart, purchase, return or review."
        ),
        ColumnSpec(C.quantity, "float", True, "Units; positive, also for returns."),
        ColumnSpec(
            C.amount,
            "float",
            True,
            "Money the customer paid for the line after discounts (returns: "
            "money refunded), never negative.",
        ),
        ColumnSpec(
            C.discount,
            "float",
            True,
            "Discount granted on the line, never negative; regular value is "
            "amount + discount.",
        ),
        ColumnSpec(C.timestamp, "timestamp", True, "When the event happened, UTC."),
        ColumnSpec(C.channel, "string", False, "Channel or store, if known."),
        ColumnSpec(C.order_id, "string", True, "Order (basket, invoice) id."),
    ),
    "One row per behaviour event: views, carts, purchase lines, returns, reviews.",
)

ITEMS = TableSpec(
    "items",
    (
        ColumnSpec(C.item_id, "string", True, "Item id."),
        ColumnSpec(C.name, "string", False, "Display name."),
        ColumnSpec(C.category, "string", False, "Category used for interest."),
        ColumnSpec(C.brand, "string", False, "Brand used for interest."),
        ColumnSpec(C.price, "float", False, "Typical unit price."),
        ColumnSpec(
            C.margin_rate,
            "float",
            False,
            "Gross margin as a share of revenue; the run's default applies when "
            "missing.",
        ),
    ),
    "One row per item of the catalog.",
)

CUSTOMERS = TableSpec(
    "customers",
    (
        ColumnSpec(C.customer_id, "string", True, "Customer id."),
        ColumnSpec(C.locale, "string", False, "Message language, e.g. en or zh-CN."),
        ColumnSpec(
            C.consent, "bool", False, "False when the customer opted out of offers."
        ),
    ),
    "One row per known customer; other columns are demographic bands.",
)

EXPOSURES = TableSpec(
    "exposures",
    (
        ColumnSpec(C.decision_id, "string", True, "Unique id of the decision."),
        ColumnSpec(C.customer_id, "string", True, "Customer id."),
        ColumnSpec(C.campaign_id, "string", True, "Campaign id."),
        ColumnSpec(C.promotion_id, "string", False, "Promotion sent; empty for none."),
        ColumnSpec(C.probability, "float", False, "Probability of the chosen action."),
        ColumnSpec(C.holdout, "bool", True, "True for the control group."),
        ColumnSpec(C.timestamp, "timestamp", True, "When the decision was made, UTC."),
    ),
    "The decision log: who was offered what (or held out), and when.",
)

OUTCOMES = TableSpec(
    "outcomes",
    (
        ColumnSpec(C.customer_id, "string", True, "Customer id."),
        ColumnSpec(C.order_id, "string", False, "Order id, if any."),
        ColumnSpec(C.campaign_id, "string", False, "Campaign of the redemption."),
        ColumnSpec(C.promotion_id, "string", False, "Promotion redeemed, if any."),
        ColumnSpec(C.revenue, "float", False, "Order revenue."),
        ColumnSpec(C.margin, "float", False, "Order margin."),
        ColumnSpec(C.timestamp, "timestamp", True, "When it happened, UTC."),
    ),
    "Redemptions and orders attributed to exposures.",
)

TABLES = {t.name: t for t in (EVENTS, ITEMS, CUSTOMERS, EXPOSURES, OUTCOMES)}


def empty_table(spec: TableSpec) -> pd.DataFrame:
    """Return an empty DataFrame with the table's columns and types."""
    return conform(pd.DataFrame({c: [] for c in spec.names}), spec, source="<empty>")


def conform(df: pd.DataFrame, spec: TableSpec, *, source: str) -> pd.DataFrame:
    """Check that ``df`` has the required columns and cast them to canonical types.

    Parameters
    ----------
    df : DataFrame
        The table as produced by a loader, with canonical column names.
    spec : TableSpec
        The canonical table it should match.
    source : str
        File or dataset name used in error messages.

    Returns
    -------
    DataFrame
        A copy with optional columns added (empty) and all columns cast.

    Raises
    ------
    InputError
        If a required column is missing or a value cannot be cast.
    """
    missing = [c for c in spec.required if c not in df.columns]
    if missing:
        raise InputError(
            f"missing required column(s) {missing} for the {spec.name} table",
            file=source,
            expected=f"columns {spec.required}",
            fix="add the columns or map them in the mapping file",
        )
    out = df.copy()
    for col in spec.columns:
        if col.name not in out.columns:
            out[col.name] = pd.NA
        out[col.name] = _cast(out[col.name], col, spec, source)
    return out


def _cast(values: pd.Series, col: ColumnSpec, spec: TableSpec, source: str):
    if col.dtype == "string":
        return values.astype("string")
    if col.dtype == "bool":
        return _cast_bool(values, col, spec, source)
    if col.dtype in ("float", "int"):
        numeric = pd.to_numeric(values, errors="coerce")
        bad = numeric.isna() & values.notna()
        if bad.any():
            _raise_first_bad(values, bad, col, spec, source, "a number")
        return numeric.astype("float64")
    if col.dtype == "timestamp":
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            return values.dt.tz_convert("UTC")
        # Text must be ISO 8601: a guessed format would read 10/12/2011 as
        # October or December depending on the other rows.
        is_text = values.dtype == object or isinstance(values.dtype, pd.StringDtype)
        parsed = pd.to_datetime(
            values, errors="coerce", utc=True, format="ISO8601" if is_text else None
        )
        bad = parsed.isna() & values.notna()
        if bad.any():
            _raise_first_bad(
                values, bad, col, spec, source, "an ISO 8601 date such as 2024-03-01"
            )
        return parsed
    return values


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _cast_bool(values: pd.Series, col: ColumnSpec, spec: TableSpec, source: str):
    """Cast booleans, also written as true/false, yes/no or 1/0 in any case."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE).fillna(False)] = True
    out[text.isin(_FALSE).fillna(False)] = False
    bad = out.isna() & values.notna()
    if bad.any():
        _raise_first_bad(
            values, bad, col, spec, source, "true or false (or yes/no, 1/0)"
        )
    return out


def _raise_first_bad(values, bad, col, spec, source, expected):
    position = int(bad.to_numpy().nonzero()[0][0])
    raise InputError(
        f"invalid value in the {spec.name} table",
        file=source,
        row=position + 1,
        column=col.name,
        value=values.iloc[position],
        expected=expected,
        fix="correct the value or the mapping's format settings",
    )
