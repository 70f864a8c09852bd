"""PUT /v1/customers/{customer_id}: consent and language for the next decisions."""

from __future__ import annotations

import pytest

from promoloop.store import delete_customer
from promoloop.store.models import Customer
from tests.service.conftest import auth
from tests.service.synthetic import (
    Facts,
    Score,
    campaign,
    promotion,
    pseudonym,
    publish_synthetic,
)


def put_preferences(client, keys, customer, body: dict, role: str = "ingest"):
    return client.put(f"/v1/customers/{customer}", json=body, headers=auth(keys[role]))


def decide(client, keys, customer) -> dict:
    response = client.post(
        "/v1/decisions", json={"customer_id": customer}, headers=auth(keys["decision"])
    )
    assert response.status_code == 200, response.text
    return response.json()


def stored(store, customer: str) -> Customer | None:
    with store.session() as session:
        return session.get(Customer, pseudonym(customer))


@pytest.fixture
def shop(store) -> None:
    """A campaign whose percent-off promotion customer K1 may get 100 times."""
    publish_synthetic(
        store,
        [campaign("c", [promotion("p", per_customer_cap=100)])],
        [Score("K1", "c", "p")],
        facts={"K1": Facts(consent=True, locale="en")},
    )


def test_consent_reaches_the_next_decision(shop, store, keys, client):
    assert decide(client, keys, "K1")["status"] == "offer"

    response = put_preferences(client, keys, "K1", {"consent": False, "locale": None})
    assert response.status_code == 200
    assert response.json() == {"consent": False, "locale": None}
    withdrawn = decide(client, keys, "K1")
    assert withdrawn["status"] == "no_offer"
    assert withdrawn["reason"] == "opted_out"

    # Null falls back to the published consent, which is True.
    put_preferences(client, keys, "K1", {"consent": None, "locale": None})
    assert stored(store, "K1").consent is None
    assert decide(client, keys, "K1")["status"] == "offer"


def test_locale_changes_the_message(shop, keys, client):
    english = decide(client, keys, "K1")["message"]
    assert "% off" in english

    put_preferences(client, keys, "K1", {"consent": True, "locale": "zh-CN"})
    chinese = decide(client, keys, "K1")["message"]
    assert "折扣" in chinese


def test_new_customer_is_created(store, keys, client):
    assert stored(store, "NEW") is None
    response = put_preferences(client, keys, "NEW", {"consent": False, "locale": "de"})
    assert response.status_code == 200
    row = stored(store, "NEW")
    assert row.consent is False
    assert row.locale == "de"


def test_put_replaces_both_values(store, keys, client):
    put_preferences(client, keys, "K2", {"consent": False, "locale": "de"})
    put_preferences(client, keys, "K2", {"consent": True, "locale": None})
    row = stored(store, "K2")
    assert row.consent is True
    assert row.locale is None


def test_admin_key_may_set_preferences(store, keys, client):
    response = put_preferences(
        client, keys, "K3", {"consent": True, "locale": "en"}, role="admin"
    )
    assert response.status_code == 200
    assert stored(store, "K3").consent is True


def test_erased_customer_is_gone(store, keys, client):
    put_preferences(client, keys, "K4", {"consent": True, "locale": "en"})
    with store.session() as session:
        delete_customer(session, pseudonym("K4"))

    response = put_preferences(client, keys, "K4", {"consent": True, "locale": "en"})
    assert response.status_code == 410
    assert response.json()["detail"] == (
        "customer 'K4' was erased; the service stores nothing more about an "
        "erased customer"
    )
    assert stored(store, "K4") is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"consent": True}, "locale"),
        ({"locale": "en"}, "consent"),
        ({"consent": "no", "locale": "en"}, "consent"),
        ({"consent": 0, "locale": "en"}, "consent"),
        ({"consent": True, "locale": "english please"}, "locale"),
        ({"consent": True, "locale": "e"}, "locale"),
        ({"consent": True, "locale": "en-" + "x" * 40}, "locale"),
        ({"consent": True, "locale": "en", "segment": "VIP"}, "segment"),
    ],
    ids=repr,
)
def test_invalid_preferences_name_the_field(keys, client, body, field):
    response = put_preferences(client, keys, "K5", body)
    assert response.status_code == 422, response.text
    locations = [tuple(error["loc"]) for error in response.json()["detail"]]
    assert ("body", field) in locations
