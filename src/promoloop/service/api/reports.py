"""GET /v1/campaigns/{campaign_id}/report: spend, decisions, outcomes and lift."""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select

from promoloop.errors import InputError
from promoloop.evaluation.campaign import (
    ALL_PROMOTIONS,
    MIN_SEGMENT_SIZE,
    Effect,
    evaluate_campaigns,
)
from promoloop.service.api.campaign_schemas import (
    CampaignReportView,
    LiftEstimate,
    LiftSummary,
    ReportCheck,
)
from promoloop.service.api.campaigns import UNKNOWN_CAMPAIGN, read_campaign
from promoloop.service.api.ids import CampaignIdPath
from promoloop.service.api.responses import AUTH_ERRORS
from promoloop.service.deps import get_store, require_role
from promoloop.store import FeedbackKind, Role, Store
from promoloop.store.export import evaluation_tables
from promoloop.store.models import Decision, Feedback
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

router = APIRouter(
    tags=["campaigns"],
    dependencies=[Depends(require_role(Role.ADMIN))],
    responses=AUTH_ERRORS,
)

ALPHA = 0.05
# The lift needs no cost or ROI figures, so a small bootstrap suffices.
_BOOTSTRAP_RESAMPLES = 200


@router.get(
    "/campaigns/{campaign_id}/report",
    response_model=CampaignReportView,
    responses=UNKNOWN_CAMPAIGN,
)
def campaign_report(
    campaign_id: CampaignIdPath,
    store: Annotated[Store, Depends(get_store)],
    window_days: Annotated[
        float,
        Query(
            gt=0,
            le=365,
            description="Days after each customer's first decision in which "
            "orders count.",
        ),
    ] = 14,
) -> CampaignReportView:
    """Report a campaign's spend, decisions, redemptions, orders and lift so far.

    The lift compares customers offered a promotion with the campaign's
    holdout group, with 95% confidence intervals from
    :func:`promoloop.evaluation.campaign.evaluate_campaigns`. It is
    "not enough data" while either group is empty, and "too few" while
    either group has fewer customers than the evaluation's minimum segment
    size (``min_segment_size``, 200 by default).
    """
    campaign = read_campaign(store, campaign_id)
    with store.session() as session:
        decisions = dict(
            session.execute(
                select(Decision.holdout, func.count())
                .where(Decision.campaign_id == campaign_id)
                .group_by(Decision.holdout)
            ).all()
        )
        feedback = {
            kind: (count, revenue)
            for kind, count, revenue in session.execute(
                select(Feedback.kind, func.count(), func.sum(Feedback.revenue))
                .join(Decision, Feedback.decision_id == Decision.decision_id)
                .where(
                    Decision.campaign_id == campaign_id,
                    Feedback.kind.in_([FeedbackKind.REDEMPTION, FeedbackKind.ORDER]),
                )
                .group_by(Feedback.kind)
            )
        }
    redemptions, redemption_revenue = feedback.get(FeedbackKind.REDEMPTION, (0, 0))
    return CampaignReportView(
        campaign_id=campaign_id,
        status=campaign.status,
        currency=campaign.currency.code,
        budget=campaign.budget,
        spent=campaign.spent,
        remaining=max(campaign.budget - campaign.spent, Decimal(0)),
        decisions_sent=decisions.get(False, 0),
        decisions_held_out=decisions.get(True, 0),
        redemptions=redemptions,
        orders=feedback.get(FeedbackKind.ORDER, (0, 0))[0],
        redemption_revenue=float(redemption_revenue or 0),
        lift=campaign_lift(store, campaign_id, window_days),
    )


def campaign_lift(store: Store, campaign_id: str, window_days: float) -> LiftSummary:
    """Estimate conversion and revenue lift over the holdout from the store."""
    # Customers per group: the lift needs both.
    exposures, outcomes = evaluation_tables(store, campaign_id)
    held_out = exposures[C.holdout].astype(bool)
    treated = int(exposures.loc[~held_out, C.customer_id].nunique())
    control = int(exposures.loc[held_out, C.customer_id].nunique())
    summary = LiftSummary(
        status="not enough data",
        window_days=window_days,
        confidence_level=1 - ALPHA,
        min_group_size=MIN_SEGMENT_SIZE,
        customers_treated=treated,
        customers_held_out=control,
    )
    if treated == 0 or control == 0:
        empty = "offered" if treated == 0 else "holdout"
        summary.reason = f"no customer in the {empty} group yet"
        return summary

    # The estimates, with the checks that concern this campaign.
    try:
        report = evaluate_campaigns(
            exposures,
            outcomes,
            alpha=ALPHA,
            min_segment_size=MIN_SEGMENT_SIZE,
            window_days=window_days,
            n_boot=_BOOTSTRAP_RESAMPLES,
        )
        conversion = report.effect(campaign_id, "conversion_rate")
        revenue = report.effect(campaign_id, "revenue_per_customer")
    except (InputError, KeyError) as error:
        # KeyError: every customer was in both groups and was left out.
        logger.warning("no lift for campaign %s: %s", campaign_id, error)
        summary.reason = f"the evaluation found no comparable groups ({error})"
        return summary

    summary.conversion_rate = _estimate(conversion)
    summary.revenue_per_customer = _estimate(revenue)
    summary.checks = [
        _report_check(check)
        for check in report.checks
        if check.get("campaign_id") in (None, campaign_id)
    ]

    # Estimates from small groups are shown, but marked as unreliable.
    if min(treated, control) < MIN_SEGMENT_SIZE:
        summary.status = "too few"
        summary.reason = (
            f"{treated} offered and {control} holdout customers; the lift is "
            f"unreliable until each group has at least {MIN_SEGMENT_SIZE}"
        )
    else:
        summary.status = "ok"
    return summary


def _report_check(check: dict) -> ReportCheck:
    """Return an evaluation check whose message starts with its promotion."""
    promotion_id = check.get("promotion_id")
    message = str(check.get("message") or check.get("check"))
    if promotion_id == ALL_PROMOTIONS:
        message = f"all promotions pooled: {message}"
    elif promotion_id is not None:
        message = f"promotion {promotion_id!r}: {message}"
    return ReportCheck(
        check=str(check["check"]),
        status=check["status"],
        promotion_id=promotion_id,
        message=message,
    )


def _estimate(effect: Effect) -> LiftEstimate:
    return LiftEstimate(
        metric=effect.metric,
        defined=effect.defined,
        reason=effect.reason,
        treated_value=_finite(effect.treated_value),
        control_value=_finite(effect.control_value),
        estimate=_finite(effect.estimate),
        ci_low=_finite(effect.ci_low),
        ci_high=_finite(effect.ci_high),
        p_value=_finite(effect.p_value),
        method=effect.method,
    )


def _finite(value: float | None) -> float | None:
    """Return the value as a float, or None when missing, NaN or infinite.

    JSON has no NaN, and the response encoder rejects it.
    """
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
