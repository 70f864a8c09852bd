"""Initial schema of the store.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from promoloop.store.types import Money, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(
        *values, name=name, native_enum=False, create_constraint=True, length=16
    )


def _id(name: str, **kwargs) -> sa.Column:
    return sa.Column(name, sa.String(length=128), **kwargs)


def upgrade() -> None:
    # Campaigns and promotions
    op.create_table(
        "campaigns",
        _id("campaign_id", nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("budget", Money(), nullable=False),
        sa.Column("spent", Money(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "status", _enum("campaign_status", "active", "paused"), nullable=False
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "promotions",
        _id("promotion_id", nullable=False),
        _id("campaign_id", nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column(
            "status", _enum("promotion_status", "active", "paused"), nullable=False
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.campaign_id"],
            name=op.f("fk_promotions_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint("promotion_id", name=op.f("pk_promotions")),
    )
    op.create_index(op.f("ix_promotions_campaign_id"), "promotions", ["campaign_id"])

    # Customers and erased pseudonyms
    op.create_table(
        "customers",
        _id("customer_id", nullable=False),
        sa.Column("locale", sa.String(length=32), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_table(
        "deleted_customers",
        _id("customer_id", nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_deleted_customers")),
    )

    # Behaviour events
    op.create_table(
        "events",
        _id("event_id", nullable=False),
        _id("customer_id", nullable=True),
        _id("item_id", nullable=False),
        sa.Column(
            "event_type",
            _enum("event_type", "view", "cart", "purchase", "return", "review"),
            nullable=False,
        ),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("discount", sa.Float(), nullable=False),
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        _id("channel", nullable=True),
        _id("order_id", nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
    )
    op.create_index(
        op.f("ix_events_customer_id_timestamp"),
        "events",
        ["customer_id", "timestamp"],
    )

    # Published runs
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_model_versions")),
    )
    op.create_index(
        "uq_model_versions_is_current",
        "model_versions",
        ["is_current"],
        unique=True,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    )
    op.create_table(
        "published_scores",
        sa.Column("version", sa.String(length=64), nullable=False),
        _id("customer_id", nullable=False),
        _id("promotion_id", nullable=False),
        _id("campaign_id", nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("expected_cost", sa.Float(), nullable=False),
        sa.Column("score_source", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["version"],
            ["model_versions.version"],
            name=op.f("fk_published_scores_version_model_versions"),
        ),
        sa.PrimaryKeyConstraint(
            "version", "customer_id", "promotion_id", name=op.f("pk_published_scores")
        ),
    )
    op.create_index(
        op.f("ix_published_scores_customer_id"), "published_scores", ["customer_id"]
    )
    op.create_table(
        "published_customer_facts",
        sa.Column("version", sa.String(length=64), nullable=False),
        _id("customer_id", nullable=False),
        sa.Column("locale", sa.String(length=32), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=True),
        sa.Column("segment_name", sa.String(length=200), nullable=True),
        sa.Column("favourite_category", sa.String(length=200), nullable=True),
        sa.Column("frequency", sa.Integer(), nullable=True),
        sa.Column("recency_days", sa.Float(), nullable=True),
        sa.Column("is_anomaly", sa.Boolean(), nullable=False),
        sa.Column("featured_item_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version"],
            ["model_versions.version"],
            name=op.f("fk_published_customer_facts_version_model_versions"),
        ),
        sa.PrimaryKeyConstraint(
            "version", "customer_id", name=op.f("pk_published_customer_facts")
        ),
    )
    op.create_index(
        op.f("ix_published_customer_facts_customer_id"),
        "published_customer_facts",
        ["customer_id"],
    )

    # Decision log and feedback
    op.create_table(
        "decisions",
        _id("decision_id", nullable=False),
        _id("customer_id", nullable=False),
        _id("campaign_id", nullable=False),
        _id("promotion_id", nullable=True),
        sa.Column("eligible", sa.JSON(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("cost", Money(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.campaign_id"],
            name=op.f("fk_decisions_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["model_version"],
            ["model_versions.version"],
            name=op.f("fk_decisions_model_version_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["promotion_id"],
            ["promotions.promotion_id"],
            name=op.f("fk_decisions_promotion_id_promotions"),
        ),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_decisions")),
    )
    op.create_index(op.f("ix_decisions_created_at"), "decisions", ["created_at"])
    op.create_index(op.f("ix_decisions_customer_id"), "decisions", ["customer_id"])
    op.create_table(
        "feedback",
        _id("feedback_id", nullable=False),
        _id("decision_id", nullable=False),
        _id("customer_id", nullable=False),
        sa.Column(
            "kind",
            _enum("feedback_kind", "impression", "click", "redemption", "order"),
            nullable=False,
        ),
        sa.Column("revenue", sa.Float(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.decision_id"],
            name=op.f("fk_feedback_decision_id_decisions"),
        ),
        sa.PrimaryKeyConstraint("feedback_id", name=op.f("pk_feedback")),
    )
    op.create_index(op.f("ix_feedback_customer_id"), "feedback", ["customer_id"])
    op.create_index(op.f("ix_feedback_decision_id"), "feedback", ["decision_id"])

    # API keys
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "role", _enum("api_key_role", "admin", "decision", "ingest"), nullable=False
        ),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; tables go in reverse dependency order.
    for table in (
        "api_keys",
        "feedback",
        "decisions",
        "published_customer_facts",
        "published_scores",
        "model_versions",
        "events",
        "deleted_customers",
        "customers",
        "promotions",
        "campaigns",
    ):
        op.drop_table(table)
