"""The profile estimate of incremental margin and cost."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from promoloop.config import TargetingConfig
from promoloop.targeting.promotions import PromotionPlan
from promoloop.targeting.scoring import PROFILE_ESTIMATE, score_pairs

AS_OF = pd.Timestamp("2024-03-01", tz="UTC")
CONFIG = TargetingConfig(uplift_max_response=0.15, uplift_elasticity=4.0)


def plan(percent: float = 10, min_spend: float = 0) -> PromotionPlan:
    # Ten days left at AS_OF: 1 to 10 March.
    return PromotionPlan.model_validate(
        {
            "campaigns": [
                {
                    "campaign_id": "k",
                    "budget": 100,
                    "validity": {
                        "start": dt.date(2024, 2, 1),
                        "end": dt.date(2024, 3, 10),
                    },
                    "promotions": [
                        {
                            "promotion_id": "p",
                            "kind": "percent_off",
                            "value": percent,
                            "min_spend": min_spend,
                            "scope": {"type": "categories", "values": ["X"]},
                        }
                    ],
                }
            ]
        }
    )


ITEMS = pd.DataFrame(
    {
        "item_id": ["x1", "y1"],
        "name": ["Ex", "Why"],
        "category": ["X", "Y"],
        "brand": ["A", "A"],
        "price": [5.0, 5.0],
        "margin_rate": [0.4, 0.2],
    }
)


def events(customer: str, orders_with_x: int, orders: int = 4) -> pd.DataFrame:
    """Build orders of y1 (value 20); the first few also hold x1 (value 50)."""
    rows = []
    for k in range(orders):
        rows.append((customer, f"{customer}-{k}", "y1", 18.0, 2.0))
        if k < orders_with_x:
            rows.append((customer, f"{customer}-{k}", "x1", 45.0, 5.0))
    df = pd.DataFrame(
        rows, columns=["customer_id", "order_id", "item_id", "amount", "discount"]
    )
    df["event_type"] = "purchase"
    df["timestamp"] = AS_OF - pd.Timedelta(days=10)
    return df


def profile(customer: str, **values) -> dict:
    row = {
        "customer_id": customer,
        "expected_purchases": 36.5,
        "p_alive": 0.8,
        "discount_sensitivity": 1.5,
        "avg_order_value": 40.0,
    }
    row.update(values)
    return row


def score(profiles, history, promotion_plan=None) -> pd.DataFrame:
    profiles = pd.DataFrame(profiles)
    pairs = pd.DataFrame(
        {
            "customer_id": profiles["customer_id"],
            "campaign_id": "k",
            "promotion_id": "p",
        }
    )
    return score_pairs(
        pairs, profiles, None, history, ITEMS, promotion_plan or plan(), CONFIG, AS_OF
    ).set_index("customer_id")


def test_score_hand_computed_row():
    row = score([profile("a")], events("a", orders_with_x=1)).loc["a"]

    # 36.5 purchases a year over 10 days is 1 order; 1 of 4 orders contains X.
    p_base = 1 - math.exp(-1.0 * 0.25)
    uplift = 0.8 * (1 - p_base) * 0.15 * (1 - math.exp(-4.0 * 1.5 * 0.1))
    gross = uplift * 50 * 0.4
    subsidy = p_base * 1.0 * 5.0
    incremental_discount = uplift * 5.0
    assert row["window_days"] == 10
    assert row["orders_in_window"] == pytest.approx(1.0)
    assert row["scope_share"] == pytest.approx(0.25)
    assert row["p_base"] == pytest.approx(p_base)
    assert row["basket_value"] == pytest.approx(50.0)
    assert row["discount_given"] == pytest.approx(5.0)
    assert row["discount_depth"] == pytest.approx(0.1)
    assert row["uplift_probability"] == pytest.approx(uplift)
    assert row["margin_rate"] == pytest.approx(0.4)
    assert row["gross_incremental_margin"] == pytest.approx(gross)
    assert row["subsidy_cost"] == pytest.approx(subsidy)
    assert row["incremental_discount"] == pytest.approx(incremental_discount)
    assert row["expected_cost"] == pytest.approx(subsidy + incremental_discount + 0.05)
    assert row["expected_incremental_margin"] == pytest.approx(
        gross - subsidy - incremental_discount
    )
    assert row["score"] == pytest.approx(gross - subsidy - incremental_discount - 0.05)
    assert row["expected_redemptions"] == pytest.approx(p_base + uplift)
    assert row["score_source"] == PROFILE_ESTIMATE


def test_deeper_discount_raises_redemptions_and_cost():
    history = events("a", orders_with_x=1)
    shallow = score([profile("a")], history, plan(percent=10)).loc["a"]
    deep = score([profile("a")], history, plan(percent=30)).loc["a"]
    assert deep["expected_redemptions"] > shallow["expected_redemptions"]
    assert deep["expected_cost"] > shallow["expected_cost"]
    assert deep["uplift_probability"] > shallow["uplift_probability"]


def test_habitual_buyer_has_high_subsidy():
    history = pd.concat([events("always", 4), events("never", 0)])
    scored = score([profile("always"), profile("never")], history)
    assert scored.loc["always", "scope_share"] == pytest.approx(1.0)
    # Every order contains X, so one expected order in the window is subsidized
    # with probability 1 - e^-1.
    assert scored.loc["always", "subsidy_cost"] == pytest.approx((1 - math.exp(-1)) * 5)
    assert scored.loc["never", "subsidy_cost"] == pytest.approx(0.0)
    assert scored.loc["always", "score"] < scored.loc["never", "score"]


def test_more_sensitive_customer_gains_more_uplift():
    history = pd.concat([events("low", 1), events("high", 1)])
    scored = score(
        [
            profile("low", discount_sensitivity=0.5),
            profile("high", discount_sensitivity=2),
        ],
        history,
    )
    assert (
        scored.loc["high", "uplift_probability"]
        > scored.loc["low", "uplift_probability"]
    )


def test_min_spend_above_basket_lowers_qualify_share():
    scored = score([profile("a")], events("a", 1), plan(min_spend=60)).loc["a"]
    assert scored["qualify_share"] == pytest.approx(0.0)
    assert scored["subsidy_cost"] == pytest.approx(0.0)
    # Incremental orders must reach the minimum spend: 10% of 60.
    assert scored["discount_given"] == pytest.approx(6.0)


def test_customer_without_orders_uses_interest():
    profiles = pd.DataFrame([profile("new")])
    interest = pd.DataFrame(
        {
            "customer_id": ["new", "new"],
            "dimension": ["category", "category"],
            "value": ["X", "Y"],
            "score": [3.0, 1.0],
        }
    )
    pairs = pd.DataFrame(
        {"customer_id": ["new"], "campaign_id": "k", "promotion_id": "p"}
    )
    scored = score_pairs(
        pairs, profiles, interest, events("other", 1), ITEMS, plan(), CONFIG, AS_OF
    )
    assert scored["scope_share"].iloc[0] == pytest.approx(3.0 / 4.0)
    # The shop's mean in-scope basket replaces the customer's own.
    assert scored["basket_value"].iloc[0] == pytest.approx(50.0)
