"""Request dependencies: the store, the settings and the API-key check."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from promoloop.service.settings import ServiceSettings
from promoloop.store import Role, Store, verify_api_key
from promoloop.store.keys import hash_token
from promoloop.store.models import ApiKey

logger = logging.getLogger(__name__)

_BEARER = "bearer "

# The two ways to present an API key, declared as the OpenAPI document's
# security schemes. Neither raises by itself, because ``require_role`` raises
# the service's own 401 for a missing key.
_BEARER_SCHEME = HTTPBearer(
    auto_error=False, description="An API key as `Authorization: Bearer KEY`."
)
_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key as `X-API-Key: KEY`.",
)


def get_store(request: Request) -> Store:
    """Return the application's store."""
    return request.app.state.store


def get_settings(request: Request) -> ServiceSettings:
    """Return the application's settings."""
    return request.app.state.settings


def require_role(role: Role | str) -> Callable[..., ApiKey]:
    """Return a dependency that admits API keys whose role permits ``role``.

    The key comes from ``Authorization: Bearer <key>`` or, without one,
    ``X-API-Key``; both are declared as security schemes in the OpenAPI
    document. A missing, malformed, unknown, wrong or revoked key gets the
    same 401, so a caller learns nothing about which part was wrong. A valid
    key of another role gets 403.
    """
    required = Role(role)

    def check(
        request: Request,
        store: Annotated[Store, Depends(get_store)],
        bearer: Annotated[
            HTTPAuthorizationCredentials | None, Security(_BEARER_SCHEME)
        ],
        header_key: Annotated[str | None, Security(_KEY_HEADER)],
    ) -> ApiKey:
        token = bearer.credentials.strip() if bearer is not None else header_key
        verified: VerifiedKeys = request.app.state.verified_keys
        key = verified.get(token) if token else None
        if key is None and token:
            with store.session() as session:
                key = verify_api_key(session, token)
                if key is not None:
                    session.expunge(key)
            if key is not None:
                verified.put(token, key)
        if key is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="invalid or missing API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not Role(key.role).permits(required):
            logger.info(
                "API key %s (%s) rejected: the endpoint needs the %s role",
                key.key_id,
                key.role,
                required,
            )
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"this API key's role may not call {required.value} endpoints",
            )
        return key

    return check


class VerifiedKeys:
    """Keys verified in the last ``ttl_seconds``, to spare a query per request.

    Only valid keys are kept, by the hash of their token, so a revoked key
    keeps working for at most ``ttl_seconds`` in each worker process; 0 turns
    the cache off.
    """

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> ApiKey | None:
        """Return the key of ``token`` if it was verified recently enough."""
        if self.ttl_seconds <= 0:
            return None
        with self._lock:
            entry = self._entries.get(hash_token(token))
        if entry is None or time.monotonic() - entry[0] > self.ttl_seconds:
            return None
        return entry[1]

    def put(self, token: str, key: ApiKey) -> None:
        """Remember that ``token`` belongs to the valid ``key``."""
        if self.ttl_seconds <= 0:
            return
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[hash_token(token)] = (time.monotonic(), key)


def presented_token(request: Request) -> str | None:
    """Return the key of ``Authorization: Bearer`` or ``X-API-Key``, if any."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith(_BEARER):
        return header[len(_BEARER) :].strip() or None
    return request.headers.get("x-api-key") or None


def customer_pseudonym(raw_id: str, settings: ServiceSettings) -> str:
    """Return the store's pseudonym of a shop's raw customer id.

    It is the keyed hash of :func:`promoloop.privacy.pseudonymize`: the
    first 16 hex digits of HMAC-SHA256(key, id). Computing it for one id
    here saves the half millisecond that a pandas Series costs, and a test
    checks that both agree.
    """
    digest = hmac.new(
        settings.pseudonym_key.encode("utf-8"), raw_id.encode("utf-8"), hashlib.sha256
    )
    return digest.hexdigest()[:16]
