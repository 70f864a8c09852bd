"""Offer messages: terms, expiry, items and locale."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from promoloop.messaging.render import format_money, render_messages
from promoloop.targeting.promotions import Currency, PromotionPlan
from promoloop.warnings import LocaleFallbackWarning

ITEMS = pd.DataFrame(
    {
        "item_id": ["i1", "i2", "i3"],
        "name": ["Cola", "Crisps", "Salsa"],
        "category": ["SOFT DRINKS", "BAG SNACKS", "BAG SNACKS"],
    }
)

PLAN = PromotionPlan.model_validate(
    {
        "currency": {"code": "GBP", "symbol": "£"},
        "campaigns": [
            {
                "campaign_id": "k",
                "budget": 100,
                "validity": {"start": "2024-03-01", "end": "2024-03-20"},
                "promotions": [
                    {
                        "promotion_id": "pct",
                        "kind": "percent_off",
                        "value": 15,
                        "scope": {"type": "categories", "values": ["SOFT DRINKS"]},
                    },
                    {
                        "promotion_id": "amt",
                        "kind": "amount_off",
                        "value": 5,
                        "min_spend": 50,
                    },
                    {"promotion_id": "ship", "kind": "free_shipping", "value": 4.95},
                    {
                        "promotion_id": "pair",
                        "kind": "bundle",
                        "value": 1.5,
                        "items": ["i2", "i3"],
                    },
                ],
            }
        ],
    }
)

# What each promotion states: percentages and money amounts in the offer.
EXPECTED = {
    "pct": {"percent": ["15"], "money": []},
    "amt": {"percent": [], "money": ["5", "50"]},
    "ship": {"percent": [], "money": ["4.95"]},
    "pair": {"percent": [], "money": ["1.50"]},
}


def table(promotions, locales, featured=None):
    n = len(promotions)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "promotion_id": pd.array(promotions, dtype="string"),
            "featured_items": featured or [["i1"]] * n,
            "locale": pd.array(locales, dtype="string"),
        }
    )


def stated(text: str) -> dict:
    return {
        "percent": re.findall(r"(\d+(?:\.\d+)?)\s*%", text),
        "money": re.findall(r"£(\d+(?:\.\d+)?)", text),
    }


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("promotion_id", list(EXPECTED))
def test_message_states_offer_numbers(locale, promotion_id):
    message = render_messages(table([promotion_id], [locale]), PLAN, ITEMS).iloc[0]
    found = stated(message)
    # Word order differs between languages, so compare the amounts as sets.
    assert sorted(found["percent"]) == sorted(EXPECTED[promotion_id]["percent"])
    assert sorted(found["money"]) == sorted(EXPECTED[promotion_id]["money"])


def test_english_terms():
    messages = render_messages(
        table(["pct", "amt", "ship", "pair"], ["en"] * 4), PLAN, ITEMS
    ).tolist()
    assert "15% off SOFT DRINKS" in messages[0]
    assert "£5 off orders over £50" in messages[1]
    assert "free shipping" in messages[2]
    assert "Crisps and Salsa together" in messages[3]
    assert all("20 March 2024" in m for m in messages)
    assert all("Cola" in m for m in messages)


def test_chinese_message_has_chinese_and_numbers():
    message = render_messages(table(["amt"], ["zh-CN"]), PLAN, ITEMS).iloc[0]
    assert re.search(r"[\u4e00-\u9fff]", message)
    assert "满 £50 减 £5" in message
    assert "2024年3月20日" in message


def test_no_offer_no_message():
    decisions = table(["pct", None], ["en", "en"])
    messages = render_messages(decisions, PLAN, ITEMS)
    assert messages.iloc[1] == ""
    assert messages.iloc[0] != ""


def test_message_mentions_only_given_promotion():
    messages = render_messages(
        table(["pct", "amt", "ship", "pair"], ["en"] * 4), PLAN, ITEMS
    ).tolist()
    markers = {
        "pct": "15%",
        "amt": "£5 off",
        "ship": "free shipping",
        "pair": "together",
    }
    for given, message in zip(markers, messages, strict=True):
        for other, marker in markers.items():
            assert (marker in message) == (other == given), (given, other)


@pytest.mark.parametrize(
    ("promotion", "featured", "favourite", "named"),
    [
        ("pct", ["i2"], "SOFT DRINKS", True),  # scoped to the category
        ("pct", ["i1"], "CHEESE", False),  # scoped to another category
        ("amt", ["i2"], "BAG SNACKS", True),  # a featured item is in it
        ("amt", ["i1"], "BAG SNACKS", False),  # no item is in it
        ("pair", ["i1"], "BAG SNACKS", True),  # the bundle's items are in it
    ],
)
def test_favourite_named_only_when_offer_is_about_it(
    promotion, featured, favourite, named
):
    profiles = pd.DataFrame({"customer_id": ["c0"], "favourite_category": [favourite]})
    offers = table([promotion], ["en"], featured=[featured])

    message = render_messages(offers, PLAN, ITEMS, profiles).iloc[0]

    assert (f"Because you love {favourite}." in message) == named


@pytest.mark.parametrize(
    ("locale", "chinese"), [("zh_cn", True), ("en-GB", False), (None, False)]
)
def test_locale_matching(locale, chinese):
    message = render_messages(table(["pct"], [locale]), PLAN, ITEMS).iloc[0]
    assert bool(re.search(r"[\u4e00-\u9fff]", message)) == chinese


def test_unknown_locale_falls_back_with_count():
    decisions = table(["pct", "amt", "ship"], ["fr", "de", "en"])
    with pytest.warns(LocaleFallbackWarning, match=r"^2 message\(s\).*\(de, fr\)"):
        messages = render_messages(decisions, PLAN, ITEMS, default_locale="en")
    assert messages.iloc[0].startswith("Hello!")


def test_unknown_default_locale_raises():
    with pytest.raises(ValueError, match="default_locale 'fr' has no message template"):
        render_messages(table(["pct"], ["en"]), PLAN, ITEMS, default_locale="fr")


@pytest.mark.parametrize(
    ("amount", "text"), [(2, "$2"), (2.5, "$2.50"), (1500, "$1,500"), (0.05, "$0.05")]
)
def test_format_money(amount, text):
    assert format_money(amount, Currency(code="USD", symbol="$")) == text
