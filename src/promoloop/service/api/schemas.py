"""Request and response bodies of the HTTP API.

Every request model forbids unknown fields and bounds the size of its
strings and lists and the range of its numbers, so that no request body can
reach the database with a value the columns cannot hold. Ids are at most
:data:`~promoloop.store.models.ID_LENGTH` characters without control
characters, and no text may contain a NUL character, which PostgreSQL text
columns reject. Money in responses is a decimal string with six places, the
precision the store keeps.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from promoloop.store.models import ID_LENGTH, CampaignStatus, EventKind, FeedbackKind
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
)

#: Largest money amount accepted: the store's NUMERIC(18, 6) stores 12 digits
#: before the decimal point.
MAX_MONEY = 1e11
#: Maximum quantity of one event line.
MAX_QUANTITY = 1e6
#: Maximum number of items in a decision's cart context.
MAX_CART_ITEMS = 200
#: Maximum number of promotions in one campaign.
MAX_PROMOTIONS = 100
#: Maximum number of values in a promotion's scope, a bundle or a segment list.
MAX_LIST_VALUES = 1_000
#: Maximum per-customer cap of a promotion.
MAX_PER_CUSTOMER_CAP = 10_000
#: Timestamps and validity dates outside these years are rejected, so that
#: time arithmetic and time zone conversion cannot overflow.
FIRST_YEAR, LAST_YEAR = 1970, 2999

Id = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=ID_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
Label = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")]


def _check_year(value: dt.datetime | dt.date) -> dt.datetime | dt.date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"year {value.year} is outside {FIRST_YEAR}-{LAST_YEAR}")
    return value


def _utc(value: dt.datetime) -> dt.datetime:
    _check_year(value)
    return value.astimezone(dt.UTC)


#: An ISO 8601 timestamp with a time zone, converted to UTC.
Timestamp = Annotated[AwareDatetime, AfterValidator(_utc)]
Day = Annotated[dt.date, AfterValidator(_check_year)]


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields and NaN or infinite numbers fail."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# Events


class EventIn(RequestModel):
    """One behaviour event with the columns of the canonical events table."""

    event_id: Id = Field(description="Unique id of the event; the idempotency key.")
    customer_id: Id | None = Field(
        default=None,
        description="The shop's own customer id, pseudonymized before storage; "
        "null for anonymous events.",
    )
    item_id: Id
    event_type: EventKind
    quantity: float = Field(ge=0, le=MAX_QUANTITY)
    amount: float = Field(
        ge=0, le=MAX_MONEY, description="Money paid for the line after discounts."
    )
    discount: float = Field(default=0.0, ge=0, le=MAX_MONEY)
    timestamp: Timestamp
    order_id: Id
    channel: Id | None = None


class EventBatch(RequestModel):
    """A batch of events; the size limit is the service's ``max_batch_events``."""

    events: list[EventIn] = Field(min_length=1)


class EventBatchResult(BaseModel):
    """Counts of a batch: stored, already stored before, and rejected."""

    accepted: int
    duplicates: int
    refused: int = Field(description="Events of erased customers, not stored.")


# Decisions


class DecisionContext(RequestModel):
    """Context of a decision request: cart, page and channel, logged with it."""

    cart_items: list[Id] = Field(default_factory=list, max_length=MAX_CART_ITEMS)
    cart_value: float | None = Field(default=None, ge=0, le=MAX_MONEY)
    page: Label | None = None
    channel: Id | None = Field(
        default=None,
        description="Only campaigns of this channel are offered when given.",
    )


class DecisionRequest(RequestModel):
    """A request for the offer to show one customer now."""

    customer_id: Id = Field(description="The shop's own customer id.")
    context: DecisionContext = Field(default_factory=DecisionContext)


DecisionStatus = Literal["offer", "holdout", "no_offer"]
DecisionReason = Literal[
    "offer",
    "default_offer",
    "holdout",
    "no_eligible_offer",
    "opted_out",
    "unknown_customer",
    "erased",
    "policy",
    "policy_chose_none",
    "no_budget",
]


class DecisionResponse(BaseModel):
    """The decision: an offer with its message, a holdout, or no offer.

    ``decision_id`` is null when nothing was logged (no offer).
    ``promotion_id`` and ``message`` are null unless an offer is made.
    """

    decision_id: str | None
    status: DecisionStatus
    reason: DecisionReason
    holdout: bool
    campaign_id: str | None = None
    promotion_id: str | None = None
    message: str | None = None
    model_version: str | None = None


# Feedback


class FeedbackIn(RequestModel):
    """A feedback event that follows a decision.

    An order placed with the decision's promotion is kind ``redemption`` with
    its revenue and margin; any other order of the customer is kind
    ``order``.
    """

    feedback_id: Id = Field(description="The client's idempotency key.")
    decision_id: Id
    kind: FeedbackKind
    revenue: float | None = Field(default=None, ge=0, le=MAX_MONEY)
    margin: float | None = Field(default=None, ge=-MAX_MONEY, le=MAX_MONEY)
    timestamp: Timestamp | None = Field(
        default=None, description="When it happened; the time of receipt if null."
    )


class FeedbackResult(BaseModel):
    """Whether the feedback was stored now (False: its id was stored before)."""

    feedback_id: str
    recorded: bool


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


class LiftSummary(BaseModel):
    """Lift of the campaign over its holdout group so far."""

    status: Literal["ok", "not enough data"]
    reason: str | None = None
    window_days: float
    confidence_level: float
    customers_treated: int
    customers_held_out: int
    conversion_rate: LiftEstimate | None = None
    revenue_per_customer: LiftEstimate | None = None
    checks: list[dict] = Field(default_factory=list)


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


# Customers


class ErasureResult(BaseModel):
    """Rows deleted per table; ``deleted_customers`` is 0 on a repeated erasure."""

    deleted: dict[str, int]
