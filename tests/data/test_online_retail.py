"""UCI Online Retail loader: line classification, counts and the full file."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from promoloop.data.cleaning import item_units_sold
from promoloop.data.online_retail import is_non_product_code, load_online_retail
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

REFERENCE = "01-online-retail-cancellations-missing-ids"


@pytest.fixture(scope="module")
def retail(reference_dir):
    return load_online_retail(reference_dir / REFERENCE / "transactions.csv")


REFERENCE_COUNTS = [
    ("exact_duplicates", 0),
    ("cancellation_to_return", 1),
    ("missing_customer", 3),
    ("zero_price", 2),
    ("negative_price", 1),
    ("non_product_code", 2),
    ("stock_adjustment", 1),
    ("id_made_canonical:customer_id", 1),
    ("return_matched", 1),
    ("return_unmatched", 0),
]


@pytest.mark.parametrize(("rule", "rows"), REFERENCE_COUNTS)
def test_reference_rule_counts(retail, rule, rows):
    assert retail.report.count(rule) == rows


def test_reference_lines_read(retail):
    assert retail.report.rows_read["events"] == 9
    assert len(retail.events) == 6


def test_reference_customer_30117_money(retail):
    events = retail.events[retail.events[C.customer_id] == "30117"]
    purchases = events[events[C.event_type] == "purchase"]
    returns = events[events[C.event_type] == "return"]
    assert purchases[C.amount].sum() == pytest.approx(6 * 2.55 + 12 * 1.25 + 3 * 1.25)
    assert returns[C.amount].sum() == pytest.approx(2 * 2.55)
    net = purchases[C.amount].sum() - returns[C.amount].sum()
    assert net == pytest.approx(28.95)
    assert purchases[C.order_id].nunique() == 2


def test_reference_returns_positive(retail):
    returns = retail.events[retail.events[C.event_type] == "return"]
    assert returns[C.quantity].tolist() == [2.0]
    assert returns[C.order_id].tolist() == ["C581044"]


def test_reference_item_units_sold(retail):
    units = item_units_sold(retail.events)
    assert units["71053"] == 6 - 2
    assert units["22752"] == 12 + 3
    assert units["84029"] == 24
    assert units["23166"] == 4
    assert "POST" not in units.index
    assert "B" not in units.index


def test_reference_anonymous_line_kept(retail):
    anonymous = retail.events[retail.events[C.customer_id].isna()]
    assert anonymous[C.item_id].tolist() == ["84029"]


def test_reference_zero_price_amount_zero(retail):
    line = retail.events[retail.events[C.item_id] == "23166"].iloc[0]
    assert line[C.amount] == 0.0
    assert line[C.customer_id] == "30244"


def test_reference_non_product_money_notes(retail):
    assert "non-product code POST: money total 18.00" in retail.report.notes
    assert "non-product code B: money total -1500.00" in retail.report.notes


def test_reference_items_table(retail):
    items = retail.items.set_index(C.item_id)
    assert sorted(items.index) == ["22752", "23166", "71053", "84029"]
    assert items.loc["71053", C.name] == "WHITE CERAMIC MUG"
    assert items.loc["71053", C.category] == "MUG"
    assert items.loc["71053", C.price] == pytest.approx(2.55)
    assert pd.isna(items.loc["23166", C.price])
    assert items[C.brand].isna().all()


def test_reference_customers_table(retail):
    customers = retail.customers.set_index(C.customer_id)
    assert sorted(customers.index) == ["30117", "30244"]
    assert customers.loc["30244", "country"] == "France"
    assert customers[C.consent].all()
    assert (customers[C.locale] == "en").all()


def test_reference_exposures_empty(retail):
    assert retail.exposures.empty
    assert retail.outcomes.empty


def test_reference_london_time_to_utc(tmp_path, reference_dir):
    text = (reference_dir / REFERENCE / "transactions.csv").read_text()
    # 1 July is British Summer Time, UTC+1.
    text = text.replace("2011-03-01 09:15", "2011-07-01 09:15")
    path = tmp_path / "summer.csv"
    path.write_text(text)
    events = load_online_retail(path).events
    first = events[events[C.order_id] == "581001"]
    assert (first[C.timestamp] == pd.Timestamp("2011-07-01 08:15", tz="UTC")).all()


def test_folder_with_one_file(tmp_path, reference_dir):
    (tmp_path / "data.csv").write_bytes(
        (reference_dir / REFERENCE / "transactions.csv").read_bytes()
    )
    assert len(load_online_retail(tmp_path).events) == 6


def test_empty_folder_raises(tmp_path):
    with pytest.raises(InputError, match=r"no \.csv or \.csv\.gz file"):
        load_online_retail(tmp_path)


def test_missing_path_raises(tmp_path):
    with pytest.raises(InputError, match=r"file not found; at file .*nothing"):
        load_online_retail(tmp_path / "nothing")


def test_non_product_codes():
    codes = pd.Series(
        [
            "POST",
            "DOT",
            "M",
            "C2",
            "GIFT_0001_20",
            "DCGS0076",
            "BANK CHARGES",
            "85123A",
            "71053",
            "PADS",
        ]
    )
    assert is_non_product_code(codes).tolist() == [
        True,
        True,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        True,
    ]


@pytest.mark.slow
def test_full_file_rule_counts(data_dir):
    started = time.perf_counter()
    data = load_online_retail(data_dir / "online-retail")
    seconds = time.perf_counter() - started
    report = data.report
    assert report.rows_read["events"] == 541_909
    assert report.count("exact_duplicates") == 5_268
    # 9,288 C lines in the raw file; some are exact duplicates of each other.
    assert 9_200 <= report.count("cancellation_to_return") <= 9_288
    assert report.count("negative_price") == 2
    assert 130_000 <= report.count("missing_customer") <= 135_080
    assert report.count("non_product_code") > 2_500
    assert data.customers[C.customer_id].nunique() > 4_300
    assert not data.items[C.item_id].isin(["POST", "DOT", "M", "BANK CHARGES"]).any()
    assert (data.events[C.amount] >= 0).all()
    assert seconds < 30


def test_uci_month_first_dates(tmp_path):
    # The UCI download writes dates month first and ids as integers.
    (tmp_path / "Online_Retail.csv").write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
        "CustomerID,Country\n"
        "536365,85123A,WHITE HEART HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
        "536366,22633,HAND WARMER,6,12/13/2010 8:28,1.85,17850,United Kingdom\n"
        "536367,22633,HAND WARMER,2,6/2/2011 14:05,1.85,17850,United Kingdom\n",
        encoding="utf-8",
    )
    events = load_online_retail(tmp_path).events
    stamps = events["timestamp"].dt.strftime("%Y-%m-%d %H:%M").tolist()
    # London is UTC in winter and UTC+1 in June.
    assert stamps == ["2010-12-01 08:26", "2010-12-13 08:28", "2011-06-02 13:05"]
