"""In-memory copy of what decisions read: the current version and the campaigns.

A decision must not query the published scores, facts and campaign specs on
every request. :class:`OfferCache` keeps them in memory and checks the
database at most once per ``refresh_seconds``:

- the current model version. When it changed, the new version's scores and
  customer facts are loaded in full, by the one request that noticed, while
  concurrent requests go on with the previous snapshot;
- the campaigns and promotions, reloaded in full because the tables are
  small. Changes made through this process's API take effect at once
  (:meth:`OfferCache.invalidate_campaigns`); those made by another process,
  such as ``promoloop publish`` or another worker, within
  ``refresh_seconds``;
- customers erased since the last check, whose rows are dropped from memory.

A loaded snapshot contains a few hundred thousand Python objects. Python's
cyclic garbage collector walks every tracked object in its oldest
generation, which took about 80 ms for the Complete Journey snapshot: a
pause that lands on whichever requests are in flight. After each new
snapshot the cache therefore collects once and freezes what is left
(:func:`gc.freeze`), so later collections skip the snapshot. Reference
counting still frees a replaced snapshot; only reference cycles inside
it would stay until the next freeze, which unfreezes first.

Staleness cannot overspend: the budget reservation checks the campaign's
status and budget in the database. A campaign paused by another process
can still log holdout decisions for up to ``refresh_seconds``.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal

import pandas as pd
from fastapi import Request
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from promoloop.bandits import BanditPolicy
from promoloop.bandits.campaign import build_policy, campaign_actions
from promoloop.config import MessagingConfig, TargetingConfig
from promoloop.errors import InputError
from promoloop.store import Store
from promoloop.store.models import (
    CampaignRecord,
    CampaignStatus,
    DeletedCustomer,
    ModelVersion,
    PromotionRecord,
    PublishedCustomerFacts,
    PublishedScore,
)
from promoloop.store.policies import current_policy_versions, load_policy
from promoloop.store.types import to_money
from promoloop.targeting.holdout import holdout_draw
from promoloop.targeting.promotions import Campaign, Currency, Promotion

logger = logging.getLogger(__name__)

#: Seconds between two checks of the database for changes.
REFRESH_SECONDS = 1.0
# Erasures are looked up again this far back, so that an erasure whose
# transaction committed after a later one was seen is not missed.
_ERASURE_OVERLAP = dt.timedelta(minutes=5)
_INVALID_CAMPAIGNS_LOGGED: set[tuple[str, dt.datetime]] = set()


@dataclass(frozen=True)
class ScoredPair:
    """One published (customer, promotion) pair: score and expected cost."""

    campaign_id: str
    promotion_id: str
    score: float
    expected_cost: Decimal


@dataclass(frozen=True)
class CustomerFacts:
    """The published facts of one customer that rules and messages read."""

    locale: str | None
    consent: bool | None
    segment_name: str | None
    favourite_category: str | None
    frequency: int | None
    recency_days: float | None
    is_anomaly: bool
    featured_item_ids: tuple[str, ...]


@dataclass
class ModelSnapshot:
    """Scores and facts of one model version, by customer pseudonym.

    ``holdout_draws`` contains each scored customer's uniform draw per campaign
    (:func:`promoloop.targeting.holdout.holdout_draw`), so the holdout test
    at decision time is one comparison with the campaign's current share.
    """

    version: str | None
    holdout_share_default: float
    exclude_anomalies: bool
    default_locale: str
    scores: dict[str, tuple[ScoredPair, ...]] = field(default_factory=dict)
    facts: dict[str, CustomerFacts] = field(default_factory=dict)
    holdout_draws: dict[tuple[str, str], float] = field(default_factory=dict)

    def forget(self, customer_id: str) -> None:
        """Drop a customer's rows, e.g. after an erasure."""
        pairs = self.scores.pop(customer_id, ())
        self.facts.pop(customer_id, None)
        for campaign_id in {pair.campaign_id for pair in pairs}:
            self.holdout_draws.pop((customer_id, campaign_id), None)


@dataclass(frozen=True)
class LiveCampaign:
    """A campaign's spec with every promotion, its status and currency."""

    spec: Campaign
    active: bool
    active_promotions: frozenset[str]
    currency: Currency

    def promotion(self, promotion_id: str) -> Promotion | None:
        """Return the campaign's promotion with this id, or None."""
        for promotion in self.spec.promotions:
            if promotion.promotion_id == promotion_id:
                return promotion
        return None


