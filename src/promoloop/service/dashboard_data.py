"""Data of the dashboard pages, read from the store: campaigns, pacing, lift.

Every number here is computed from the store's tables at request time; the
pages add no figure of their own.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from promoloop.errors import InputError
from promoloop.evaluation.campaign import ALL_PROMOTIONS, evaluate_campaigns
from promoloop.store import Store, current_version
from promoloop.store.export import evaluation_tables
from promoloop.store.models import (
    CampaignRecord,
    Decision,
    Feedback,
    FeedbackKind,
    PromotionRecord,
    PublishedCustomerFacts,
)

logger = logging.getLogger(__name__)

#: Pacing within this many percentage points of the elapsed window is "on pace".
ON_PACE_TOLERANCE_POINTS = 5.0
#: Outcome window of the lift estimates, in days after a customer's first decision.
LIFT_WINDOW_DAYS = 14.0
#: 1 - confidence level of the lift intervals.
LIFT_ALPHA = 0.05
#: Metrics of the lift table, in display order.
LIFT_METRICS = ("conversion_rate", "revenue_per_customer")
#: Label of customers whose published facts have no segment.
NO_SEGMENT = "(no segment)"

_OFFERED = ~Decision.holdout & Decision.promotion_id.is_not(None)


@dataclass(frozen=True)
class Pacing:
    """Share of a campaign's budget spent against share of its window elapsed.

    Attributes
    ----------
    spent_share : float
        ``spent / budget``.
    elapsed_share : float or None
        Share of the validity window that has passed, from 0 before the
        first day to 1 after the last; None without a window.
    verdict : str
        ``"ahead"`` (spending faster than the window passes), ``"behind"``,
        ``"on pace"``, or ``"unknown"`` without a window.
    gap_points : float or None
        ``100 * (spent_share - elapsed_share)``, in percentage points.
    window_state : str
        ``"not started"``, ``"running"``, ``"ended"`` or ``"unknown"``.
    """

    spent_share: float
    elapsed_share: float | None
    verdict: str
    gap_points: float | None
    window_state: str


@dataclass(frozen=True)
class CampaignSummary:
    """One campaign row of the overview page."""

    campaign_id: str
    name: str
    status: str
    currency: str
    budget: Decimal
    spent: Decimal
    valid_from: dt.date | None
    valid_to: dt.date | None
    pacing: Pacing
    offers_sent: int
    held_out: int
    holdout_share: float | None

    @property
    def used_share(self) -> float:
        """Share of the budget spent."""
        return self.pacing.spent_share


@dataclass(frozen=True)
class LiftRow:
    """One metric of one comparison, treated against the campaign's holdout."""

    comparison: str
    metric: str
    n_treated: int
    n_control: int
    treated_value: float | None
    control_value: float | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    reason: str | None

    @property
    def defined(self) -> bool:
        """Whether the data identify this lift."""
        return self.estimate is not None


@dataclass
class CampaignLift:
    """Lift of a campaign over its holdout, as the campaign page shows it.

    ``rows`` is empty and ``reason`` gives the cause when there is not enough data.
    ``warnings`` are the messages of the evaluation checks that did not pass.
    """

    rows: list[LiftRow] = field(default_factory=list)
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    window_days: float = LIFT_WINDOW_DAYS
    confidence: float = 1 - LIFT_ALPHA

    @property
    def pooled(self) -> list[LiftRow]:
        """Rows of all promotions pooled against the holdout."""
        return [row for row in self.rows if row.comparison == ALL_PROMOTIONS]


@dataclass(frozen=True)
class OfferRow:
    """A promotion of a campaign with what its decisions and feedback show."""

    promotion_id: str
    kind: str
    value: float | None
    status: str
    sent: int
    redemptions: int
    redemption_revenue: float
    cost: Decimal

    @property
    def redemption_rate(self) -> float | None:
        """Redemptions per offer sent; None before the first offer."""
        return self.redemptions / self.sent if self.sent else None


