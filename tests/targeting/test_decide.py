"""End-to-end decisions on a small synthetic shop."""

from __future__ import annotations

import pandas as pd
import pytest

from promoloop.config import RunConfig, TargetingConfig
from promoloop.targeting.decide import DECISION_COLUMNS, decide
from promoloop.targeting.holdout import assign_holdout
from promoloop.warnings import DataQualityWarning
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


def test_featured_items_fall_back_to_scope_best_sellers():
    # Recommendations hold only cheese and snacks, so offers on soft drinks
    # feature the best-selling soft drinks instead.
    profiles = make_profiles(40)
    events = make_events(profiles)
    recommendations = make_recommendations(profiles)
    recommendations = recommendations[~recommendations["item_id"].isin(["i1", "i2"])]
    table = decide(
        profiles,
        None,
        events,
        make_items(),
        recommendations,
        make_plan(),
        None,
        CONFIG,
        AS_OF,
        seed=0,
    ).table
    drinks = table[table["promotion_id"] == "drinks10"]
    assert len(drinks) > 0
    purchases = events[events["event_type"] == "purchase"]
    sold = purchases[purchases["item_id"].isin(["i1", "i2"])]["item_id"].value_counts()
    expected = list(sold.sort_values(ascending=False, kind="stable").index)
    for featured in drinks["featured_items"]:
        assert featured == expected


def test_decide_same_inputs_same_table():
    first = run().table
    second = run().table
    pd.testing.assert_frame_equal(first, second)


def test_spend_within_budget():
    decisions = run(budget=3.0)
    spent = decisions.table["expected_cost"].sum()
    assert spent <= 3.0 + 1e-9
    assert spent == pytest.approx(decisions.allocation["budget_used"]["spring"])


def test_unknown_scope_values_warn():
    promotions = [
        {
            "promotion_id": "typo",
            "kind": "percent_off",
            "value": 10,
            "scope": {"type": "categories", "values": ["SOFT DRINKZ"]},
        },
        {"promotion_id": "ghost", "kind": "bundle", "value": 1, "items": ["i5", "i99"]},
    ]
    with pytest.warns(DataQualityWarning) as caught:
        table = run(promotions=promotions).table
    messages = [str(w.message) for w in caught]
    assert any("'typo'" in m and "SOFT DRINKZ" in m for m in messages)
    assert any("'ghost'" in m and "i99" in m for m in messages)
    assert not (table["promotion_id"] == "typo").any()


def test_restricted_and_repeated_names_never_featured():
    from promoloop.targeting.decide import _featurable

    items = pd.DataFrame(
        {
            "item_id": ["1", "2", "3", "4", "5"],
            "name": ["Cola", "Cola", "Lager BEER 6pk", "Crisps", "Unleaded"],
            "category": ["SOFT DRINKS", "SOFT DRINKS", "DRINKS", "SNACKS", "GAS"],
            "brand": ["A", "B", "C", "D", "E"],
            "department": ["GROCERY", "GROCERY", "GROCERY", "GROCERY", "KIOSK-GAS"],
        }
    )
    pattern = RunConfig().messaging.restricted_items_pattern
    assert _featurable(items, pattern)["item_id"].tolist() == ["1", "4"]
    assert _featurable(items, "")["item_id"].tolist() == ["1", "3", "4", "5"]


def test_holdout_offers_are_withheld_not_skipped():
    decisions = run(budget=1000.0, profiles=make_profiles(200))
    pairs = decisions.pairs
    held = pairs.merge(decisions.holdouts, on=["customer_id", "campaign_id"])
    allocated = held["selected"] | held["withheld"]
    # The holdout customers went through scoring and allocation like the
    # others; only the sending differs.
    assert held.loc[held["holdout"], "score"].notna().any()
    assert (held["withheld"] == (allocated & held["holdout"])).all()
    assert (held["selected"] == (allocated & ~held["holdout"])).all()
    assert held["withheld"].sum() > 0

    table = decisions.table
    control = table[table["withheld_promotion_id"].notna()]
    assert len(control) > 0
    assert control["holdout"].all()
    assert control["promotion_id"].isna().all()
    assert (control["reason"] == "holdout").all()


def test_decision_log_has_treated_and_control():
    from promoloop.targeting.decide import decision_log

    decisions = run(budget=1000.0, profiles=make_profiles(200))
    log = decision_log(decisions, make_plan(budget=1000.0), AS_OF)
    pairs = decisions.pairs
    assert len(log) == int(pairs["selected"].sum() + pairs["withheld"].sum())
    assert log["decision_id"].is_unique
    assert log["promotion_id"].notna().all()
    for chosen, eligible in zip(log["promotion_id"], log["eligible"], strict=True):
        assert chosen in eligible
        assert eligible == sorted(eligible)
    # CONFIG holds out 20% of every campaign.
    assert log.loc[log["holdout"], "probability"].tolist() == pytest.approx(
        [0.2] * int(log["holdout"].sum())
    )
    assert log.loc[~log["holdout"], "probability"].tolist() == pytest.approx(
        [0.8] * int((~log["holdout"]).sum())
    )
