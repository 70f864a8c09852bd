"""Small synthetic shop used by the targeting and messaging tests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from promoloop.targeting.promotions import PromotionPlan
from promoloop.vocabulary import Columns as C

AS_OF = pd.Timestamp("2024-03-01", tz="UTC")


def make_items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.item_id: ["i1", "i2", "i3", "i4", "i5", "i6"],
            C.name: ["Cola", "Lemonade", "Cheddar", "Brie", "Crisps", "Salsa"],
            C.category: [
                "SOFT DRINKS",
                "SOFT DRINKS",
                "CHEESE",
                "CHEESE",
                "BAG SNACKS",
                "BAG SNACKS",
            ],
            C.brand: ["A", "B", "A", "B", "A", "B"],
            C.price: [2.0, 3.0, 4.0, 6.0, 1.5, 2.5],
            C.margin_rate: [0.3, 0.3, 0.4, 0.4, np.nan, 0.5],
        }
    )


def make_profiles(n: int = 6) -> pd.DataFrame:
    ids = [f"c{i}" for i in range(n)]
    return pd.DataFrame(
        {
            C.customer_id: ids,
            C.locale: (["en", "zh-CN", None, "fr"] * n)[:n],
            C.consent: ([True, True, None, True, True, True] * n)[:n],
            "frequency": np.linspace(1, 12, n),
            "monetary": np.linspace(20, 400, n),
            "avg_order_value": np.linspace(15, 60, n),
            "recency_days": np.linspace(5, 200, n),
            "discount_share": np.linspace(0, 0.5, n),
            "discount_sensitivity": np.linspace(0.5, 2.0, n),
            "p_alive": np.linspace(0.5, 1.0, n),
            "expected_purchases": np.linspace(2, 30, n),
            "segment_name": (["loyal", "at risk", "new"] * n)[:n],
            "is_anomaly": [False] * n,
            "favourite_category": (["CHEESE", "SOFT DRINKS", "BAG SNACKS"] * n)[:n],
        }
    )


def make_events(profiles: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Three orders per customer of random items, before AS_OF."""
    rng = np.random.default_rng(seed)
    items = make_items()
    rows = []
    for customer in profiles[C.customer_id]:
        for order in range(3):
            for item in rng.choice(items[C.item_id], size=3, replace=False):
                rows.append((customer, f"{customer}-o{order}", item, order))
    events = pd.DataFrame(rows, columns=[C.customer_id, C.order_id, C.item_id, "k"])
    price = events[C.item_id].map(items.set_index(C.item_id)[C.price])
    events[C.event_id] = [f"e{i}" for i in range(len(events))]
    events[C.event_type] = "purchase"
    events[C.quantity] = 10.0
    events[C.amount] = 10.0 * price
    events[C.discount] = 0.0
    events[C.timestamp] = AS_OF - pd.to_timedelta(30 * (events["k"] + 1), unit="D")
    return events.drop(columns="k")


def make_plan(budget: float = 1000.0, **overrides) -> PromotionPlan:
    campaign = {
        "campaign_id": "spring",
        "name": "Spring",
        "budget": budget,
        "validity": {"start": dt.date(2024, 2, 20), "end": dt.date(2024, 3, 20)},
        "promotions": [
            {
                "promotion_id": "drinks10",
                "kind": "percent_off",
                "value": 10,
                "scope": {"type": "categories", "values": ["SOFT DRINKS"]},
            },
            {
                "promotion_id": "two_off_20",
                "kind": "amount_off",
                "value": 2,
                "min_spend": 20,
            },
            {"promotion_id": "ship", "kind": "free_shipping", "value": 4.95},
            {
                "promotion_id": "chips_salsa",
                "kind": "bundle",
                "value": 1.5,
                "items": ["i5", "i6"],
            },
        ],
    }
    campaign.update(overrides)
    return PromotionPlan.model_validate(
        {"currency": {"code": "USD", "symbol": "$"}, "campaigns": [campaign]}
    )


def make_recommendations(profiles: pd.DataFrame) -> pd.DataFrame:
    items = make_items()[C.item_id].tolist()
    rows = [
        (customer, item, rank + 1, 1.0 / (rank + 1), "personalized")
        for customer in profiles[C.customer_id]
        for rank, item in enumerate(items)
    ]
    return pd.DataFrame(
        rows, columns=[C.customer_id, C.item_id, C.rank, C.score, C.strategy]
    )
