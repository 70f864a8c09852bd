"""Uplift learned from a randomized campaign in the history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promoloop.benchmarks.campaign_simulation import respond_to_campaign
from promoloop.config import UpliftConfig
from promoloop.data.dataset import ShopData
from promoloop.data.report import CleaningReport
from promoloop.targeting.holdout import assign_holdout
from promoloop.targeting.learned import (
    apply_learned_uplift,
    learn_from_history,
    net_margin,
    randomized_campaigns,
)
from promoloop.vocabulary import Columns as C
from promoloop.warnings import DataQualityWarning

EXPOSED = pd.Timestamp("2024-06-01", tz="UTC")
AS_OF = EXPOSED + pd.Timedelta(days=40)
CONFIG = UpliftConfig(outcome_window_days=28, min_group_size=100)


def make_shop(n: int = 3000, seed: int = 0) -> ShopData:
    """Customers with 1 to 8 orders before EXPOSED and a few after it."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        orders = 1 + rng.poisson(2.5)
        for k in range(orders):
            day = rng.uniform(1, 180)
            rows.append((f"c{i}", f"c{i}-o{k}", EXPOSED - pd.Timedelta(days=day)))
        if rng.random() < 0.3:  # ordinary purchases in the outcome window
            day = rng.uniform(1, 27)
            rows.append((f"c{i}", f"c{i}-after", EXPOSED + pd.Timedelta(days=day)))
    events = pd.DataFrame(rows, columns=[C.customer_id, C.order_id, C.timestamp])
    events[C.event_id] = [f"e{j}" for j in range(len(events))]
    events[C.item_id] = "i1"
    events[C.event_type] = "purchase"
    events[C.quantity] = 1.0
    events[C.amount] = rng.gamma(2.0, 20.0, len(events))
    events[C.discount] = 0.0
    items = pd.DataFrame({C.item_id: ["i1"], C.price: [40.0], C.margin_rate: [0.3]})
    empty = pd.DataFrame()
    return ShopData(events, items, empty, empty, empty, CleaningReport("synthetic"))


def make_log(customers: pd.Index, campaign: str = "test") -> pd.DataFrame:
    ids = pd.Series(customers, dtype="string")
    holdout = assign_holdout(ids, campaign, 0.4).to_numpy()
    arm = np.where(np.arange(len(ids)) % 2 == 0, "a", "b")
    return pd.DataFrame(
        {
            C.decision_id: campaign + ":" + ids,
            C.customer_id: ids,
            C.campaign_id: campaign,
            C.promotion_id: arm,
            C.probability: np.where(holdout, 0.4, 0.3),
            C.holdout: holdout,
            C.timestamp: EXPOSED,
        }
    )


# Arm "a" moves frequent buyers only. Arm "b" moves no customer.
RULES = {
    "a": lambda p: np.where(p["frequency"] >= 4, 0.8, 0.0),
    "b": lambda p: np.zeros(len(p)),
}


@pytest.fixture(scope="module")
def learned_shop():
    shop = make_shop()
    log = make_log(pd.Index(shop.events[C.customer_id].unique()))
    simulated, truth = respond_to_campaign(shop, log, RULES, order_value=100.0)
    search = learn_from_history(
        simulated.events, simulated.items, log, AS_OF, CONFIG, seed=0
    )
    return simulated, log, truth, search


def test_net_margin_by_hand():
    events = pd.DataFrame(
        {
            C.customer_id: ["x", "x", "y", "y"],
            C.item_id: ["i1", "i1", "i2", "i1"],
            C.event_type: ["purchase", "return", "purchase", "purchase"],
            C.amount: [8.0, 5.0, 10.0, 50.0],
            C.discount: [2.0, 0.0, 0.0, 0.0],
            C.timestamp: [EXPOSED + pd.Timedelta(days=d) for d in (1, 2, 3, 60)],
        }
    )
    items = pd.DataFrame({C.item_id: ["i1", "i2"], C.margin_rate: [0.4, np.nan]})
    margin = net_margin(events, items, EXPOSED, EXPOSED + pd.Timedelta(days=28), 0.25)
    # x: 8 - (8 + 2) * 0.6 = 2, then the return takes 5 * 0.4 = 2 -> 0.
    # y: 10 - 10 * 0.75 = 2.5 (default rate); the order on day 60 is outside.
    assert margin["x"] == pytest.approx(0.0)
    assert margin["y"] == pytest.approx(2.5)


