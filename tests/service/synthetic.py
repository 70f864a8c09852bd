"""Synthetic published versions: many customers with known scores and facts.

The example shop has six customers, too few for holdout shares or budget
races. These helpers write a model version straight into the store, as
``publish_run`` would, with customers named ``C0000``, ``C0001`` ... whose
pseudonyms come from the service's default key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import update

from promoloop.service import ServiceSettings
from promoloop.service.deps import customer_pseudonym
from promoloop.store import Store
from promoloop.store.models import (
    Customer,
    ModelVersion,
    PublishedCustomerFacts,
    PublishedScore,
)
from promoloop.store.publish import upsert_plan
from promoloop.targeting.promotions import PromotionPlan

SETTINGS = ServiceSettings()


def pseudonym(raw_id: str) -> str:
    """Return the pseudonym the service stores for a raw customer id."""
    return customer_pseudonym(raw_id, SETTINGS)


def customer_ids(count: int, prefix: str = "C") -> list[str]:
    """Return raw customer ids C0000, C0001, ..."""
    return [f"{prefix}{number:04d}" for number in range(count)]


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def promotion(promotion_id: str, **fields) -> dict:
    """Return a percent-off promotion spec; ``fields`` override its keys."""
    spec = {
        "promotion_id": promotion_id,
        "kind": "percent_off",
        "value": 10,
        "cost": {"message_cost": 0.05},
    }
    spec.update(fields)
    return spec


def campaign(campaign_id: str, promotions: list[dict], **fields) -> dict:
    """Return a campaign spec valid from 30 days ago to 30 days ahead."""
    spec = {
        "campaign_id": campaign_id,
        "name": f"Campaign {campaign_id}",
        "budget": 1000.0,
        "holdout_share": 0.0,
        "validity": {
            "start": (today() - dt.timedelta(days=30)).isoformat(),
            "end": (today() + dt.timedelta(days=30)).isoformat(),
        },
        "channel": "email",
        "promotions": promotions,
    }
    spec.update(fields)
    return spec


@dataclass
class Facts:
    """Published facts of a synthetic customer."""

    consent: bool | None = True
    locale: str | None = "en"
    segment_name: str | None = "Average"
    favourite_category: str | None = None
    frequency: int | None = 3
    recency_days: float | None = 10.0
    is_anomaly: bool = False
    featured_item_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Score:
    """A published pair: raw customer id, campaign, promotion, score and cost."""

    customer: str
    campaign_id: str
    promotion_id: str
    score: float = 1.0
    expected_cost: float = 0.5


def publish_synthetic(
    store: Store,
    campaigns: list[dict],
    scores: list[Score],
    facts: dict[str, Facts] | None = None,
    version: str = "synthetic-1",
    holdout_share_default: float = 0.1,
) -> str:
    """Write campaigns, scores and facts as the current model version.

    Every customer of ``scores`` gets published facts (``Facts()`` unless
    ``facts`` names them) and a row in the customers table with the same
    consent, as publishing a run inserts.
    """
    facts = dict(facts or {})
    for score in scores:
        facts.setdefault(score.customer, Facts())
    plan = PromotionPlan.model_validate({"campaigns": campaigns})
    with store.session() as session:
        upsert_plan(session, plan)
        session.add(
            ModelVersion(
                version=version,
                source="synthetic",
                manifest={
                    "parameters": {
                        "targeting": {"holdout_share": holdout_share_default}
                    }
                },
                is_current=False,
            )
        )
        session.flush()
        session.add_all(
            PublishedScore(
                version=version,
                customer_id=pseudonym(score.customer),
                campaign_id=score.campaign_id,
                promotion_id=score.promotion_id,
                score=score.score,
                expected_cost=score.expected_cost,
                score_source="synthetic",
            )
            for score in scores
        )
        for raw_id, fact in facts.items():
            customer_id = pseudonym(raw_id)
            session.add(
                PublishedCustomerFacts(
                    version=version, customer_id=customer_id, **vars(fact)
                )
            )
            if session.get(Customer, customer_id) is None:
                session.add(
                    Customer(
                        customer_id=customer_id,
                        locale=fact.locale,
                        consent=fact.consent,
                    )
                )
        session.flush()
        session.execute(
            update(ModelVersion).where(ModelVersion.is_current).values(is_current=False)
        )
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.version == version)
            .values(is_current=True)
        )
    return version
