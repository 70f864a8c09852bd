"""The decision steps: which offer one customer gets now, logged in the caller's
transaction.

For a known customer, the published pairs are tried best score first. A
pair passes when:

- its campaign is active and today (UTC) is inside the campaign's validity;
- its promotion is active, and the request's channel, if given, is the
  campaign's;
- the customer meets the promotion's eligibility rules on the published
  facts and has not reached the per-customer cap;
- its score is positive.
 The first passing pair goes through the campaign's
holdout draw: a holdout customer's decision is logged with the promotion
withheld and no budget spent. Otherwise the pair's expected cost is
reserved from the budget, and the next pair is tried when that fails.

A randomized campaign is a test that draws one of the customer's passing
promotions uniformly, whatever the scores, as the run does, so its logged
probability includes the draw.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

import numpy as np
from sqlalchemy.orm import Session

from promoloop.bandits.campaign import context_features
from promoloop.service.api.decision_sql import (
    DecisionRow,
    insert_decision,
    read_received,
    read_state,
    reserve_and_insert,
)
from promoloop.service.api.locks import customer_lock_key
from promoloop.service.api.messages import offer_message
from promoloop.service.api.offer_cache import (
    CampaignSnapshot,
    CustomerFacts,
    LiveCampaign,
    LivePolicy,
    ModelSnapshot,
    ScoredPair,
)
from promoloop.service.api.schemas import DecisionContext
from promoloop.service.settings import ServiceSettings
from promoloop.store.types import to_money
from promoloop.targeting.holdout import customer_draw
from promoloop.targeting.promotions import Eligibility, Promotion
from promoloop.targeting.randomized import _ARM_SALT

logger = logging.getLogger(__name__)

# Default promotion ids already reported missing: logged once, not per request.
_MISSING_DEFAULTS_LOGGED: set[str] = set()


@dataclass(frozen=True)
class DecisionOutcome:
    """Result of the decision steps; ``decision`` is None when nothing was logged."""

    status: str
    reason: str
    decision: DecisionRow | None = None


@dataclass(frozen=True)
class CustomerState:
    """Erasure, consent and locale of a customer in the store's own tables."""

    erased: bool
    consent: bool | None
    locale: str | None


def read_customer_state(session: Session, customer_id: str) -> CustomerState:
    """Read erasure, consent and locale in one statement, taking the locks.

    On PostgreSQL the same statement takes the customer's decision lock and
    the erasure lock in shared mode (see :mod:`.locks`).
    """
    erased, consent, locale = read_state(
        session, customer_id, customer_lock_key(customer_id)
    )
    return CustomerState(erased=erased, consent=consent, locale=locale)


def decide_offer(
    session: Session,
    models: ModelSnapshot,
    campaigns: CampaignSnapshot,
    customer_id: str,
    context: DecisionContext,
    settings: ServiceSettings,
    now: dt.datetime,
) -> DecisionOutcome:
    """Run the decision steps for one customer and log the decision.

    Parameters
    ----------
    session : Session
        Transaction that reserves the budget and logs the decision; both
        take effect when it commits.
    models, campaigns : ModelSnapshot, CampaignSnapshot
        The cached current version and campaigns.
    customer_id : str
        The customer's pseudonym.
    context : DecisionContext
        The request's context, logged with the decision.
    settings : ServiceSettings
        ``opted_out_offer`` and ``default_promotion_id`` are read.
    now : datetime
        Time of the decision, timezone-aware.

    Returns
    -------
    DecisionOutcome
    """
    state = read_customer_state(session, customer_id)
    if state.erased:
        return DecisionOutcome("no_offer", "erased")
    facts = models.facts.get(customer_id)
    decider = _Decider(session, models, campaigns, customer_id, context, now, state)

    # The store's consent is newer than the published one when it is set.
    consent = state.consent
    if consent is None and facts is not None:
        consent = facts.consent
    if consent is False:
        if settings.opted_out_offer == "default" and settings.default_promotion_id:
            return decider.default_offer(settings.default_promotion_id, "opted_out")
        return DecisionOutcome("no_offer", "opted_out")
    if facts is None:
        if settings.default_promotion_id:
            return decider.default_offer(
                settings.default_promotion_id, "unknown_customer"
            )
        return DecisionOutcome("no_offer", "unknown_customer")
    return decider.best_offer(facts)


