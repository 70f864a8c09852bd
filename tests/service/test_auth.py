"""Every endpoint rejects missing, malformed, wrong and revoked keys alike,
and keys of another role."""

from __future__ import annotations

import pytest

from promoloop.store import create_api_key, revoke_api_key
from tests.service.conftest import auth
from tests.service.synthetic import campaign, promotion

EVENT = {
    "event_id": "e1",
    "customer_id": "C1",
    "item_id": "I1",
    "event_type": "view",
    "quantity": 1,
    "amount": 0,
    "timestamp": "2026-01-01T00:00:00Z",
    "order_id": "O1",
}
SPEC = campaign("auth-campaign", [promotion("auth-promotion")])

# (method, path, body, role the endpoint needs)
ENDPOINTS = [
    ("POST", "/v1/events", {"events": [EVENT]}, "ingest"),
    (
        "POST",
        "/v1/feedback",
        {"feedback_id": "f", "decision_id": "d", "kind": "click"},
        "ingest",
    ),
    ("POST", "/v1/decisions", {"customer_id": "C1"}, "decision"),
    ("POST", "/v1/campaigns", SPEC, "admin"),
    ("GET", "/v1/campaigns", None, "admin"),
    ("GET", "/v1/campaigns/auth-campaign", None, "admin"),
    ("PUT", "/v1/campaigns/auth-campaign", SPEC, "admin"),
    ("POST", "/v1/campaigns/auth-campaign/pause", None, "admin"),
    ("POST", "/v1/campaigns/auth-campaign/resume", None, "admin"),
    ("GET", "/v1/campaigns/auth-campaign/report", None, "admin"),
    ("PUT", "/v1/customers/C1", {"consent": True, "locale": "en"}, "ingest"),
    ("DELETE", "/v1/customers/C1", None, "admin"),
]
WRONG_ROLE = {"ingest": "decision", "decision": "ingest", "admin": "decision"}


@pytest.fixture
def revoked_token(store) -> str:
    with store.session() as session:
        key = create_api_key(session, "revoked", "admin")
        revoke_api_key(session, key.key_id)
    return key.token


def send(client, method: str, path: str, body, headers: dict):
    return client.request(method, path, json=body, headers=headers)


def test_bad_keys_get_the_same_401(client, keys, revoked_token):
    admin = keys["admin"]
    key_id, secret = admin.split(".")
    wrong_secret = f"{key_id}.{'A' * len(secret)}"
    presented = {
        "no key": {},
        "malformed": auth("not-a-key"),
        "empty bearer": {"Authorization": "Bearer "},
        "wrong secret": auth(wrong_secret),
        "wrong secret in X-API-Key": {"X-API-Key": wrong_secret},
        "revoked": auth(revoked_token),
    }
    for method, path, body, _ in ENDPOINTS:
        bodies = set()
        for case, headers in presented.items():
            response = send(client, method, path, body, headers)
            assert response.status_code == 401, (method, path, case)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            bodies.add(response.text)
        assert bodies == {'{"detail":"invalid or missing API key"}'}, (method, path)


def test_key_of_wrong_role_gets_403(client, keys):
    for method, path, body, role in ENDPOINTS:
        response = send(client, method, path, body, auth(keys[WRONG_ROLE[role]]))
        assert response.status_code == 403, (method, path)
        assert role in response.json()["detail"]


def test_right_role_passes(client, keys):
    # Created first, so that every admin path finds the campaign and the POST
    # below is a duplicate; the feedback names no real decision.
    created = client.post("/v1/campaigns", json=SPEC, headers=auth(keys["admin"]))
    assert created.status_code == 201
    expected = {("POST", "/v1/campaigns"): 409, ("POST", "/v1/feedback"): 404}
    for method, path, body, role in ENDPOINTS:
        for token in (keys[role], keys["admin"]):
            response = send(client, method, path, body, auth(token))
            assert response.status_code == expected.get((method, path), 200), (
                method,
                path,
                response.text,
            )


def test_x_api_key_header_is_accepted(client, keys):
    response = client.get("/v1/campaigns", headers={"X-API-Key": keys["admin"]})
    assert response.status_code == 200
