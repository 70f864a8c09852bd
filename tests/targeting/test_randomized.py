"""Randomized test campaigns: uniform draws, budget prefix and logged probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promoloop.config import RunConfig, TargetingConfig
from promoloop.targeting.decide import decide, decision_log
from promoloop.targeting.holdout import assign_holdout
from tests.targeting.fixtures import (
    AS_OF,
    make_events,
    make_items,
    make_plan,
    make_profiles,
    make_recommendations,
)

CONFIG = RunConfig(targeting=TargetingConfig(holdout_share=0.25))


def run(n=400, budget=1e6, **overrides):
    profiles = make_profiles(n)
    plan = make_plan(budget=budget, assignment="randomized", **overrides)
    decisions = decide(
        profiles,
        None,
        make_events(profiles),
        make_items(),
        make_recommendations(profiles),
        plan,
        None,
        CONFIG,
        AS_OF,
    )
    return decisions, plan


def test_large_budget_draws_everyone_once():
    decisions, _ = run()
    pairs = decisions.pairs
    eligible_customers = pairs.loc[pairs["eligible"], "customer_id"].unique()
    drawn = pairs[pairs["selected"] | pairs["withheld"]]
    assert drawn["customer_id"].is_unique
    assert set(drawn["customer_id"]) == set(eligible_customers)


def test_negative_scores_are_sent_in_a_randomized_campaign():
    # The profile estimate of the default response curve is negative for
    # most pairs; a test campaign sends them anyway, to measure them.
    decisions, _ = run()
    sent = decisions.pairs[decisions.pairs["selected"]]
    assert (sent["score"] <= 0).any()


def test_arms_are_drawn_uniformly_among_eligible_promotions():
    decisions, _ = run(n=3000)
    pairs = decisions.pairs
    eligible = pairs[pairs["eligible"]]
    counts = eligible.groupby("customer_id").size()
    drawn = pairs[pairs["selected"] | pairs["withheld"]]
    assert np.allclose(drawn["arm_probability"], 1.0 / drawn["customer_id"].map(counts))
    # Among customers eligible for all four promotions, each is drawn about
    # a quarter of the time: 3 standard deviations of a binomial share.
    full = counts[counts == 4].index
    shares = drawn[drawn["customer_id"].isin(full)]["promotion_id"].value_counts(
        normalize=True
    )
    n = len(full)
    assert n > 500
    assert len(shares) == 4
    assert (abs(shares - 0.25) < 3 * np.sqrt(0.25 * 0.75 / n)).all()


def test_holdout_is_the_campaign_hash_among_drawn_customers():
    decisions, _ = run()
    drawn = decisions.pairs[decisions.pairs["selected"] | decisions.pairs["withheld"]]
    expected = assign_holdout(drawn["customer_id"].astype("string"), "spring", 0.25)
    assert (drawn["withheld"].to_numpy() == expected.to_numpy()).all()


def test_budget_takes_random_prefix():
    decisions, plan = run(n=400, budget=20.0)
    pairs = decisions.pairs
    sent = pairs[pairs["selected"]]
    assert 0 < sent["expected_cost"].sum() <= 20.0
    over = pairs[pairs["reason"] == "budget"]
    assert len(over) > 0
    # Customers after the cut are not drawn at all, in neither group.
    assert not over["customer_id"].isin(sent["customer_id"]).any()


def test_decision_log_probability_includes_the_arm_draw():
    decisions, plan = run()
    log = decision_log(decisions, plan, AS_OF)
    sent = log[~log["holdout"]]
    counts = log["eligible"].map(len)
    assert np.allclose(sent["probability"], 0.75 / counts[~log["holdout"]])
    assert np.allclose(log.loc[log["holdout"], "probability"], 0.25)


def test_randomized_customers_get_no_targeted_offer():
    profiles = make_profiles(300)
    base = make_plan(budget=1e6, assignment="randomized").model_dump()
    # Only the "loyal" third of the customers can enter the test.
    for promotion in base["campaigns"][0]["promotions"]:
        promotion["eligibility"]["segments_include"] = ["loyal"]
    other = make_plan(budget=1e6).model_dump()["campaigns"][0]
    other["campaign_id"] = "summer"
    for promotion in other["promotions"]:
        promotion["promotion_id"] += "_summer"
    base["campaigns"].append(other)
    from promoloop.targeting.promotions import PromotionPlan

    plan = PromotionPlan.model_validate(base)
    config = RunConfig(
        targeting=TargetingConfig(
            holdout_share=0.25,
            max_promotions_per_customer=2,
            uplift_max_response=0.9,
            uplift_elasticity=20.0,
        )
    )
    decisions = decide(
        profiles,
        None,
        make_events(profiles),
        make_items(),
        make_recommendations(profiles),
        plan,
        None,
        config,
        AS_OF,
    )
    pairs = decisions.pairs
    tested = pairs.loc[
        (pairs["selected"] | pairs["withheld"]) & (pairs["campaign_id"] == "spring"),
        "customer_id",
    ]
    targeted = pairs.loc[
        pairs["selected"] & (pairs["campaign_id"] == "summer"), "customer_id"
    ]
    assert len(tested) > 0
    assert len(targeted) > 0
    assert not targeted.isin(tested).any()


def test_unknown_assignment_is_rejected():
    with pytest.raises(Exception, match="assignment"):
        make_plan(assignment="alternating")


def test_draws_are_the_same_on_a_rerun():
    first, _ = run()
    second, _ = run()
    pd.testing.assert_frame_equal(first.table, second.table)
