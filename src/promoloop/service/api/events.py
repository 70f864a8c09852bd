"""POST /v1/events: ingest a batch of behaviour events."""

from __future__ import annotations

import logging
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from promoloop.privacy import pseudonymize
from promoloop.service.api.locks import (
    insert_ignoring_conflicts,
    lock_for_customer_writes,
)
from promoloop.service.api.responses import AUTH_ERRORS, BODY_TOO_LARGE
from promoloop.service.api.schemas import EventBatch, EventBatchResult
from promoloop.service.deps import get_settings, get_store, require_role
from promoloop.service.settings import ServiceSettings
from promoloop.store import Role, Store
from promoloop.store.models import ApiKey, DeletedCustomer, Event
from promoloop.store.types import utc_now

logger = logging.getLogger(__name__)

router = APIRouter(tags=["events"], responses=AUTH_ERRORS)

# Rows per INSERT statement: 11 columns each stay well below the bound
# parameter limits of SQLite (32,766) and PostgreSQL (65,535).
_INSERT_ROWS = 500
_LOOKUP_IDS = 1_000


@router.post("/events", response_model=EventBatchResult, responses=BODY_TOO_LARGE)
def ingest_events(
    batch: EventBatch,
    key: Annotated[ApiKey, Depends(require_role(Role.INGEST))],
    store: Annotated[Store, Depends(get_store)],
    settings: Annotated[ServiceSettings, Depends(get_settings)],
) -> EventBatchResult:
    """Store a batch of events once each; events of erased customers are refused.

    Customer ids are pseudonymized with the service's key before they are
    stored. An ``event_id`` stored before counts as a duplicate, so a
    retried batch adds nothing. The batch is one transaction.
    """
    if len(batch.events) > settings.max_batch_events:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body", "events"),
                    "msg": f"a batch holds at most {settings.max_batch_events} "
                    "events; split it into several requests",
                    "input": len(batch.events),
                }
            ]
        )
    raw_ids = pd.Series([event.customer_id for event in batch.events], dtype="string")
    pseudonyms = [
        None if pd.isna(value) else str(value)
        for value in pseudonymize(raw_ids, settings.pseudonym_key)
    ]
    received_at = utc_now()

    with store.session() as session:
        lock_for_customer_writes(session)
        erased = _erased_among(session, {p for p in pseudonyms if p is not None})
        rows = [
            {
                "event_id": event.event_id,
                "customer_id": customer_id,
                "item_id": event.item_id,
                "event_type": event.event_type,
                "quantity": event.quantity,
                "amount": event.amount,
                "discount": event.discount,
                "timestamp": event.timestamp,
                "channel": event.channel,
                "order_id": event.order_id,
                "received_at": received_at,
            }
            for event, customer_id in zip(batch.events, pseudonyms, strict=True)
            if customer_id not in erased
        ]
        accepted = 0
        for start in range(0, len(rows), _INSERT_ROWS):
            statement = (
                insert_ignoring_conflicts(session, Event, "event_id")
                .values(rows[start : start + _INSERT_ROWS])
                .returning(Event.event_id)
            )
            accepted += len(session.execute(statement).all())

    result = EventBatchResult(
        accepted=accepted,
        duplicates=len(rows) - accepted,
        refused=len(batch.events) - len(rows),
    )
    logger.info(
        "events from key %s: %d accepted, %d duplicates, %d rejected (erased)",
        key.key_id,
        result.accepted,
        result.duplicates,
        result.refused,
    )
    return result


def _erased_among(session: Session, customer_ids: set[str]) -> set[str]:
    ids = sorted(customer_ids)
    erased: set[str] = set()
    for start in range(0, len(ids), _LOOKUP_IDS):
        chunk = ids[start : start + _LOOKUP_IDS]
        erased.update(
            session.scalars(
                select(DeletedCustomer.customer_id).where(
                    DeletedCustomer.customer_id.in_(chunk)
                )
            )
        )
    return erased