@dataclass(frozen=True)
class MessageSample:
    """One message sent with an offer, as plain text."""

    created_at: dt.datetime
    promotion_id: str | None
    message: str


@dataclass(frozen=True)
class SegmentRow:
    """A segment of the current published version and this campaign's offers."""

    segment: str
    customers: int
    offers_sent: int


# Pacing


def budget_pacing(
    spent: Decimal, budget: Decimal, validity: dict | None, now: dt.datetime
) -> Pacing:
    """Compare the share of budget spent with the share of the window elapsed.

    The validity window runs from 00:00 UTC of its first day to 24:00 UTC of
    its last day, both days included, as in the promotions file.

    Parameters
    ----------
    spent, budget : Decimal
        Money reserved so far and the campaign's budget (positive).
    validity : dict or None
        ``{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}`` from the campaign spec.
    now : datetime
        Timezone-aware current time.

    Returns
    -------
    Pacing
    """
    spent_share = float(spent / budget) if budget > 0 else 0.0
    window = _window(validity)
    if window is None:
        return Pacing(spent_share, None, "unknown", None, "unknown")
    start, end = window
    if now < start:
        elapsed, state = 0.0, "not started"
    elif now >= end:
        elapsed, state = 1.0, "ended"
    else:
        elapsed, state = (now - start) / (end - start), "running"
    gap = 100.0 * (spent_share - elapsed)
    if gap > ON_PACE_TOLERANCE_POINTS:
        verdict = "ahead"
    elif gap < -ON_PACE_TOLERANCE_POINTS:
        verdict = "behind"
    else:
        verdict = "on pace"
    return Pacing(spent_share, elapsed, verdict, gap, state)


def _window(validity: dict | None) -> tuple[dt.datetime, dt.datetime] | None:
    if not validity or not validity.get("start") or not validity.get("end"):
        return None
    start = dt.date.fromisoformat(str(validity["start"]))
    end = dt.date.fromisoformat(str(validity["end"])) + dt.timedelta(days=1)
    midnight = dt.time(0, tzinfo=dt.UTC)
    return dt.datetime.combine(start, midnight), dt.datetime.combine(end, midnight)


# Overview


def campaign_summaries(
    session: Session, now: dt.datetime, campaign_id: str | None = None
) -> list[CampaignSummary]:
    """Return every campaign (or only ``campaign_id``) with pacing and counts.

    Campaigns are ordered by id. ``offers_sent`` counts decisions with a
    promotion outside the holdout, and ``held_out`` the holdout decisions.
    """
    query = select(CampaignRecord).order_by(CampaignRecord.campaign_id)
    if campaign_id is not None:
        query = query.where(CampaignRecord.campaign_id == campaign_id)
    counts = _decision_counts(session, campaign_id)
    summaries = []
    for record in session.scalars(query):
        spec = record.spec or {}
        validity = spec.get("validity")
        sent, held_out = counts.get(record.campaign_id, (0, 0))
        summaries.append(
            CampaignSummary(
                campaign_id=record.campaign_id,
                name=str(spec.get("name") or ""),
                status=str(record.status.value),
                currency=str((spec.get("currency") or {}).get("code") or ""),
                budget=record.budget,
                spent=record.spent,
                valid_from=_date(validity, "start"),
                valid_to=_date(validity, "end"),
                pacing=budget_pacing(record.spent, record.budget, validity, now),
                offers_sent=sent,
                held_out=held_out,
                holdout_share=spec.get("holdout_share"),
            )
        )
    return summaries


def _decision_counts(
    session: Session, campaign_id: str | None
) -> dict[str, tuple[int, int]]:
    query = select(
        Decision.campaign_id,
        func.sum(case((_OFFERED, 1), else_=0)),
        func.sum(case((Decision.holdout, 1), else_=0)),
    ).group_by(Decision.campaign_id)
    if campaign_id is not None:
        query = query.where(Decision.campaign_id == campaign_id)
    return {
        campaign: (int(sent or 0), int(held_out or 0))
        for campaign, sent, held_out in session.execute(query)
    }


