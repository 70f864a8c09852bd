"""Feedback on decisions: stored once, under the decision's customer."""

from __future__ import annotations

import datetime as dt

from promoloop.store.models import Feedback
from promoloop.targeting.holdout import assign_holdout
from tests.service.conftest import auth
from tests.service.synthetic import (
    Score,
    campaign,
    customer_ids,
    promotion,
    pseudonym,
    publish_synthetic,
)


def first_decisions(client, keys, store) -> tuple[dict, dict]:
    """Return a sent and a holdout decision of a campaign with half held out."""
    customers = customer_ids(40)
    publish_synthetic(
        store,
        [campaign("f", [promotion("p")], holdout_share=0.5)],
        [Score(c, "f", "p") for c in customers],
    )
    in_holdout = assign_holdout([pseudonym(c) for c in customers], "f", 0.5).tolist()
    sent_customer = customers[in_holdout.index(False)]
    held_customer = customers[in_holdout.index(True)]
    sent, holdout = (
        client.post(
            "/v1/decisions", json={"customer_id": c}, headers=auth(keys["decision"])
        ).json()
        for c in (sent_customer, held_customer)
    )
    assert sent["status"] == "offer"
    assert holdout["status"] == "holdout"
    return sent, holdout


def test_feedback_is_stored_once(store, keys, client):
    sent, _ = first_decisions(client, keys, store)
    body = {
        "feedback_id": "fb-1",
        "decision_id": sent["decision_id"],
        "kind": "redemption",
        "revenue": 80.0,
        "margin": 20.0,
        "timestamp": "2026-02-01T09:30:00+01:00",
    }
    first = client.post("/v1/feedback", json=body, headers=auth(keys["ingest"]))
    assert first.json() == {"feedback_id": "fb-1", "recorded": True}
    changed = dict(body, revenue=1.0)
    second = client.post("/v1/feedback", json=changed, headers=auth(keys["ingest"]))
    assert second.json() == {"feedback_id": "fb-1", "recorded": False}
    with store.session() as session:
        stored = session.get(Feedback, "fb-1")
        assert stored.revenue == 80.0
        assert stored.customer_id is not None
        assert stored.created_at == dt.datetime(2026, 2, 1, 8, 30, tzinfo=dt.UTC)


def test_holdout_decision_takes_orders_only(store, keys, client):
    _, holdout = first_decisions(client, keys, store)
    ingest = auth(keys["ingest"])
    for kind in ("impression", "click", "redemption"):
        body = {
            "feedback_id": kind,
            "decision_id": holdout["decision_id"],
            "kind": kind,
        }
        response = client.post("/v1/feedback", json=body, headers=ingest)
        assert response.status_code == 409
        assert "held the customer out" in response.json()["detail"]
    order = {
        "feedback_id": "order",
        "decision_id": holdout["decision_id"],
        "kind": "order",
        "revenue": 30.0,
    }
    response = client.post("/v1/feedback", json=order, headers=ingest)
    assert response.json() == {"feedback_id": "order", "recorded": True}
