"""Campaigns: create, replace, pause, resume, list and read (admin role)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promoloop.service.api.campaign_schemas import (
    CampaignSpec,
    CampaignView,
    PromotionView,
)
from promoloop.service.api.ids import CampaignIdPath
from promoloop.service.api.offer_cache import OfferCache, get_offer_cache
from promoloop.service.api.responses import (
    AUTH_ERRORS,
    BODY_TOO_LARGE,
    error_responses,
)
from promoloop.service.deps import get_store, require_role
from promoloop.store import CampaignStatus, Role, Store
from promoloop.store.models import CampaignRecord, PromotionRecord
from promoloop.targeting.promotions import Campaign, Currency, Promotion, Validity

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/campaigns",
    tags=["campaigns"],
    dependencies=[Depends(require_role(Role.ADMIN))],
    responses=AUTH_ERRORS,
)

#: The 404 response of every operation on one campaign.
UNKNOWN_CAMPAIGN = error_responses({404: "No campaign has this id."})


@router.post(
    "",
    response_model=CampaignView,
    status_code=status.HTTP_201_CREATED,
    responses={
        **BODY_TOO_LARGE,
        **error_responses(
            {409: "The campaign id, or a promotion id of another campaign, exists."}
        ),
    },
)
def create_campaign(
    spec: CampaignSpec,
    store: Annotated[Store, Depends(get_store)],
    cache: Annotated[OfferCache, Depends(get_offer_cache)],
) -> CampaignView:
    """Create a campaign with its promotions; nothing is spent yet.

    The campaign id and every promotion id must be new: 409 otherwise.
    """
    campaign = spec.to_campaign()
    try:
        with store.session() as session:
            if session.get(CampaignRecord, campaign.campaign_id) is not None:
                raise HTTPException(
                    status.HTTP_409_CONFLICT,
                    detail=f"campaign {campaign.campaign_id!r} exists already; "
                    f"use PUT /v1/campaigns/{campaign.campaign_id} to change it",
                )
            _check_promotions_free(session, campaign)
            session.add(
                CampaignRecord(
                    campaign_id=campaign.campaign_id,
                    spec=_stored_spec(campaign),
                    budget=campaign.budget,
                )
            )
            session.flush()
            _upsert_promotions(session, campaign)
    except IntegrityError:
        # A concurrent request created the same campaign or promotion id.
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"campaign {campaign.campaign_id!r} or one of its promotion ids "
            "was created by another request at the same time",
        ) from None
    cache.invalidate_campaigns()
    logger.info(
        "campaign %s created with %d promotions",
        campaign.campaign_id,
        len(campaign.promotions),
    )
    return read_campaign(store, campaign.campaign_id)


@router.put(
    "/{campaign_id}",
    response_model=CampaignView,
    responses={
        **UNKNOWN_CAMPAIGN,
        **BODY_TOO_LARGE,
        **error_responses({409: "A promotion id belongs to another campaign."}),
    },
)
def replace_campaign(
    campaign_id: CampaignIdPath,
    spec: CampaignSpec,
    store: Annotated[Store, Depends(get_store)],
    cache: Annotated[OfferCache, Depends(get_offer_cache)],
) -> CampaignView:
    """Replace a campaign's spec and promotions; its spend and status are kept.

    Promotions left out of the new spec are paused rather than deleted,
    because logged decisions refer to them. A lower budget than the money
    spent already stops new offers but takes nothing back.
    """
    if spec.campaign_id != campaign_id:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "campaign_id"),
                    "msg": f"campaign_id {spec.campaign_id!r} differs from "
                    f"{campaign_id!r} in the path; they must be equal",
                    "input": spec.campaign_id,
                }
            ]
        )
    campaign = spec.to_campaign()
    with store.session() as session:
        record = _get_record(session, campaign_id)
        _check_promotions_free(session, campaign)
        record.spec = _stored_spec(campaign)
        record.budget = campaign.budget
        _upsert_promotions(session, campaign)
    cache.invalidate_campaigns()
    logger.info("campaign %s replaced", campaign_id)
    return read_campaign(store, campaign_id)


@router.post(
    "/{campaign_id}/pause", response_model=CampaignView, responses=UNKNOWN_CAMPAIGN
)
def pause_campaign(
    campaign_id: CampaignIdPath,
    store: Annotated[Store, Depends(get_store)],
    cache: Annotated[OfferCache, Depends(get_offer_cache)],
) -> CampaignView:
    """Stop offering the campaign; its budget and spend are kept."""
    return _set_status(store, cache, campaign_id, CampaignStatus.PAUSED)


@router.post(
    "/{campaign_id}/resume", response_model=CampaignView, responses=UNKNOWN_CAMPAIGN
)
def resume_campaign(
    campaign_id: CampaignIdPath,
    store: Annotated[Store, Depends(get_store)],
    cache: Annotated[OfferCache, Depends(get_offer_cache)],
) -> CampaignView:
    """Offer a paused campaign again."""
    return _set_status(store, cache, campaign_id, CampaignStatus.ACTIVE)


@router.get("", response_model=list[CampaignView])
def list_campaigns(store: Annotated[Store, Depends(get_store)]) -> list[CampaignView]:
    """List every campaign by id with budget, spend, status and promotions."""
    with store.session() as session:
        records = session.scalars(
            select(CampaignRecord).order_by(CampaignRecord.campaign_id)
        ).all()
        promotions = _promotions_by_campaign(session)
    return [campaign_view(r, promotions.get(r.campaign_id, [])) for r in records]


@router.get("/{campaign_id}", response_model=CampaignView, responses=UNKNOWN_CAMPAIGN)
def get_campaign(
    campaign_id: CampaignIdPath, store: Annotated[Store, Depends(get_store)]
) -> CampaignView:
    """Read one campaign."""
    return read_campaign(store, campaign_id)


def read_campaign(store: Store, campaign_id: str) -> CampaignView:
    """Return a campaign's view; 404 when it does not exist."""
    with store.session() as session:
        record = _get_record(session, campaign_id)
        promotions = _promotions_by_campaign(session, campaign_id)
        return campaign_view(record, promotions.get(campaign_id, []))