@dataclass
class _Decider:
    """Inputs of one decision, and the decision log rows it reads."""

    session: Session
    models: ModelSnapshot
    campaigns: CampaignSnapshot
    customer_id: str
    context: DecisionContext
    now: dt.datetime
    state: CustomerState
    _received: dict[str, list[dt.datetime]] | None = field(default=None, init=False)

    def best_offer(self, facts: CustomerFacts) -> DecisionOutcome:
        """Let the bandit campaigns decide, then try the published pairs.

        The bandit campaigns go first, in campaign id order, and the first
        one with an eligible promotion decides, "none" included, so that the
        reward of "none" is measured without another campaign's offer.
        """
        pairs = self.models.scores.get(self.customer_id, ())
        bandit_promotions = [
            promotion.promotion_id
            for campaign_id in self.campaigns.policies
            for promotion in self.campaigns.campaigns[campaign_id].spec.promotions
        ]
        self._load_received(
            [*bandit_promotions, *(pair.promotion_id for pair in pairs)]
        )
        for campaign_id in sorted(self.campaigns.policies):
            outcome = self._bandit_offer(
                self.campaigns.campaigns[campaign_id],
                self.campaigns.policies[campaign_id],
                facts,
            )
            if outcome is not None:
                return outcome
        eligible_by_campaign: dict[str, list[ScoredPair]] = {}
        for pair in pairs:
            campaign = self.campaigns.campaigns.get(pair.campaign_id)
            promotion = campaign.promotion(pair.promotion_id) if campaign else None
            if campaign is None or promotion is None:
                continue
            if campaign.spec.assignment == "bandit":
                # Decided by its policy above, whatever the published scores.
                continue
            if not self._passes(campaign, promotion, facts):
                continue
            if pair.campaign_id not in eligible_by_campaign:
                eligible_by_campaign[pair.campaign_id] = self._eligible_pairs(
                    campaign, pairs, facts
                )
            eligible = eligible_by_campaign[pair.campaign_id]
            arm_probability = 1.0
            if campaign.spec.assignment == "randomized":
                if not eligible:
                    continue
                # One uniform draw among the passing promotions, sorted by
                # id, with the run's hash: the same arm as the run would give.
                pair, arm_probability = self._draw_arm(campaign, eligible)
                promotion = campaign.promotion(pair.promotion_id)
                eligible_by_campaign[pair.campaign_id] = []
            elif pair.score <= 0:
                continue
            outcome = self._offer(
                campaign,
                promotion,
                pair.expected_cost,
                eligible=[p.promotion_id for p in eligible],
                arm_probability=arm_probability,
                facts=facts,
                reason="offer",
            )
            if outcome is not None:
                return outcome
        return DecisionOutcome("no_offer", "no_eligible_offer")

    def _bandit_offer(
        self, campaign: LiveCampaign, live: LivePolicy, facts: CustomerFacts
    ) -> DecisionOutcome | None:
        """Let a bandit campaign's policy choose; None when nothing is eligible.

        The holdout draw comes first and logs the action the policy would
        have taken, withheld. Otherwise the chosen action is logged with the
        policy's probability of it (given that the customer is not held
        out), the context and the policy version. "none" is logged too,
        because learning and evaluation need its reward.
        """
        policy = live.policy
        eligible = [
            promotion
            for promotion in campaign.spec.promotions
            if promotion.promotion_id in policy.actions
            and self._passes(campaign, promotion, facts)
        ]
        if not eligible:
            return None
        mask = np.zeros(policy.n_actions, dtype=bool)
        mask[policy.action_codes([p.promotion_id for p in eligible])] = True
        features = context_features(
            [_or_nan(facts.frequency)], [_or_nan(facts.recency_days)]
        )
        choice = policy.choose(
            features if policy.contextual else None,
            mask,
            random_state=np.random.default_rng(),
        )
        action = str(choice.actions[0])
        promotion = campaign.promotion(action)
        decision = self._row(
            campaign,
            promotion,
            Decimal(0),
            [p.promotion_id for p in eligible],
            float(choice.probability[0]),
            False,
            None,
        )
        decision = replace(
            decision,
            features=[float(value) for value in features[0]],
            policy_version=live.version,
        )

        share = self._holdout_share(campaign)
        if self._holdout_draw(campaign.spec.campaign_id) < share:
            decision = replace(decision, holdout=True, probability=share)
            insert_decision(self.session, decision)
            return DecisionOutcome("holdout", "holdout", decision)
        if promotion is None:
            insert_decision(self.session, decision)
            return DecisionOutcome("no_offer", "policy_chose_none", decision)

        locale = self.state.locale or facts.locale
        message = offer_message(
            campaign, promotion, facts, locale, self.models.default_locale
        )
        cost = to_money(promotion.cost.message_cost)
        decision = replace(decision, cost=cost, message=message)
        if not reserve_and_insert(self.session, decision):
            logger.info(
                "no budget reserved: campaign %r, cost %s",
                campaign.spec.campaign_id,
                cost,
            )
            return DecisionOutcome("no_offer", "no_budget")
        return DecisionOutcome("offer", "policy", decision)

    def default_offer(self, promotion_id: str, fallback: str) -> DecisionOutcome:
        """Offer the non-personalized default promotion, or no offer.

        It passes the same campaign, validity, channel and cap checks as a
        scored pair, but no eligibility rule, because those read the
        customer's profile. Its cost is the promotion's message cost.
        """
        try:
            campaign, promotion = self.campaigns.find_promotion(promotion_id)
        except KeyError:
            if promotion_id not in _MISSING_DEFAULTS_LOGGED:
                _MISSING_DEFAULTS_LOGGED.add(promotion_id)
                logger.warning(
                    "default promotion %r not found in the store, so no default "
                    "offer is made; create it or fix default_promotion_id",
                    promotion_id,
                )
            return DecisionOutcome("no_offer", fallback)
        self._load_received([promotion_id])
        if not self._passes(campaign, promotion, facts=None):
            return DecisionOutcome("no_offer", fallback)
        outcome = self._offer(
            campaign,
            promotion,
            to_money(promotion.cost.message_cost),
            eligible=[promotion_id],
            arm_probability=1.0,
            facts=None,
            reason="default_offer",
        )
        return outcome or DecisionOutcome("no_offer", fallback)

    def _passes(
        self,
        campaign: LiveCampaign,
        promotion: Promotion,
        facts: CustomerFacts | None,
    ) -> bool:
        """Check every rule of a pair except the score, holdout and budget."""
        spec = campaign.spec
        if not campaign.active or promotion.promotion_id not in (
            campaign.active_promotions
        ):
            return False
        if not spec.validity.start <= self.now.date() <= spec.validity.end:
            return False
        channel = self.context.channel
        if channel is not None and channel != spec.channel:
            return False
        if facts is not None:
            if self.models.exclude_anomalies and facts.is_anomaly:
                return False
            if not meets_eligibility(promotion.eligibility, facts):
                return False
        return self._times_received(campaign, promotion) < promotion.per_customer_cap

    def _eligible_pairs(
        self,
        campaign: LiveCampaign,
        pairs: Iterable[ScoredPair],
        facts: CustomerFacts,
    ) -> list[ScoredPair]:
        """Return the campaign's pairs that pass the rules, sorted by promotion."""
        passing = []
        for pair in pairs:
            if pair.campaign_id != campaign.spec.campaign_id:
                continue
            promotion = campaign.promotion(pair.promotion_id)
            if promotion is not None and self._passes(campaign, promotion, facts):
                passing.append(pair)
        return sorted(passing, key=lambda pair: pair.promotion_id)

    def _draw_arm(
        self, campaign: LiveCampaign, eligible: list[ScoredPair]
    ) -> tuple[ScoredPair, float]:
        draw = customer_draw(self.customer_id, campaign.spec.campaign_id, _ARM_SALT)
        position = min(math.floor(draw * len(eligible)), len(eligible) - 1)
        return eligible[position], 1.0 / len(eligible)

    def _offer(
        self,
        campaign: LiveCampaign,
        promotion: Promotion,
        cost: Decimal,
        *,
        eligible: list[str],
        arm_probability: float,
        facts: CustomerFacts | None,
        reason: str,
    ) -> DecisionOutcome | None:
        """Hold the customer out, or reserve the cost and log the offer.

        Returns None when the budget cannot cover the cost.
        """
        spec = campaign.spec
        share = self._holdout_share(campaign)
        if self._holdout_draw(spec.campaign_id) < share:
            decision = self._row(
                campaign, promotion, Decimal(0), eligible, share, True, None
            )
            insert_decision(self.session, decision)
            return DecisionOutcome("holdout", "holdout", decision)
        locale = self.state.locale or (facts.locale if facts is not None else None)
        message = offer_message(
            campaign, promotion, facts, locale, self.models.default_locale
        )
        probability = (1.0 - share) * arm_probability
        decision = self._row(
            campaign, promotion, cost, eligible, probability, False, message
        )
        if not reserve_and_insert(self.session, decision):
            logger.info(
                "no budget reserved: campaign %r, cost %s", spec.campaign_id, cost
            )
            return None
        return DecisionOutcome("offer", reason, decision)

    def _holdout_share(self, campaign: LiveCampaign) -> float:
        share = campaign.spec.holdout_share
        if share is None:
            share = self.models.holdout_share_default
        return share

    def _holdout_draw(self, campaign_id: str) -> float:
        draw = self.models.holdout_draws.get((self.customer_id, campaign_id))
        if draw is None:
            draw = customer_draw(self.customer_id, campaign_id)
        return draw

    def _row(
        self,
        campaign: LiveCampaign,
        promotion: Promotion | None,
        cost: Decimal,
        eligible: list[str],
        probability: float,
        holdout: bool,
        message: str | None,
    ) -> DecisionRow:
        return DecisionRow(
            decision_id=uuid.uuid4().hex,
            customer_id=self.customer_id,
            campaign_id=campaign.spec.campaign_id,
            promotion_id=promotion.promotion_id if promotion is not None else None,
            eligible=list(eligible),
            probability=probability,
            holdout=holdout,
            model_version=self.models.version,
            cost=to_money(cost),
            context=self.context.model_dump(mode="json", exclude_none=True),
            message=message,
            created_at=self.now,
        )

    def _load_received(self, promotion_ids: Iterable[str]) -> None:
        """Read when the customer's decisions for these promotions were logged.

        Sent and withheld decisions both count towards a cap, as the run's
        decision log counts withheld offers, so the holdout group moves on
        to its next offer exactly as the treated group does.
        """
        requested = sorted(set(promotion_ids))
        self._received = {}
        if not requested:
            return
        for promotion_id, created_at in read_received(
            self.session, self.customer_id, requested
        ):
            self._received.setdefault(promotion_id, []).append(created_at)

    def _times_received(self, campaign: LiveCampaign, promotion: Promotion) -> int:
        validity = campaign.spec.validity
        start = dt.datetime.combine(validity.start, dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine(validity.end, dt.time.max, tzinfo=dt.UTC)
        stamps = (self._received or {}).get(promotion.promotion_id, [])
        return sum(start <= stamp <= end for stamp in stamps)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def meets_eligibility(rules: Eligibility, facts: CustomerFacts) -> bool:
    """Check a promotion's eligibility rules against a customer's facts.

    The same rules as :func:`promoloop.targeting.eligibility.check_eligibility`
    with its defaults for missing facts: a missing order count passes
    ``min_orders`` and fails ``new_customers_only``, a missing recency counts
    as 0 days, and a missing segment is outside every ``segments_include``.
    """
    frequency = math.inf if facts.frequency is None else facts.frequency
    recency = 0.0 if facts.recency_days is None else facts.recency_days
    if frequency < rules.min_orders:
        return False
    if rules.max_recency_days is not None and recency > rules.max_recency_days:
        return False
    segment = facts.segment_name
    if rules.segments_include is not None and segment not in rules.segments_include:
        return False
    if segment is not None and segment in rules.segments_exclude:
        return False
    return not (rules.new_customers_only and frequency > 1)