def test_campaign_status_names_each_reason():
    customers = pd.Index([f"c{i}" for i in range(400)])
    randomized = make_log(customers, "randomized")
    targeted = make_log(customers, "no-holdout").assign(**{C.holdout: False})
    small = make_log(customers[:60], "small")
    recent = make_log(customers, "recent").assign(**{C.timestamp: AS_OF})
    table = randomized_campaigns(
        pd.concat([randomized, targeted, small, recent]), AS_OF, CONFIG
    ).set_index(C.campaign_id)
    assert table.loc["randomized", "status"] == "usable"
    assert table.loc["no-holdout", "status"].startswith("no holdout group")
    assert table.loc["small", "status"].startswith("fewer than 100")
    assert table.loc["recent", "status"].startswith("outcome window")


def test_no_exposures_means_no_model():
    shop = make_shop(50)
    search = learn_from_history(
        shop.events, shop.items, pd.DataFrame(), AS_OF, CONFIG, seed=0
    )
    assert search.learned is None
    assert search.campaigns.empty


def test_learned_model_ranks_the_persuadable_first(learned_shop):
    simulated, log, truth, search = learned_shop
    learned = search.learned
    assert learned is not None
    assert learned.campaign_id == "test"
    assert sorted(learned.arms) == ["a", "b"]
    assert search.campaigns["status"].tolist() == ["used"]

    # On every customer, the top 30% by predicted uplift of arm "a" hold far
    # more of the true uplift than a random 30%: the persuadable are about
    # half of the customers, so a perfect ranking doubles the mean.
    profile_rows = simulated.events[simulated.events[C.timestamp] <= AS_OF]
    from promoloop.profiles.behaviour import behaviour_features

    profiles = behaviour_features(profile_rows, AS_OF).reset_index()
    predicted = learned.predict(profiles)
    arm_a = truth[truth[C.promotion_id] == "a"].merge(
        predicted.astype({C.customer_id: "string"}), on=[C.customer_id, C.promotion_id]
    )
    top = arm_a.nlargest(int(0.3 * len(arm_a)), "predicted_uplift")
    assert top["true_uplift"].mean() > 1.5 * arm_a["true_uplift"].mean()


def test_heldout_figures_show_arm_effect(learned_shop):
    _, _, _, search = learned_shop
    heldout = search.learned.heldout.set_index("arm")
    # True mean uplift of arm "a": 0.8 x 30 on the frequent share of customers.
    assert heldout.loc["a", "mean_uplift"] > 3.0
    assert heldout.loc["a", "uplift_top_30"] > heldout.loc["a", "mean_uplift"]
    assert heldout.loc["a", "n_test"] > 300
    summary = search.summary()
    assert summary["learned"]["campaign_id"] == "test"
    assert {row["arm"] for row in summary["learned"]["heldout"]} == {"a", "b"}


def test_learned_scores_replace_only_known_promotions(learned_shop):
    simulated, _, _, search = learned_shop
    from promoloop.profiles.behaviour import behaviour_features

    profiles = behaviour_features(simulated.events, AS_OF).reset_index().head(20)
    ids = profiles[C.customer_id].astype("string")
    scored = pd.DataFrame(
        {
            C.customer_id: pd.concat([ids, ids], ignore_index=True),
            C.campaign_id: "next",
            C.promotion_id: ["a"] * 20 + ["new"] * 20,
            C.score: 1.0,
            "expected_incremental_margin": 2.0,
            "expected_cost": 0.5,
            "score_source": "profile_estimate",
        }
    )
    out = apply_learned_uplift(
        scored, search.learned, profiles, {"a": 0.05, "new": 0.05}
    )
    known = out[C.promotion_id] == "a"
    assert (out.loc[known, "score_source"] == "uplift_model:test").all()
    assert np.allclose(
        out.loc[known, C.score], out.loc[known, "predicted_uplift"] - 0.05
    )
    assert (out.loc[~known, C.score] == 1.0).all()
    assert (out.loc[~known, "score_source"] == "profile_estimate").all()
    assert (out["expected_cost"] == 0.5).all()


def test_disabled_learning_reports_why():
    shop = make_shop(600)
    log = make_log(pd.Index(shop.events[C.customer_id].unique()))
    search = learn_from_history(
        shop.events,
        shop.items,
        log,
        AS_OF,
        CONFIG.model_copy(update={"enabled": False}),
    )
    assert search.learned is None
    assert search.campaigns["status"].tolist() == ["uplift learning disabled"]


def test_exposures_with_other_ids_warn():
    shop = make_shop(600)
    customers = pd.Index([f"unknown{i}" for i in range(600)])
    log = make_log(customers)
    with pytest.warns(DataQualityWarning, match="same customer ids"):
        search = learn_from_history(shop.events, shop.items, log, AS_OF, CONFIG)
    # No exposed customer bought anything, so there is nothing to learn.
    assert search.learned is None
    assert search.campaigns["status"].tolist() == [
        "the same net margin for every customer"
    ]
