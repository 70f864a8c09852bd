"""Update a bandit campaign's policy from the decisions and feedback in the store.

``promoloop learn`` calls :func:`learn_policy`. The steps:

1. read the campaign's bandit decisions that were not held out: the action
   ("none" or the promotion), its time, the context the policy saw and the
   cost reserved for it;
2. read what followed: order and redemption feedback of the same
   customers (revenue and margin, as the shop reports them), and their
   return events. A redemption is an order made with the promotion;
3. compute one reward per decision with the campaign's reward rule and
   window (:func:`promoloop.bandits.compute_rewards`), leaving out decisions
   whose window has not closed yet;
4. fit a new policy on every rewarded decision (``mode="batch"``), or update
   the current version with the decisions after the ones it learned from
   (``mode="incremental"``; a full fit when the campaign's policy kind,
   reward or actions changed since that version);
5. save it as the campaign's next policy version, which the service picks
   up at its next cache refresh.

The margin reward is the margin reported with the order feedback, which must
be net of the discount given, less returned amounts, less the message cost
reserved for the decision (paid whether or not the customer orders).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import select

from promoloop.bandits import NO_PROMOTION, compute_rewards
from promoloop.bandits.campaign import build_policy, campaign_actions
from promoloop.errors import InputError
from promoloop.store.database import Store
from promoloop.store.models import (
    CampaignRecord,
    Decision,
    Event,
    EventKind,
    Feedback,
    FeedbackKind,
    PromotionRecord,
)
from promoloop.store.policies import load_policy, save_policy
from promoloop.store.types import utc_now
from promoloop.targeting.promotions import Campaign

logger = logging.getLogger(__name__)

LearnMode = Literal["batch", "incremental"]


@dataclass(frozen=True)
class LearnResult:
    """Summary of one ``learn_policy`` call: what it read, learned and saved.

    Attributes
    ----------
    campaign_id : str
    version : int or None
        The saved policy version; None when there was nothing to learn from.
    mode : str
    decisions_read : int
        Bandit decisions of the campaign that were not held out.
    decisions_used : int
        Decisions whose reward the new version learned from (in incremental
        mode, only the new ones).
    pending : int
        Decisions left out because their reward window is still open.
    mean_reward : dict of str to float
        Mean reward per action over the decisions used.
    action_counts : dict of str to int
        Decisions used per action.
    invalid_rows : dict
        Rows of the decisions or outcomes dropped as invalid, by reason.
    """

    campaign_id: str
    version: int | None
    mode: str
    decisions_read: int
    decisions_used: int
    pending: int
    mean_reward: dict[str, float] = field(default_factory=dict)
    action_counts: dict[str, int] = field(default_factory=dict)
    invalid_rows: dict = field(default_factory=dict)


def learn_policy(
    store: Store,
    campaign_id: str,
    *,
    mode: LearnMode = "batch",
    as_of: dt.datetime | None = None,
) -> LearnResult:
    """Learn a bandit campaign's policy from the store and save a new version.

    Parameters
    ----------
    store : Store
        The service's store.
    campaign_id : str
        A campaign with ``assignment = "bandit"``.
    mode : {"batch", "incremental"}, default "batch"
        batch: fit a new policy on every rewarded decision. incremental:
        update the current version with the decisions after those it learned
        from (a full fit when there is no saved version yet).
    as_of : datetime, optional
        Time up to which outcomes are known; now by default.

    Returns
    -------
    LearnResult

    Raises
    ------
    InputError
        If the campaign does not exist or is not a bandit campaign, or the
        mode is unknown.
    """
    if mode not in ("batch", "incremental"):
        raise InputError(
            "unknown learn mode",
            value=mode,
            expected="batch or incremental",
            fix="pass --mode batch or --mode incremental",
        )
    with store.session() as session:
        current = load_policy(session, campaign_id) if mode == "incremental" else None
    campaign, decisions, rewarded = rewarded_decisions(store, campaign_id, as_of)
    spec = campaign.policy
    if current is not None and not _same_policy(current, campaign):
        logger.warning(
            "campaign %s: its policy (%s, reward %s, %d actions) differs from "
            "saved version %d (%s, reward %s), so the new version is fitted "
            "on every rewarded decision instead of updated",
            campaign_id,
            spec.kind,
            spec.reward,
            len(campaign_actions(campaign)),
            current.version,
            current.policy.kind,
            current.reward,
        )
        current = None
    start_after = current.trained_until if current is not None else None
    if start_after is not None:
        rewarded = rewarded[rewarded["decided_at"] > pd.Timestamp(start_after)]
    summary = _summary(rewarded)
    if rewarded.empty:
        logger.info("campaign %s: no rewarded decision to learn from", campaign_id)
        return LearnResult(
            campaign_id,
            None,
            mode,
            len(decisions),
            0,
            int(rewarded.attrs.get("pending_decisions", 0)),
            invalid_rows=rewarded.attrs.get("invalid_rows", {}),
        )

    # Fit or update, then save the next version.
    if current is None:
        policy = build_policy(spec, campaign_actions(campaign))
        policy.fit(*_training_arrays(rewarded, policy))
    else:
        policy = current.policy
        policy.update(*_training_arrays(rewarded, policy))
    trained_until = rewarded["decided_at"].max().to_pydatetime()
    with store.session() as session:
        version = save_policy(
            session,
            campaign_id,
            policy,
            reward=spec.reward,
            window_days=spec.window_days,
            decisions_used=len(rewarded),
            trained_until=trained_until,
        )
    logger.info(
        "campaign %s: policy version %d learned from %d decisions (%s)",
        campaign_id,
        version,
        len(rewarded),
        mode,
    )
    return LearnResult(
        campaign_id,
        version,
        mode,
        len(decisions),
        len(rewarded),
        int(rewarded.attrs.get("pending_decisions", 0)),
        **summary,
        invalid_rows=rewarded.attrs.get("invalid_rows", {}),
    )


def rewarded_decisions(
    store: Store, campaign_id: str, as_of: dt.datetime | None = None
) -> tuple[Campaign, pd.DataFrame, pd.DataFrame]:
    """Read a bandit campaign's decisions and reward those whose window closed.

    Parameters
    ----------
    store : Store
        The service's store.
    campaign_id : str
        A campaign with ``assignment = "bandit"``.
    as_of : datetime, optional
        Time up to which outcomes are known; now by default.

    Returns
    -------
    campaign : Campaign
        The campaign's spec, with its policy spec.
    decisions : DataFrame
        Every bandit decision of the campaign that was not held out:
        ``decision_id``, ``customer_id``, ``action``, ``decided_at``,
        ``cost``, ``features``, ``probability`` and ``eligible``.
    rewarded : DataFrame
        The decisions whose reward window has closed, sorted by time, with a
        ``reward`` column; ``attrs`` counts the pending and invalid rows.

    Raises
    ------
    InputError
        If the campaign does not exist or is not a bandit campaign.
    """
    as_of = as_of or utc_now()
    with store.session() as session:
        campaign = _bandit_campaign(session, campaign_id)
        decisions = _decisions(session, campaign_id)
        outcomes = _outcomes(session, decisions["customer_id"].unique().tolist())
    spec = campaign.policy
    rewarded = _rewards(decisions, outcomes, spec.reward, spec.window_days, as_of)
    return campaign, decisions, rewarded


def _same_policy(saved, campaign: Campaign) -> bool:
    """Tell whether a saved version can be updated under the campaign's policy."""
    return (
        saved.policy.kind == campaign.policy.kind
        and saved.reward == campaign.policy.reward
        and list(saved.policy.actions) == campaign_actions(campaign)
    )


