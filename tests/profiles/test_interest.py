import pandas as pd
import pytest

from promoloop.config import InterestConfig
from promoloop.profiles.interest import favourites, interest_scores
from tests.profiles.conftest import make_events

ITEMS = pd.DataFrame(
    {"item_id": ["I1", "I2"], "category": ["tea", "mugs"], "brand": ["Acme", None]}
)


def events_of(kind, count, day="2024-01-30", item="I1", customer="A"):
    return [
        {"customer_id": customer, "item_id": item, "event_type": kind, "timestamp": day}
    ] * count


def test_interest_weighted_sum_without_decay(as_of):
    events = make_events(
        events_of("view", 10) + events_of("purchase", 5) + events_of("review", 3)
    )
    config = InterestConfig(
        event_weights={"view": 0.5, "purchase": 0.3, "review": 0.2},
        half_life_days=None,
    )
    scores = interest_scores(events, ITEMS, as_of, config).set_index(
        ["dimension", "value"]
    )
    assert scores.loc[("category", "tea"), "score"] == pytest.approx(
        10 * 0.5 + 5 * 0.3 + 3 * 0.2
    )
    assert scores.loc[("brand", "Acme"), "score"] == pytest.approx(7.1)


def test_interest_event_one_half_life_counts_half(as_of):
    events = make_events(
        events_of("purchase", 1, day="2024-01-01")  # 30 days before as_of
        + events_of("purchase", 1, day="2024-01-31")
    )
    config = InterestConfig(event_weights={"purchase": 3.0}, half_life_days=30)
    score = interest_scores(events, ITEMS, as_of, config)["score"].iloc[0]
    assert score == pytest.approx(3.0 * 0.5 + 3.0 * 1.0)


def test_interest_unweighted_types_and_missing_values(as_of):
    events = make_events(events_of("cart", 2) + events_of("view", 1, item="I2"))
    config = InterestConfig(event_weights={"view": 1.0}, half_life_days=None)
    scores = interest_scores(events, ITEMS, as_of, config)
    tea = scores[(scores["value"] == "tea")]["score"].iloc[0]
    assert tea == 0
    assert set(scores["dimension"]) == {"category", "brand"}
    assert "mugs" in set(scores["value"])
    assert len(scores[scores["dimension"] == "brand"]) == 1


def test_favourites_highest_positive_score(as_of):
    events = make_events(
        events_of("view", 1, item="I1")
        + events_of("purchase", 1, item="I2")
        + events_of("return", 1, item="I1", customer="B")
    )
    config = InterestConfig(
        event_weights={"view": 0.5, "purchase": 3.0, "return": -1.0},
        half_life_days=None,
    )
    scores = interest_scores(events, ITEMS, as_of, config)
    top = favourites(scores, pd.Index(["A", "B"]))
    assert top.loc["A", "favourite_category"] == "mugs"
    assert top.loc["A", "favourite_brand"] == "Acme"
    assert pd.isna(top.loc["B", "favourite_category"])
