"""API keys: creation, verification and revocation.

A token reads ``pl_<key_id>.<secret>``. ``key_id`` is 12 random hex digits
and is not secret: it finds the key's row without scanning. ``secret`` is 32
random bytes from :mod:`secrets`, URL-safe base64 encoded. The store keeps
only the SHA-256 of the whole token, so the token is shown once, at creation.

A fast, unsalted hash is right here, unlike for passwords. Password hashes
are slow and salted because people choose passwords from a small space that
an attacker who stole the hashes can search, or cover with precomputed
tables. A 256-bit random secret has no such space: searching 2**256 values
is infeasible at any hash speed, and no table can cover them. A slow hash
would only slow down every request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from promoloop.errors import InputError
from promoloop.store.models import ApiKey, Role
from promoloop.store.types import utc_now

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "pl_"
SECRET_BYTES = 32
_KEY_ID_BYTES = 6
_TOKEN = re.compile(r"pl_(?P<key_id>[0-9a-f]{12})\.(?P<secret>[A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: ``token`` is the only copy of the secret."""

    key_id: str
    name: str
    role: Role
    token: str

    def __repr__(self) -> str:
        # Keep the token out of logs and tracebacks.
        return (
            f"NewApiKey(key_id={self.key_id!r}, name={self.name!r}, role={self.role!r})"
        )


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of a token, as stored in ``api_keys.key_hash``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_key(session: Session, name: str, role: Role | str) -> NewApiKey:
    """Create an API key and return its token, which is not stored.

    Parameters
    ----------
    session : Session
        Session of the transaction; the key exists once it commits.
    name : str
        Label for people, e.g. the client's name.
    role : Role or str
        ``admin``, ``decision`` or ``ingest``.

    Returns
    -------
    NewApiKey
        The key id, name, role and the token to hand to the client.

    Raises
    ------
    InputError
        If the role is unknown or the name is empty.
    """
    checked_role = _role(role)
    if not name.strip():
        raise InputError(
            "empty API key name", expected="a label such as 'checkout-service'"
        )
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    token = f"{TOKEN_PREFIX}{key_id}.{secrets.token_urlsafe(SECRET_BYTES)}"
    session.add(
        ApiKey(key_id=key_id, name=name, role=checked_role, key_hash=hash_token(token))
    )
    session.flush()
    logger.info("created API key %s (%s, role %s)", key_id, name, checked_role)
    return NewApiKey(key_id=key_id, name=name, role=checked_role, token=token)


def verify_api_key(session: Session, token: str) -> ApiKey | None:
    """Return the key that ``token`` belongs to, or None if it is not valid.

    None covers a malformed token, an unknown key id, a wrong secret and a
    revoked key, so a caller cannot tell them apart from the return value. The
    hashes are compared with :func:`hmac.compare_digest`, in time that does
    not depend on where they differ.
    """
    match = _TOKEN.fullmatch(token or "")
    if match is None:
        return None
    key = session.get(ApiKey, match["key_id"])
    if key is None:
        return None
    if not hmac.compare_digest(key.key_hash, hash_token(token)):
        logger.warning("API key %s presented with a wrong secret", key.key_id)
        return None
    if key.revoked_at is not None:
        logger.warning("revoked API key %s presented", key.key_id)
        return None
    return key


def revoke_api_key(session: Session, key_id: str) -> bool:
    """Revoke a key; return False when no such key exists or it was revoked already."""
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = utc_now()
    session.flush()
    logger.info("revoked API key %s", key_id)
    return True


def list_api_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    """Return the keys ordered by creation time, without revoked ones by default."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.key_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InputError(
            "unknown API key role",
            value=role,
            expected=f"one of {[r.value for r in Role]}",
        ) from None
