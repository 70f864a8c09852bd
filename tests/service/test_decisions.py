"""The decision steps over HTTP: caps, holdout, consent, defaults, channels,
budgets, randomized campaigns and version changes."""

from __future__ import annotations

import datetime as dt
import math
import time
from decimal import Decimal

import pandas as pd
from sqlalchemy import select, update

from promoloop.store import delete_customer
from promoloop.store.models import CampaignRecord, Customer, Decision
from promoloop.targeting.holdout import assign_holdout
from promoloop.targeting.randomized import _draw_arms
from tests.service.conftest import auth
from tests.service.synthetic import (
    Facts,
    Score,
    campaign,
    customer_ids,
    promotion,
    pseudonym,
    publish_synthetic,
    today,
)


def decide(client, keys, customer: str, **context) -> dict:
    response = client.post(
        "/v1/decisions",
        json={"customer_id": customer, "context": context},
        headers=auth(keys["decision"]),
    )
    assert response.status_code == 200, response.text
    return response.json()


def logged(store, decision_id: str) -> Decision:
    with store.session() as session:
        return session.get(Decision, decision_id)


def spent(store, campaign_id: str) -> Decimal:
    with store.session() as session:
        return session.get(CampaignRecord, campaign_id).spent


def test_cap_counts_decisions_inside_the_validity_window(store, keys, client):
    publish_synthetic(
        store,
        [campaign("a", [promotion("p", per_customer_cap=2)])],
        [Score("C0", "a", "p"), Score("C1", "a", "p")],
    )
    results = [decide(client, keys, "C0") for _ in range(3)]
    assert [r["status"] for r in results] == ["offer", "offer", "no_offer"]
    assert results[2]["reason"] == "no_eligible_offer"

    # An offer logged before the window opened does not count.
    start = today() - dt.timedelta(days=30)
    before = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC) - dt.timedelta(
        seconds=1
    )
    with store.session() as session:
        session.add(
            Decision(
                decision_id="old",
                customer_id=pseudonym("C1"),
                campaign_id="a",
                promotion_id="p",
                created_at=before,
            )
        )
    results = [decide(client, keys, "C1") for _ in range(3)]
    assert [r["status"] for r in results] == ["offer", "offer", "no_offer"]


def test_holdout_matches_assign_holdout(store, keys, client):
    share, cost, count = 0.25, 0.5, 400
    customers = customer_ids(count)
    publish_synthetic(
        store,
        [campaign("h", [promotion("hp")], holdout_share=share)],
        [Score(c, "h", "hp", expected_cost=cost) for c in customers],
    )
    results = [decide(client, keys, c) for c in customers]
    in_holdout = [r["holdout"] for r in results]
    expected = assign_holdout([pseudonym(c) for c in customers], "h", share)
    assert in_holdout == expected.tolist()

    # The observed share is within four binomial standard deviations.
    observed = sum(in_holdout) / count
    assert abs(observed - share) <= 4 * math.sqrt(share * (1 - share) / count)

    # Holdout decisions are logged with the withheld promotion and no cost;
    # only sent offers spend.
    for result in results[:40]:
        decision = logged(store, result["decision_id"])
        assert decision.promotion_id == "hp"
        assert decision.holdout is result["holdout"]
        if result["holdout"]:
            assert result["status"] == "holdout"
            assert result["promotion_id"] is None
            assert result["message"] is None
            assert decision.cost == 0
            assert decision.probability == share
        else:
            assert result["status"] == "offer"
            assert decision.cost == Decimal("0.5")
            assert decision.probability == 1 - share
    sent = count - sum(in_holdout)
    assert spent(store, "h") == Decimal(sent) * Decimal("0.5")


def test_holdout_customer_moves_on_like_a_treated_one(store, keys, client):
    customers = customer_ids(200, prefix="H")
    groups = assign_holdout([pseudonym(c) for c in customers], "first", 0.5)
    held_out = customers[int(groups.to_numpy().argmax())]
    treated = customers[int(groups.to_numpy().argmin())]
    publish_synthetic(
        store,
        [
            campaign("first", [promotion("f")], holdout_share=0.5),
            campaign("second", [promotion("s")]),
        ],
        [
            Score(c, campaign_id, promotion_id, score=score)
            for c in (held_out, treated)
            for campaign_id, promotion_id, score in (
                ("first", "f", 2),
                ("second", "s", 1),
            )
        ],
    )
    assert [decide(client, keys, held_out)["status"] for _ in range(3)] == [
        "holdout",
        "offer",
        "no_offer",
    ]
    assert [decide(client, keys, treated)["status"] for _ in range(3)] == [
        "offer",
        "offer",
        "no_offer",
    ]


