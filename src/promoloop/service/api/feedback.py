"""POST /v1/feedback: what followed a decision."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError

from promoloop.service.api.locks import (
    insert_ignoring_conflicts,
    lock_for_customer_writes,
)
from promoloop.service.api.responses import (
    AUTH_ERRORS,
    BODY_TOO_LARGE,
    error_responses,
)
from promoloop.service.api.schemas import FeedbackIn, FeedbackResult
from promoloop.service.deps import get_store, require_role
from promoloop.store import FeedbackKind, Role, Store
from promoloop.store.models import ApiKey, Decision, Feedback
from promoloop.store.types import utc_now

logger = logging.getLogger(__name__)

router = APIRouter(tags=["feedback"], responses=AUTH_ERRORS)


@router.post(
    "/feedback",
    response_model=FeedbackResult,
    responses={
        **BODY_TOO_LARGE,
        **error_responses(
            {
                404: "No decision has this decision_id.",
                409: "The decision held the customer out, and the kind is not `order`.",
            }
        ),
    },
)
def record_feedback(
    feedback: FeedbackIn,
    key: Annotated[ApiKey, Depends(require_role(Role.INGEST))],
    store: Annotated[Store, Depends(get_store)],
) -> FeedbackResult:
    """Store one feedback event once; a retried ``feedback_id`` stores nothing.

    Only an ``order`` may follow a holdout decision, because the customer
    was shown nothing: any other kind gets 409. A ``timestamp`` before the
    decision was logged gets 422, because feedback cannot precede its
    decision.
    """
    try:
        with store.session() as session:
            lock_for_customer_writes(session)
            decision = session.get(Decision, feedback.decision_id)
            if decision is None:
                raise _unknown_decision(feedback.decision_id)
            if decision.holdout and feedback.kind != FeedbackKind.ORDER:
                raise HTTPException(
                    status.HTTP_409_CONFLICT,
                    detail=f"decision {feedback.decision_id!r} held the customer "
                    f"out, so no {feedback.kind.value} can follow it; record the "
                    "customer's orders as kind 'order'",
                )
            if feedback.timestamp is not None:
                _check_after_decision(feedback, decision)
            statement = (
                insert_ignoring_conflicts(session, Feedback, "feedback_id")
                .values(
                    feedback_id=feedback.feedback_id,
                    decision_id=decision.decision_id,
                    customer_id=decision.customer_id,
                    kind=feedback.kind,
                    revenue=feedback.revenue,
                    margin=feedback.margin,
                    created_at=feedback.timestamp or utc_now(),
                )
                .returning(Feedback.feedback_id)
            )
            recorded = session.execute(statement).first() is not None
    except IntegrityError:
        # The decision was erased between the read and the insert.
        raise _unknown_decision(feedback.decision_id) from None
    logger.info(
        "feedback %s (%s) on decision %s from key %s: %s",
        feedback.feedback_id,
        feedback.kind.value,
        feedback.decision_id,
        key.key_id,
        "recorded" if recorded else "duplicate",
    )
    return FeedbackResult(feedback_id=feedback.feedback_id, recorded=recorded)


def _check_after_decision(feedback: FeedbackIn, decision: Decision) -> None:
    """Raise a 422 when the feedback's timestamp precedes its decision."""
    if feedback.timestamp >= decision.created_at:
        return
    raise RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("body", "timestamp"),
                "msg": f"timestamp {feedback.timestamp.isoformat()} is before "
                f"decision {decision.decision_id!r} was made at "
                f"{decision.created_at.isoformat()}; feedback follows its "
                "decision, so send the time it happened, or no timestamp for "
                "the time of receipt",
                "input": feedback.timestamp.isoformat(),
            }
        ]
    )


def _unknown_decision(decision_id: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        detail=f"decision {decision_id!r} not found; send the decision_id that "
        "POST /v1/decisions returned",
    )
