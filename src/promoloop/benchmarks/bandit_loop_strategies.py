"""Strategies of the learning-loop benchmark, each fresh per repetition.

A strategy returns a probability row per customer for a round and may learn
from the round's sampled rewards. The strategies are:

- ``linear_thompson`` and ``linucb``: contextual bandit policies on the
  standardized profile features, updated after each round from the sampled
  rewards (margin net of every cost), with the exploration floor.
- ``gaussian_thompson``: the context-free Thompson policy, updated the same
  way.
- ``static_rules``: hand-written rules of the kind a shop writes: $5 off to
  lapsed customers, 10% off to the most discount-sensitive, free shipping
  to those who buy the most items per order, nothing to the rest.
- ``static_model``: round 0 is a uniform randomized test, and a ridge
  model per action is fit on it once. Later rounds send each customer the
  action with the highest predicted reward, and the model is never updated.
- ``random``: a uniform draw among the eligible actions.
- ``send_nothing``: no promotion to anyone, which scores 0 by definition.
- ``oracle``: each customer's best true action, the ceiling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from promoloop.bandits import GaussianThompson, LinearThompson, LinUCB
from promoloop.bandits.base import BanditPolicy
from promoloop.simulation import PromotionSimulator

STRATEGIES = (
    "linear_thompson",
    "linucb",
    "gaussian_thompson",
    "static_rules",
    "static_model",
    "random",
    "send_nothing",
    "oracle",
)
"""Names of the compared strategies, in report order."""


class Strategy:
    """A way of choosing actions: probability rows per round, learning after it.

    Parameters
    ----------
    name : str
    probabilities : callable
        ``(customers, round_index) -> ndarray (n, n_actions)``, rows that
        sum to 1 over the eligible actions.
    learn : callable, optional
        ``(customers, codes, rewards, round_index) -> None``, called after
        each round with the sampled rewards.
    policy : BanditPolicy, optional
        The policy behind the strategy, if any, in its final state after
        the loop.
    """

    def __init__(
        self,
        name: str,
        probabilities: Callable[[np.ndarray, int], np.ndarray],
        learn: Callable[[np.ndarray, np.ndarray, np.ndarray, int], None] | None = None,
        policy: BanditPolicy | None = None,
    ) -> None:
        self.name = name
        self.probabilities = probabilities
        self.learn = learn
        self.policy = policy


def bandit_strategy(
    name: str, policy: BanditPolicy, simulator: PromotionSimulator
) -> Strategy:
    """Wrap a bandit policy that learns from every round's rewards."""

    def probabilities(customers, round_index):
        return policy.action_probabilities(
            simulator.features(customers), simulator.eligible(customers)
        )

    def learn(customers, codes, rewards, round_index):
        policy.update(codes, rewards, simulator.features(customers))

    return Strategy(name, probabilities, learn, policy)


def learning_policies(
    simulator: PromotionSimulator, min_probability: float, seed: int
) -> dict[str, BanditPolicy]:
    """Build the bandit policies of the learning loop, before any reward.

    Their reward scale is ``simulator.mean_order_margin`` (about $9.50 on
    The Complete Journey), which a shop can compute from its profiles before
    any campaign. It sets the noise variance of the Thompson policies, their
    prior spread and LinUCB's bound width, so that one unit of each is about
    one order's margin.
    """
    actions = simulator.actions
    n_features = len(simulator.feature_names)
    scale = simulator.mean_order_margin
    return {
        "linear_thompson": LinearThompson(
            actions,
            n_features,
            noise_variance=scale**2,
            draws_seed=seed,
            min_probability=min_probability,
        ),
        "linucb": LinUCB(
            actions, n_features, alpha=scale, min_probability=min_probability
        ),
        "gaussian_thompson": GaussianThompson(
            actions,
            prior_variance=scale**2,
            initial_noise_variance=scale**2,
            draws_seed=seed,
            min_probability=min_probability,
        ),
    }