def campaign_view(
    record: CampaignRecord, promotions: list[PromotionRecord]
) -> CampaignView:
    """Build the response view of a stored campaign and its promotions."""
    spec = record.spec
    return CampaignView(
        campaign_id=record.campaign_id,
        name=spec.get("name", ""),
        status=record.status,
        assignment=spec.get("assignment", "targeted"),
        channel=spec.get("channel", "email"),
        holdout_share=spec.get("holdout_share"),
        validity=Validity.model_validate(spec["validity"]),
        currency=Currency.model_validate(spec.get("currency") or {}),
        budget=record.budget,
        spent=record.spent,
        remaining=max(record.budget - record.spent, Decimal(0)),
        promotions=[_promotion_view(p) for p in promotions],
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _promotion_view(record: PromotionRecord) -> PromotionView:
    promotion = Promotion.model_validate(record.spec)
    scope_type, scope_values = promotion.scope_items()
    return PromotionView(
        promotion_id=record.promotion_id,
        status=record.status,
        kind=promotion.kind.value,
        value=promotion.value,
        scope_type=scope_type,
        scope_values=scope_values,
        min_spend=promotion.min_spend,
        per_customer_cap=promotion.per_customer_cap,
        spec=record.spec,
    )


def _set_status(
    store: Store, cache: OfferCache, campaign_id: str, new_status: CampaignStatus
) -> CampaignView:
    with store.session() as session:
        record = _get_record(session, campaign_id)
        record.status = new_status
    cache.invalidate_campaigns()
    logger.info("campaign %s set to %s", campaign_id, new_status.value)
    return read_campaign(store, campaign_id)


def _get_record(session: Session, campaign_id: str) -> CampaignRecord:
    record = session.get(CampaignRecord, campaign_id)
    if record is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"campaign {campaign_id!r} not found; GET /v1/campaigns lists "
            "the campaigns",
        )
    return record


def _promotions_by_campaign(
    session: Session, campaign_id: str | None = None
) -> dict[str, list[PromotionRecord]]:
    query = select(PromotionRecord).order_by(PromotionRecord.promotion_id)
    if campaign_id is not None:
        query = query.where(PromotionRecord.campaign_id == campaign_id)
    grouped: dict[str, list[PromotionRecord]] = {}
    for record in session.scalars(query):
        grouped.setdefault(record.campaign_id, []).append(record)
    return grouped


def _stored_spec(campaign: Campaign) -> dict:
    """Return the campaign's spec as the store keeps it: JSON without promotions."""
    return campaign.model_dump(mode="json", exclude={"promotions"})


def _check_promotions_free(session: Session, campaign: Campaign) -> None:
    """Raise 409 when a promotion id of the spec belongs to another campaign."""
    ids = [p.promotion_id for p in campaign.promotions]
    taken = session.execute(
        select(PromotionRecord.promotion_id, PromotionRecord.campaign_id).where(
            PromotionRecord.promotion_id.in_(ids),
            PromotionRecord.campaign_id != campaign.campaign_id,
        )
    ).first()
    if taken is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"promotion {taken[0]!r} belongs to campaign {taken[1]!r}; "
            "promotion ids are unique across campaigns, so choose another id",
        )


def _upsert_promotions(session: Session, campaign: Campaign) -> None:
    """Store the spec's promotions as active and pause the campaign's others."""
    listed = {p.promotion_id: p for p in campaign.promotions}
    stored = {
        record.promotion_id: record
        for record in session.scalars(
            select(PromotionRecord).where(
                PromotionRecord.campaign_id == campaign.campaign_id
            )
        )
    }
    for promotion_id, promotion in listed.items():
        spec = promotion.model_dump(mode="json")
        record = stored.get(promotion_id)
        if record is None:
            session.add(
                PromotionRecord(
                    promotion_id=promotion_id,
                    campaign_id=campaign.campaign_id,
                    spec=spec,
                    status=CampaignStatus.ACTIVE,
                )
            )
        else:
            record.spec = spec
            record.status = CampaignStatus.ACTIVE
    for promotion_id, record in stored.items():
        if promotion_id not in listed:
            record.status = CampaignStatus.PAUSED
    session.flush()
