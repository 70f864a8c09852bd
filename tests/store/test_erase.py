"""Erasing a customer removes every row about them and remembers the pseudonym."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import func, select

from promoloop.store import delete_customer, is_deleted, publish_run, reserve_budget
from promoloop.store.models import (
    Base,
    CampaignRecord,
    Customer,
    Decision,
    DeletedCustomer,
    Event,
    Feedback,
    FeedbackKind,
)

NOW = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def customers(store, shop_run) -> tuple[str, str]:
    """Publish the shop run and log activity for two customers; return their ids."""
    publish_run(store, shop_run)
    scores = pd.read_parquet(shop_run / "scores.parquet")
    erased, other = scores["customer_id"].drop_duplicates().iloc[:2]
    with store.session() as session:
        for customer in (erased, other):
            _log_activity(session, customer)
        # Feedback on the erased customer's decision, filed under another id.
        session.add(
            Feedback(
                feedback_id=f"{erased}-misfiled",
                decision_id=f"{erased}-d0",
                customer_id="someone-else",
                kind=FeedbackKind.CLICK,
            )
        )
    return erased, other


def _log_activity(session, customer: str) -> None:
    """Add 3 events, 2 decisions with 2 feedback rows each for a customer."""
    for i in range(3):
        session.add(
            Event(
                event_id=f"{customer}-e{i}",
                customer_id=customer,
                item_id="S-300",
                event_type="purchase",
                quantity=1,
                amount=10.0,
                discount=0.0,
                timestamp=NOW,
                order_id=f"{customer}-o{i}",
            )
        )
    for i in range(2):
        assert reserve_budget(session, "spring", Decimal("0.5"))
        session.add(
            Decision(
                decision_id=f"{customer}-d{i}",
                customer_id=customer,
                campaign_id="spring",
                promotion_id="candle-vase",
                eligible=["candle-vase", "kitchen-15"],
                probability=0.9,
                cost=Decimal("0.5"),
                message="Hello!",
            )
        )
        session.flush()
        for kind in (FeedbackKind.IMPRESSION, FeedbackKind.ORDER):
            session.add(
                Feedback(
                    feedback_id=f"{customer}-d{i}-{kind}",
                    decision_id=f"{customer}-d{i}",
                    customer_id=customer,
                    kind=kind,
                    revenue=20.0 if kind == FeedbackKind.ORDER else None,
                )
            )


def rows_of(session, customer: str) -> dict[str, int]:
    """Count the rows of every table that has a customer_id column."""
    counts = {}
    for table in Base.metadata.sorted_tables:
        if "customer_id" in table.c and table.name != "deleted_customers":
            query = select(func.count()).where(table.c.customer_id == customer)
            counts[table.name] = int(session.scalar(query.select_from(table)))
    return counts


def test_delete_counts_per_table(store, customers):
    erased, _ = customers
    with store.session() as session:
        counts = delete_customer(session, erased)
    assert counts == {
        "feedback": 2 * 2 + 1,
        "decisions": 2,
        "events": 3,
        "published_scores": 4,
        "published_customer_facts": 1,
        "customers": 1,
        "deleted_customers": 1,
    }


def test_nothing_of_customer_remains(store, customers):
    erased, _ = customers
    with store.session() as session:
        before = rows_of(session, erased)
        delete_customer(session, erased)
    assert all(before.values()), before
    with store.session() as session:
        assert set(rows_of(session, erased).values()) == {0}
        assert (
            session.scalar(
                select(Feedback).where(Feedback.decision_id.like(f"{erased}%"))
            )
            is None
        )
        assert is_deleted(session, erased)
        assert session.get(DeletedCustomer, erased).deleted_at.tzinfo == dt.UTC


def test_other_customer_untouched(store, customers):
    erased, other = customers
    with store.session() as session:
        before = rows_of(session, other)
        delete_customer(session, erased)
    with store.session() as session:
        assert rows_of(session, other) == before
        assert not is_deleted(session, other)
        assert session.get(Customer, other) is not None


def test_spend_kept_after_erasure(store, customers):
    erased, _ = customers
    with store.session() as session:
        spent = session.get(CampaignRecord, "spring").spent
        delete_customer(session, erased)
    assert spent == Decimal("2.0")
    with store.session() as session:
        assert session.get(CampaignRecord, "spring").spent == spent


def test_delete_twice_and_unknown(store, customers):
    erased, _ = customers
    with store.session() as session:
        delete_customer(session, erased)
        first_deleted_at = session.get(DeletedCustomer, erased).deleted_at
    with store.session() as session:
        again = delete_customer(session, erased)
        unknown = delete_customer(session, "never-seen")
        assert session.get(DeletedCustomer, erased).deleted_at == first_deleted_at
    assert set(again.values()) == {0}
    assert unknown["deleted_customers"] == 1
    assert sum(v for k, v in unknown.items() if k != "deleted_customers") == 0