def test_store_consent_overrides_published_consent(store, keys, make_client):
    publish_synthetic(
        store,
        [campaign("a", [promotion("p")]), campaign("d", [promotion("default")])],
        [Score("YES", "a", "p"), Score("NO", "a", "p")],
        facts={"YES": Facts(consent=True), "NO": Facts(consent=False)},
    )
    with store.session() as session:
        session.execute(
            update(Customer)
            .where(Customer.customer_id == pseudonym("YES"))
            .values(consent=False)
        )
        session.execute(
            update(Customer)
            .where(Customer.customer_id == pseudonym("NO"))
            .values(consent=True)
        )
    client = make_client()
    withdrawn = decide(client, keys, "YES")
    assert withdrawn["status"] == "no_offer"
    assert withdrawn["reason"] == "opted_out"
    assert withdrawn["decision_id"] is None
    assert decide(client, keys, "NO")["status"] == "offer"

    # With the default policy, an opted-out customer gets the default offer.
    default_client = make_client(
        opted_out_offer="default", default_promotion_id="default"
    )
    result = decide(default_client, keys, "YES")
    assert result["status"] == "offer"
    assert result["reason"] == "default_offer"
    assert result["promotion_id"] == "default"


def test_unknown_customer_gets_default_offer(store, keys, make_client):
    publish_synthetic(
        store,
        [campaign("d", [promotion("default", cost={"message_cost": 0.07})])],
        [Score("KNOWN", "d", "default")],
    )
    no_default = decide(make_client(), keys, "STRANGER")
    assert no_default["status"] == "no_offer"
    assert no_default["reason"] == "unknown_customer"

    client = make_client(default_promotion_id="default")
    result = decide(client, keys, "STRANGER")
    assert result["status"] == "offer"
    assert result["reason"] == "default_offer"
    decision = logged(store, result["decision_id"])
    assert decision.customer_id == pseudonym("STRANGER")
    assert decision.cost == Decimal("0.07")
    assert decision.eligible == ["default"]
    assert decision.probability == 1.0
    assert spent(store, "d") == Decimal("0.07")
    # The cap of 1 holds for the default offer too.
    assert decide(client, keys, "STRANGER")["status"] == "no_offer"


def test_context_channel_selects_campaigns(store, keys, client):
    publish_synthetic(
        store,
        [
            campaign("mail", [promotion("m", per_customer_cap=10)], channel="email"),
            campaign("text", [promotion("t", per_customer_cap=10)], channel="sms"),
        ],
        [Score("C0", "mail", "m", score=2), Score("C0", "text", "t", score=1)],
    )
    assert decide(client, keys, "C0")["promotion_id"] == "m"
    assert decide(client, keys, "C0", channel="email")["promotion_id"] == "m"
    assert decide(client, keys, "C0", channel="sms")["promotion_id"] == "t"
    other = decide(client, keys, "C0", channel="push")
    assert other["status"] == "no_offer"


def test_rules_skip_to_the_next_pair(store, keys, client):
    publish_synthetic(
        store,
        [
            campaign(
                "a",
                [
                    promotion("loss", per_customer_cap=10),
                    promotion("vip-only", eligibility={"segments_include": ["vip"]}),
                    promotion("costly", per_customer_cap=10),
                ],
                budget=1.0,
            ),
            campaign("b", [promotion("fallback", per_customer_cap=10)]),
            campaign(
                "over",
                [promotion("expired", per_customer_cap=10)],
                validity={"start": "2020-01-01", "end": "2020-12-31"},
            ),
        ],
        [
            Score("C0", "over", "expired", score=9),
            Score("C0", "a", "loss", score=-1, expected_cost=0.1),
            Score("C0", "a", "vip-only", score=8),
            Score("C0", "a", "costly", score=5, expected_cost=2.0),
            Score("C0", "b", "fallback", score=1),
        ],
    )
    # Outside validity, wrong segment, over budget, then a positive score.
    result = decide(client, keys, "C0")
    assert result["promotion_id"] == "fallback"
    decision = logged(store, result["decision_id"])
    assert decision.eligible == ["fallback"]
    assert spent(store, "a") == 0


