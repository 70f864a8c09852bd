"""Statements that differ between SQLite and PostgreSQL: upserts and locks.

Erasure must not race with writes about the same customer. Otherwise a
decision or an event checked against ``deleted_customers`` just before an
erasure commits would be stored just after it and outlive it. On SQLite the
store starts every transaction with ``BEGIN IMMEDIATE``, so transactions run
one at a time and no extra lock is needed. On PostgreSQL:

- every write of customer data takes the erasure lock in shared mode, and
  an erasure takes it in exclusive mode, as transaction-level advisory locks.
  Writes run side by side, and an erasure waits for the writes in flight and
  holds back new ones until it commits;
- a decision also takes an exclusive lock on its customer, so two concurrent
  decisions for one customer count each other's offers against the
  per-customer cap.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# Two-key advisory locks do not share a key space with one-key (bigint)
# locks, so the erasure lock cannot meet a customer lock.
_LOCK_CLASS = 0x706C  # "pl"
_ERASURE_OBJECT = 1


def is_postgresql(session: Session) -> bool:
    """Return True when the session's database is PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def insert_ignoring_conflicts(session: Session, model, key: str):
    """Return ``INSERT ... ON CONFLICT (key) DO NOTHING`` for the session's database."""
    dialect = postgresql if is_postgresql(session) else sqlite
    return dialect.insert(model).on_conflict_do_nothing(index_elements=[key])


def upsert(session: Session, model, key: str, values: dict):
    """Return ``INSERT ... ON CONFLICT (key) DO UPDATE`` of ``values``.

    A row whose ``key`` exists gets every other column of ``values``.
    """
    dialect = postgresql if is_postgresql(session) else sqlite
    statement = dialect.insert(model).values(values)
    return statement.on_conflict_do_update(
        index_elements=[key],
        set_={column: statement.excluded[column] for column in values if column != key},
    )


def customer_lock_key(customer_id: str) -> int:
    """Return a signed 64-bit advisory lock key for a customer's pseudonym."""
    digest = hashlib.blake2b(customer_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def customer_write_locks(session: Session, customer_id: str) -> list[ColumnElement]:
    """Return lock calls to select at the start of a decision on PostgreSQL.

    The erasure lock in shared mode, then the customer's own lock; on SQLite
    the list is empty.
    """
    if not is_postgresql(session):
        return []
    return [
        func.pg_advisory_xact_lock_shared(*_erasure_key()),
        func.pg_advisory_xact_lock(
            cast(literal(customer_lock_key(customer_id)), BigInteger)
        ),
    ]


def lock_for_customer_writes(session: Session) -> None:
    """Take the erasure lock in shared mode before storing customer data."""
    if is_postgresql(session):
        session.execute(select(func.pg_advisory_xact_lock_shared(*_erasure_key())))


def lock_for_erasure(session: Session) -> None:
    """Take the erasure lock in exclusive mode; writes of customer data wait."""
    if is_postgresql(session):
        session.execute(select(func.pg_advisory_xact_lock(*_erasure_key())))


def _erasure_key() -> tuple[ColumnElement, ColumnElement]:
    # Cast, so that PostgreSQL picks the (integer, integer) form of the lock.
    return (
        cast(literal(_LOCK_CLASS), Integer),
        cast(literal(_ERASURE_OBJECT), Integer),
    )
