"""Migrations build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, inspect, select
from sqlalchemy.exc import IntegrityError, StatementError

from promoloop.errors import InputError
from promoloop.store import Store
from promoloop.store.database import alembic_config
from promoloop.store.models import Base, CampaignRecord, PromotionRecord


def schema_differences(store: Store, metadata: MetaData) -> list:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata)


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(scope="module")
def upgraded(database_url):
    store = Store(database_url)
    assert store.current_revision() is None
    store.upgrade()
    yield store
    store.dispose()


def test_upgrade_reaches_head(upgraded):
    assert upgraded.current_revision() == head_revision()


def test_migrated_schema_equals_models(upgraded):
    assert schema_differences(upgraded, Base.metadata) == []


def test_comparison_detects_extra_column(upgraded):
    # The comparison above must be able to fail: a model with one more
    # column than the migrations differs.
    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    metadata.tables["customers"].append_column(Column("age_band", Integer))
    differences = schema_differences(upgraded, metadata)
    assert [d[0] for d in differences] == ["add_column"]


def test_every_model_table_created(upgraded):
    tables = set(inspect(upgraded.engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_upgrade_twice_is_noop(upgraded):
    upgraded.upgrade()
    assert upgraded.current_revision() == head_revision()
    assert schema_differences(upgraded, Base.metadata) == []


def test_foreign_keys_enforced(upgraded):
    promotion = PromotionRecord(
        promotion_id="orphan", campaign_id="no-such-campaign", spec={}
    )
    with pytest.raises(IntegrityError):
        with upgraded.session() as session:
            session.add(promotion)


def test_money_and_timestamps_round_trip(upgraded):
    stamp = dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with upgraded.session() as session:
        session.add(
            CampaignRecord(
                campaign_id="round-trip",
                spec={"name": "Round trip"},
                budget=Decimal("1234.567891"),
                spent=0.1,
                created_at=stamp,
            )
        )
    with upgraded.session() as session:
        stored = session.scalar(
            select(CampaignRecord).where(CampaignRecord.campaign_id == "round-trip")
        )
        assert stored.budget == Decimal("1234.567891")
        assert stored.spent == Decimal("0.1")
        assert stored.created_at == stamp
        assert stored.created_at.tzinfo == dt.UTC
        assert stored.status == "active"
        session.delete(stored)


def test_naive_timestamp_rejected(upgraded):
    # SQLAlchemy wraps errors of a column type's conversion in StatementError.
    with pytest.raises(StatementError, match="naive datetime") as raised:
        with upgraded.session() as session:
            session.add(
                CampaignRecord(
                    campaign_id="naive",
                    spec={},
                    budget=1,
                    created_at=dt.datetime(2024, 3, 1),
                )
            )
    assert isinstance(raised.value.orig, InputError)


def test_downgrade_to_base_and_back(database_url):
    # Last test of the module: it leaves the database migrated to head again.
    store = Store(database_url)
    try:
        from alembic import command

        with store.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        assert set(inspect(store.engine).get_table_names()) == {"alembic_version"}
        store.upgrade()
        assert schema_differences(store, Base.metadata) == []
    finally:
        store.dispose()
