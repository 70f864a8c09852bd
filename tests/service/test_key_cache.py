"""Verified API keys are trusted for a few seconds, then checked again."""

from __future__ import annotations

import time

from promoloop.store import create_api_key, revoke_api_key
from tests.service.conftest import auth


def _revocable(store) -> tuple[str, str]:
    with store.session() as session:
        key = create_api_key(session, "revocable", "admin")
    return key.token, key.key_id


def _revoke(store, key_id: str) -> None:
    with store.session() as session:
        assert revoke_api_key(session, key_id)


def test_revoked_key_works_until_the_cache_expires(make_client, store):
    client = make_client(key_cache_seconds=0.5)
    token, key_id = _revocable(store)
    assert client.get("/v1/campaigns", headers=auth(token)).status_code == 200
    _revoke(store, key_id)
    assert client.get("/v1/campaigns", headers=auth(token)).status_code == 200
    time.sleep(0.6)
    assert client.get("/v1/campaigns", headers=auth(token)).status_code == 401


def test_no_cache_refuses_a_revoked_key_at_once(make_client, store):
    client = make_client(key_cache_seconds=0)
    token, key_id = _revocable(store)
    assert client.get("/v1/campaigns", headers=auth(token)).status_code == 200
    _revoke(store, key_id)
    assert client.get("/v1/campaigns", headers=auth(token)).status_code == 401
