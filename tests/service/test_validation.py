"""Bad requests get a 4xx that names the field, never a 500 or a traceback."""

from __future__ import annotations

import copy

import pytest

from tests.service.conftest import auth
from tests.service.synthetic import campaign, promotion

EVENT = {
    "event_id": "e1",
    "customer_id": "C1",
    "item_id": "I1",
    "event_type": "purchase",
    "quantity": 1,
    "amount": 10.0,
    "discount": 0.0,
    "timestamp": "2026-01-01T10:00:00+01:00",
    "order_id": "O1",
}
SPEC = campaign("v", [promotion("vp")])


def events(**changes) -> dict:
    event = dict(EVENT)
    for key, value in changes.items():
        if value is ...:
            event.pop(key)
        else:
            event[key] = value
    return {"events": [event]}


def spec(path: tuple, value) -> dict:
    """Return SPEC with the value at ``path`` replaced."""
    changed = copy.deepcopy(SPEC)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


# (path, body, role, location of the error in the body)
INVALID = [
    ("/v1/events", events(timestamp=...), "ingest", ("events", 0, "timestamp")),
    (
        "/v1/events",
        events(timestamp="2026-01-01T10:00:00"),
        "ingest",
        ("events", 0, "timestamp"),
    ),
    (
        "/v1/events",
        events(timestamp="9999-12-31T23:00:00-05:00"),
        "ingest",
        ("events", 0, "timestamp"),
    ),
    (
        "/v1/events",
        events(timestamp="0001-01-01T00:00:00+05:00"),
        "ingest",
        ("events", 0, "timestamp"),
    ),
    ("/v1/events", events(event_type="like"), "ingest", ("events", 0, "event_type")),
    ("/v1/events", events(amount=-1), "ingest", ("events", 0, "amount")),
    ("/v1/events", events(amount=1e300), "ingest", ("events", 0, "amount")),
    ("/v1/events", events(quantity="many"), "ingest", ("events", 0, "quantity")),
    ("/v1/events", events(event_id="x" * 129), "ingest", ("events", 0, "event_id")),
    ("/v1/events", events(event_id="a\x00b"), "ingest", ("events", 0, "event_id")),
    ("/v1/events", events(customer_id="C1\n"), "ingest", ("events", 0, "customer_id")),
    ("/v1/events", events(colour="red"), "ingest", ("events", 0, "colour")),
    ("/v1/events", {"events": []}, "ingest", ("events",)),
    ("/v1/events", [EVENT], "ingest", ()),
    ("/v1/decisions", {}, "decision", ("customer_id",)),
    ("/v1/decisions", {"customer_id": ""}, "decision", ("customer_id",)),
    ("/v1/decisions", {"customer_id": 7.0}, "decision", ("customer_id",)),
    ("/v1/decisions", {"customer_id": True}, "decision", ("customer_id",)),
    ("/v1/decisions", {"customer_id": "  "}, "decision", ("customer_id",)),
    (
        "/v1/decisions",
        {"customer_id": "C1", "context": {"channel": 3}},
        "decision",
        ("context", "channel"),
    ),
    (
        "/v1/decisions",
        {"customer_id": "C1", "context": {"cart_items": ["i"] * 201}},
        "decision",
        ("context", "cart_items"),
    ),
    (
        "/v1/decisions",
        {"customer_id": "C1", "context": {"cart_value": -5}},
        "decision",
        ("context", "cart_value"),
    ),
    (
        "/v1/decisions",
        {"customer_id": "C1", "context": {"page": "a\x00"}},
        "decision",
        ("context", "page"),
    ),
    ("/v1/decisions", {"customer_id": "C1", "user": "x"}, "decision", ("user",)),
    (
        "/v1/feedback",
        {"feedback_id": "f", "decision_id": "d", "kind": "like"},
        "ingest",
        ("kind",),
    ),
    (
        "/v1/feedback",
        {"feedback_id": "f", "decision_id": "d", "kind": "order", "revenue": -1},
        "ingest",
        ("revenue",),
    ),
    ("/v1/feedback", {"feedback_id": "f", "kind": "order"}, "ingest", ("decision_id",)),
    ("/v1/campaigns", spec(("budget",), 0), "admin", ("budget",)),
    ("/v1/campaigns", spec(("budget",), 1e12), "admin", ("budget",)),
    ("/v1/campaigns", spec(("holdout_share",), 1.0), "admin", ("holdout_share",)),
    ("/v1/campaigns", spec(("promotions",), []), "admin", ("promotions",)),
    (
        "/v1/campaigns",
        spec(("promotions", 0, "value"), 150),
        "admin",
        ("promotions", 0),
    ),
    (
        "/v1/campaigns",
        spec(("promotions", 0, "kind"), "gift"),
        "admin",
        ("promotions", 0, "kind"),
    ),
    (
        "/v1/campaigns",
        spec(("promotions", 0, "per_customer_cap"), 0),
        "admin",
        ("promotions", 0, "per_customer_cap"),
    ),
    (
        "/v1/campaigns",
        spec(("promotions", 0, "colour"), "red"),
        "admin",
        ("promotions", 0, "colour"),
    ),
    ("/v1/campaigns", spec(("validity", "end"), "2000-01-01"), "admin", ("validity",)),
    (
        "/v1/campaigns",
        spec(("validity", "end"), "9999-01-01"),
        "admin",
        ("validity", "end"),
    ),
    ("/v1/campaigns", spec(("campaign_id",), "a\tb"), "admin", ("campaign_id",)),
    (
        "/v1/campaigns",
        spec(("currency",), {"code": "EURO"}),
        "admin",
        ("currency", "code"),
    ),
    (
        "/v1/campaigns",
        spec(("promotions",), [promotion("d"), promotion("d")]),
        "admin",
        (),
    ),
]


