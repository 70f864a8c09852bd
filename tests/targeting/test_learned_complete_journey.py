"""The targeting loop on The Complete Journey with simulated, known responses.

A randomized test campaign as of 2017-09-01, simulated responses on top of
the real purchases, then a targeted campaign as of 2017-11-01 that learns
from the test's decision log.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from promoloop.benchmarks.campaign_simulation import respond_to_campaign
from promoloop.config import RunConfig
from promoloop.data.dataset import restrict_to
from promoloop.profiles import build_profiles
from promoloop.targeting.decide import decide, decision_log
from promoloop.targeting.learned import learn_from_history
from promoloop.targeting.promotions import PromotionPlan

pytestmark = pytest.mark.slow

TEST_START = pd.Timestamp("2017-09-01", tz="UTC")
TARGETED_START = pd.Timestamp("2017-11-01", tz="UTC")
CONFIG = RunConfig(show_progress=False)
RULES = {
    "cj-5-off-40": lambda p: np.where(
        p["frequency"].fillna(0) >= p["frequency"].median(), 0.7, 0.0
    ),
    "cj-10-pct": lambda p: np.where(
        p["avg_order_value"].fillna(0) < p["avg_order_value"].median(), 0.7, 0.0
    ),
}


def plan(campaign_id, assignment, budget, holdout_share, start, end):
    return PromotionPlan.model_validate(
        {
            "campaigns": [
                {
                    "campaign_id": campaign_id,
                    "budget": budget,
                    "holdout_share": holdout_share,
                    "assignment": assignment,
                    "validity": {"start": start, "end": end},
                    "promotions": [
                        {
                            "promotion_id": "cj-5-off-40",
                            "kind": "amount_off",
                            "value": 5,
                            "min_spend": 40,
                        },
                        {
                            "promotion_id": "cj-10-pct",
                            "kind": "percent_off",
                            "value": 10,
                        },
                    ],
                }
            ]
        }
    )


def decide_as_of(data, as_of, promotion_plan, exposures, learned=None):
    known = restrict_to(data, as_of)
    profiles = build_profiles(
        known.events, known.items, known.customers, as_of, CONFIG, seed=0
    )
    decisions = decide(
        profiles.table,
        profiles.interest,
        known.events,
        known.items,
        None,
        promotion_plan,
        exposures,
        CONFIG,
        as_of,
        learned=learned,
    )
    return known, decisions


@pytest.fixture(scope="module")
def loop():
    from promoloop.data.complete_journey import load_complete_journey

    warnings.simplefilter("ignore")
    history = load_complete_journey()
    test_plan = plan("cj-test", "randomized", 1e5, 0.4, "2017-09-01", "2017-09-30")
    _, test = decide_as_of(history, TEST_START, test_plan, None)
    log = decision_log(test, test_plan, TEST_START)
    simulated, truth = respond_to_campaign(history, log, RULES)
    known = restrict_to(simulated, TARGETED_START)
    search = learn_from_history(
        known.events, known.items, log, TARGETED_START, CONFIG.uplift
    )
    targeted_plan = plan(
        "cj-autumn", "targeted", 3000.0, 0.1, "2017-11-01", "2017-11-30"
    )
    _, targeted = decide_as_of(
        simulated, TARGETED_START, targeted_plan, log, learned=search.learned
    )
    return log, truth, search, targeted


def test_test_campaign_is_a_randomized_experiment(loop):
    log, _, _, _ = loop
    assert len(log) > 2000
    assert abs(log["holdout"].mean() - 0.4) < 0.03
    sent = log[~log["holdout"]]
    assert np.allclose(sent["probability"], 0.6 / sent["eligible"].map(len))


def test_model_learns_from_the_test_campaign(loop):
    _, _, search, _ = loop
    learned = search.learned
    assert learned is not None and learned.campaign_id == "cj-test"
    heldout = learned.heldout.set_index("arm")
    # Each moved group is half of the households, with a true uplift of
    # 0.7 x $30 = $21, so the mean is about $10.5 and the top 30% of a good
    # ranking close to $21.
    for arm in RULES:
        assert heldout.loc[arm, "uplift_top_30"] > heldout.loc[arm, "mean_uplift"]


def test_targeting_sends_offers_to_the_persuadable(loop):
    _, truth, search, targeted = loop
    offers = targeted.table.dropna(subset=["promotion_id"])
    assert (offers["score_source"] == search.learned.source).all()
    keys = ["customer_id", "promotion_id"]
    sent = (
        offers[keys]
        .astype("string")
        .merge(truth.astype({"promotion_id": "string"}), on=keys, how="left")
    )
    # A random offer to a random household is worth $10.5 on average; the
    # learned targeting must do clearly better.
    assert sent["true_uplift"].fillna(0).mean() > 14.0