@dataclass(frozen=True)
class LivePolicy:
    """The policy a bandit campaign decides with, and its saved version.

    Version 0 is the policy's prior, used before ``promoloop learn`` saved
    any version.
    """

    version: int
    policy: BanditPolicy


@dataclass(frozen=True)
class CampaignSnapshot:
    """Campaigns by id, the campaign of each promotion id, and bandit policies."""

    campaigns: dict[str, LiveCampaign]
    campaign_of_promotion: dict[str, str]
    policies: dict[str, LivePolicy] = field(default_factory=dict)

    def find_promotion(self, promotion_id: str) -> tuple[LiveCampaign, Promotion]:
        """Return a promotion and its campaign; KeyError when unknown."""
        campaign = self.campaigns[self.campaign_of_promotion[promotion_id]]
        promotion = campaign.promotion(promotion_id)
        if promotion is None:
            raise KeyError(promotion_id)
        return campaign, promotion


class OfferCache:
    """Thread-safe cache of the current model version and the campaigns.

    Parameters
    ----------
    store : Store
        The service's store.
    refresh_seconds : float, default REFRESH_SECONDS
        Minimum time in seconds between two checks of the database.
    """

    def __init__(self, store: Store, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._current: tuple[ModelSnapshot, CampaignSnapshot] | None = None
        self._next_check = 0.0
        # Incremented by every invalidation, so that a refresh that started
        # before a campaign change does not hide it for refresh_seconds.
        self._generation = 0
        self._erasures_seen: dt.datetime | None = None
        # Bandit policies by campaign, with the (version, spec) they came from.
        self._policies: dict[str, tuple[tuple, LivePolicy]] = {}

    def snapshot(self) -> tuple[ModelSnapshot, CampaignSnapshot]:
        """Return the current snapshots, refreshing them first when due."""
        if self._current is None or time.monotonic() >= self._next_check:
            self._refresh_if_due()
        current = self._current
        if current is None:
            raise RuntimeError("the offer cache failed to load; see the log")
        return current

    def invalidate_campaigns(self) -> None:
        """Reload everything at the next request, e.g. after a campaign change."""
        self._generation += 1
        self._next_check = 0.0

    def forget_customer(self, customer_id: str) -> None:
        """Drop an erased customer from memory at once."""
        if self._current is not None:
            self._current[0].forget(customer_id)

    def _refresh_if_due(self) -> None:
        first = self._current is None
        # Only the first load makes requests wait; later, one request
        # refreshes and the others use the snapshot they have.
        if not self._lock.acquire(blocking=first):
            return
        try:
            if self._current is None or time.monotonic() >= self._next_check:
                generation = self._generation
                self._refresh_or_keep()
                if generation == self._generation:
                    self._next_check = time.monotonic() + self.refresh_seconds
        finally:
            self._lock.release()

    def _refresh_or_keep(self) -> None:
        """Refresh; on a database error keep serving the snapshot there is."""
        try:
            self._refresh()
        except SQLAlchemyError:
            if self._current is None:
                raise
            # Logged at most once per refresh interval.
            logger.warning(
                "offer cache refresh failed; decisions use the snapshot of "
                "version %s until the next try",
                self._current[0].version,
                exc_info=True,
            )

    def _refresh(self) -> None:
        with self.store.session() as session:
            version = session.scalar(
                select(ModelVersion.version).where(ModelVersion.is_current)
            )
            models = self._current[0] if self._current is not None else None
            if models is None or models.version != version:
                # Read before the scores, so that an erasure committed while
                # they load is dropped at the next refresh.
                self._erasures_seen = session.scalar(
                    select(func.max(DeletedCustomer.deleted_at))
                )
                models = load_model_snapshot(session, version)
                _freeze_long_lived_objects()
            else:
                self._drop_erased(session, models)
            campaigns = load_campaign_snapshot(session)
            policies = self._live_policies(session, campaigns)
        campaigns = replace(campaigns, policies=policies)
        self._current = (models, campaigns)

    def _live_policies(
        self, session: Session, campaigns: CampaignSnapshot
    ) -> dict[str, LivePolicy]:
        """Return the policy of every bandit campaign, reloading changed ones."""
        versions = current_policy_versions(session)
        policies: dict[str, LivePolicy] = {}
        for campaign_id, campaign in campaigns.campaigns.items():
            if campaign.spec.assignment != "bandit":
                continue
            version = versions.get(campaign_id, 0)
            source = (
                version,
                campaign.spec.policy,
                tuple(campaign_actions(campaign.spec)),
            )
            known = self._policies.get(campaign_id)
            if known is not None and known[0] == source:
                if known[1] is not None:
                    policies[campaign_id] = known[1]
                continue
            live = _load_live_policy(session, campaign, version)
            self._policies[campaign_id] = (source, live)
            if live is not None:
                policies[campaign_id] = live
        return policies

    def _drop_erased(self, session: Session, models: ModelSnapshot) -> None:
        query = select(DeletedCustomer.customer_id, DeletedCustomer.deleted_at)
        if self._erasures_seen is not None:
            query = query.where(
                DeletedCustomer.deleted_at >= self._erasures_seen - _ERASURE_OVERLAP
            )
        for customer_id, deleted_at in session.execute(query):
            models.forget(customer_id)
            if self._erasures_seen is None or deleted_at > self._erasures_seen:
                self._erasures_seen = deleted_at


def _load_live_policy(
    session: Session, campaign: LiveCampaign, version: int
) -> LivePolicy | None:
    """Load a campaign's saved policy version, or build its prior for version 0.

    Returns None, and logs the error, when the policy cannot be built: the
    campaign then makes no decision, and the other campaigns go on.
    """
    spec = campaign.spec
    try:
        if version > 0:
            saved = load_policy(session, spec.campaign_id, version)
            if saved is not None:
                logger.info(
                    "campaign %s decides with policy version %d (%s)",
                    spec.campaign_id,
                    version,
                    saved.policy.kind,
                )
                return LivePolicy(version, saved.policy)
        return LivePolicy(0, build_policy(spec.policy, campaign_actions(spec)))
    except (InputError, TypeError, ValueError) as error:
        logger.error(
            "bandit campaign %s makes no decision: its policy version %d cannot "
            "be built (%s); fix the campaign's policy or promotions",
            spec.campaign_id,
            version,
            error,
        )
        return None


def _freeze_long_lived_objects() -> None:
    """Collect once, then keep the surviving objects out of later collections."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    logger.info(
        "froze %d long-lived objects in %.0f ms",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )


def load_model_snapshot(session: Session, version: str | None) -> ModelSnapshot:
    """Load the scores and facts of a model version into memory."""
    started = time.perf_counter()
    manifest = None
    if version is not None:
        manifest = session.scalar(
            select(ModelVersion.manifest).where(ModelVersion.version == version)
        )
    snapshot = _snapshot_settings(version, manifest or {})
    if version is None:
        return snapshot

    # Scores, best first per customer, as get_scores orders them.
    rows = session.execute(
        select(
            PublishedScore.customer_id,
            PublishedScore.campaign_id,
            PublishedScore.promotion_id,
            PublishedScore.score,
            PublishedScore.expected_cost,
        )
        .where(PublishedScore.version == version)
        .order_by(
            PublishedScore.customer_id,
            PublishedScore.score.desc(),
            PublishedScore.promotion_id,
        )
    ).all()
    grouped: dict[str, list[ScoredPair]] = {}
    for customer_id, campaign_id, promotion_id, score, expected_cost in rows:
        grouped.setdefault(customer_id, []).append(
            ScoredPair(campaign_id, promotion_id, score, to_money(expected_cost))
        )
    snapshot.scores = {customer: tuple(pairs) for customer, pairs in grouped.items()}

    facts = session.scalars(
        select(PublishedCustomerFacts).where(PublishedCustomerFacts.version == version)
    )
    snapshot.facts = {row.customer_id: _facts(row) for row in facts}
    snapshot.holdout_draws = _holdout_draws(rows)
    logger.info(
        "loaded model version %s: %d customers, %d scored pairs in %.2f s",
        version,
        len(snapshot.facts),
        len(rows),
        time.perf_counter() - started,
    )
    return snapshot


def _snapshot_settings(version: str | None, manifest: dict) -> ModelSnapshot:
    """Read the run's holdout, anomaly and locale settings from its manifest.

    A setting that the manifest lacks or stores with another type (a run of an
    older promoloop version) takes the current default.
    """
    parameters = manifest.get("parameters") or {}
    targeting = parameters.get("targeting") or {}
    messaging = parameters.get("messaging") or {}
    defaults_targeting, defaults_messaging = TargetingConfig(), MessagingConfig()
    share = targeting.get("holdout_share")
    if not isinstance(share, int | float) or not 0 <= share < 1:
        share = defaults_targeting.holdout_share
    exclude = targeting.get("exclude_anomalies")
    if not isinstance(exclude, bool):
        exclude = defaults_targeting.exclude_anomalies
    locale = messaging.get("default_locale")
    if not isinstance(locale, str) or not locale:
        locale = defaults_messaging.default_locale
    return ModelSnapshot(
        version=version,
        holdout_share_default=float(share),
        exclude_anomalies=exclude,
        default_locale=locale,
    )


def load_campaign_snapshot(session: Session) -> CampaignSnapshot:
    """Load every campaign with all its promotions and their statuses."""
    promotions: dict[str, list[PromotionRecord]] = {}
    for record in session.scalars(
        select(PromotionRecord).order_by(PromotionRecord.promotion_id)
    ):
        promotions.setdefault(record.campaign_id, []).append(record)
    campaigns: dict[str, LiveCampaign] = {}
    campaign_of_promotion: dict[str, str] = {}
    for record in session.scalars(select(CampaignRecord)):
        stored = promotions.get(record.campaign_id, [])
        if not stored:
            continue
        try:
            spec = Campaign.model_validate(
                {**record.spec, "promotions": [p.spec for p in stored]}
            )
        except ValidationError as error:
            # Logged once per stored version of the campaign, not every refresh.
            seen = (record.campaign_id, record.updated_at)
            if seen not in _INVALID_CAMPAIGNS_LOGGED:
                _INVALID_CAMPAIGNS_LOGGED.add(seen)
                logger.error(
                    "campaign %s has an invalid stored spec and is not offered: %s",
                    record.campaign_id,
                    error,
                )
            continue
        campaigns[record.campaign_id] = LiveCampaign(
            spec=spec,
            active=record.status == CampaignStatus.ACTIVE,
            active_promotions=frozenset(
                p.promotion_id for p in stored if p.status == CampaignStatus.ACTIVE
            ),
            currency=spec.currency or Currency(),
        )
        for promotion in stored:
            campaign_of_promotion[promotion.promotion_id] = record.campaign_id
    return CampaignSnapshot(campaigns, campaign_of_promotion)


def _facts(row: PublishedCustomerFacts) -> CustomerFacts:
    return CustomerFacts(
        locale=row.locale,
        consent=row.consent,
        segment_name=row.segment_name,
        favourite_category=row.favourite_category,
        frequency=row.frequency,
        recency_days=row.recency_days,
        is_anomaly=bool(row.is_anomaly),
        featured_item_ids=tuple(row.featured_item_ids or ()),
    )


def _holdout_draws(rows) -> dict[tuple[str, str], float]:
    """Draw every scored customer's holdout number once per campaign."""
    pairs = pd.DataFrame(
        [(customer, campaign) for customer, campaign, *_ in rows],
        columns=["customer_id", "campaign_id"],
    ).drop_duplicates()
    draws: dict[tuple[str, str], float] = {}
    for campaign_id, group in pairs.groupby("campaign_id", sort=False):
        customers = group["customer_id"].astype("string").reset_index(drop=True)
        numbers = holdout_draw(customers, str(campaign_id))
        draws.update(
            zip(
                zip(customers, [campaign_id] * len(customers), strict=True),
                numbers.to_numpy(dtype=float),
                strict=True,
            )
        )
    return draws


_CREATE_LOCK = threading.Lock()


async def get_offer_cache(request: Request) -> OfferCache:
    """Return the application's offer cache, creating it on first use.

    A coroutine, so that FastAPI calls it on the event loop instead of
    handing it to a worker thread.
    """
    state = request.app.state
    cache = getattr(state, "offer_cache", None)
    if cache is None:
        with _CREATE_LOCK:
            cache = getattr(state, "offer_cache", None)
            if cache is None:
                cache = OfferCache(state.store)
                state.offer_cache = cache
    return cache
