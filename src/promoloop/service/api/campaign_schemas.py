"""Request and response bodies of the campaign endpoints and the campaign report.

The campaign specs are those of :mod:`promoloop.targeting.promotions` with
the size and value bounds of :mod:`promoloop.service.api.schemas`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from promoloop.service.api.ids import Id
from promoloop.service.api.schemas import (
    MAX_LIST_VALUES,
    MAX_MONEY,
    MAX_PER_CUSTOMER_CAP,
    MAX_PROMOTIONS,
    Day,
    Label,
)
from promoloop.store.models import CampaignStatus
from promoloop.targeting.promotions import (
    Assignment,
    Campaign,
    CostModel,
    Currency,
    Eligibility,
    PolicySpec,
    Promotion,
    Scope,
    ScopeType,
    Validity,
    check_bandit_actions,
)

# Campaigns: the specs of targeting.promotions with size and value bounds.


class CurrencySpec(Currency):
    """Currency of a campaign's money amounts."""

    code: str = Field(default="USD", min_length=3, max_length=3, pattern=r"^[A-Z]+$")
    symbol: str = Field(default="$", min_length=1, max_length=8, pattern=r"^[^\x00]+$")


class ScopeSpec(Scope):
    """Purchases a promotion applies to."""

    values: list[Id] = Field(default_factory=list, max_length=MAX_LIST_VALUES)


class CostModelSpec(CostModel):
    """Costs of a promotion besides the discount."""

    message_cost: float = Field(default=0.05, ge=0, le=MAX_MONEY)
    redemption_cost: float = Field(default=0.0, ge=0, le=MAX_MONEY)


class EligibilitySpec(Eligibility):
    """Rules a customer must meet to receive a promotion."""

    min_orders: int = Field(default=0, ge=0, le=1_000_000)
    max_recency_days: float | None = Field(default=None, gt=0, le=100_000)
    segments_include: list[Label] | None = Field(
        default=None, max_length=MAX_LIST_VALUES
    )
    segments_exclude: list[Label] = Field(
        default_factory=list, max_length=MAX_LIST_VALUES
    )


class ValiditySpec(Validity):
    """First and last day, inclusive, in UTC."""

    start: Day
    end: Day


class PromotionSpec(Promotion):
    """One offer of a campaign."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    promotion_id: Id
    value: float = Field(gt=0, le=MAX_MONEY)
    scope: ScopeSpec = Field(default_factory=ScopeSpec)
    items: list[Id] = Field(default_factory=list, max_length=MAX_LIST_VALUES)
    min_spend: float = Field(default=0.0, ge=0, le=MAX_MONEY)
    cost: CostModelSpec = Field(default_factory=CostModelSpec)
    per_customer_cap: int = Field(default=1, ge=1, le=MAX_PER_CUSTOMER_CAP)
    eligibility: EligibilitySpec = Field(default_factory=EligibilitySpec)


class CampaignSpec(Campaign):
    """A campaign with its promotions, as in the promotions file.

    A campaign without a currency gets USD; set ``currency`` for any other.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    campaign_id: Id
    name: Label = ""
    budget: float = Field(gt=0, le=MAX_MONEY)
    validity: ValiditySpec
    assignment: Assignment = "targeted"
    channel: Id = "email"
    currency: CurrencySpec | None = None
    policy: PolicySpec | None = None
    promotions: list[PromotionSpec] = Field(min_length=1, max_length=MAX_PROMOTIONS)

    @model_validator(mode="after")
    def _check_unique_promotions(self) -> CampaignSpec:
        seen: set[str] = set()
        for promotion in self.promotions:
            if promotion.promotion_id in seen:
                raise ValueError(
                    f"duplicate promotion_id {promotion.promotion_id!r}; every "
                    "promotion of a campaign needs its own id"
                )
            seen.add(promotion.promotion_id)
        if self.policy is not None and self.assignment != "bandit":
            raise ValueError(
                f"a policy is only for campaigns with assignment 'bandit', not "
                f"{self.assignment!r}; set assignment to 'bandit' or remove policy"
            )
        check_bandit_actions(
            self.campaign_id,
            self.assignment,
            self.policy,
            [p.promotion_id for p in self.promotions],
        )
        return self

    def to_campaign(self) -> Campaign:
        """Return the plain :class:`Campaign` with the effective currency."""
        data = self.model_dump(mode="json")
        data["currency"] = data["currency"] or Currency().model_dump()
        return Campaign.model_validate(data)


class PromotionView(BaseModel):
    """A promotion as stored, with its status."""

    promotion_id: str
    status: CampaignStatus
    kind: str
    value: float
    scope_type: ScopeType
    scope_values: list[str]
    min_spend: float
    per_customer_cap: int
    spec: dict


class CampaignView(BaseModel):
    """A campaign as stored: spec, budget, money reserved so far and status."""

    campaign_id: str
    name: str
    status: CampaignStatus
    assignment: str
    channel: str
    holdout_share: float | None
    validity: Validity
    currency: Currency
    budget: Decimal
    spent: Decimal
    remaining: Decimal
    promotions: list[PromotionView]
    created_at: dt.datetime
    updated_at: dt.datetime


# Campaign report


class LiftEstimate(BaseModel):
    """Difference treated minus holdout of one metric, per customer.

    ``defined`` is False, with a ``reason``, when the data do not identify
    it; the numbers are then null.
    """

    metric: str
    defined: bool
    reason: str | None = None
    treated_value: float | None = None
    control_value: float | None = None
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    method: str = ""


class ReportCheck(BaseModel):
    """One check of the campaign's evaluation (sample ratio, minimum effect ...).

    ``promotion_id`` is null for a check of the whole campaign and
    ``(all promotions)`` for the comparison that pools its promotions; the
    message starts with the same name.
    """

    check: str
    status: Literal["ok", "warn", "fail"]
    promotion_id: str | None = None
    message: str


class LiftSummary(BaseModel):
    """Lift of the campaign over its holdout group so far.

    ``status`` is "not enough data" while a group is empty, with no
    estimates, and "too few" while a group has fewer customers than
    ``min_group_size``, with estimates that are not reliable yet.
    """

    status: Literal["ok", "too few", "not enough data"]
    reason: str | None = None
    window_days: float
    confidence_level: float
    min_group_size: int
    customers_treated: int
    customers_held_out: int
    conversion_rate: LiftEstimate | None = None
    revenue_per_customer: LiftEstimate | None = None
    checks: list[ReportCheck] = Field(default_factory=list)


class CampaignReportView(BaseModel):
    """Spend, decisions, outcomes and lift of one campaign so far."""

    campaign_id: str
    status: CampaignStatus
    currency: str
    budget: Decimal
    spent: Decimal
    remaining: Decimal
    decisions_sent: int
    decisions_held_out: int
    redemptions: int
    orders: int
    redemption_revenue: float
    lift: LiftSummary
