"""The recommendation stage on The Complete Journey purchases (slow: minutes)."""

from __future__ import annotations

import logging

import pytest

from promoloop.config import RecommendConfig
from promoloop.recommend import run_recommendations

logger = logging.getLogger(__name__)


@pytest.mark.slow
def test_chosen_model_beats_repeat_and_untuned_als_on_journey():
    loader = pytest.importorskip("promoloop.data.complete_journey")
    data = loader.load_complete_journey()
    config = RecommendConfig(num_threads=1)
    result = run_recommendations(
        data.events, data.items, config, seed=0, show_progress=False
    )
    metrics = result.metrics.set_index("model")
    logger.info("Complete Journey metrics:\n%s", metrics.to_string())

    recall = metrics["recall_at_10"]
    assert result.chosen_model == "hybrid"
    assert recall["hybrid"] > recall["repeat"] + 0.01
    assert recall["hybrid"] > recall["als_untuned"]
    assert metrics["customers_evaluated"].iloc[0] > 1500
