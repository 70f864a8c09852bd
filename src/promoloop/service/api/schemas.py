"""Request and response bodies of the HTTP API.

Every request model forbids unknown fields and bounds the size of its
strings and lists and the range of its numbers, so that no request body can
reach the database with a value the columns cannot hold. Ids are described
in :mod:`promoloop.service.api.ids`, and no text may contain a NUL
character, which PostgreSQL text columns reject. Money in responses is a
decimal string with six places, the precision the store keeps. The bodies of
the campaign endpoints are in :mod:`promoloop.service.api.campaign_schemas`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from promoloop.service.api.ids import CustomerId, Id
from promoloop.store.models import EventKind, FeedbackKind

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

Label = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")]
#: A language tag such as ``en``, ``de-CH`` or ``zh_CN``, at most as long as
#: the store's locale columns.
Locale = Annotated[
    str,
    StringConstraints(max_length=32, pattern=r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$"),
]


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


#: Event kinds that are order lines and so need quantity, amount and order id.
ORDER_LINE_EVENTS = frozenset({EventKind.PURCHASE, EventKind.RETURN})
_ORDER_LINE_FIELD = "Required for purchases and returns."


class EventIn(RequestModel):
    """One behaviour event with the columns of the canonical events table.

    Purchases and returns are order lines and need ``quantity``, ``amount``
    and ``order_id``. Views, cart additions and reviews may leave them out:
    the stored quantity is then 1, the amount 0 and the order id the
    ``event_id``, so that each such event is an order of its own.
    """

    # The same rule in the OpenAPI document, for clients and generators.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {
                "properties": {
                    "event_type": {"enum": sorted(k.value for k in ORDER_LINE_EVENTS)}
                },
                "required": ["event_type"],
            },
            "then": {
                "required": ["quantity", "amount", "order_id"],
                "properties": {
                    "quantity": {"type": "number"},
                    "amount": {"type": "number"},
                    "order_id": {"type": "string"},
                },
            },
        }
    )

    event_id: Id = Field(description="Unique id of the event; the idempotency key.")
    customer_id: CustomerId | None = Field(
        default=None,
        description="The shop's own customer id, pseudonymized before storage; "
        "null for anonymous events.",
    )
    item_id: Id
    event_type: EventKind
    quantity: float | None = Field(
        default=None,
        ge=0,
        le=MAX_QUANTITY,
        validate_default=True,
        description=f"Units. {_ORDER_LINE_FIELD} Other events default to 1.",
    )
    amount: float | None = Field(
        default=None,
        ge=0,
        le=MAX_MONEY,
        validate_default=True,
        description="Money paid for the line after discounts. "
        f"{_ORDER_LINE_FIELD} Other events default to 0.",
    )
    discount: float = Field(default=0.0, ge=0, le=MAX_MONEY)
    timestamp: Timestamp
    order_id: Id | None = Field(
        default=None,
        validate_default=True,
        description=f"{_ORDER_LINE_FIELD} Other events default to their event_id.",
    )
    channel: Id | None = None

    @field_validator("quantity", "amount", "order_id", mode="after")
    @classmethod
    def _default_outside_orders(
        cls, value: float | str | None, info: ValidationInfo
    ) -> float | str | None:
        """Fill a missing order field of a non-order event, or reject it."""
        event_type = info.data.get("event_type")
        if value is not None or event_type is None:
            # Without a valid event_type, that field's own error is reported.
            return value
        if event_type in ORDER_LINE_EVENTS:
            raise PydanticCustomError(
                "missing",
                "{field} is required for {event_type} events; only views, cart "
                "additions and reviews may leave it out",
                {"field": info.field_name, "event_type": event_type.value},
            )
        if info.field_name == "quantity":
            return 1.0
        if info.field_name == "amount":
            return 0.0
        return info.data.get("event_id")


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

    customer_id: CustomerId
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


# Customers


class CustomerPreferences(RequestModel):
    """A customer's offer consent and message language, as the store keeps them.

    Both keys are required: a PUT replaces both values, and null clears one,
    so that the published run's value applies again.
    """

    consent: StrictBool | None = Field(
        description="False: the customer opted out of offers. Null: unknown, "
        "which the decisions take from the published run, and count as consent "
        "when the run has none either."
    )
    locale: Locale | None = Field(
        description="Message language, e.g. en or zh-CN. Null: the published "
        "run's locale, then the run's default."
    )


class ErasureResult(BaseModel):
    """Rows deleted per table; ``deleted_customers`` is 0 on a repeated erasure."""

    deleted: dict[str, int]
