"""Judge a candidate policy on a bandit campaign's decision log before it serves.

The service logs every decision of a bandit campaign with the probability of
the chosen action, the eligible promotions and the context the policy saw.
Together with the rewards of :func:`promoloop.store.learn.rewarded_decisions`
these rounds are a bandit log, on which :func:`evaluate_candidate` estimates
what another policy (a saved version, or a new kind or setting) would have
earned, with the estimators of :mod:`promoloop.ope`.

Rounds: the campaign's rewarded decisions that were not held out, one
position each. Holdout decisions are left out because the customer saw
nothing whatever the policy chose; their logged probability is the holdout
share, not the policy's.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from promoloop.bandits import NO_PROMOTION, BanditPolicy
from promoloop.bandits.campaign import campaign_actions
from promoloop.errors import InputError
from promoloop.ope import BanditLog, PolicyEvaluation, evaluate_policy, fit_reward_model
from promoloop.store.database import Store
from promoloop.store.learn import rewarded_decisions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateEvaluation:
    """Off-policy estimates of a candidate policy on a campaign's log.

    Attributes
    ----------
    campaign_id : str
    evaluation : PolicyEvaluation
        One row per estimator, with intervals and the support report.
    logged_value : float
        Mean reward of the logged decisions: what the policies that logged
        them earned, the figure to beat.
    n_rounds : int
    actions : list of str
        Action names, in the order of the columns of the log.
    """

    campaign_id: str
    evaluation: PolicyEvaluation
    logged_value: float
    n_rounds: int
    actions: list[str]

    def to_frame(self) -> pd.DataFrame:
        """Return the estimates with the logged value next to each row."""
        frame = self.evaluation.to_frame()
        frame.insert(0, "campaign_id", self.campaign_id)
        frame["logged_value"] = self.logged_value
        return frame


def store_bandit_log(
    store: Store,
    campaign_id: str,
    as_of: dt.datetime | None = None,
    *,
    after: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[BanditLog, np.ndarray, list[str]]:
    """Return a bandit campaign's rewarded decisions as a bandit log.

    ``after`` and ``until`` keep the decisions made in (after, until].

    Returns
    -------
    log : BanditLog
        Actions coded in the campaign's action order, rewards by the
        campaign's reward rule, logged probabilities as ``pscore`` and the
        logged context.
    eligible : ndarray of bool, shape (n_rounds, n_actions)
        Actions each round's customer could get; "none" always.
    actions : list of str
        Action names: "none", then the campaign's promotion ids sorted.

    Raises
    ------
    InputError
        If the campaign is not a bandit campaign or has no rewarded decision.
    """
    campaign, _, rewarded = rewarded_decisions(store, campaign_id, as_of)
    actions = campaign_actions(campaign)
    rewarded = rewarded[rewarded["action"].isin(actions)]
    if after is not None:
        rewarded = rewarded[rewarded["decided_at"] > pd.Timestamp(after)]
    if until is not None:
        rewarded = rewarded[rewarded["decided_at"] <= pd.Timestamp(until)]
    if rewarded.empty:
        raise InputError(
            "campaign has no decision whose reward window has closed"
            + (f" after {after}" if after is not None else "")
            + (f" and up to {until}" if until is not None else ""),
            value=campaign_id,
            fix="wait until the reward window of the first decisions ends, "
            "or evaluate a campaign with older decisions",
        )
    frame = rewarded.reset_index(drop=True)
    features = np.array(frame["features"].tolist(), dtype=float)
    feature_columns = [f"feature_{i}" for i in range(features.shape[1])]
    frame[feature_columns] = features
    log = BanditLog.from_frame(
        frame,
        action="action",
        reward="reward",
        pscore="probability",
        round_id="decision_id",
        context=feature_columns,
        actions=actions,
        source=f"decision log of campaign {campaign_id}",
    )
    eligible = np.zeros((log.n_rounds, len(actions)), dtype=bool)
    codes = {name: code for code, name in enumerate(actions)}
    eligible[:, codes[NO_PROMOTION]] = True
    for row, promotion_ids in enumerate(frame["eligible"].iloc[log.source_rows]):
        for promotion_id in promotion_ids or ():
            if promotion_id in codes:
                eligible[row, codes[promotion_id]] = True
    return log, eligible, actions


def evaluate_candidate(
    store: Store,
    campaign_id: str,
    candidate: BanditPolicy,
    *,
    as_of: dt.datetime | None = None,
    after: dt.datetime | None = None,
    until: dt.datetime | None = None,
    reward_model: str = "ridge",
    n_bootstrap: int = 1000,
    random_state: int | None = 0,
) -> CandidateEvaluation:
    """Estimate a candidate policy's mean reward on a campaign's decision log.

    Parameters
    ----------
    store : Store
        The service's store.
    campaign_id : str
        A bandit campaign with rewarded decisions.
    candidate : BanditPolicy
        The policy to judge; its actions must be the campaign's.
    as_of : datetime, optional
        Time up to which outcomes are known; now by default.
    after, until : datetime, optional
        Judge on the decisions made in (after, until] only, e.g. those after
        the rounds the candidate learned from.
    reward_model : {"ridge", "logistic", "lightgbm", "mean"}, default "ridge"
        Reward model of the direct method and the doubly robust estimators.
    n_bootstrap : int, default 1000
        Resamples per interval.
    random_state : int or None, default 0
        Seed of the reward model's folds and of the resampling.

    Returns
    -------
    CandidateEvaluation
    """
    log, eligible, actions = store_bandit_log(
        store, campaign_id, as_of, after=after, until=until
    )
    if list(candidate.actions) != actions:
        raise InputError(
            "the candidate policy's actions differ from the campaign's",
            value=list(candidate.actions),
            expected=str(actions),
            fix="build the candidate over the campaign's actions "
            "(promoloop.bandits.campaign.campaign_actions)",
        )
    context = np.asarray(log.context) if candidate.contextual else None
    action_dist = candidate.action_probabilities(context, eligible)
    reward_hat = fit_reward_model(
        log, model=reward_model, n_folds=2, random_state=random_state
    )
    evaluation = evaluate_policy(
        log,
        action_dist,
        reward_hat,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )
    logged_value = float(np.mean(log.reward))
    logger.info(
        "candidate %s on campaign %s: %d rounds, logged mean reward %.4f",
        candidate.kind,
        campaign_id,
        log.n_rounds,
        logged_value,
    )
    return CandidateEvaluation(
        campaign_id, evaluation, logged_value, log.n_rounds, actions
    )
