"""Tables of the persistent store, as SQLAlchemy 2 declarative models.

Only portable column types are used (``JSON``, :class:`~promoloop.store.types.Money`
for exact money, :class:`~promoloop.store.types.UTCDateTime`), so the same
models run on SQLite and PostgreSQL. Column names follow
:class:`promoloop.vocabulary.Columns`. Every customer id is the pseudonym
written by ``promoloop run``, never a shop's raw id.

The schema is created by the Alembic migrations in ``migrations/`` (see
:meth:`promoloop.store.Store.upgrade`); ``Base.metadata`` describes the same
schema and a test checks that the two agree.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from promoloop.store.types import Money, UTCDateTime, utc_now

#: Maximum length of ids (customer, campaign, promotion, decision, event ...).
ID_LENGTH = 128

# Constraint and index names are fixed by this convention, so that the
# migrations and the models name them alike on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class CampaignStatus(StrEnum):
    """Whether a campaign or promotion may be offered."""

    ACTIVE = "active"
    PAUSED = "paused"


class Role(StrEnum):
    """Role of an API key: what its holder may call."""

    ADMIN = "admin"
    DECISION = "decision"
    INGEST = "ingest"

    def permits(self, required: Role | str) -> bool:
        """Return True when this role may call an endpoint that needs ``required``.

        An admin key may call everything; the other roles only their own
        endpoints.
        """
        return self is Role.ADMIN or self == Role(required)


class FeedbackKind(StrEnum):
    """Kind of feedback event that follows a decision."""

    IMPRESSION = "impression"
    CLICK = "click"
    REDEMPTION = "redemption"
    ORDER = "order"


class EventKind(StrEnum):
    """Kinds of behaviour event, as in :class:`promoloop.vocabulary.EventType`."""

    VIEW = "view"
    CART = "cart"
    PURCHASE = "purchase"
    RETURN = "return"
    REVIEW = "review"


def _enum(enum_class: type[StrEnum], name: str) -> Enum:
    """Store a StrEnum as its values in a VARCHAR with a CHECK constraint."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Declarative base of every store table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CampaignRecord(Base):
    """A campaign with its budget and the money reserved from it so far.

    ``spec`` is the validated :class:`promoloop.targeting.promotions.Campaign`
    dumped to JSON without its promotions, with the effective currency filled
    in. ``budget`` repeats ``spec["budget"]`` as an exact amount, and
    ``spent`` is the sum of the costs reserved by decisions
    (see :mod:`promoloop.store.budget`).
    """

    __tablename__ = "campaigns"

    campaign_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    budget: Mapped[Decimal] = mapped_column(Money())
    spent: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal(0), server_default=text("0")
    )
    status: Mapped[CampaignStatus] = mapped_column(
        _enum(CampaignStatus, "campaign_status"), default=CampaignStatus.ACTIVE
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utc_now, onupdate=utc_now
    )


class PromotionRecord(Base):
    """A promotion: the validated :class:`~promoloop.targeting.promotions.Promotion`
    dumped to JSON in ``spec``."""

    __tablename__ = "promotions"

    promotion_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.campaign_id"), index=True
    )
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[CampaignStatus] = mapped_column(
        _enum(CampaignStatus, "promotion_status"), default=CampaignStatus.ACTIVE
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utc_now, onupdate=utc_now
    )


class Customer(Base):
    """A known customer: pseudonym, message language and offer consent.

    ``consent`` is None when unknown; the targeting step treats an unknown
    consent as given.
    """

    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    locale: Mapped[str | None] = mapped_column(String(32))
    consent: Mapped[bool | None] = mapped_column(Boolean)


