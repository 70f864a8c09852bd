"""Erasure of a customer from the store."""

from __future__ import annotations

import logging

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from promoloop.store.models import (
    Customer,
    Decision,
    DeletedCustomer,
    Event,
    Feedback,
    PublishedCustomerFacts,
    PublishedScore,
)

logger = logging.getLogger(__name__)


def delete_customer(session: Session, customer_id: str) -> dict[str, int]:
    """Delete every row the store keeps about a customer and record the erasure.

    Deletes the customer's events, decisions, the feedback on those decisions
    (and any feedback filed under the customer's id), the customer row and
    the customer's published facts and scores of every model version. The
    pseudonym is then recorded in ``deleted_customers``, so that publishing a
    run and ingestion can leave the customer out later (see
    :func:`is_deleted`).

    Money reserved by the deleted decisions stays in the campaigns' spend:
    those offers were made.

    Parameters
    ----------
    session : Session
        Session of the transaction; nothing is removed until it commits.
    customer_id : str
        The customer's pseudonym.

    Returns
    -------
    dict of str to int
        Rows deleted per table, and ``deleted_customers``: 1 when this call
        recorded the erasure, 0 when the pseudonym was recorded before.

    Notes
    -----
    Run folders and other files outside the database are not touched.
    """
    decisions = select(Decision.decision_id).where(Decision.customer_id == customer_id)
    counts = {
        # Feedback first: it refers to the decisions.
        "feedback": _delete(
            session,
            Feedback,
            or_(
                Feedback.customer_id == customer_id,
                Feedback.decision_id.in_(decisions),
            ),
        ),
        "decisions": _delete(session, Decision, Decision.customer_id == customer_id),
        "events": _delete(session, Event, Event.customer_id == customer_id),
        "published_scores": _delete(
            session, PublishedScore, PublishedScore.customer_id == customer_id
        ),
        "published_customer_facts": _delete(
            session,
            PublishedCustomerFacts,
            PublishedCustomerFacts.customer_id == customer_id,
        ),
        "customers": _delete(session, Customer, Customer.customer_id == customer_id),
    }
    recorded = session.get(DeletedCustomer, customer_id) is None
    if recorded:
        session.add(DeletedCustomer(customer_id=customer_id))
    session.flush()
    counts["deleted_customers"] = int(recorded)
    logger.info("erased customer %s: %s", customer_id, counts)
    return counts


def is_deleted(session: Session, customer_id: str) -> bool:
    """Return True when the customer was erased and must not be stored again."""
    return session.get(DeletedCustomer, customer_id) is not None


def _delete(session: Session, model, condition) -> int:
    statement = (
        delete(model).where(condition).execution_options(synchronize_session=False)
    )
    return int(session.execute(statement).rowcount)
