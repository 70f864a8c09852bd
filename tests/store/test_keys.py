"""API keys: create, verify, revoke, roles."""

from __future__ import annotations

import hashlib

import pytest

from promoloop.errors import InputError
from promoloop.store import (
    Role,
    create_api_key,
    list_api_keys,
    revoke_api_key,
    verify_api_key,
)
from promoloop.store.models import ApiKey


@pytest.fixture
def new_key(store):
    with store.session() as session:
        return create_api_key(session, "checkout-service", "decision")


def test_token_format_and_stored_hash(store, new_key):
    assert new_key.token.startswith(f"pl_{new_key.key_id}.")
    assert len(new_key.token) == len("pl_") + 12 + 1 + 43
    with store.session() as session:
        stored = session.get(ApiKey, new_key.key_id)
        assert stored.key_hash == hashlib.sha256(new_key.token.encode()).hexdigest()
        assert new_key.token not in (stored.key_hash, stored.name, stored.key_id)
    assert new_key.token not in repr(new_key)


def test_tokens_are_unique(store):
    with store.session() as session:
        keys = [create_api_key(session, f"client-{i}", Role.INGEST) for i in range(20)]
    assert len({key.token for key in keys}) == 20
    assert len({key.key_id for key in keys}) == 20


def test_verify_returns_key(store, new_key):
    with store.session() as session:
        key = verify_api_key(session, new_key.token)
        assert key is not None
        assert key.key_id == new_key.key_id
        assert key.role == Role.DECISION
        assert key.name == "checkout-service"


def test_wrong_secret_rejected(store, new_key):
    last = new_key.token[-1]
    wrong = new_key.token[:-1] + ("A" if last != "A" else "B")
    with store.session() as session:
        assert verify_api_key(session, wrong) is None


@pytest.mark.parametrize(
    "token",
    ["", "pl_", "not-a-token", "pl_0123456789ab." + "x" * 43, "Bearer pl_abc.def"],
)
def test_malformed_or_unknown_token_rejected(store, new_key, token):
    with store.session() as session:
        assert verify_api_key(session, token) is None


def test_token_of_other_key_id_rejected(store, new_key):
    with store.session() as session:
        other = create_api_key(session, "other", Role.INGEST)
    # The secret of one key under the id of another.
    swapped = f"pl_{other.key_id}.{new_key.token.split('.', 1)[1]}"
    with store.session() as session:
        assert verify_api_key(session, swapped) is None
        assert verify_api_key(session, other.token).key_id == other.key_id


def test_revoked_key_rejected(store, new_key):
    with store.session() as session:
        assert revoke_api_key(session, new_key.key_id)
    with store.session() as session:
        assert verify_api_key(session, new_key.token) is None
        assert session.get(ApiKey, new_key.key_id).revoked_at is not None


def test_revoke_twice_or_unknown_returns_false(store, new_key):
    with store.session() as session:
        assert revoke_api_key(session, new_key.key_id)
        assert not revoke_api_key(session, new_key.key_id)
        assert not revoke_api_key(session, "000000000000")


def test_list_leaves_out_revoked(store, new_key):
    with store.session() as session:
        active = create_api_key(session, "active", Role.ADMIN)
        revoke_api_key(session, new_key.key_id)
    with store.session() as session:
        assert [k.key_id for k in list_api_keys(session)] == [active.key_id]
        listed = list_api_keys(session, include_revoked=True)
        assert {k.key_id for k in listed} == {active.key_id, new_key.key_id}


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [("client", "superuser", "unknown API key role"), ("  ", "admin", "empty")],
)
def test_invalid_key_request_rejected(store, name, role, message):
    with store.session() as session:
        with pytest.raises(InputError, match=message):
            create_api_key(session, name, role)


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        (Role.ADMIN, Role.DECISION, True),
        (Role.ADMIN, Role.INGEST, True),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.DECISION, Role.DECISION, True),
        (Role.DECISION, Role.INGEST, False),
        (Role.DECISION, Role.ADMIN, False),
        (Role.INGEST, "ingest", True),
        (Role.INGEST, "admin", False),
    ],
)
def test_role_permits(role, required, allowed):
    assert role.permits(required) is allowed
