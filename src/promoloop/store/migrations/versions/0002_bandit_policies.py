"""Bandit policies: saved policy versions, and each decision's context and version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from promoloop.store.types import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("campaign_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("reward", sa.String(length=16), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("decisions_used", sa.Integer(), nullable=False),
        sa.Column("trained_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.campaign_id"],
            name=op.f("fk_policies_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", "version", name=op.f("pk_policies")),
    )
    # Adding a nullable column needs no table copy on SQLite.
    op.add_column("decisions", sa.Column("features", sa.JSON(), nullable=True))
    op.add_column("decisions", sa.Column("policy_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("policy_version")
        batch.drop_column("features")
    op.drop_table("policies")
