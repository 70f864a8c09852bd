"""Loader of the UCI Online Retail invoice-line file (UK gift shop, 2010-2011)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from promoloop.data.cleaning import (
    canonicalize_ids,
    drop_exact_duplicates,
    finish_events,
    number_lines,
)
from promoloop.data.dataset import ShopData
from promoloop.data.files import ReadOptions, parse_numbers, parse_timestamps, read_file
from promoloop.data.fingerprint import file_fingerprint
from promoloop.data.report import CleaningReport, RuleAction
from promoloop.data.schema import (
    CUSTOMERS,
    EXPOSURES,
    ITEMS,
    OUTCOMES,
    conform,
    empty_table,
)
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)

SOURCE_COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
TIMEZONE = "Europe/London"

# Stock codes that contain a digit but are not products: carriage, gift
# vouchers and the DCGS lines the data set's documentation lists as
# non-product. Codes without any digit (POST, DOT, M, D, S, B, CRUK, PADS,
# BANK CHARGES, AMAZONFEE, ...) are non-product by the digit rule.
NON_PRODUCT_CODES = frozenset({"C2"})
NON_PRODUCT_PREFIXES = ("GIFT_0001", "DCGS")


# The UCI download writes InvoiceDate as month/day/year ("12/1/2010 8:26");
# re-exported copies often use ISO 8601 ("2010-12-01 08:26:00").
_UCI_DATE_FORMAT = "%m/%d/%Y %H:%M"
_UCI_DATE_PATTERN = r"^\s*\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}\s*$"


def _date_format(raw: pd.DataFrame) -> str | None:
    """Return the UCI month-first format when the first date has it, else None (ISO)."""
    first = raw["InvoiceDate"].dropna().head(1)
    if len(first) and first.str.match(_UCI_DATE_PATTERN).all():
        return _UCI_DATE_FORMAT
    return None


def is_non_product_code(codes: pd.Series) -> pd.Series:
    """Return True for stock codes that are fees, postage, vouchers or adjustments.

    Parameters
    ----------
    codes : Series of str
        Upper-case stock codes.

    Returns
    -------
    Series of bool
        True for a code without a digit, ``C2``, or a code starting with
        ``GIFT_0001`` or ``DCGS``.
    """
    no_digit = ~codes.str.contains(r"\d", regex=True)
    listed = codes.isin(NON_PRODUCT_CODES) | codes.str.startswith(NON_PRODUCT_PREFIXES)
    return (no_digit | listed).fillna(True).astype(bool)


def load_online_retail(path: str | Path) -> ShopData:
    """Load the UCI Online Retail file into canonical tables.

    Every line is classified by the rules below, and every rule's count is
    recorded in the report even when it is 0. The counts are taken on the
    de-duplicated lines and can overlap: a bad-debt line is both
    non-product and negative-price. A line is left out of the events when
    any dropping rule matches it.

    ==========================  ==============================  ===========
    rule (report name)          condition                       action
    ==========================  ==============================  ===========
    exact_duplicates            equal to an earlier line        dropped
    id_made_canonical:*         e.g. CustomerID ``17850.0``     repaired
    cancellation_to_return      InvoiceNo starts with C, Qty<0  reclassified
    return_matched              return with an earlier          kept
                                purchase, same customer+code
    return_unmatched            return without one             kept
    missing_customer            CustomerID blank                event_lines, no
                                                                customer
    zero_price                  UnitPrice == 0                  flagged,
                                                                amount 0
    negative_price              UnitPrice < 0 (bad debt, A...)  dropped
    non_product_code            see is_non_product_code         dropped
    stock_adjustment            Qty < 0 without C               dropped
    zero_quantity               Qty == 0                        dropped
    ==========================  ==============================  ===========

    Returns become ``return`` events with positive quantity and positive
    refunded amount. The money of non-product lines is listed per code in
    ``report.notes``. Timestamps are Europe/London local time, converted to
    UTC. Items: ``item_id`` = upper-case StockCode, ``name`` = most frequent
    Description, ``category`` = last word of the name (a heuristic, because
    the data has no categories, e.g. "HOLDER", "BAG", "MUG"), ``brand``
    missing, ``price`` = median UnitPrice of positive-price purchase lines.
    Customers: ``country`` = most frequent Country, locale "en", consent
    true. Exposures and outcomes are empty.

    Parameters
    ----------
    path : str or Path
        The ``.csv`` or ``.csv.gz`` file, or a folder containing exactly one.

    Returns
    -------
    ShopData

    Raises
    ------
    InputError
        If no file is found, a column is missing or a value does not parse.
    """
    file = _find_file(Path(path))
    source = str(file)
    report = CleaningReport(source=source)

    # Read and parse every value before any rule runs.
    raw = read_file(file, required=SOURCE_COLUMNS)
    report.rows_read["events"] = len(raw)
    options = ReadOptions(timezone=TIMEZONE, date_format=_date_format(raw))
    raw = drop_exact_duplicates(raw, report)
    lines = pd.DataFrame(
        {
            "invoice": raw["InvoiceNo"].str.strip(),
            C.item_id: raw["StockCode"].str.strip().str.upper(),
            "description": raw["Description"].str.strip(),
            "qty": parse_numbers(raw["Quantity"], file=source, column="Quantity"),
            C.timestamp: parse_timestamps(
                raw["InvoiceDate"], options, file=source, column="InvoiceDate"
            ),
            "unit_price": parse_numbers(
                raw["UnitPrice"], file=source, column="UnitPrice"
            ),
            C.customer_id: raw["CustomerID"],
            "country": raw["Country"].str.strip(),
        },
        index=raw.index,
    )
    lines = canonicalize_ids(lines, [C.customer_id], report)

    # Classify the lines. The counts can overlap, as the docstring explains.
    is_c = lines["invoice"].str.startswith("C").fillna(False)
    qty = lines["qty"]
    price = lines["unit_price"]
    cancellation = is_c & (qty < 0)
    non_product = is_non_product_code(lines[C.item_id])
    negative_price = price < 0
    stock_adjustment = ~is_c & (qty < 0)
    zero_quantity = qty == 0
    cancel_positive = is_c & (qty > 0)
    dropped = (
        non_product
        | negative_price
        | stock_adjustment
        | zero_quantity
        | cancel_positive
    )
    _record_counts(
        report,
        lines,
        cancellation,
        non_product,
        negative_price,
        stock_adjustment,
        zero_quantity,
        cancel_positive,
    )
    _note_non_product_money(report, lines[non_product])

    # Build the events of the lines no rule dropped.
    event_lines = lines[~dropped].copy()
    is_return = cancellation[~dropped]
    quantity = event_lines["qty"].abs()
    event_lines[C.quantity] = quantity
    event_lines[C.amount] = quantity * event_lines["unit_price"]
    event_lines[C.discount] = 0.0
    event_lines[C.event_type] = np.where(
        is_return, EventType.RETURN.value, EventType.PURCHASE.value
    )
    event_lines[C.order_id] = event_lines["invoice"]
    line = number_lines(event_lines, C.order_id, [C.item_id, C.quantity, "unit_price"])
    event_lines[C.event_id] = event_lines[C.order_id] + "-" + line.astype("string")
    event_lines[C.channel] = pd.NA
    _count_return_matches(report, event_lines)

    columns = [
        C.event_id,
        C.customer_id,
        C.item_id,
        C.event_type,
        C.quantity,
        C.amount,
        C.discount,
        C.timestamp,
        C.channel,
        C.order_id,
    ]
    events = finish_events(event_lines[columns], report, source=source)
    items = _items(event_lines)
    customers = _customers(event_lines)
    logger.info(
        "loaded %d events, %d items, %d customers from %s",
        len(events),
        len(items),
        len(customers),
        source,
    )
    return ShopData(
        events=events,
        items=conform(items, ITEMS, source=source),
        customers=conform(customers, CUSTOMERS, source=source),
        exposures=empty_table(EXPOSURES),
        outcomes=empty_table(OUTCOMES),
        report=report,
        inputs=[file_fingerprint(file)],
        name="online-retail",
    )


def _find_file(path: Path) -> Path:
    if path.is_file():
        return path
    if path.is_dir():
        found = sorted(path.glob("*.csv")) + sorted(path.glob("*.csv.gz"))
        if len(found) == 1:
            return found[0]
        problem = "no .csv or .csv.gz file" if not found else "several data files"
        raise InputError(
            f"{problem} in the Online Retail folder",
            file=str(path),
            value=[p.name for p in found] or None,
            expected="exactly one .csv or .csv.gz file",
            fix="pass the file itself",
        )
    raise InputError(
        "file not found",
        file=str(path),
        expected="the Online Retail .csv or .csv.gz file, or its folder",
        fix="check the path",
    )


def _record_counts(
    report,
    lines,
    cancellation,
    non_product,
    negative_price,
    stock_adjustment,
    zero_quantity,
    cancel_positive,
) -> None:
    add = report.add
    add(
        "cancellation_to_return",
        int(cancellation.sum()),
        RuleAction.RECLASSIFIED,
        "C invoice with negative quantity: return event, positive quantity and amount",
    )
    add(
        "missing_customer",
        int(lines[C.customer_id].isna().sum()),
        RuleAction.KEPT,
        "no CustomerID: kept for item statistics, left out of customer profiles",
    )
    add(
        "zero_price",
        int((lines["unit_price"] == 0).sum()),
        RuleAction.FLAGGED,
        "UnitPrice 0: kept with amount 0",
    )
    add(
        "negative_price",
        int(negative_price.sum()),
        RuleAction.DROPPED,
        "UnitPrice < 0: bad-debt adjustment, not a sale",
    )
    add(
        "non_product_code",
        int(non_product.sum()),
        RuleAction.DROPPED,
        "postage, fees, vouchers and manual adjustments are not items",
    )
    add(
        "stock_adjustment",
        int(stock_adjustment.sum()),
        RuleAction.DROPPED,
        "negative quantity without a C invoice: stock correction, not a sale",
    )
    add(
        "zero_quantity",
        int(zero_quantity.sum()),
        RuleAction.DROPPED,
        "quantity 0: no units moved",
    )
    add(
        "cancellation_positive_quantity",
        int(cancel_positive.sum()),
        RuleAction.DROPPED,
        "C invoice with positive quantity: sign unclear",
    )


def _note_non_product_money(report: CleaningReport, lines: pd.DataFrame) -> None:
    money = (lines["qty"] * lines["unit_price"]).groupby(lines[C.item_id]).sum()
    for code, total in money.sort_index().items():
        report.notes.append(f"non-product code {code}: money total {total:.2f}")


def _count_return_matches(report: CleaningReport, event_lines: pd.DataFrame) -> None:
    # A return is matched when the same customer bought the same stock code
    # at or before the return's time.
    purchases = event_lines.loc[
        (event_lines[C.event_type] == EventType.PURCHASE.value)
        & event_lines[C.customer_id].notna(),
        [C.customer_id, C.item_id, C.timestamp],
    ]
    first_purchase = purchases.groupby([C.customer_id, C.item_id])[C.timestamp].min()
    returns = event_lines.loc[event_lines[C.event_type] == EventType.RETURN.value]
    key = pd.MultiIndex.from_frame(returns[[C.customer_id, C.item_id]])
    earliest = first_purchase.reindex(key).to_numpy()
    matched = pd.notna(earliest) & (earliest <= returns[C.timestamp].to_numpy())
    report.add(
        "return_matched",
        int(matched.sum()),
        RuleAction.KEPT,
        "return with an earlier purchase of the same customer and stock code",
    )
    report.add(
        "return_unmatched",
        int((~matched).sum()),
        RuleAction.KEPT,
        "return without an earlier purchase in the data (bought before "
        "the window, or no customer id)",
    )


def _items(event_lines: pd.DataFrame) -> pd.DataFrame:
    # Most frequent description per code; ties go to the alphabetically first.
    names = (
        event_lines.groupby([C.item_id, "description"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values([C.item_id, "n", "description"], ascending=[True, False, True])
        .drop_duplicates(C.item_id)
        .set_index(C.item_id)["description"]
    )
    purchase = (event_lines[C.event_type] == EventType.PURCHASE.value) & (
        event_lines["unit_price"] > 0
    )
    prices = event_lines.loc[purchase].groupby(C.item_id)["unit_price"].median()
    items = pd.DataFrame(
        index=pd.Index(sorted(event_lines[C.item_id].unique()), name=C.item_id)
    )
    items[C.name] = names.reindex(items.index)

    # NOTE: the category is a heuristic: the last word of the name, which in
    # this catalogue is usually the kind of product ("HOLDER", "BAG", "MUG").
    last_word = items[C.name].str.extract(r"([A-Za-z]+)[^A-Za-z]*$", expand=False)
    items[C.category] = last_word.str.upper()
    items[C.brand] = pd.NA
    items[C.price] = prices.reindex(items.index)
    return items.reset_index()


def _customers(event_lines: pd.DataFrame) -> pd.DataFrame:
    known = event_lines[event_lines[C.customer_id].notna()]
    countries = (
        known.groupby([C.customer_id, "country"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values([C.customer_id, "n", "country"], ascending=[True, False, True])
        .drop_duplicates(C.customer_id)
    )
    return pd.DataFrame(
        {
            C.customer_id: countries[C.customer_id].to_numpy(),
            C.locale: "en",
            C.consent: True,
            "country": countries["country"].to_numpy(),
        }
    )
