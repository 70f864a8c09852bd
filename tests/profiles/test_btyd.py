import pandas as pd
import pytest

from promoloop.profiles import btyd_summary
from tests.profiles.conftest import make_events


def orders_events(frame: pd.DataFrame) -> pd.DataFrame:
    return make_events(
        [
            {
                "customer_id": customer,
                "item_id": "I1",
                "event_type": "purchase" if amount >= 0 else "return",
                "order_id": order,
                "timestamp": stamp,
                "amount": abs(amount),
            }
            for customer, order, stamp, amount in zip(
                frame["customer_id"],
                frame["order_id"],
                frame["order_ts"],
                frame["amount"],
                strict=True,
            )
        ]
    )


@pytest.fixture
def duplicate_orders(reference_dir):
    raw = pd.read_csv(
        reference_dir / "05-duplicate-and-unsorted-transactions" / "orders.csv"
    )
    # The loader removes exact duplicate rows before profiles see them.
    return raw.drop_duplicates()


def test_summary_duplicate_unsorted_reference(duplicate_orders):
    as_of = pd.Timestamp("2017-12-31", tz="UTC")
    summary = btyd_summary(orders_events(duplicate_orders), as_of).set_index(
        "customer_id"
    )
    expected = {
        "C1": (3, 45, 331, (90 + 40 + 40) / 3),
        "C2": (2, 88, 304, (30 + 18) / 2),
        "C3": (1, 31, 117, 50.0),
    }
    for customer, (frequency, recency, age, monetary) in expected.items():
        row = summary.loc[customer]
        assert row["frequency"] == frequency, customer
        assert row["recency"] == recency, customer
        assert row["T"] == age, customer
        assert row["monetary_value"] == pytest.approx(monetary), customer


def test_summary_independent_of_row_order(duplicate_orders):
    as_of = pd.Timestamp("2017-12-31", tz="UTC")
    forward = btyd_summary(orders_events(duplicate_orders), as_of)
    backward = btyd_summary(orders_events(duplicate_orders.iloc[::-1]), as_of)
    pd.testing.assert_frame_equal(forward, backward)


def test_summary_refunds_and_zero_orders_reference(reference_dir):
    raw = pd.read_csv(
        reference_dir / "08-gammagamma-nonpositive-spend" / "repeat_lines.csv"
    )
    raw["order_id"] = [f"L{i}" for i in range(len(raw))]
    raw["amount"] = raw["amount"].where(raw["kind"] == "purchase", -raw["amount"].abs())
    summary = btyd_summary(
        orders_events(raw), pd.Timestamp("2021-06-30", tz="UTC")
    ).set_index("customer_id")
    expected = {
        "G1": (3, 42.50, True),
        "G2": (2, 18.00, True),
        "G3": (0, None, False),
        "G4": (1, 30.00, True),
        "G5": (0, None, False),
        "G6": (4, 55.00, True),
    }
    for customer, (frequency, monetary, in_fit) in expected.items():
        row = summary.loc[customer]
        assert row["frequency"] == frequency, customer
        assert bool(row["in_gg_fit"]) is in_fit, customer
        if monetary is None:
            assert pd.isna(row["monetary_value"]), customer
        else:
            assert row["monetary_value"] == pytest.approx(monetary), customer
    assert summary.loc["G4", "refund_total"] == pytest.approx(45.00)
    assert summary.loc["G1", "refund_total"] == 0


def test_summary_same_day_refund_nets(as_of):
    events = make_events(
        [
            {
                "customer_id": "A",
                "item_id": "I1",
                "event_type": "purchase",
                "timestamp": "2024-01-01 09:00",
                "amount": 30.0,
            },
            {
                "customer_id": "A",
                "item_id": "I1",
                "event_type": "purchase",
                "timestamp": "2024-01-10 09:00",
                "amount": 50.0,
            },
            {
                "customer_id": "A",
                "item_id": "I1",
                "event_type": "return",
                "timestamp": "2024-01-10 15:00",
                "amount": 20.0,
            },
        ]
    )
    row = btyd_summary(events, as_of).iloc[0]
    assert row["frequency"] == 1
    assert row["monetary_value"] == pytest.approx(50.0 - 20.0)
    assert row["spend_total"] == pytest.approx(30.0 + 50.0 - 20.0)


def test_summary_weekly_merges_same_week(as_of):
    # 2024-01-01 is a Monday, so the 1st and the 7th share a week.
    events = make_events(
        [
            {
                "customer_id": "A",
                "item_id": "I1",
                "event_type": "purchase",
                "timestamp": day,
                "amount": 10.0,
            }
            for day in ("2024-01-01", "2024-01-07", "2024-01-08")
        ]
    )
    row = btyd_summary(events, as_of, period="W").iloc[0]
    assert row["frequency"] == 1
    assert row["recency"] == 1
    assert row["T"] == 4
    assert row["monetary_value"] == pytest.approx(10.0)


def test_summary_rejects_unknown_period(as_of):
    events = make_events(
        [
            {
                "customer_id": "A",
                "item_id": "I1",
                "event_type": "purchase",
                "timestamp": "2024-01-01",
                "amount": 1.0,
            }
        ]
    )
    with pytest.raises(ValueError, match=r"invalid period 'M'.*'D' \(day\) or 'W'"):
        btyd_summary(events, as_of, period="M")
