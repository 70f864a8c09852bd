"""Bandit campaigns in a batch run: the policy's arms, "none" included."""

from __future__ import annotations

import numpy as np
import pytest

from promoloop.config import RunConfig, TargetingConfig
from promoloop.targeting.decide import decide, decision_log
from tests.targeting.fixtures import (
    AS_OF,
    make_events,
    make_items,
    make_plan,
    make_profiles,
    make_recommendations,
)

CONFIG = RunConfig(targeting=TargetingConfig(holdout_share=0.2))


def run(policy: dict, n: int = 2000):
    profiles = make_profiles(n)
    plan = make_plan(budget=1e6, assignment="bandit", policy=policy)
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


def test_prior_draws_none_and_promotions():
    # An epsilon-greedy prior ties every arm, so each is drawn with 1/k.
    decisions, plan = run({"kind": "epsilon_greedy", "min_probability": 0.05})
    pairs = decisions.pairs
    eligible = pairs[pairs["eligible"]]
    drawn = pairs[pairs["selected"] | pairs["withheld"]]
    n_customers = eligible["customer_id"].nunique()
    n_promotions = len(plan.campaigns[0].promotions)

    assert drawn["customer_id"].is_unique
    # Customers drawn "none" get no promotion: about 1 / (k + 1) of them
    # when every customer is eligible for every promotion.
    none_share = 1 - drawn["customer_id"].nunique() / n_customers
    assert none_share == pytest.approx(1 / (n_promotions + 1), abs=0.05)
    assert np.allclose(drawn["arm_probability"], 1 / (n_promotions + 1))


def test_log_has_policy_probability():
    decisions, plan = run({"kind": "epsilon_greedy", "min_probability": 0.05})

    log = decision_log(decisions, plan, AS_OF)

    sent = log[~log["holdout"]]
    assert len(sent) > 0
    n_promotions = len(plan.campaigns[0].promotions)
    assert np.allclose(sent["probability"], 0.8 / (n_promotions + 1))


def test_contextual_policy_runs_in_batch():
    decisions, _ = run({"kind": "linucb", "min_probability": 0.05})

    drawn = decisions.pairs[decisions.pairs["selected"]]

    assert len(drawn) > 0
    assert drawn["arm_probability"].between(0.05, 1).all()


def test_rerun_draws_the_same_arms():
    first, _ = run({"kind": "bernoulli_thompson"}, n=300)
    second, _ = run({"kind": "bernoulli_thompson"}, n=300)

    assert first.pairs["selected"].equals(second.pairs["selected"])
