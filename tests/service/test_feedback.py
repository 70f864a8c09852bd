"""Feedback on decisions: stored once, under the decision's customer."""

from __future__ import annotations

import datetime as dt

from promoloop.store.models import Decision, Feedback
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
    # An hour after the decision, written in UTC+1.
    redeemed_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    local = redeemed_at.astimezone(dt.timezone(dt.timedelta(hours=1)))
    body = {
        "feedback_id": "fb-1",
        "decision_id": sent["decision_id"],
        "kind": "redemption",
        "revenue": 80.0,
        "margin": 20.0,
        "timestamp": local.isoformat(),
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
        assert stored.created_at == redeemed_at


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


def test_feedback_before_its_decision_is_rejected(store, keys, client):
    sent, _ = first_decisions(client, keys, store)
    with store.session() as session:
        decided_at = session.get(Decision, sent["decision_id"]).created_at
    ingest = auth(keys["ingest"])
    body = {"decision_id": sent["decision_id"], "kind": "redemption", "revenue": 5.0}

    early = decided_at - dt.timedelta(seconds=1)
    response = client.post(
        "/v1/feedback",
        json=dict(body, feedback_id="early", timestamp=early.isoformat()),
        headers=ingest,
    )
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "timestamp"]
    assert error["msg"].startswith(
        f"timestamp {early.isoformat()} is before decision "
        f"{sent['decision_id']!r} was made at {decided_at.isoformat()}; "
    )

    # The decision's own time and later are accepted, and so is no timestamp.
    for feedback_id, timestamp in (("same", decided_at.isoformat()), ("now", None)):
        accepted = client.post(
            "/v1/feedback",
            json=dict(body, feedback_id=feedback_id, timestamp=timestamp),
            headers=ingest,
        )
        assert accepted.json() == {"feedback_id": feedback_id, "recorded": True}
    with store.session() as session:
        assert session.get(Feedback, "early") is None
        assert session.get(Feedback, "same").created_at == decided_at
