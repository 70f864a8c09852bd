"""The decision's scalar rules and messages agree with the run's table versions."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pytest

from promoloop.config import TargetingConfig
from promoloop.messaging.render import render_messages
from promoloop.service.api.messages import featured_items, match_locale, offer_message
from promoloop.service.api.offer_cache import CustomerFacts, LiveCampaign
from promoloop.service.api.offers import meets_eligibility
from promoloop.targeting.eligibility import check_eligibility
from promoloop.targeting.promotions import Currency, PromotionPlan

AS_OF = pd.Timestamp("2026-03-01", tz="UTC")

RULES = [
    {},
    {"min_orders": 2},
    {"max_recency_days": 30},
    {"segments_include": ["loyal", "vip"]},
    {"segments_exclude": ["lapsed"]},
    {"new_customers_only": True},
    {"min_orders": 1, "max_recency_days": 100, "segments_exclude": ["vip"]},
]
FACTS = {
    "loyal": dict(frequency=5, recency_days=10.0, segment_name="loyal"),
    "new": dict(frequency=1, recency_days=3.0, segment_name="new"),
    "lapsed": dict(frequency=4, recency_days=400.0, segment_name="lapsed"),
    "vip": dict(frequency=9, recency_days=31.0, segment_name="vip"),
    "no orders known": dict(frequency=None, recency_days=10.0, segment_name="loyal"),
    "no recency": dict(frequency=2, recency_days=None, segment_name="loyal"),
    "no segment": dict(frequency=2, recency_days=10.0, segment_name=None),
    "zero orders": dict(frequency=0, recency_days=None, segment_name=None),
}


def facts(**fields) -> CustomerFacts:
    values = dict(
        locale="en",
        consent=True,
        segment_name=None,
        favourite_category=None,
        frequency=None,
        recency_days=None,
        is_anomaly=False,
        featured_item_ids=(),
    )
    values.update(fields)
    return CustomerFacts(**values)


def one_promotion_plan(eligibility: dict) -> PromotionPlan:
    return PromotionPlan.model_validate(
        {
            "campaigns": [
                {
                    "campaign_id": "c",
                    "budget": 10,
                    "validity": {"start": "2026-01-01", "end": "2026-12-31"},
                    "promotions": [
                        {
                            "promotion_id": "p",
                            "kind": "amount_off",
                            "value": 2,
                            "eligibility": eligibility,
                        }
                    ],
                }
            ]
        }
    )


@pytest.mark.parametrize("rules", RULES, ids=str)
def test_eligibility_agrees_with_check_eligibility(rules):
    plan = one_promotion_plan(rules)
    profiles = pd.DataFrame(
        [{"customer_id": name, **values} for name, values in FACTS.items()]
    ).astype({"frequency": "Float64", "recency_days": "Float64"})
    table = check_eligibility(profiles, plan, None, TargetingConfig(), AS_OF)
    expected = dict(zip(table["customer_id"], table["eligible"], strict=True))
    promotion = plan.campaigns[0].promotions[0]
    for name, values in FACTS.items():
        got = meets_eligibility(promotion.eligibility, facts(**values))
        assert got == expected[name], name


MESSAGE_PLAN = PromotionPlan.model_validate(
    {
        "currency": {"code": "EUR", "symbol": "€"},
        "campaigns": [
            {
                "campaign_id": "c",
                "budget": 10,
                "validity": {"start": "2026-01-01", "end": "2026-12-31"},
                "promotions": [
                    {"promotion_id": "all", "kind": "percent_off", "value": 15},
                    {
                        "promotion_id": "items",
                        "kind": "amount_off",
                        "value": 5,
                        "min_spend": 60,
                        "scope": {"type": "items", "values": ["A", "B"]},
                    },
                    {
                        "promotion_id": "bundle",
                        "kind": "bundle",
                        "value": 4,
                        "items": ["A", "C"],
                    },
                    {
                        "promotion_id": "shipping",
                        "kind": "free_shipping",
                        "value": 4.9,
                        "scope": {"type": "categories", "values": ["Küche"]},
                    },
                ],
            }
        ],
    }
)


@pytest.mark.parametrize(
    ("promotion_id", "locale", "favourite"),
    list(
        itertools.product(
            ["all", "items", "bundle", "shipping"],
            ["en", "zh-CN", "en-GB", None],
            ["Küche", None],
        )
    ),
)
def test_message_equals_render_messages(promotion_id, locale, favourite):
    campaign = MESSAGE_PLAN.campaigns[0]
    live = LiveCampaign(
        spec=campaign,
        active=True,
        active_promotions=frozenset(p.promotion_id for p in campaign.promotions),
        currency=Currency(code="EUR", symbol="€"),
    )
    promotion = live.promotion(promotion_id)
    customer = facts(favourite_category=favourite, featured_item_ids=("A", "B", "C"))
    featured = featured_items(promotion, customer)
    table = pd.DataFrame(
        {
            "customer_id": ["x"],
            "promotion_id": [promotion_id],
            "featured_items": [featured],
            "locale": [locale],
        }
    )
    items = pd.DataFrame({"item_id": pd.Series([], dtype="string")})
    profiles = pd.DataFrame({"customer_id": ["x"], "favourite_category": [favourite]})
    expected = render_messages(table, MESSAGE_PLAN, items, profiles).iloc[0]
    assert offer_message(live, promotion, customer, locale, "en") == expected


def test_featured_items_follow_the_scope():
    customer = facts(featured_item_ids=("A", "B", "C"))
    promotions = {p.promotion_id: p for p in MESSAGE_PLAN.campaigns[0].promotions}
    assert featured_items(promotions["all"], customer) == ["A", "B", "C"]
    assert featured_items(promotions["items"], customer) == ["A", "B"]
    assert featured_items(promotions["bundle"], customer) == ["A", "C"]
    assert featured_items(promotions["shipping"], customer) == []
    assert featured_items(promotions["all"], None) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("zh_cn", "zh-CN"),
        ("ZH-cn", "zh-CN"),
        ("de", None),
        ("", None),
        (None, None),
    ],
)
def test_match_locale(value, expected):
    assert match_locale(value) == expected


def test_expiry_is_the_validity_end():
    campaign = MESSAGE_PLAN.campaigns[0]
    assert campaign.validity.end == dt.date(2026, 12, 31)
    live = LiveCampaign(campaign, True, frozenset(), Currency())
    message = offer_message(live, campaign.promotions[0], None, "en", "en")
    assert "31 December 2026" in message