def test_paused_campaign_and_promotion_are_skipped(store, keys, client):
    spec = campaign(
        "a",
        [promotion("p1", per_customer_cap=10), promotion("p2", per_customer_cap=10)],
    )
    publish_synthetic(
        store,
        [spec, campaign("b", [promotion("q", per_customer_cap=10)])],
        [
            Score("C0", "a", "p1", score=3),
            Score("C0", "a", "p2", score=2),
            Score("C0", "b", "q", score=1),
        ],
    )
    first = decide(client, keys, "C0")
    assert first["promotion_id"] == "p1"
    assert logged(store, first["decision_id"]).eligible == ["p1", "p2"]

    admin = auth(keys["admin"])
    assert client.post("/v1/campaigns/a/pause", headers=admin).status_code == 200
    assert decide(client, keys, "C0")["promotion_id"] == "q"
    assert client.post("/v1/campaigns/a/resume", headers=admin).status_code == 200
    assert decide(client, keys, "C0")["promotion_id"] == "p1"

    # A promotion left out of a replaced campaign is paused.
    replaced = dict(spec, promotions=[promotion("p2", per_customer_cap=10)])
    assert (
        client.put("/v1/campaigns/a", json=replaced, headers=admin).status_code == 200
    )
    result = decide(client, keys, "C0")
    assert result["promotion_id"] == "p2"
    assert logged(store, result["decision_id"]).eligible == ["p2"]


def test_randomized_campaign_draws_the_runs_arm(store, keys, client):
    customers = customer_ids(60, prefix="R")
    arms = ["r1", "r2", "r3"]
    publish_synthetic(
        store,
        [
            campaign(
                "random",
                [promotion(a) for a in arms],
                assignment="randomized",
                holdout_share=0.2,
            )
        ],
        # Scores favour r1 and include a negative one: the draw ignores them.
        [
            Score(c, "random", a, score=s)
            for c in customers
            for a, s in zip(arms, (3.0, 1.0, -1.0), strict=True)
        ],
    )
    pairs = pd.DataFrame(
        [(pseudonym(c), "random", a) for c in customers for a in arms],
        columns=["customer_id", "campaign_id", "promotion_id"],
    )
    chosen, _ = _draw_arms(pairs, "random")
    expected = dict(
        zip(
            pairs.loc[chosen, "customer_id"],
            pairs.loc[chosen, "promotion_id"],
            strict=True,
        )
    )
    drawn = set()
    for customer in customers:
        result = decide(client, keys, customer)
        decision = logged(store, result["decision_id"])
        assert decision.promotion_id == expected[pseudonym(customer)]
        assert decision.eligible == arms
        share = 0.2
        probability = share if decision.holdout else (1 - share) / 3
        assert decision.probability == probability
        drawn.add(decision.promotion_id)
    assert drawn == set(arms)


def test_new_version_and_erasure_reach_the_cache(store, keys, client):
    spec = campaign("a", [promotion("p", per_customer_cap=10)])
    first = publish_synthetic(store, [spec], [Score("C0", "a", "p")], version="v1")
    assert decide(client, keys, "C0")["model_version"] == first
    second = publish_synthetic(
        store, [spec], [Score("C0", "a", "p"), Score("C1", "a", "p")], version="v2"
    )
    # Published by another process: seen within the refresh interval.
    time.sleep(1.1)
    result = decide(client, keys, "C1")
    assert result["model_version"] == second
    assert result["status"] == "offer"

    # An erasure by another process drops the customer from memory.
    cache = client.app.state.offer_cache
    assert pseudonym("C1") in cache.snapshot()[0].facts
    with store.session() as session:
        delete_customer(session, pseudonym("C1"))
    time.sleep(1.1)
    assert decide(client, keys, "C1")["reason"] == "erased"
    models, _ = cache.snapshot()
    assert pseudonym("C1") not in models.facts
    assert pseudonym("C1") not in models.scores
    assert (pseudonym("C1"), "a") not in models.holdout_draws


def test_no_version_published(store, keys, client):
    result = decide(client, keys, "C0")
    assert result == {
        "decision_id": None,
        "status": "no_offer",
        "reason": "unknown_customer",
        "holdout": False,
        "campaign_id": None,
        "promotion_id": None,
        "message": None,
        "model_version": None,
    }
    with store.session() as session:
        assert session.scalars(select(Decision)).all() == []


def test_missing_or_paused_default_gives_no_offer(store, keys, make_client):
    publish_synthetic(
        store,
        [campaign("d", [promotion("default", per_customer_cap=10)])],
        [Score("KNOWN", "d", "default")],
    )
    missing = decide(make_client(default_promotion_id="nope"), keys, "STRANGER")
    assert missing["status"] == "no_offer"
    assert missing["reason"] == "unknown_customer"

    client = make_client(default_promotion_id="default")
    assert decide(client, keys, "STRANGER")["status"] == "offer"
    paused = client.post("/v1/campaigns/d/pause", headers=auth(keys["admin"]))
    assert paused.status_code == 200
    result = decide(client, keys, "STRANGER")
    assert result["status"] == "no_offer"
    assert result["reason"] == "unknown_customer"
