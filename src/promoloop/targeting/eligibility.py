"""Which customer may receive which promotion, and why not.

Every (customer, promotion) pair of a plan gets a row with ``eligible`` and,
when it is False, the first rule that excluded it, so a report can count
exclusions by reason. Rules are checked in the order of :class:`Reason`.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import numpy as np
import pandas as pd

from promoloop.config import TargetingConfig
from promoloop.targeting.promotions import PromotionPlan
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

#: Profile columns read here, besides the customer id.
FREQUENCY = "frequency"
RECENCY_DAYS = "recency_days"
SEGMENT_NAME = "segment_name"
IS_ANOMALY = "is_anomaly"
REASON = "reason"


class Reason(StrEnum):
    """Reason a customer got no promotion, in the order rules are checked."""

    HOLDOUT = "holdout"
    NO_CONSENT = "no consent"
    ANOMALY = "anomaly"
    OUTSIDE_VALIDITY = "outside validity"
    MIN_ORDERS = "below min orders"
    RECENCY = "above max recency"
    SEGMENT = "segment excluded"
    NOT_NEW = "not a new customer"
    CAP_REACHED = "cap reached"
    NOT_ELIGIBLE = "not eligible"
    NEGATIVE_MARGIN = "negative margin"
    NOT_DRAWN = "not drawn"
    BUDGET = "budget"


#: Reasons that come from a promotion's own rules; a customer excluded only by
#: these from every promotion is reported as "not eligible".
RULE_REASONS = frozenset(
    {
        Reason.OUTSIDE_VALIDITY,
        Reason.MIN_ORDERS,
        Reason.RECENCY,
        Reason.SEGMENT,
        Reason.NOT_NEW,
        Reason.CAP_REACHED,
    }
)


def check_eligibility(
    profiles: pd.DataFrame,
    plan: PromotionPlan,
    exposures: pd.DataFrame | None,
    config: TargetingConfig,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Check every (customer, promotion) pair against consent, flags and rules.

    Parameters
    ----------
    profiles : DataFrame
        One row per customer with ``customer_id``, ``consent`` (missing means
        consent), ``frequency`` (past orders), ``recency_days``,
        ``segment_name`` and ``is_anomaly``. Missing optional columns pass
        every rule that reads them.
    plan : PromotionPlan
        Campaigns and promotions.
    exposures : DataFrame or None
        Past exposures with ``customer_id``, ``campaign_id``, ``promotion_id``
        and ``timestamp``; rows with a missing promotion (holdout rows) do not
        count towards a cap.
    config : TargetingConfig
        ``exclude_anomalies`` is read.
    as_of : Timestamp
        The decision date; a promotion whose validity window does not contain
        it is not offered.

    Returns
    -------
    DataFrame
        One row per pair: ``customer_id``, ``campaign_id``, ``promotion_id``,
        ``eligible`` (bool) and ``reason`` (missing when eligible).
    """
    customers = profiles[[C.customer_id]].reset_index(drop=True)
    promotions = plan.to_frame()[[C.campaign_id, C.promotion_id]]
    pairs = customers.merge(promotions, how="cross")
    reason = pd.Series(pd.NA, index=pairs.index, dtype="string")

    def mark(mask: np.ndarray, exclusion: Reason) -> None:
        # Keep the first reason found, so the order of the checks is the
        # order of precedence.
        reason[mask & reason.isna().to_numpy()] = exclusion.value

    # Customer-level rules: consent and anomaly flags.
    by_customer = profiles.set_index(C.customer_id)
    consent = _column(by_customer, C.consent, True, pairs).astype(bool)
    mark(~consent.to_numpy(), Reason.NO_CONSENT)
    if config.exclude_anomalies:
        anomaly = _column(by_customer, IS_ANOMALY, False, pairs).astype(bool)
        mark(anomaly.to_numpy(), Reason.ANOMALY)

    # Promotion rules, one promotion at a time over all customers.
    frequency = _column(by_customer, FREQUENCY, np.inf, pairs).astype(float)
    recency = _column(by_customer, RECENCY_DAYS, 0.0, pairs).astype(float)
    segment = _column(by_customer, SEGMENT_NAME, None, pairs)
    day = pd.Timestamp(as_of).date()
    for campaign in plan.campaigns:
        in_window = campaign.validity.start <= day <= campaign.validity.end
        for promotion in campaign.promotions:
            rows = (pairs[C.promotion_id] == promotion.promotion_id).to_numpy()
            rules = promotion.eligibility
            if not in_window:
                mark(rows, Reason.OUTSIDE_VALIDITY)
            mark(rows & (frequency < rules.min_orders).to_numpy(), Reason.MIN_ORDERS)
            if rules.max_recency_days is not None:
                too_old = (recency > rules.max_recency_days).to_numpy()
                mark(rows & too_old, Reason.RECENCY)
            if rules.segments_include is not None:
                outside = ~segment.isin(rules.segments_include).to_numpy()
                mark(rows & outside, Reason.SEGMENT)
            if rules.segments_exclude:
                inside = segment.isin(rules.segments_exclude).to_numpy()
                mark(rows & inside, Reason.SEGMENT)
            if rules.new_customers_only:
                mark(rows & (frequency > 1).to_numpy(), Reason.NOT_NEW)

    # Per-customer caps against past exposures in the validity window.
    received = _count_exposures(exposures, plan)
    if not received.empty:
        counted = pairs.merge(received, on=[C.customer_id, C.promotion_id], how="left")
        times = counted["times_received"].fillna(0).to_numpy()
        caps = pairs[C.promotion_id].map(
            {
                p.promotion_id: p.per_customer_cap
                for c in plan.campaigns
                for p in c.promotions
            }
        )
        mark(times >= caps.to_numpy(), Reason.CAP_REACHED)

    pairs[C.eligible] = reason.isna().to_numpy()
    pairs[REASON] = reason
    logger.debug(
        "eligibility: %d of %d pairs eligible", int(pairs[C.eligible].sum()), len(pairs)
    )
    return pairs


def _column(by_customer: pd.DataFrame, column: str, default, pairs: pd.DataFrame):
    """Return a profile column aligned to the pairs, missing values as default."""
    if column not in by_customer.columns:
        return pd.Series(default, index=pairs.index, dtype=object)
    values = pairs[C.customer_id].map(by_customer[column])
    if default is None:
        return values
    return values.astype(object).where(values.notna(), default)


def _count_exposures(exposures: pd.DataFrame | None, plan: PromotionPlan):
    """Count past exposures per (customer, promotion) inside each window."""
    columns = [C.customer_id, C.promotion_id, "times_received"]
    if exposures is None or exposures.empty:
        return pd.DataFrame(columns=columns)
    sent = exposures[exposures[C.promotion_id].notna()]
    windows = plan.to_frame()[[C.promotion_id, "valid_from", "valid_to"]]
    sent = sent.merge(windows, on=C.promotion_id, how="inner")
    stamp = pd.to_datetime(sent[C.timestamp], utc=True)
    start = pd.to_datetime(sent["valid_from"]).dt.tz_localize("UTC")
    end = pd.to_datetime(sent["valid_to"]).dt.tz_localize("UTC") + pd.Timedelta(days=1)
    sent = sent[((stamp >= start) & (stamp < end)).to_numpy()]
    counts = sent.groupby([C.customer_id, C.promotion_id]).size()
    return counts.rename("times_received").reset_index()
