"""POST /v1/events: which fields each event kind needs, and the stored defaults."""

from __future__ import annotations

import pytest

from promoloop.store.models import Event
from tests.service.conftest import auth

TIMESTAMP = "2026-01-01T10:00:00Z"


def send(client, keys, *events: dict):
    return client.post(
        "/v1/events", json={"events": list(events)}, headers=auth(keys["ingest"])
    )


def bare(event_id: str, event_type: str) -> dict:
    """Return an event without quantity, amount and order_id."""
    return {
        "event_id": event_id,
        "customer_id": "C1",
        "item_id": "I1",
        "event_type": event_type,
        "timestamp": TIMESTAMP,
    }


@pytest.mark.parametrize("event_type", ["view", "cart", "review"])
def test_non_order_events_get_defaults(store, keys, client, event_type):
    response = send(client, keys, bare("e1", event_type))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    with store.session() as session:
        event = session.get(Event, "e1")
        assert event.quantity == 1.0
        assert event.amount == 0.0
        assert event.discount == 0.0
        assert event.order_id == "e1"


def test_given_values_of_a_cart_event_are_kept(store, keys, client):
    cart = dict(bare("e2", "cart"), quantity=3, amount=29.7, order_id="basket-9")
    assert send(client, keys, cart).status_code == 200
    with store.session() as session:
        event = session.get(Event, "e2")
        assert event.quantity == 3.0
        assert event.amount == 29.7
        assert event.order_id == "basket-9"


@pytest.mark.parametrize("event_type", ["purchase", "return"])
@pytest.mark.parametrize("field", ["quantity", "amount", "order_id"])
@pytest.mark.parametrize("sent_as", ["missing", "null"])
def test_order_lines_need_their_fields(keys, client, event_type, field, sent_as):
    event = dict(bare("e3", event_type), quantity=1, amount=9.99, order_id="O1")
    if sent_as == "missing":
        del event[field]
    else:
        event[field] = None
    response = send(client, keys, event)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert len(errors) == 1
    assert errors[0]["loc"] == ["body", "events", 0, field]
    assert errors[0]["type"] == "missing"
    assert errors[0]["msg"] == (
        f"{field} is required for {event_type} events; only views, cart "
        "additions and reviews may leave it out"
    )


def test_invalid_event_type_is_the_only_error(keys, client):
    response = send(client, keys, bare("e4", "like"))
    locations = [tuple(error["loc"]) for error in response.json()["detail"]]
    assert locations == [("body", "events", 0, "event_type")]


def test_openapi_states_the_rule(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["EventIn"]
    assert schema["required"] == ["event_id", "item_id", "event_type", "timestamp"]
    assert schema["if"]["properties"]["event_type"]["enum"] == ["purchase", "return"]
    assert schema["then"]["required"] == ["quantity", "amount", "order_id"]
