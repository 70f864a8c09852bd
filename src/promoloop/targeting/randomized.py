"""Randomized test campaigns and bandit campaigns in a batch run.

A bandit campaign (``assignment = "bandit"``) is drawn the same way, except
that its policy gives the probabilities: "none" is one of the arms, so a
customer may be drawn no promotion, and each drawn pair logs the policy's
probability of it. The run uses the policy built from the campaign's spec
(its prior); the service uses the versions ``promoloop learn`` saves.


A campaign with ``assignment = "randomized"`` does not optimize: every
eligible customer gets one of their eligible promotions drawn uniformly,
the usual holdout group is kept out, and the log records each decision's
probability, so that uplift can be learned from the campaign and other
policies evaluated on it. Every draw is a SHA-256 hash of the campaign and
customer ids (salted per purpose), so a rerun gives the same groups.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

from promoloop.bandits.campaign import build_policy, campaign_actions, context_features
from promoloop.targeting.holdout import customer_draw, holdout_draw
from promoloop.targeting.promotions import Campaign, PromotionPlan
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

_ARM_SALT = "arm"
_ORDER_SALT = "order"


class RandomizedDraw(NamedTuple):
    """Pairs drawn by the randomized campaigns of a plan.

    Attributes
    ----------
    drawn : Index
        Labels of the scored pairs drawn (sent or, for holdout customers,
        withheld).
    over_budget : Index
        Labels of the pairs of customers who came after the budget ran out.
    arm_probability : Series
        For each drawn pair, the chance of that promotion among the
        customer's eligible ones (1 / their number).
    """

    drawn: pd.Index
    over_budget: pd.Index
    arm_probability: pd.Series


def draw_randomized(
    scored: pd.DataFrame,
    plan: PromotionPlan,
    held_out: pd.Series,
    max_per_customer: int = 1,
    profiles: pd.DataFrame | None = None,
) -> RandomizedDraw:
    """Draw one eligible promotion per customer in each randomized campaign.

    Customers are taken in a random order fixed by the campaign; a customer
    is included while the expected cost of the offers sent so far stays
    within the budget (holdout customers cost nothing but are drawn in the
    same order, so the holdout share is kept among the included customers).

    Parameters
    ----------
    scored : DataFrame
        Eligible pairs with ``customer_id``, ``campaign_id``,
        ``promotion_id`` and ``expected_cost``.
    plan : PromotionPlan
        Campaigns; only those with ``assignment = "randomized"`` are drawn.
    held_out : Series of bool
        Holdout flag of each pair, with the index of ``scored``.
    max_per_customer : int, default 1
        Most offers one customer receives over all randomized campaigns.
    profiles : DataFrame, optional
        Customer profiles with ``customer_id``, ``frequency`` and
        ``recency_days``: the context of contextual bandit policies.

    Returns
    -------
    RandomizedDraw
    """
    drawn, over, probability = [], [], []
    offers = pd.Series(0, dtype="int64")
    for campaign in plan.campaigns:
        if campaign.assignment not in ("randomized", "bandit"):
            continue
        pairs = scored[scored[C.campaign_id] == campaign.campaign_id]
        pairs = pairs[
            ~pairs[C.customer_id].isin(offers[offers >= max_per_customer].index)
        ]
        if pairs.empty:
            continue
        if campaign.assignment == "bandit":
            chosen, p_arm = _policy_arms(pairs, campaign, profiles)
        else:
            chosen, p_arm = _draw_arms(pairs, campaign.campaign_id)
        within, beyond = _within_budget(
            pairs.loc[chosen],
            held_out.loc[chosen],
            campaign.campaign_id,
            campaign.budget,
        )
        drawn.append(within)
        probability.append(p_arm.loc[within])
        over.append(
            pairs.index[pairs[C.customer_id].isin(pairs.loc[beyond, C.customer_id])]
        )
        counts = pairs.loc[within, C.customer_id].value_counts()
        offers = offers.add(counts, fill_value=0).astype("int64")
        logger.info(
            "randomized campaign %s: %d customers drawn, %d over budget",
            campaign.campaign_id,
            len(within),
            len(beyond),
        )
    empty = pd.Index([], dtype=scored.index.dtype)
    return RandomizedDraw(
        drawn=empty.append(drawn) if drawn else empty,
        over_budget=empty.append(over) if over else empty,
        arm_probability=pd.concat(probability)
        if probability
        else pd.Series(dtype=float),
    )


def _draw_arms(pairs: pd.DataFrame, campaign_id: str) -> tuple[pd.Index, pd.Series]:
    """Pick one pair per customer uniformly among their eligible promotions."""
    ordered = pairs.sort_values([C.customer_id, C.promotion_id], kind="stable")
    customers = ordered[C.customer_id].astype("string")
    count = customers.groupby(customers).transform("size").to_numpy()
    position = customers.groupby(customers).cumcount().to_numpy()
    draw = holdout_draw(customers, campaign_id, salt=_ARM_SALT).to_numpy()
    pick = position == np.floor(draw * count).astype(int)
    chosen = ordered.index[pick]
    return chosen, pd.Series(1.0 / count[pick], index=chosen)


def _policy_arms(
    pairs: pd.DataFrame, campaign: Campaign, profiles: pd.DataFrame | None
) -> tuple[pd.Index, pd.Series]:
    """Let the campaign's policy pick an arm per customer, "none" included."""
    policy = build_policy(campaign.policy, campaign_actions(campaign))
    customers = pd.Index(sorted(pairs[C.customer_id].astype("string").unique()))
    rows = customers.get_indexer(pairs[C.customer_id].astype("string"))
    columns = policy.action_codes(pairs[C.promotion_id].astype(str).to_numpy())
    eligible = np.zeros((len(customers), policy.n_actions), dtype=bool)
    eligible[rows, columns] = True

    context = None
    if policy.contextual:
        facts = pd.DataFrame(index=customers, columns=["frequency", "recency_days"])
        if profiles is not None:
            known = profiles.assign(
                **{C.customer_id: profiles[C.customer_id].astype("string")}
            ).set_index(C.customer_id)
            facts = known.reindex(customers)[["frequency", "recency_days"]]
        context = context_features(facts["frequency"], facts["recency_days"])

    # Seeded by the campaign, so that a rerun draws the same arms.
    seed = int(customer_draw(campaign.campaign_id, "bandit", _ARM_SALT) * 2**32)
    choice = policy.choose(context, eligible, random_state=seed)
    picked = choice.action_codes[rows] == columns
    chosen = pairs.index[picked]
    return chosen, pd.Series(choice.probability[rows[picked]], index=chosen)


def _within_budget(
    chosen: pd.DataFrame, held_out: pd.Series, campaign_id: str, budget: float
) -> tuple[pd.Index, pd.Index]:
    """Split drawn pairs into those within budget and those after it ran out."""
    order = holdout_draw(
        chosen[C.customer_id].astype("string"), campaign_id, salt=_ORDER_SALT
    )
    ranked = chosen.assign(_order=order.to_numpy()).sort_values("_order", kind="stable")
    cost = np.where(
        held_out.loc[ranked.index].to_numpy(dtype=bool),
        0.0,
        ranked["expected_cost"].to_numpy(dtype=float),
    )
    fits = np.cumsum(cost) <= budget + 1e-9
    # Once a customer does not fit, no later one is taken: the included
    # customers stay a random prefix of the order.
    fits = np.logical_and.accumulate(fits)
    return ranked.index[fits], ranked.index[~fits]
