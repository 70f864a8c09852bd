"""The store's decision log and feedback as canonical exposures and outcomes.

``promoloop evaluate --from-store`` measures campaigns on these two tables,
the same way it measures a run folder's ``exposures.parquet`` and an orders
file. The feedback convention: an order placed with a promotion is recorded
as kind ``redemption`` with its revenue and margin, any other order as kind
``order``. Impressions and clicks are not outcomes and are left out.
"""

from __future__ import annotations

import logging

import pandas as pd
from sqlalchemy import select

from promoloop.data.schema import EXPOSURES, OUTCOMES, conform
from promoloop.store.database import Store
from promoloop.store.models import Decision, Feedback, FeedbackKind
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

_OUTCOME_KINDS = (FeedbackKind.ORDER, FeedbackKind.REDEMPTION)


def evaluation_tables(
    store: Store, campaign_id: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the decision log and the order feedback of the store.

    Parameters
    ----------
    store : Store
        An upgraded store.
    campaign_id : str, optional
        Only this campaign's decisions and their customers' outcomes.

    Returns
    -------
    exposures : DataFrame
        Canonical exposures, one row per logged decision, with ``eligible``.
    outcomes : DataFrame
        Canonical outcomes: one row per order or redemption feedback, with
        ``order_id`` the feedback id and, for a redemption, ``promotion_id``
        the promotion of its decision.
    """
    decisions = select(Decision)
    if campaign_id is not None:
        decisions = decisions.where(Decision.campaign_id == campaign_id)
    with store.session() as session:
        logged = [_exposure_row(d) for d in session.scalars(decisions)]
        customers = {row[C.customer_id] for row in logged}
        feedback = session.execute(
            select(Feedback, Decision.promotion_id, Decision.campaign_id)
            .join(Decision, Feedback.decision_id == Decision.decision_id)
            .where(Feedback.kind.in_(_OUTCOME_KINDS))
        ).all()
        outcomes = [
            _outcome_row(f, promotion, campaign)
            for f, promotion, campaign in feedback
            if f.customer_id in customers
        ]
    exposures = pd.DataFrame(logged, columns=[*EXPOSURES.names, C.eligible])
    outcome_table = pd.DataFrame(outcomes, columns=OUTCOMES.names)
    logger.info(
        "read %d decisions and %d outcome rows from %r",
        len(exposures),
        len(outcome_table),
        store,
    )
    return (
        conform(exposures, EXPOSURES, source="store decisions"),
        conform(outcome_table, OUTCOMES, source="store feedback"),
    )


def _exposure_row(decision: Decision) -> dict:
    return {
        C.decision_id: decision.decision_id,
        C.customer_id: decision.customer_id,
        C.campaign_id: decision.campaign_id,
        C.promotion_id: decision.promotion_id,
        C.probability: decision.probability,
        C.holdout: bool(decision.holdout),
        C.timestamp: pd.Timestamp(decision.created_at),
        C.eligible: list(decision.eligible or []),
    }


def _outcome_row(feedback: Feedback, promotion_id, campaign_id) -> dict:
    redeemed = feedback.kind == FeedbackKind.REDEMPTION
    return {
        C.customer_id: feedback.customer_id,
        C.order_id: feedback.feedback_id,
        C.campaign_id: campaign_id if redeemed else None,
        C.promotion_id: promotion_id if redeemed else None,
        C.revenue: feedback.revenue,
        C.margin: feedback.margin,
        C.timestamp: pd.Timestamp(feedback.created_at),
    }
