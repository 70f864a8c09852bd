"""Reads for the service: the current version, its scores, facts and campaigns."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from promoloop.store.models import (
    CampaignRecord,
    CampaignStatus,
    ModelVersion,
    PromotionRecord,
    PublishedCustomerFacts,
    PublishedScore,
)
from promoloop.targeting.promotions import Campaign


def current_version(session: Session) -> ModelVersion | None:
    """Return the model version served now, or None before the first publish."""
    return session.scalar(select(ModelVersion).where(ModelVersion.is_current))


def get_scores(
    session: Session, customer_id: str, version: str | None = None
) -> list[PublishedScore]:
    """Return a customer's scored pairs in a version, best score first.

    ``version`` defaults to the current one; with no current version the list
    is empty.
    """
    version = version or _current_version_id(session)
    if version is None:
        return []
    query = (
        select(PublishedScore)
        .where(
            PublishedScore.version == version,
            PublishedScore.customer_id == customer_id,
        )
        .order_by(PublishedScore.score.desc(), PublishedScore.promotion_id)
    )
    return list(session.scalars(query))


def get_customer_facts(
    session: Session, customer_id: str, version: str | None = None
) -> PublishedCustomerFacts | None:
    """Return a customer's facts in a version (the current one by default)."""
    version = version or _current_version_id(session)
    if version is None:
        return None
    return session.get(PublishedCustomerFacts, (version, customer_id))


def load_campaign(
    session: Session, campaign_id: str, *, active_only: bool = False
) -> Campaign | None:
    """Rebuild a campaign's validated spec with its promotions, or return None.

    Promotions are ordered by id. None is returned for an unknown campaign
    or one without promotions. With ``active_only``, paused promotions are
    left out, and a paused campaign or one without an active promotion gives
    None.
    """
    record = session.get(CampaignRecord, campaign_id)
    if record is None:
        return None
    if active_only and record.status != CampaignStatus.ACTIVE:
        return None
    query = (
        select(PromotionRecord)
        .where(PromotionRecord.campaign_id == campaign_id)
        .order_by(PromotionRecord.promotion_id)
    )
    if active_only:
        query = query.where(PromotionRecord.status == CampaignStatus.ACTIVE)
    promotions = [stored.spec for stored in session.scalars(query)]
    if not promotions:
        return None
    return Campaign.model_validate({**record.spec, "promotions": promotions})


def _current_version_id(session: Session) -> str | None:
    return session.scalar(select(ModelVersion.version).where(ModelVersion.is_current))
