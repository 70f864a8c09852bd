"""The statements of the decision path, built once and run with parameters.

A decision runs at most three statements and a commit on PostgreSQL:

1. the customer's state (erasure, consent, locale), which also takes the
   customer's decision lock and the erasure lock in shared mode;
2. the customer's earlier decisions for the promotions it may get, for the
   per-customer caps. This is a separate statement because under READ
   COMMITTED each statement reads the rows committed when it starts. Only a
   statement that starts after the lock is taken sees a decision committed
   by a request that held the lock before;
3. the budget reservation and the decision row together: one statement
   whose ``INSERT`` reads from the conditional ``UPDATE``, so the row is
   written only when the budget could pay for it. SQLite has no data
   changing statements inside ``WITH``, so there the two run one after
   the other, inside the ``BEGIN IMMEDIATE`` transaction that serializes
   writers anyway.

Building a SQLAlchemy statement costs more than running it on a local
database, so the statements are module constants with bound parameters, and
they use the tables' Core columns, which skip the ORM's bookkeeping.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from promoloop.service.api.locks import _ERASURE_OBJECT, _LOCK_CLASS, is_postgresql
from promoloop.store.models import (
    CampaignRecord,
    CampaignStatus,
    Customer,
    Decision,
    DeletedCustomer,
)
from promoloop.store.types import Money

_decisions = Decision.__table__
_campaigns = CampaignRecord.__table__
_customers = Customer.__table__
_deleted = DeletedCustomer.__table__

_customer = bindparam("customer_id", type_=String)


@dataclass(frozen=True)
class DecisionRow:
    """One row of the decision log, as the decision path writes it."""

    decision_id: str
    customer_id: str
    campaign_id: str
    promotion_id: str | None
    eligible: list[str]
    probability: float | None
    holdout: bool
    model_version: str | None
    cost: Decimal
    context: dict[str, Any]
    message: str | None
    created_at: dt.datetime
    features: list[float] | None = None
    policy_version: int | None = None


def _state_statement(postgresql: bool):
    consent = select(_customers.c.consent).where(_customers.c.customer_id == _customer)
    locale = select(_customers.c.locale).where(_customers.c.customer_id == _customer)
    columns = [
        exists().where(_deleted.c.customer_id == _customer),
        consent.scalar_subquery(),
        locale.scalar_subquery(),
    ]
    if postgresql:
        # Cast, so that PostgreSQL picks the (integer, integer) and bigint
        # forms of the advisory locks.
        columns += [
            func.pg_advisory_xact_lock_shared(
                cast(literal(_LOCK_CLASS), Integer),
                cast(literal(_ERASURE_OBJECT), Integer),
            ),
            func.pg_advisory_xact_lock(
                cast(bindparam("lock_key", type_=BigInteger), BigInteger)
            ),
        ]
    return select(*columns)


_STATE = {False: _state_statement(False), True: _state_statement(True)}

_RECEIVED = select(_decisions.c.promotion_id, _decisions.c.created_at).where(
    _decisions.c.customer_id == _customer,
    _decisions.c.promotion_id.in_(bindparam("promotion_ids", expanding=True)),
)

_charge = bindparam("reserve_cost", type_=Money())
_RESERVE = (
    update(_campaigns)
    .where(
        _campaigns.c.campaign_id == bindparam("reserve_campaign_id", type_=String),
        _campaigns.c.status == CampaignStatus.ACTIVE,
        _campaigns.c.spent + _charge <= _campaigns.c.budget,
    )
    .values(spent=_campaigns.c.spent + _charge)
)

_INSERT = insert(_decisions)


def _reserve_and_insert_statement():
    reserved = _RESERVE.returning(_campaigns.c.campaign_id).cte("reserved")
    names = [column.name for column in _decisions.c]
    # Prefixed names: an UPDATE takes an unprefixed parameter named like one of
    # its table's columns (campaign_id, created_at) as a value to set.
    values = select(
        *(bindparam(f"row_{name}", type_=_decisions.c[name].type) for name in names)
    ).select_from(reserved)
    # RETURNING shows whether a row was written: the driver reports no row
    # count for an INSERT whose WITH clause returns rows.
    statement = insert(_decisions).from_select(names, values)
    return statement.returning(_decisions.c.decision_id)


_RESERVE_AND_INSERT = _reserve_and_insert_statement()


def read_state(session: Session, customer_id: str, lock_key: int) -> tuple:
    """Return ``(erased, consent, locale)``, taking the locks on PostgreSQL."""
    postgresql = is_postgresql(session)
    parameters = {"customer_id": customer_id}
    if postgresql:
        parameters["lock_key"] = lock_key
    row = session.execute(_STATE[postgresql], parameters).one()
    return bool(row[0]), row[1], row[2]


def read_received(
    session: Session, customer_id: str, promotion_ids: list[str]
) -> list[tuple[str, dt.datetime]]:
    """Return ``(promotion_id, created_at)`` of the customer's earlier decisions."""
    rows = session.execute(
        _RECEIVED, {"customer_id": customer_id, "promotion_ids": promotion_ids}
    )
    return [(row[0], row[1]) for row in rows]


def insert_decision(session: Session, row: DecisionRow) -> None:
    """Log a decision that reserves nothing (a holdout or a free action)."""
    session.execute(_INSERT, dict(vars(row)))


def reserve_and_insert(session: Session, row: DecisionRow) -> bool:
    """Reserve ``row.cost`` from its campaign's budget and log the decision.

    Returns
    -------
    bool
        True when the budget paid for the decision and the row was written;
        False when the campaign is not active or cannot afford the cost, and
        nothing was written.
    """
    columns = dict(vars(row))
    reservation = {"reserve_campaign_id": row.campaign_id, "reserve_cost": row.cost}
    if is_postgresql(session):
        parameters = {f"row_{name}": value for name, value in columns.items()}
        parameters |= reservation
        written = session.execute(_RESERVE_AND_INSERT, parameters).first()
        return written is not None
    if session.execute(_RESERVE, reservation).rowcount != 1:
        return False
    session.execute(_INSERT, columns)
    return True
