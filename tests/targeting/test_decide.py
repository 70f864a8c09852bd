"""End-to-end decisions on a small synthetic shop."""

from __future__ import annotations

import pandas as pd
import pytest

from promoloop.config import RunConfig, TargetingConfig
from promoloop.targeting.decide import DECISION_COLUMNS, decide
from promoloop.targeting.holdout import assign_holdout
from tests.targeting.fixtures import (
    AS_OF,
    make_events,
    make_items,
    make_plan,
    make_profiles,
    make_recommendations,
)

# A generous response curve, so that most pairs have a positive score.
CONFIG = RunConfig(
    targeting=TargetingConfig(
        uplift_max_response=0.9, uplift_elasticity=20.0, holdout_share=0.2
    )
)


def run(budget=1000.0, profiles=None, config=CONFIG, **plan_overrides):
    profiles = make_profiles(40) if profiles is None else profiles
    return decide(
        profiles,
        None,
        make_events(profiles),
        make_items(),
        make_recommendations(profiles),
        make_plan(budget=budget, **plan_overrides),
        None,
        config,
        AS_OF,
        seed=0,
    )


def test_decide_one_row_per_customer():
    decisions = run()
    assert list(decisions.table.columns) == DECISION_COLUMNS
    assert decisions.table["customer_id"].is_unique
    assert len(decisions.table) == 40


def test_holdout_customers_get_nothing():
    decisions = run()
    table = decisions.table.set_index("customer_id")
    expected = assign_holdout(table.index.to_series(), "spring", 0.2)
    assert expected.any()
    held = table[expected.to_numpy()]
    assert held["holdout"].all()
    assert held["promotion_id"].isna().all()
    assert (held["reason"] == "holdout").all()
    assert not table.loc[~expected.to_numpy(), "holdout"].any()


def test_offers_have_scores_and_source():
    table = run().table
    offers = table[table["promotion_id"].notna()]
    assert len(offers) > 0
    assert (offers["score"] > 0).all()
    # The score is the net incremental margin less the 0.05 message cost.
    net = offers["expected_incremental_margin"] - 0.05
    assert offers["score"].to_numpy() == pytest.approx(net.to_numpy())
    assert (offers["score_source"] == "profile_estimate").all()
    assert offers["reason"].isna().all()


def test_no_consent_reason():
    profiles = make_profiles(40)
    profiles["consent"] = False
    decisions = run(profiles=profiles)
    reasons = set(decisions.table["reason"])
    assert reasons <= {"no consent", "holdout"}
    assert (
        decisions.exclusions["no consent"]
        == (decisions.table["reason"] == "no consent").sum()
    )


def test_anomaly_reason():
    profiles = make_profiles(40)
    profiles["is_anomaly"] = True
    table = run(profiles=profiles).table
    assert table["promotion_id"].isna().all()
    assert "anomaly" in set(table["reason"])


def test_budget_reason_when_budget_small():
    decisions = run(budget=0.5)
    assert decisions.exclusions["budget"] > 0
    assert decisions.allocation["budget_used"]["spring"] <= 0.5


def test_negative_margin_reason_with_default_curve():
    # The default response curve does not pay for discounts to these regulars.
    decisions = run(config=RunConfig())
    assert "negative margin" in decisions.exclusions


def test_not_eligible_reason():
    table = run(validity={"start": "2025-01-01", "end": "2025-01-31"}).table
    assert set(table["reason"]) <= {"not eligible", "holdout"}
    assert (table["reason"] == "not eligible").sum() > 0


def test_featured_items_in_scope():
    table = run().table
    items = make_items().set_index("item_id")
    drinks = table[table["promotion_id"] == "drinks10"]
    for featured in drinks["featured_items"]:
        assert 1 <= len(featured) <= 3
        assert set(items.loc[featured, "category"]) == {"SOFT DRINKS"}
    bundles = table[table["promotion_id"] == "chips_salsa"]
    for featured in bundles["featured_items"]:
        assert featured == ["i5", "i6"]


def test_decide_same_inputs_same_table():
    first = run().table
    second = run().table
    pd.testing.assert_frame_equal(first, second)


def test_spend_within_budget():
    decisions = run(budget=3.0)
    spent = decisions.table["expected_cost"].sum()
    assert spent <= 3.0 + 1e-9
    assert spent == pytest.approx(decisions.allocation["budget_used"]["spring"])