def _bandit_campaign(session, campaign_id: str) -> Campaign:
    record = session.get(CampaignRecord, campaign_id)
    if record is None:
        raise InputError(
            "campaign not found in the store",
            value=campaign_id,
            fix="pass the id of a campaign created with the API or published",
        )
    promotions = session.scalars(
        select(PromotionRecord.spec).where(PromotionRecord.campaign_id == campaign_id)
    ).all()
    campaign = Campaign.model_validate({**record.spec, "promotions": promotions})
    if campaign.assignment != "bandit":
        raise InputError(
            "campaign is not a bandit campaign, so it has no policy to learn",
            value=f"{campaign_id} (assignment {campaign.assignment})",
            fix="set assignment to 'bandit' on the campaign",
        )
    return campaign


def _decisions(session, campaign_id: str) -> pd.DataFrame:
    rows = session.execute(
        select(
            Decision.decision_id,
            Decision.customer_id,
            Decision.promotion_id,
            Decision.created_at,
            Decision.cost,
            Decision.features,
            Decision.probability,
            Decision.eligible,
        ).where(
            Decision.campaign_id == campaign_id,
            Decision.holdout.is_(False),
            Decision.policy_version.is_not(None),
        )
    ).all()
    frame = pd.DataFrame(
        rows,
        columns=[
            "decision_id",
            "customer_id",
            "action",
            "decided_at",
            "cost",
            "features",
            "probability",
            "eligible",
        ],
    )
    frame["action"] = frame["action"].fillna(NO_PROMOTION)
    frame["cost"] = frame["cost"].astype(float)
    return frame


