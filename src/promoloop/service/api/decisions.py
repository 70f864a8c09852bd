"""POST /v1/decisions: the offer to show one customer now."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends

from promoloop.service.api.offer_cache import OfferCache, get_offer_cache
from promoloop.service.api.offers import decide_offer
from promoloop.service.api.responses import AUTH_ERRORS, BODY_TOO_LARGE
from promoloop.service.api.schemas import DecisionRequest, DecisionResponse
from promoloop.service.deps import (
    customer_pseudonym,
    get_settings,
    get_store,
    require_role,
)
from promoloop.service.settings import ServiceSettings
from promoloop.store import Role, Store
from promoloop.store.types import utc_now

logger = logging.getLogger(__name__)

router = APIRouter(tags=["decisions"], responses=AUTH_ERRORS)


@router.post(
    "/decisions",
    response_model=DecisionResponse,
    dependencies=[Depends(require_role(Role.DECISION))],
    responses=BODY_TOO_LARGE,
)
def create_decision(
    request: DecisionRequest,
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[ServiceSettings, Depends(get_settings)],
    cache: Annotated[OfferCache, Depends(get_offer_cache)],
) -> DecisionResponse:
    """Decide the customer's offer, reserve its cost and log the decision.

    The decision is committed before the response is returned, so an offer
    the client receives is always in the log and paid for from the budget.
    """
    customer_id = customer_pseudonym(request.customer_id, settings)
    models, campaigns = cache.snapshot()
    with store.session() as session:
        outcome = decide_offer(
            session,
            models,
            campaigns,
            customer_id,
            request.context,
            settings,
            utc_now(),
        )
    decision = outcome.decision
    sent = outcome.status == "offer"
    logger.debug(
        "decision %s for customer %s: %s (%s)",
        decision.decision_id if decision is not None else "-",
        customer_id,
        outcome.status,
        outcome.reason,
    )
    return DecisionResponse(
        decision_id=decision.decision_id if decision is not None else None,
        status=outcome.status,
        reason=outcome.reason,
        holdout=outcome.status == "holdout",
        campaign_id=decision.campaign_id if decision is not None else None,
        promotion_id=decision.promotion_id if sent and decision is not None else None,
        message=decision.message if sent and decision is not None else None,
        model_version=models.version,
    )