def _date(validity: dict | None, key: str) -> dt.date | None:
    if not validity or not validity.get(key):
        return None
    return dt.date.fromisoformat(str(validity[key]))


# Lift


def campaign_lift(
    store: Store, campaign_id: str, planned_holdout_share: float | None = None
) -> CampaignLift:
    """Estimate the campaign's lift over its holdout from the store's decisions.

    Conversion rate and revenue per customer are compared between the
    treated customers and the holdout, over all promotions and per
    promotion, with :func:`promoloop.evaluation.campaign.evaluate_campaigns`
    and the store's order and redemption feedback.

    Returns
    -------
    CampaignLift
        Without decisions, or when a group is empty, ``rows`` contains no
        defined pooled lift and ``reason`` gives the cause. Invalid feedback (a
        negative revenue, say) also gives a reason instead of raising.
    """
    # NOTE: the decisions and feedback are read and evaluated on every
    # request; a store with millions of decisions makes the page slow.
    exposures, outcomes = evaluation_tables(store, campaign_id)
    if exposures.empty:
        return CampaignLift(reason="no decisions are logged for this campaign yet")
    planned = None if planned_holdout_share is None else float(planned_holdout_share)
    try:
        report = evaluate_campaigns(
            exposures,
            outcomes,
            planned_holdout_share=planned,
            alpha=LIFT_ALPHA,
            window_days=LIFT_WINDOW_DAYS,
        )
    except InputError as error:
        logger.warning("lift of campaign %s not computed: %s", campaign_id, error)
        return CampaignLift(reason=f"the stored feedback cannot be evaluated: {error}")
    effects = report.tables["effects"]
    if effects.empty:
        return CampaignLift(
            reason="no decision of this campaign is an offer or a holdout yet"
        )
    rows = [_lift_row(row) for row in _lift_effects(effects)]
    pooled = [row for row in rows if row.comparison == ALL_PROMOTIONS]
    reason = next((row.reason for row in pooled if not row.defined), None)
    warnings = [
        _check_message(check)
        for check in report.checks
        if check.get("status") in ("warn", "fail")
    ]
    return CampaignLift(rows=rows, reason=reason, warnings=warnings)


def _check_message(check: dict[str, Any]) -> str:
    """Return a check's message, prefixed with its promotion when it has one."""
    promotion = check.get("promotion_id")
    message = str(check.get("message") or check.get("check"))
    if promotion is None or pd.isna(promotion) or promotion == ALL_PROMOTIONS:
        return message
    return f"{promotion}: {message}"


def _lift_effects(effects: pd.DataFrame) -> list[dict[str, Any]]:
    chosen = effects[effects["metric"].isin(LIFT_METRICS)]
    order = {metric: position for position, metric in enumerate(LIFT_METRICS)}
    records = chosen.astype(object).where(chosen.notna(), None).to_dict("records")
    return sorted(
        records,
        key=lambda row: (
            row["promotion_id"] != ALL_PROMOTIONS,
            str(row["promotion_id"]),
            order[row["metric"]],
        ),
    )


def _lift_row(row: dict[str, Any]) -> LiftRow:
    def number(key: str) -> float | None:
        value = row.get(key)
        return None if value is None else float(value)

    defined = bool(row.get("defined"))
    return LiftRow(
        comparison=str(row["promotion_id"]),
        metric=str(row["metric"]),
        n_treated=int(row["n_treated"]),
        n_control=int(row["n_control"]),
        treated_value=number("treated_value"),
        control_value=number("control_value"),
        estimate=number("estimate") if defined else None,
        ci_low=number("ci_low") if defined else None,
        ci_high=number("ci_high") if defined else None,
        p_value=number("p_value") if defined else None,
        reason=None if defined else str(row.get("reason") or "not identifiable"),
    )