def _outcomes(session, customer_ids: list[str]) -> pd.DataFrame:
    columns = ["customer_id", "at", "kind", "amount", "margin"]
    if not customer_ids:
        return pd.DataFrame(columns=columns)
    orders = session.execute(
        select(
            Feedback.customer_id,
            Feedback.created_at,
            Feedback.revenue,
            Feedback.margin,
        ).where(
            Feedback.kind.in_([FeedbackKind.ORDER, FeedbackKind.REDEMPTION]),
            Feedback.customer_id.in_(customer_ids),
        )
    ).all()
    returns = session.execute(
        select(Event.customer_id, Event.timestamp, Event.amount).where(
            Event.event_type == EventKind.RETURN,
            Event.customer_id.in_(customer_ids),
        )
    ).all()
    rows = [
        (customer, at, "order", revenue or 0.0, margin)
        for customer, at, revenue, margin in orders
    ]
    rows += [
        (customer, at, "return", abs(amount), np.nan)
        for customer, at, amount in returns
    ]
    return pd.DataFrame(rows, columns=columns)


def _rewards(decisions, outcomes, reward: str, window_days: int, as_of):
    if decisions.empty:
        empty = decisions.assign(reward=pd.Series(dtype=float))
        empty.attrs.update(pending_decisions=0, invalid_rows={})
        return empty
    # The message cost is paid whatever the customer does, so it is taken
    # off after the window's rule, not only from converted decisions.
    rewarded = compute_rewards(
        decisions.assign(cost=0.0),
        outcomes,
        kind=reward,
        window_days=window_days,
        as_of=as_of,
        on_invalid="drop",
    )
    if reward == "margin":
        rewarded["reward"] -= decisions.loc[rewarded.index, "cost"]
    return rewarded.sort_values("decided_at", kind="stable")


def _training_arrays(rewarded: pd.DataFrame, policy):
    # A promotion removed from the campaign since is not an action any more.
    unknown = ~rewarded["action"].isin(policy.actions)
    if unknown.any():
        logger.warning(
            "%d decisions of actions the policy does not have (%s) are not "
            "learned from",
            int(unknown.sum()),
            sorted(rewarded.loc[unknown, "action"].unique()),
        )
        rewarded = rewarded[~unknown]
    actions = rewarded["action"].to_numpy()
    rewards = rewarded["reward"].to_numpy(dtype=float)
    if not policy.contextual:
        return actions, rewards, None
    context = np.array(rewarded["features"].tolist(), dtype=float)
    return actions, rewards, context


def _summary(rewarded: pd.DataFrame) -> dict:
    groups = rewarded.groupby("action")["reward"]
    return {
        "mean_reward": {str(k): float(v) for k, v in groups.mean().items()},
        "action_counts": {str(k): int(v) for k, v in groups.size().items()},
    }
