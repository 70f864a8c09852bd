"""The whole service over HTTP on the example shop: ingest, decide, feed back,
report and erase."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from sqlalchemy import func, select

from promoloop.store.models import (
    Base,
    CampaignRecord,
    Customer,
    Decision,
    DeletedCustomer,
    Event,
    Feedback,
    PublishedCustomerFacts,
    PublishedScore,
)
from promoloop.store.types import to_money
from tests.service.conftest import auth
from tests.service.synthetic import pseudonym

# Customers of examples/shop/customers.csv; K003 declined offers.
SHOP_CUSTOMERS = ["K001", "K002", "K003", "K004", "K005", "K006"]


def shop_events(customer: str, count: int, prefix: str) -> list[dict]:
    return [
        {
            "event_id": f"{prefix}-{customer}-{number}",
            "customer_id": customer,
            "item_id": "S-300",
            "event_type": "purchase",
            "quantity": 1,
            "amount": 9.99,
            "discount": 0,
            "timestamp": f"2026-01-0{number + 1}T10:00:00+01:00",
            "order_id": f"B9{number}",
            "channel": "web",
        }
        for number in range(count)
    ]


def count_rows(store, model, customer_id: str) -> int:
    with store.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.customer_id == customer_id)
        )


def test_full_flow_over_http(published_shop, keys, client, caplog):
    store = published_shop
    caplog.set_level(logging.DEBUG, logger="promoloop")

    # Ingest events of two customers and an anonymous one, then retry.
    batch = shop_events("K001", 3, "e") + shop_events("K002", 2, "e")
    anonymous = dict(shop_events("K001", 1, "anon")[0], customer_id=None)
    batch.append(anonymous)
    response = client.post(
        "/v1/events", json={"events": batch}, headers=auth(keys["ingest"])
    )
    assert response.status_code == 200
    assert response.json() == {"accepted": 6, "duplicates": 0, "refused": 0}
    retried = client.post(
        "/v1/events", json={"events": batch}, headers=auth(keys["ingest"])
    )
    assert retried.json() == {"accepted": 0, "duplicates": 6, "refused": 0}
    assert count_rows(store, Event, pseudonym("K001")) == 3
    assert count_rows(store, Event, "K001") == 0

    # Decide for every customer of the shop.
    outcomes = {}
    for customer in SHOP_CUSTOMERS:
        response = client.post(
            "/v1/decisions",
            json={"customer_id": customer, "context": {"page": "home"}},
            headers=auth(keys["decision"]),
        )
        assert response.status_code == 200
        outcomes[customer] = response.json()
    assert outcomes["K003"]["status"] == "no_offer"
    assert outcomes["K003"]["reason"] == "opted_out"
    offers = {c: o for c, o in outcomes.items() if o["status"] == "offer"}
    assert offers, "the example shop's run should lead to at least one offer"

    # Every offer is logged with the published expected cost as its cost.
    with store.session() as session:
        for customer, outcome in offers.items():
            decision = session.get(Decision, outcome["decision_id"])
            assert decision is not None
            assert decision.customer_id == pseudonym(customer)
            assert decision.promotion_id == outcome["promotion_id"]
            assert decision.holdout is False
            assert decision.context == {"page": "home", "cart_items": []}
            assert outcome["message"]
            assert decision.message == outcome["message"]
            score = session.get(
                PublishedScore,
                (
                    outcome["model_version"],
                    pseudonym(customer),
                    outcome["promotion_id"],
                ),
            )
            assert decision.cost == to_money(score.expected_cost)
        for campaign in session.scalars(select(CampaignRecord)):
            costs = session.scalars(
                select(Decision.cost).where(
                    Decision.campaign_id == campaign.campaign_id
                )
            ).all()
            assert campaign.spent == sum(costs, Decimal(0))

    # A second request does not repeat an offer whose cap (1) is reached.
    first_customer, first_offer = next(iter(offers.items()))
    again = client.post(
        "/v1/decisions",
        json={"customer_id": first_customer},
        headers=auth(keys["decision"]),
    ).json()
    assert again["promotion_id"] != first_offer["promotion_id"]

    # Feedback, once per feedback id, at a time after the decision.
    decision_id = first_offer["decision_id"]
    redeemed_at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    feedback = [
        {"feedback_id": "f1", "decision_id": decision_id, "kind": "impression"},
        {
            "feedback_id": "f2",
            "decision_id": decision_id,
            "kind": "redemption",
            "revenue": 50.0,
            "margin": 15.0,
            "timestamp": redeemed_at.isoformat(),
        },
    ]
    for body in feedback:
        response = client.post("/v1/feedback", json=body, headers=auth(keys["ingest"]))
        assert response.status_code == 200
        assert response.json() == {"feedback_id": body["feedback_id"], "recorded": True}
    retried = client.post(
        "/v1/feedback", json=feedback[1], headers=auth(keys["ingest"])
    )
    assert retried.json() == {"feedback_id": "f2", "recorded": False}
    unknown = client.post(
        "/v1/feedback",
        json={"feedback_id": "f3", "decision_id": "no-such-decision", "kind": "click"},
        headers=auth(keys["ingest"]),
    )
    assert unknown.status_code == 404
    assert "no-such-decision" in unknown.json()["detail"]

    # The campaign report counts what happened.
    campaign_id = first_offer["campaign_id"]
    report = client.get(
        f"/v1/campaigns/{campaign_id}/report", headers=auth(keys["admin"])
    )
    assert report.status_code == 200
    body = report.json()
    sent = [o for o in offers.values() if o["campaign_id"] == campaign_id]
    assert body["decisions_sent"] == len(sent)
    assert body["redemptions"] == 1
    assert body["redemption_revenue"] == 50.0
    with store.session() as session:
        spent = session.get(CampaignRecord, campaign_id).spent
    assert Decimal(body["spent"]) == spent
    assert Decimal(body["remaining"]) == Decimal(body["budget"]) - spent
    if body["decisions_held_out"] == 0:
        assert body["lift"]["status"] == "not enough data"

    # Erase the first customer: nothing of them remains.
    customer_id = pseudonym(first_customer)
    decisions = count_rows(store, Decision, customer_id)
    events = count_rows(store, Event, customer_id)
    scores = count_rows(store, PublishedScore, customer_id)
    erased = client.delete(
        f"/v1/customers/{first_customer}", headers=auth(keys["admin"])
    )
    assert erased.status_code == 200
    counts = erased.json()["deleted"]
    assert counts["decisions"] == decisions
    assert counts["events"] == events
    assert counts["feedback"] == 2
    assert counts["published_scores"] == scores
    assert counts["published_customer_facts"] == 1
    assert counts["customers"] == 1
    assert counts["deleted_customers"] == 1
    for model in (
        Event,
        Decision,
        Feedback,
        Customer,
        PublishedScore,
        PublishedCustomerFacts,
    ):
        assert count_rows(store, model, customer_id) == 0, model.__tablename__
    assert count_rows(store, DeletedCustomer, customer_id) == 1

    # Later decisions and events of the erased customer are refused.
    after = client.post(
        "/v1/decisions",
        json={"customer_id": first_customer},
        headers=auth(keys["decision"]),
    ).json()
    assert after["status"] == "no_offer"
    assert after["reason"] == "erased"
    assert after["decision_id"] is None
    refused = client.post(
        "/v1/events",
        json={"events": shop_events(first_customer, 2, "late")},
        headers=auth(keys["ingest"]),
    )
    assert refused.json() == {"accepted": 0, "duplicates": 0, "refused": 2}
    assert count_rows(store, Event, customer_id) == 0
    again = client.delete(
        f"/v1/customers/{first_customer}", headers=auth(keys["admin"])
    )
    assert again.json()["deleted"]["deleted_customers"] == 0

    # No raw customer id and no key reached the database or the log.
    with store.session() as session:
        stored = [
            repr(row)
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        ]
    for raw in SHOP_CUSTOMERS:
        assert not any(f"'{raw}'" in row for row in stored), raw
    log = "\n".join(record.getMessage() for record in caplog.records)
    for raw in SHOP_CUSTOMERS:
        assert raw not in log
    for token in keys.values():
        assert token not in log
        assert token.split(".")[1] not in log