class DeletedCustomer(Base):
    """Pseudonym of an erased customer, excluded from later training and ingestion."""

    __tablename__ = "deleted_customers"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    deleted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Event(Base):
    """A behaviour event with the columns of the canonical events table."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "customer_id", "timestamp"),)

    event_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    # Missing for anonymous lines, which count for item statistics only.
    customer_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    item_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    event_type: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_type"))
    quantity: Mapped[float] = mapped_column(Float)
    amount: Mapped[float] = mapped_column(Float)
    discount: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    order_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Decision(Base):
    """One logged decision: the offer made to a customer, or the holdout.

    ``eligible`` lists the promotion ids the customer was eligible for,
    ``probability`` is the chance of the logged action, and ``cost`` is the
    amount reserved from the campaign's budget for it.
    """

    __tablename__ = "decisions"

    decision_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.campaign_id"))
    promotion_id: Mapped[str | None] = mapped_column(
        ForeignKey("promotions.promotion_id")
    )
    eligible: Mapped[list[str]] = mapped_column(JSON, default=list)
    probability: Mapped[float | None] = mapped_column(Float)
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str | None] = mapped_column(
        ForeignKey("model_versions.version")
    )
    cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utc_now, index=True
    )
    # Set by bandit campaigns: the context the policy saw and its version.
    features: Mapped[list[float] | None] = mapped_column(JSON)
    policy_version: Mapped[int | None] = mapped_column(Integer)


class PolicyRecord(Base):
    """One saved version of a bandit campaign's policy.

    ``state`` is the policy's JSON state (see :mod:`promoloop.bandits`).
    Versions count up from 1 per campaign, and the highest is the one the
    service uses. ``trained_until`` is the time of the latest decision whose
    reward the version learned from, so an incremental update starts after it.
    """

    __tablename__ = "policies"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.campaign_id"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    reward: Mapped[str] = mapped_column(String(16))
    window_days: Mapped[int] = mapped_column(Integer)
    decisions_used: Mapped[int] = mapped_column(Integer)
    trained_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Feedback(Base):
    """A feedback event after a decision: impression, click, redemption or order.

    ``feedback_id`` is the client's idempotency key, so a retried request
    inserts nothing twice.
    """

    __tablename__ = "feedback"

    feedback_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    decision_id: Mapped[str] = mapped_column(
        ForeignKey("decisions.decision_id"), index=True
    )
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    kind: Mapped[FeedbackKind] = mapped_column(_enum(FeedbackKind, "feedback_kind"))
    revenue: Mapped[float | None] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class ApiKey(Base):
    """An API key: its id, role and the SHA-256 of the token (see ``keys.py``)."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "api_key_role"))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ModelVersion(Base):
    """A published run: its manifest and whether it is the one served now.

    ``version`` is derived from the manifest's content (see ``publish.py``),
    and at most one row has ``is_current`` true, which a partial unique index
    enforces.
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        Index(
            "uq_model_versions_is_current",
            "is_current",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    source: Mapped[str] = mapped_column(Text)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)


class PublishedScore(Base):
    """Score of one eligible (customer, promotion) pair of a published run.

    ``score`` is the expected incremental margin net of ``expected_cost``,
    and ``score_source`` names the estimate behind it (profile estimate or a
    learned uplift model).
    """

    __tablename__ = "published_scores"

    version: Mapped[str] = mapped_column(
        ForeignKey("model_versions.version"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, index=True
    )
    promotion_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    score: Mapped[float] = mapped_column(Float)
    expected_cost: Mapped[float] = mapped_column(Float)
    score_source: Mapped[str | None] = mapped_column(String(64))


class PublishedCustomerFacts(Base):
    """Profile facts of a customer in a published run, for messages and eligibility.

    ``featured_item_ids`` are the items the run's message for this customer
    featured, empty when the run made the customer no offer.
    """

    __tablename__ = "published_customer_facts"

    version: Mapped[str] = mapped_column(
        ForeignKey("model_versions.version"), primary_key=True
    )
    customer_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), primary_key=True, index=True
    )
    locale: Mapped[str | None] = mapped_column(String(32))
    consent: Mapped[bool | None] = mapped_column(Boolean)
    segment_name: Mapped[str | None] = mapped_column(String(200))
    favourite_category: Mapped[str | None] = mapped_column(String(200))
    frequency: Mapped[int | None] = mapped_column(Integer)
    recency_days: Mapped[float | None] = mapped_column(Float)
    is_anomaly: Mapped[bool] = mapped_column(Boolean, default=False)
    featured_item_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