def rules_actions(simulator: PromotionSimulator, customers) -> np.ndarray:
    """Return the action codes of the hand-written rules, shape (n,).

    In order of priority: $5 off to customers more than two usual gaps
    since their last order, 10% off to the top quarter by discount
    sensitivity, free shipping to the top quarter by items per order,
    nothing to the rest. Quartiles are over the whole profile table. The
    rules need the default promotions' names, and an ineligible action
    falls back to nothing.
    """
    table = simulator.profile_table
    rows = table.iloc[np.asarray(customers)]
    lapsed = rows["recency_days"] > 2 * rows["interpurchase_days"]
    hunter = rows["discount_sensitivity"] >= table["discount_sensitivity"].quantile(
        0.75
    )
    big_basket = rows["basket_size"] >= table["basket_size"].quantile(0.75)
    names = np.select(
        [lapsed, hunter, big_basket],
        ["five_off", "ten_pct_off", "free_shipping"],
        default=simulator.no_action,
    )
    codes = simulator.action_codes(names, len(names))
    eligible = simulator.eligible(customers)[np.arange(len(codes)), codes]
    return np.where(eligible, codes, 0)


def static_rules_strategy(simulator: PromotionSimulator) -> Strategy:
    """Wrap ``rules_actions`` as a strategy that never learns."""

    def probabilities(customers, round_index):
        return _one_hot(rules_actions(simulator, customers), simulator.n_actions)

    return Strategy("static_rules", probabilities)


def static_model_strategy(simulator: PromotionSimulator) -> Strategy:
    """Build a strategy that fits a ridge model per action once, on round 0.

    Round 0 is a uniform randomized test.

    The model is LinUCB with ``alpha=0`` and no exploration floor, so it
    is the greedy choice of the same per-action ridge regressions the
    learning loop uses, and the comparison isolates the value of updating.
    """
    model = LinUCB(
        simulator.actions, len(simulator.feature_names), alpha=0.0, min_probability=0
    )

    def probabilities(customers, round_index):
        eligible = simulator.eligible(customers)
        if round_index == 0:
            return eligible / eligible.sum(axis=1, keepdims=True)
        return model.action_probabilities(simulator.features(customers), eligible)

    def learn(customers, codes, rewards, round_index):
        if round_index == 0:
            model.fit(codes, rewards, simulator.features(customers))

    return Strategy("static_model", probabilities, learn, model)


def random_strategy(simulator: PromotionSimulator) -> Strategy:
    """Build a strategy that draws uniformly among each customer's eligible actions."""

    def probabilities(customers, round_index):
        eligible = simulator.eligible(customers)
        return eligible / eligible.sum(axis=1, keepdims=True)

    return Strategy("random", probabilities)


def send_nothing_strategy(simulator: PromotionSimulator) -> Strategy:
    """Build a strategy that sends no promotion, the reference of every margin."""

    def probabilities(customers, round_index):
        return _one_hot(np.zeros(len(customers), dtype=np.intp), simulator.n_actions)

    return Strategy("send_nothing", probabilities)


def oracle_strategy(simulator: PromotionSimulator) -> Strategy:
    """Build the oracle: each customer's best eligible action under the truth."""

    def probabilities(customers, round_index):
        best = simulator.best_actions(customers, round_index=round_index)
        return _one_hot(best, simulator.n_actions)

    return Strategy("oracle", probabilities)


def build_strategies(
    simulator: PromotionSimulator,
    min_probability: float,
    seed: int,
    names: Sequence[str] = STRATEGIES,
) -> list[Strategy]:
    """Build the named strategies, fresh, for one repetition."""
    policies = learning_policies(simulator, min_probability, seed)
    builders = {
        "static_rules": static_rules_strategy,
        "static_model": static_model_strategy,
        "random": random_strategy,
        "send_nothing": send_nothing_strategy,
        "oracle": oracle_strategy,
    }
    strategies = []
    for name in names:
        if name in policies:
            strategies.append(bandit_strategy(name, policies[name], simulator))
        else:
            strategies.append(builders[name](simulator))
    return strategies


def _one_hot(codes: np.ndarray, n_actions: int) -> np.ndarray:
    rows = np.zeros((len(codes), n_actions))
    rows[np.arange(len(codes)), codes] = 1.0
    return rows
