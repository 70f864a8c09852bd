"""DELETE /v1/customers/{customer_id}: erase a customer (admin role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from promoloop.service.api.locks import lock_for_erasure
from promoloop.service.api.offer_cache import OfferCache, get_offer_cache
from promoloop.service.api.schemas import ErasureResult
from promoloop.service.deps import (
    customer_pseudonym,
    get_settings,
    get_store,
    require_role,
)
from promoloop.service.settings import ServiceSettings
from promoloop.store import Role, Store, delete_customer
from promoloop.store.models import ID_LENGTH

router = APIRouter(
    prefix="/customers",
    tags=["customers"],
    dependencies=[Depends(require_role(Role.ADMIN))],
)


@router.delete("/{customer_id}", response_model=ErasureResult)
def erase_customer(
    customer_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=ID_LENGTH,
            pattern=r"^[^\x00-\x1f\x7f]+$",
            description="The shop's own customer id.",
        ),
    ],
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
