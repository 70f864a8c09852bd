"""Request dependencies: the store, the settings and the API-key check."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

import pandas as pd
from fastapi import Depends, HTTPException, Request, status

from promoloop.privacy import pseudonymize
from promoloop.service.settings import ServiceSettings
from promoloop.store import Role, Store, verify_api_key
from promoloop.store.models import ApiKey

logger = logging.getLogger(__name__)

_BEARER = "bearer "


def get_store(request: Request) -> Store:
    """Return the application's store."""
    return request.app.state.store


def get_settings(request: Request) -> ServiceSettings:
    """Return the application's settings."""
    return request.app.state.settings


def require_role(role: Role | str) -> Callable[..., ApiKey]:
    """Return a dependency that admits API keys whose role permits ``role``.

    The key comes from ``Authorization: Bearer <key>`` or ``X-API-Key``. A
    missing, malformed, unknown, wrong or revoked key gets the same 401, so a
    caller learns nothing about which part was wrong; a valid key of another
    role gets 403.
    """
    required = Role(role)

    def check(request: Request, store: Annotated[Store, Depends(get_store)]) -> ApiKey:
        token = _presented_token(request)
        with store.session() as session:
            key = verify_api_key(session, token) if token else None
            if key is not None:
                session.expunge(key)
        if key is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="invalid or missing API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not Role(key.role).permits(required):
            logger.info(
                "API key %s (%s) refused on a %s endpoint",
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


def _presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith(_BEARER):
        return header[len(_BEARER) :].strip() or None
    return request.headers.get("x-api-key") or None


def customer_pseudonym(raw_id: str, settings: ServiceSettings) -> str:
    """Return the store's pseudonym of a shop's raw customer id."""
    series = pd.Series([raw_id], dtype="string")
    return str(pseudonymize(series, settings.pseudonym_key).iloc[0])