# Offers, messages and segments


def top_offers(session: Session, campaign_id: str, limit: int) -> list[OfferRow]:
    """Return the campaign's promotions, most offers sent and redeemed first.

    ``sent`` counts offers outside the holdout, ``redemptions`` the
    redemption feedback on the promotion's decisions, and ``cost`` the money
    those decisions reserved from the budget.
    """
    sent = {
        promotion: (int(count), cost)
        for promotion, count, cost in session.execute(
            select(Decision.promotion_id, func.count(), func.sum(Decision.cost))
            .where(Decision.campaign_id == campaign_id, _OFFERED)
            .group_by(Decision.promotion_id)
        )
    }
    redeemed = {
        promotion: (int(count), float(revenue or 0.0))
        for promotion, count, revenue in session.execute(
            select(Decision.promotion_id, func.count(), func.sum(Feedback.revenue))
            .join(Feedback, Feedback.decision_id == Decision.decision_id)
            .where(
                Decision.campaign_id == campaign_id,
                Feedback.kind == FeedbackKind.REDEMPTION,
            )
            .group_by(Decision.promotion_id)
        )
    }
    promotions = session.scalars(
        select(PromotionRecord).where(PromotionRecord.campaign_id == campaign_id)
    )
    rows = []
    for promotion in promotions:
        spec = promotion.spec or {}
        count, cost = sent.get(promotion.promotion_id, (0, None))
        redemptions, revenue = redeemed.get(promotion.promotion_id, (0, 0.0))
        rows.append(
            OfferRow(
                promotion_id=promotion.promotion_id,
                kind=str(spec.get("kind") or ""),
                value=spec.get("value"),
                status=str(promotion.status.value),
                sent=count,
                redemptions=redemptions,
                redemption_revenue=revenue,
                cost=cost if cost is not None else Decimal(0),
            )
        )
    rows.sort(key=lambda row: (-row.sent, -row.redemptions, row.promotion_id))
    return rows[:limit]


def message_samples(
    session: Session, campaign_id: str, limit: int
) -> list[MessageSample]:
    """Return the campaign's latest messages sent with an offer, newest first."""
    query = (
        select(Decision.created_at, Decision.promotion_id, Decision.message)
        .where(
            Decision.campaign_id == campaign_id,
            _OFFERED,
            Decision.message.is_not(None),
            Decision.message != "",
        )
        .order_by(Decision.created_at.desc(), Decision.decision_id)
        .limit(limit)
    )
    return [
        MessageSample(created_at, promotion, message)
        for created_at, promotion, message in session.execute(query)
    ]


def segment_sizes(
    session: Session, campaign_id: str
) -> tuple[str | None, list[SegmentRow]]:
    """Count the current version's customers per segment and this campaign's offers.

    Returns
    -------
    version : str or None
        The current published version; None before the first publish.
    rows : list of SegmentRow
        Largest segment first. ``offers_sent`` counts the campaign's offers
        to customers of the segment; offers to customers that the version
        does not have are in no row.
    """
    version = current_version(session)
    if version is None:
        return None, []
    facts = PublishedCustomerFacts
    sizes = session.execute(
        select(facts.segment_name, func.count())
        .where(facts.version == version.version)
        .group_by(facts.segment_name)
    ).all()
    offers = dict(
        session.execute(
            select(facts.segment_name, func.count())
            .join(Decision, Decision.customer_id == facts.customer_id)
            .where(
                facts.version == version.version,
                Decision.campaign_id == campaign_id,
                _OFFERED,
            )
            .group_by(facts.segment_name)
        ).all()
    )
    rows = [
        SegmentRow(
            segment=segment if segment is not None else NO_SEGMENT,
            customers=int(count),
            offers_sent=int(offers.get(segment, 0)),
        )
        for segment, count in sizes
    ]
    rows.sort(key=lambda row: (-row.customers, row.segment))
    return version.version, rows
