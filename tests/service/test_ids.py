"""Ids in bodies and paths: whitespace is stripped, blank ids are rejected, and
customer ids may be JSON integers."""

from __future__ import annotations

import copy

import pytest

from promoloop.store.models import CampaignRecord, Customer, Decision, Event
from tests.service.conftest import auth
from tests.service.synthetic import (
    Score,
    campaign,
    promotion,
    pseudonym,
    publish_synthetic,
)

EVENT = {
    "event_id": "e1",
    "customer_id": "C1",
    "item_id": "I1",
    "event_type": "purchase",
    "quantity": 1,
    "amount": 10.0,
    "timestamp": "2026-01-01T10:00:00Z",
    "order_id": "O1",
    "channel": "web",
}
FEEDBACK = {"feedback_id": "f1", "decision_id": "d1", "kind": "order"}
SPEC = campaign("ws", [promotion("ws-p", scope={"type": "items", "values": ["I1"]})])


def replaced(body, path: tuple, value):
    """Return a copy of ``body`` with the value at ``path`` replaced."""
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


# (path, body with a blank id, role, location of the error in the body)
BLANK_IN_BODY = [
    ("/v1/events", {"events": [dict(EVENT, **{field: " "})]}, ("events", 0, field))
    for field in ("event_id", "customer_id", "item_id", "order_id", "channel")
] + [
    ("/v1/decisions", {"customer_id": "  "}, ("customer_id",)),
    (
        "/v1/decisions",
        {"customer_id": "C1", "context": {"cart_items": ["I1", "\u00a0"]}},
        ("context", "cart_items", 1),
    ),
    (
        "/v1/decisions",
        {"customer_id": "C1", "context": {"channel": " "}},
        ("context", "channel"),
    ),
    ("/v1/feedback", dict(FEEDBACK, feedback_id="   "), ("feedback_id",)),
    ("/v1/feedback", dict(FEEDBACK, decision_id=" "), ("decision_id",)),
    ("/v1/campaigns", replaced(SPEC, ("campaign_id",), "  "), ("campaign_id",)),
    ("/v1/campaigns", replaced(SPEC, ("channel",), " "), ("channel",)),
    (
        "/v1/campaigns",
        replaced(SPEC, ("promotions", 0, "promotion_id"), " "),
        ("promotions", 0, "promotion_id"),
    ),
    (
        "/v1/campaigns",
        replaced(SPEC, ("promotions", 0, "scope", "values"), [" "]),
        ("promotions", 0, "scope", "values", 0),
    ),
]


@pytest.mark.parametrize(("path", "body", "location"), BLANK_IN_BODY, ids=repr)
def test_blank_body_id_names_field_and_value(client, keys, path, body, location):
    response = client.post(path, json=body, headers=auth(keys["admin"]))
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    blank = [error for error in errors if error["type"] == "blank_id"]
    assert [tuple(error["loc"]) for error in blank] == [("body", *location)]
    assert blank[0]["msg"].startswith(
        f"id {blank[0]['input']!r} contains only whitespace"
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/campaigns/%20%20", None),
        ("PUT", "/v1/campaigns/%20", SPEC),
        ("POST", "/v1/campaigns/%20/pause", None),
        ("POST", "/v1/campaigns/%20/resume", None),
        ("GET", "/v1/campaigns/%20/report", None),
        ("DELETE", "/v1/customers/%20%20", None),
        ("PUT", "/v1/customers/%20", {"consent": True, "locale": "en"}),
    ],
)
def test_blank_path_id_is_rejected(client, keys, method, path, body):
    response = client.request(method, path, json=body, headers=auth(keys["admin"]))
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["type"] == "blank_id"
    assert error["loc"][0] == "path"


def test_surrounding_whitespace_is_stripped(store, client, keys):
    admin = auth(keys["admin"])
    spec = replaced(SPEC, ("campaign_id",), " ws ")
    created = client.post("/v1/campaigns", json=spec, headers=admin)
    assert created.status_code == 201
    assert created.json()["campaign_id"] == "ws"
    assert client.get("/v1/campaigns/%20ws", headers=admin).status_code == 200
    # The path and the body name the same campaign once both are stripped.
    replaced_spec = client.put("/v1/campaigns/ws%20", json=spec, headers=admin)
    assert replaced_spec.status_code == 200

    event = dict(EVENT, customer_id=" C1\u00a0", item_id=" I1 ", event_id=" e1 ")
    client.post("/v1/events", json={"events": [event]}, headers=admin)
    with store.session() as session:
        assert session.get(CampaignRecord, "ws") is not None
        stored = session.get(Event, "e1")
        assert stored.customer_id == pseudonym("C1")
        assert stored.item_id == "I1"


def test_integer_customer_id_is_its_decimal_string(store, client, keys):
    publish_synthetic(
        store,
        [campaign("n", [promotion("n-p", per_customer_cap=10)])],
        [Score("12345", "n", "n-p")],
    )
    decision = auth(keys["decision"])
    as_number = client.post(
        "/v1/decisions", json={"customer_id": 12345}, headers=decision
    ).json()
    as_text = client.post(
        "/v1/decisions", json={"customer_id": "12345"}, headers=decision
    ).json()
    assert as_number["status"] == "offer"
    assert as_text["status"] == "offer"

    event = dict(EVENT, customer_id=12345)
    client.post("/v1/events", json={"events": [event]}, headers=auth(keys["ingest"]))
    # The path takes the same id as text.
    client.put(
        "/v1/customers/12345",
        json={"consent": False, "locale": None},
        headers=auth(keys["ingest"]),
    )
    with store.session() as session:
        for decision_id in (as_number["decision_id"], as_text["decision_id"]):
            assert session.get(Decision, decision_id).customer_id == pseudonym("12345")
        assert session.get(Event, "e1").customer_id == pseudonym("12345")
        assert session.get(Customer, pseudonym("12345")).consent is False
    opted_out = client.post(
        "/v1/decisions", json={"customer_id": 12345}, headers=decision
    ).json()
    assert opted_out["reason"] == "opted_out"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (12345.0, "a customer id is a string or an integer, not 12345.0"),
        (True, "a customer id is a string or an integer, not True"),
        (-0.5, "a customer id is a string or an integer, not -0.5"),
    ],
)
def test_customer_id_rejects_floats_and_booleans(client, keys, value, message):
    decision = client.post(
        "/v1/decisions", json={"customer_id": value}, headers=auth(keys["decision"])
    )
    event = client.post(
        "/v1/events",
        json={"events": [dict(EVENT, customer_id=value)]},
        headers=auth(keys["ingest"]),
    )
    for response, location in (
        (decision, ["body", "customer_id"]),
        (event, ["body", "events", 0, "customer_id"]),
    ):
        assert response.status_code == 422
        error = response.json()["detail"][0]
        assert error["loc"] == location
        assert error["msg"] == message


def test_long_integer_customer_id_is_too_long(client, keys):
    response = client.post(
        "/v1/decisions",
        json={"customer_id": 10**130},
        headers=auth(keys["decision"]),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "string_too_long"
