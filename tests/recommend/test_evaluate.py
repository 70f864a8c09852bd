"""The recommendation stage: model comparison, choice and final lists."""

from __future__ import annotations

import pandas as pd
import pytest

from promoloop.config import RecommendConfig
from promoloop.recommend import (
    PopularityRecommender,
    RepeatPurchaseRecommender,
    run_recommendations,
)
from promoloop.recommend.evaluate import METRIC_COLUMNS
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import RecommendationStrategy as S
from promoloop.warnings import ColdStartWarning, DataQualityWarning

from .conftest import START


def repeat_buyers() -> pd.DataFrame:
    """Return weekly purchases of each customer's own item over 12 weeks."""
    rows = []
    for c in range(4):
        for week in range(12):
            rows.append((f"c{c}", f"i{c}", "purchase", week * 7 + c))
    rows.append(("c0", "i9", "purchase", 0))
    rows.append(("v", "i1", "view", 3))
    events = pd.DataFrame(rows, columns=[C.customer_id, C.item_id, C.event_type, "day"])
    events[C.timestamp] = START + pd.to_timedelta(events.pop("day"), unit="D")
    return events


def test_run_chooses_repeat_over_popularity():
    models = {"popularity": PopularityRecommender, "repeat": RepeatPurchaseRecommender}
    config = RecommendConfig(k=2, validation_days=14)
    with pytest.warns(ColdStartWarning, match="1 customer"):
        result = run_recommendations(
            repeat_buyers(), None, config, seed=0, show_progress=False, models=models
        )
    assert result.chosen_model == "repeat"
    assert list(result.metrics.columns) == METRIC_COLUMNS
    metrics = result.metrics.set_index("model")
    assert metrics.loc["repeat", "recall_at_10"] == 1.0
    assert metrics.loc["repeat", "customers_evaluated"] == 4
    lists = result.recommendations
    assert set(lists[C.customer_id]) == {"c0", "c1", "c2", "c3", "v"}
    top = lists[lists[C.rank] == 1].set_index(C.customer_id)
    assert top.loc["c2", C.item_id] == "i2"
    assert top.loc["v", C.strategy] == S.FALLBACK_POPULAR
    assert result.split["test"]["cutoff"] is not None


def test_run_without_purchases_falls_back():
    events = repeat_buyers()
    views = events.assign(**{C.event_type: "view"})
    with (
        pytest.warns(DataQualityWarning, match="not compared"),
        pytest.warns(ColdStartWarning),
    ):
        result = run_recommendations(
            views, None, RecommendConfig(), show_progress=False
        )
    assert result.chosen_model == "repeat"
    assert result.metrics.empty
    assert set(result.recommendations[C.strategy]) == {S.FALLBACK_POPULAR.value}


def test_run_short_history_uses_repeat():
    # Twelve weeks of history with 90-day windows: nothing before the
    # test window, so the models cannot be compared.
    config = RecommendConfig(k=1, validation_days=90)
    with (
        pytest.warns(DataQualityWarning, match="at least 180 days"),
        pytest.warns(ColdStartWarning),
    ):
        result = run_recommendations(repeat_buyers(), None, config, show_progress=False)
    assert result.chosen_model == "repeat"
    assert result.metrics.empty
    top = result.recommendations.set_index(C.customer_id)[C.item_id]
    assert top["c1"] == "i1"
    assert top["c3"] == "i3"


def test_run_as_of_ignores_later_events():
    events = repeat_buyers()
    config = RecommendConfig(k=1, validation_days=14)
    models = {"repeat": RepeatPurchaseRecommender}
    with pytest.warns(ColdStartWarning):
        result = run_recommendations(
            events,
            None,
            config,
            as_of=START + pd.Timedelta(days=40),
            show_progress=False,
            models=models,
        )
    # The latest purchase up to day 40 is c3's on day 5 * 7 + 3 = 38.
    cutoff = pd.Timestamp(result.split["test"]["cutoff"])
    assert cutoff == START + pd.Timedelta(days=38 - 14)


def test_run_lists_only_customers_active_by_as_of():
    events = repeat_buyers()
    late = pd.DataFrame(
        {
            C.customer_id: ["late"],
            C.item_id: ["i1"],
            C.event_type: ["purchase"],
            C.timestamp: [START + pd.Timedelta(days=70)],
        }
    )
    events = pd.concat([events, late], ignore_index=True)
    config = RecommendConfig(k=1, validation_days=14)
    with pytest.warns(ColdStartWarning):
        result = run_recommendations(
            events,
            None,
            config,
            as_of=START + pd.Timedelta(days=40),
            show_progress=False,
            models={"repeat": RepeatPurchaseRecommender},
        )
    assert set(result.recommendations[C.customer_id]) == {"c0", "c1", "c2", "c3", "v"}
