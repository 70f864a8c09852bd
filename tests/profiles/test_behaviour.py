import pandas as pd
import pytest

from promoloop.profiles.behaviour import behaviour_features, discount_share_of_value
from tests.profiles.conftest import make_events


def purchase(customer, order, day, amount, quantity=1.0, discount=0.0, item="I1"):
    return {
        "customer_id": customer,
        "item_id": item,
        "event_type": "purchase",
        "order_id": order,
        "timestamp": day,
        "amount": amount,
        "quantity": quantity,
        "discount": discount,
    }


def test_behaviour_tiny_hand_computed(as_of):
    events = make_events(
        [
            {
                "customer_id": "A",
                "item_id": "I9",
                "event_type": "view",
                "timestamp": "2024-01-01",
            },
            purchase("A", "o1", "2024-01-11", 10.0, quantity=2, discount=1.0),
            purchase("A", "o1", "2024-01-11", 5.0, quantity=1),
            purchase("A", "o2", "2024-01-21", 20.0, quantity=3),
            {
                "customer_id": "A",
                "item_id": "I1",
                "event_type": "return",
                "timestamp": "2024-01-25",
                "amount": 5.0,
                "order_id": "r1",
            },
            {
                "customer_id": None,
                "item_id": "I1",
                "event_type": "purchase",
                "timestamp": "2024-01-25",
                "amount": 99.0,
                "order_id": "anon",
            },
        ]
    )
    row = behaviour_features(events, as_of).loc["A"]

    assert row["frequency"] == 2
    assert row["gross_spend"] == pytest.approx(10 + 5 + 20)
    assert row["returns_value"] == pytest.approx(5)
    assert row["monetary"] == pytest.approx(10 + 5 + 20 - 5)
    assert row["return_rate"] == pytest.approx(5 / 35)
    assert row["avg_order_value"] == pytest.approx(35 / 2)
    assert row["basket_size"] == pytest.approx((1 + 1) / 2)  # I1 in o1 and in o2
    assert row["units_per_order"] == pytest.approx((2 + 1 + 3) / 2)
    assert row["interpurchase_days"] == pytest.approx(10)
    assert row["discount_share"] == pytest.approx(1 / 3)
    assert row["recency_days"] == pytest.approx(10)
    assert row["tenure_days"] == pytest.approx(30)
    assert not row["zero_price_only"]


def test_behaviour_ignores_anonymous(as_of):
    events = make_events(
        [
            purchase(None, "o9", "2024-01-02", 4.0),
            purchase("B", "o1", "2024-01-02", 1.0),
        ]
    )
    table = behaviour_features(events, as_of)
    assert list(table.index) == ["B"]


def test_behaviour_view_only_customer(as_of):
    events = make_events(
        [
            {
                "customer_id": "V",
                "item_id": "I1",
                "event_type": "view",
                "timestamp": "2024-01-30",
            }
        ]
    )
    row = behaviour_features(events, as_of).loc["V"]
    assert row["frequency"] == 0
    assert pd.isna(row["recency_days"])
    assert pd.isna(row["return_rate"])
    assert pd.isna(row["interpurchase_days"])
    assert not row["zero_price_only"]


def online_retail_events(reference_dir):
    """Canonical product lines of the Online Retail sample, built by hand."""
    raw = pd.read_csv(
        reference_dir
        / "01-online-retail-cancellations-missing-ids"
        / "transactions.csv",
        dtype={"CustomerID": "str", "InvoiceNo": "str", "StockCode": "str"},
    )
    product = ~raw["StockCode"].isin(["POST", "B"]) & (raw["UnitPrice"] >= 0)
    with_customer = raw["CustomerID"].notna()
    rows = raw[product & (with_customer | (raw["Quantity"] > 0))]
    is_return = rows["InvoiceNo"].str.startswith("C")
    return make_events(
        [
            {
                "customer_id": str(customer).removesuffix(".0")
                if pd.notna(customer)
                else None,
                "item_id": stock,
                "event_type": "return" if returned else "purchase",
                "order_id": invoice,
                "timestamp": date,
                "quantity": abs(quantity),
                "amount": abs(quantity) * price,
            }
            for customer, stock, returned, invoice, date, quantity, price in zip(
                rows["CustomerID"],
                rows["StockCode"],
                is_return,
                rows["InvoiceNo"],
                rows["InvoiceDate"],
                rows["Quantity"],
                rows["UnitPrice"],
                strict=True,
            )
        ]
    )


def test_behaviour_online_retail_reference(reference_dir):
    events = online_retail_events(reference_dir)
    table = behaviour_features(events, pd.Timestamp("2011-03-31", tz="UTC"))
    row = table.loc["30117"]
    assert row["gross_spend"] == pytest.approx(6 * 2.55 + 12 * 1.25 + 3 * 1.25)
    assert row["returns_value"] == pytest.approx(2 * 2.55)
    assert row["monetary"] == pytest.approx(28.95)
    assert row["frequency"] == 2
    assert row["return_rate"] == pytest.approx(5.10 / 34.05)
    assert round(row["return_rate"], 4) == 0.1498
    assert table.loc["30244", "zero_price_only"]
    assert table.loc["30244", "gross_spend"] == 0
    assert not row["zero_price_only"]
    assert sorted(table.index) == ["30117", "30244"]


def test_discount_share_negative_discount_reference(reference_dir):
    raw = pd.read_csv(
        reference_dir / "18-negative-discount-fields" / "transactions.csv"
    )
    # Sign-normalised: discounts positive; the customer paid sales value minus
    # the coupon, and regular value is what was paid plus all discounts.
    retail = -raw["retail_disc"]
    coupon = -raw["coupon_disc"]
    match = -raw["coupon_match_disc"]
    events = make_events(
        [
            {
                "customer_id": household,
                "item_id": product,
                "event_type": "purchase",
                "order_id": basket,
                "timestamp": "2024-01-01",
                "quantity": quantity,
                "amount": sales - c,
                "discount": r + c + m,
            }
            for household, basket, product, quantity, sales, r, c, m in zip(
                raw["household_id"],
                raw["basket_id"],
                raw["product_id"],
                raw["quantity"],
                raw["sales_value"],
                retail,
                coupon,
                match,
                strict=True,
            )
        ]
    )
    shares = discount_share_of_value(events)

    assert shares.loc["H01", "discount_value_share"] == pytest.approx(
        (1.99 + 0.50 + 0.25) / 7.61
    )
    assert round(shares.loc["H01", "discount_value_share"], 4) == 0.3601
    assert shares.loc["H02", "discount_value_share"] == pytest.approx(1.49 / 3.48)
    assert round(shares.loc["H02", "discount_value_share"], 4) == 0.4282
    assert shares.loc["H01", "discounted_line_share"] == pytest.approx(1.0)
    assert shares.loc["H02", "discounted_line_share"] == pytest.approx(0.5)
