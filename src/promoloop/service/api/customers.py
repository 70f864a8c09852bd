"""Customers: set consent and language (ingest role), erase (admin role)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from promoloop.service.api.ids import CustomerIdPath
from promoloop.service.api.locks import (
    lock_for_customer_writes,
    lock_for_erasure,
    upsert,
)
from promoloop.service.api.offer_cache import OfferCache, get_offer_cache
from promoloop.service.api.responses import (
    AUTH_ERRORS,
    BODY_TOO_LARGE,
    error_responses,
)
from promoloop.service.api.schemas import CustomerPreferences, ErasureResult
from promoloop.service.deps import (
    customer_pseudonym,
    get_settings,
    get_store,
    require_role,
)
from promoloop.service.settings import ServiceSettings
from promoloop.store import Role, Store, delete_customer
from promoloop.store.models import ApiKey, Customer, DeletedCustomer

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/customers", tags=["customers"], responses=AUTH_ERRORS)


@router.put(
    "/{customer_id}",
    response_model=CustomerPreferences,
    responses={
        **BODY_TOO_LARGE,
        **error_responses({410: "The customer was erased."}),
    },
)
def set_preferences(
    customer_id: CustomerIdPath,
    preferences: CustomerPreferences,
    key: Annotated[ApiKey, Depends(require_role(Role.INGEST))],
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[ServiceSettings, Depends(get_settings)],
) -> CustomerPreferences:
    """Store the customer's consent and locale; the next decision uses them.

    The customer's row in the store's ``customers`` table is created or
    replaced, so a customer the store has not seen yet can be set too. Its values
    override those of the published run, and null falls back to them. An
    erased customer gets 410, and nothing is stored about them.
    """
    pseudonym = customer_pseudonym(customer_id, settings)
    with store.session() as session:
        lock_for_customer_writes(session)
        if session.get(DeletedCustomer, pseudonym) is not None:
            raise HTTPException(
                status.HTTP_410_GONE,
                detail=f"customer {customer_id!r} was erased; the service stores "
                "nothing more about an erased customer",
            )
        values = {
            "customer_id": pseudonym,
            "consent": preferences.consent,
            "locale": preferences.locale,
        }
        session.execute(upsert(session, Customer, "customer_id", values))
    logger.info(
        "consent %s and locale %s stored for customer %s by key %s",
        preferences.consent,
        preferences.locale,
        pseudonym,
        key.key_id,
    )
    return preferences


@router.delete(
    "/{customer_id}",
    response_model=ErasureResult,
    dependencies=[Depends(require_role(Role.ADMIN))],
)
def erase_customer(
    customer_id: CustomerIdPath,
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[ServiceSettings, Depends(get_settings)],
    cache: Annotated[OfferCache, Depends(get_offer_cache)],
) -> ErasureResult:
    """Delete every row about the customer and refuse their data from now on.

    The customer's events, decisions, feedback, consent and published
    scores and facts are deleted, and the pseudonym is recorded as erased:
    later events of the customer are refused, no offer is made to them, and
    later publishes leave them out. Money their decisions reserved stays
    spent. Repeating the request deletes nothing more.
    """
    pseudonym = customer_pseudonym(customer_id, settings)
    with store.session() as session:
        lock_for_erasure(session)
        counts = delete_customer(session, pseudonym)
    cache.forget_customer(pseudonym)
    return ErasureResult(deleted=counts)
