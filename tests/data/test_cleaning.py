"""Shared cleaning rules: discount signs, line prices, ids, event checks, as_of."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promoloop.data.cleaning import (
    canonicalize_ids,
    drop_exact_duplicates,
    finish_events,
    line_prices,
    normalize_discount_signs,
    unit_price,
)
from promoloop.data.dataset import ShopData, restrict_to
from promoloop.data.files import read_file
from promoloop.data.report import CleaningReport
from promoloop.data.schema import CUSTOMERS, EXPOSURES, ITEMS, OUTCOMES, empty_table
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

DISCOUNTS = ["retail_disc", "coupon_disc", "coupon_match_disc"]
NUMBERS = ["quantity", "sales_value", *DISCOUNTS]


@pytest.fixture
def discount_lines(reference_dir):
    path = reference_dir / "18-negative-discount-fields" / "transactions.csv"
    df = read_file(path)
    df[NUMBERS] = df[NUMBERS].astype("float64")
    return df


def test_discount_signs_flipped_per_column(discount_lines):
    report = CleaningReport(source="t")
    out = normalize_discount_signs(discount_lines, DISCOUNTS, report)
    for column in DISCOUNTS:
        assert (out[column] >= 0).all(), column
    assert report.count("discount_sign_flipped:retail_disc") == 4
    assert report.count("discount_sign_flipped:coupon_disc") == 1
    assert report.count("discount_sign_flipped:coupon_match_disc") == 1
    assert len(report.notes) == 3


def test_discount_signs_positive_column_kept():
    report = CleaningReport(source="t")
    df = pd.DataFrame({"d": [0.0, 0.5, 1.0]}, index=[1, 2, 3])
    out = normalize_discount_signs(df, ["d"], report)
    assert out["d"].tolist() == [0.0, 0.5, 1.0]
    assert report.count("discount_sign_flipped:d") == 0
    assert report.notes == []


def test_discount_signs_zero_never_negative():
    df = pd.DataFrame({"d": [0.0, -0.5]}, index=[1, 2])
    out = normalize_discount_signs(df, ["d"], CleaningReport(source="t"))
    assert not np.signbit(out["d"].to_numpy()).any()


def test_discount_mixed_signs_lists_rows():
    df = pd.DataFrame({"d": [-0.5, 0.3, -0.2, -0.1]}, index=[1, 2, 3, 4])
    with pytest.raises(
        InputError,
        match=r"both positive and negative.*rows \[2\].*at file f, row 2, column 'd'",
    ):
        normalize_discount_signs(df, ["d"], CleaningReport(source="t"), file="f")


LINE_PRICES = [
    # (row, regular, loyalty, coupon, loyalty discount %)
    (1, 1.99, 1.39, 1.39, 100 * 0.60 / 1.99),
    (2, 1.29, 0.99, 0.99, 100 * 0.30 / 1.29),
    (3, 3.04, 2.25, 1.50, 100 * 0.79 / 3.04),
    (4, 1.99, 1.99, 1.99, 0.0),
    (7, 1.49, 0.00, 0.00, 100.0),
]


@pytest.mark.parametrize(("row", "regular", "loyalty", "coupon", "pct"), LINE_PRICES)
def test_line_prices_reference_values(
    discount_lines, row, regular, loyalty, coupon, pct
):
    report = CleaningReport(source="t")
    lines = normalize_discount_signs(discount_lines, DISCOUNTS, report)
    prices = line_prices(lines, report).loc[row]
    assert prices["regular_price"] == pytest.approx(regular)
    assert prices["loyalty_price"] == pytest.approx(loyalty)
    assert prices["coupon_price"] == pytest.approx(coupon)
    assert prices["loyalty_discount_pct"] == pytest.approx(pct)


def test_line_prices_p100_pct_rounded(discount_lines):
    lines = normalize_discount_signs(
        discount_lines, DISCOUNTS, CleaningReport(source="t")
    )
    assert round(line_prices(lines).loc[1, "loyalty_discount_pct"], 2) == 30.15


def test_line_prices_zero_quantity_missing(discount_lines):
    report = CleaningReport(source="t")
    lines = normalize_discount_signs(discount_lines, DISCOUNTS, report)
    prices = line_prices(lines, report)
    assert prices.loc[[5, 6]].isna().all().all()
    assert not np.isinf(prices.to_numpy(dtype="float64")).any()
    assert report.count("price_missing_zero_quantity") == 2


def test_line_prices_unnormalised_raises(discount_lines):
    with pytest.raises(InputError, match=r"negative discount.*column 'retail_disc'"):
        line_prices(discount_lines)


def test_household_discount_share(discount_lines):
    lines = normalize_discount_signs(
        discount_lines, DISCOUNTS, CleaningReport(source="t")
    )
    prices = line_prices(lines)
    bought = lines["quantity"] > 0
    regular_value = (prices["regular_price"] * lines["quantity"])[bought]
    discounts = lines.loc[bought, DISCOUNTS].sum(axis=1)
    share = (
        discounts.groupby(lines["household_id"]).sum()
        / regular_value.groupby(lines["household_id"]).sum()
    )
    assert share["H01"] == pytest.approx((1.99 + 0.50 + 0.25) / 7.61, abs=1e-4)
    assert share["H02"] == pytest.approx(1.49 / 3.48, abs=1e-4)


def test_unit_price_zero_quantity_missing():
    prices = unit_price(pd.Series([2.5, 0.0, 6.0]), pd.Series([0, 0, 3]))
    assert prices.isna().tolist() == [True, True, False]
    assert prices.iloc[2] == pytest.approx(2.0)


def test_canonical_ids_counted():
    report = CleaningReport(source="t")
    df = pd.DataFrame({C.customer_id: ["30117.0", "30117", None, " 42 ", "C-7"]})
    out = canonicalize_ids(df, [C.customer_id], report)
    assert out[C.customer_id].tolist()[:2] == ["30117", "30117"]
    assert out[C.customer_id].tolist()[3:] == ["42", "C-7"]
    assert report.count("id_made_canonical:customer_id") == 2


def test_exact_duplicates_counted_zero():
    report = CleaningReport(source="t")
    drop_exact_duplicates(pd.DataFrame({"a": [1, 2]}), report)
    assert report.to_frame()["rule"].tolist() == ["exact_duplicates"]
    assert report.count("exact_duplicates") == 0


def _events(**changes) -> pd.DataFrame:
    events = pd.DataFrame(
        {
            C.event_id: ["e2", "e1"],
            C.customer_id: ["1", "1"],
            C.item_id: ["A", "B"],
            C.event_type: ["purchase", "purchase"],
            C.quantity: [1.0, 2.0],
            C.amount: [3.0, 4.0],
            C.discount: [0.0, 0.0],
            C.timestamp: pd.to_datetime(["2024-01-02", "2024-01-01"], utc=True),
            C.order_id: ["O2", "O1"],
        }
    )
    for column, values in changes.items():
        events[column] = values
    return events


def test_finish_events_sorted_by_time():
    events = finish_events(_events(), CleaningReport(source="t"), source="t")
    assert events[C.event_id].tolist() == ["e1", "e2"]
    assert events.index.tolist() == [0, 1]


def test_finish_events_infinite_amount_missing():
    report = CleaningReport(source="t")
    events = finish_events(_events(amount=[np.inf, 4.0]), report, source="t")
    assert report.count("non_finite_amount") == 1
    assert events[C.amount].isna().sum() == 1


FINISH_ERRORS = [
    ({C.amount: [-3.0, 4.0]}, r"negative amount.*column 'amount'; value -3\.0"),
    ({C.discount: [0.0, -1.0]}, r"negative discount.*column 'discount'"),
    ({C.event_id: ["e1", "e1"]}, r"event ids are not unique: \['e1'\]"),
]


@pytest.mark.parametrize(("changes", "message"), FINISH_ERRORS)
def test_finish_events_invalid_raises(changes, message):
    with pytest.raises(InputError, match=message):
        finish_events(_events(**changes), CleaningReport(source="t"), source="t")


def _shop() -> ShopData:
    events = finish_events(_events(), CleaningReport(source="t"), source="t")
    exposures = empty_table(EXPOSURES)
    return ShopData(
        events=events,
        items=empty_table(ITEMS),
        customers=empty_table(CUSTOMERS),
        exposures=exposures,
        outcomes=empty_table(OUTCOMES),
        report=CleaningReport(source="t"),
    )


def test_restrict_to_drops_later_rows():
    data = _shop()
    restricted = restrict_to(data, "2024-01-01T12:00")
    assert restricted.events[C.event_id].tolist() == ["e1"]
    removed = restricted.report.to_frame().set_index("table")["rows"]
    assert removed["events"] == 1
    assert removed["exposures"] == 0
    assert removed["outcomes"] == 0


def test_restrict_to_inclusive_and_copy():
    data = _shop()
    restricted = restrict_to(data, pd.Timestamp("2024-01-02", tz="UTC"))
    assert len(restricted.events) == 2
    assert len(data.events) == 2
    assert data.report.rules == []


def test_restrict_to_invalid_date_raises():
    with pytest.raises(InputError, match=r"invalid as_of date.*value 'soon'"):
        restrict_to(_shop(), "soon")
