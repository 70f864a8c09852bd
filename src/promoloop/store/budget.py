"""Atomic budget reservations: a campaign never spends more than its budget.

A decision reserves its cost before the offer goes out, with one conditional
``UPDATE``. Why this is free of races on both databases:

- PostgreSQL: an ``UPDATE`` locks the campaign's row. A second transaction
  updating the same row waits until the first commits or rolls back. Then,
  under the default READ COMMITTED isolation, PostgreSQL re-checks the
  ``WHERE`` clause against the newly committed row, so the second
  reservation reads the first one's ``spent`` and fails if the sum would
  pass the budget.
- SQLite: one writer at a time holds the database's write lock, and the
  store starts every transaction with ``BEGIN IMMEDIATE``, which takes that
  lock before the first statement. The other writers wait (busy timeout)
  and read ``spent`` only once they hold the lock.

In both cases the check and the increment happen in one statement on the
current row, so there is no window between reading ``spent`` and writing it,
as a ``SELECT`` followed by an ``UPDATE`` would leave. The reservation is
final once the caller's transaction commits. A rollback returns the money.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from promoloop.errors import InputError
from promoloop.store.models import CampaignRecord, CampaignStatus
from promoloop.store.types import Money, to_money

logger = logging.getLogger(__name__)


def reserve_budget(session: Session, campaign_id: str, cost) -> bool:
    """Add ``cost`` to a campaign's spend if the campaign is active and can afford it.

    Parameters
    ----------
    session : Session
        Session of the transaction; the reservation is final when it commits.
    campaign_id : str
        Campaign to charge.
    cost : Decimal, float, int or str
        Amount to reserve, in the campaign's currency, rounded to six decimal
        places. Zero is allowed.

    Returns
    -------
    bool
        True when the reservation was made. False when the campaign does not
        exist, is paused, or has less than ``cost`` left.

    Raises
    ------
    InputError
        If ``cost`` is negative or not a finite number.
    """
    amount = _checked_cost(cost)
    charge = bindparam("cost", amount, type_=Money())
    statement = (
        update(CampaignRecord)
        .where(
            CampaignRecord.campaign_id == campaign_id,
            CampaignRecord.status == CampaignStatus.ACTIVE,
            CampaignRecord.spent + charge <= CampaignRecord.budget,
        )
        .values(spent=CampaignRecord.spent + charge)
        # One statement, no ORM bookkeeping: loaded CampaignRecord objects are
        # not refreshed, so read `spent` again after the reservation if needed.
        .execution_options(synchronize_session=False)
    )
    reserved = session.execute(statement).rowcount == 1
    if not reserved:
        logger.info("no budget reserved: campaign %r, cost %s", campaign_id, amount)
    return reserved


def release_budget(session: Session, campaign_id: str, cost) -> bool:
    """Give back a reservation, e.g. when the offer could not be sent.

    The campaign's status is not checked, so a paused campaign can release.

    Parameters
    ----------
    session : Session
        Session of the transaction.
    campaign_id : str
        Campaign to credit.
    cost : Decimal, float, int or str
        Amount to release; at most what the campaign has spent.

    Returns
    -------
    bool
        True when the amount was released. False when the campaign does not
        exist or has spent less than ``cost``, which would make its spend
        negative.

    Raises
    ------
    InputError
        If ``cost`` is negative or not a finite number.
    """
    amount = _checked_cost(cost)
    credit = bindparam("cost", amount, type_=Money())
    statement = (
        update(CampaignRecord)
        .where(
            CampaignRecord.campaign_id == campaign_id,
            CampaignRecord.spent >= credit,
        )
        .values(spent=CampaignRecord.spent - credit)
        .execution_options(synchronize_session=False)
    )
    released = session.execute(statement).rowcount == 1
    if not released:
        logger.warning(
            "budget not released: campaign %r, cost %s (unknown campaign or "
            "more than it spent)",
            campaign_id,
            amount,
        )
    return released


def _checked_cost(cost) -> Decimal:
    amount = to_money(cost)
    if amount < 0:
        raise InputError(
            "negative cost for a budget reservation",
            value=cost,
            expected="a cost of 0 or more",
            fix="reserve the cost itself and release it with release_budget",
        )
    return amount