@pytest.mark.parametrize(("path", "body", "role", "location"), INVALID, ids=repr)
def test_invalid_body_names_the_field(client, keys, path, body, role, location):
    response = client.post(path, json=body, headers=auth(keys[role]))
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    locations = [tuple(error["loc"]) for error in errors]
    expected = ("body", *location)
    assert any(loc[: len(expected)] == expected for loc in locations), locations
    assert all("msg" in error for error in errors)


def test_duplicate_promotion_ids_are_named(client, keys):
    body = spec(("promotions",), [promotion("d"), promotion("d")])
    response = client.post("/v1/campaigns", json=body, headers=auth(keys["admin"]))
    assert "duplicate promotion_id 'd'" in response.text


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"not json",
        b'{"customer_id": NaN}',
        b'{"customer_id": "C1", "context": {"cart_value": Infinity}}',
        b"\xff\xfe\x00",
        b"[" * 5000 + b"]" * 5000,
        b'"just a string"',
    ],
    ids=repr,
)
def test_malformed_json_is_a_4xx(client, keys, content):
    response = client.post(
        "/v1/decisions",
        content=content,
        headers={**auth(keys["decision"]), "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/v1/customers/%00"),
        ("DELETE", "/v1/customers/" + "x" * 500),
        ("GET", "/v1/campaigns/%00"),
        ("GET", "/v1/campaigns/a%0Ab"),
        ("POST", "/v1/campaigns/%00/pause"),
        ("GET", "/v1/campaigns/x/report?window_days=0"),
        ("GET", "/v1/campaigns/x/report?window_days=nan"),
        ("GET", "/v1/campaigns/x/report?window_days=1e999"),
    ],
)
def test_odd_paths_are_rejected_not_failed(client, keys, method, path):
    response = client.request(method, path, headers=auth(keys["admin"]))
    assert response.status_code == 422, response.text


def test_batch_size_limit(make_client, keys):
    client = make_client(max_batch_events=3)
    batch = {"events": [dict(EVENT, event_id=f"e{n}") for n in range(4)]}
    response = client.post("/v1/events", json=batch, headers=auth(keys["ingest"]))
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "events"]
    assert error["input"] == 4
    assert "at most 3 events" in error["msg"]
    accepted = client.post(
        "/v1/events", json={"events": batch["events"][:3]}, headers=auth(keys["ingest"])
    )
    assert accepted.json()["accepted"] == 3


def test_body_size_limit(make_client, keys):
    client = make_client(max_request_bytes=2_000)
    batch = {"events": [dict(EVENT, event_id=f"e{n}") for n in range(40)]}
    response = client.post("/v1/events", json=batch, headers=auth(keys["ingest"]))
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 2000 bytes"}

    # A body sent in chunks, without a declared length, is counted as it comes.
    def chunks():
        yield b'{"events": ['
        for _ in range(100):
            yield b" " * 100
        yield b"]}"

    chunked = client.post(
        "/v1/events",
        content=chunks(),
        headers={**auth(keys["ingest"]), "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413


def test_same_event_twice_in_one_batch(client, keys):
    batch = {"events": [EVENT, EVENT, dict(EVENT, event_id="e2")]}
    response = client.post("/v1/events", json=batch, headers=auth(keys["ingest"]))
    assert response.json() == {"accepted": 2, "duplicates": 1, "refused": 0}
