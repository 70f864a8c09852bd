"""Bandit policies that choose a promotion (or none) and learn from rewards.

Every policy implements ``BanditPolicy``: ``action_probabilities(context,
eligible)`` returns one probability row per decision, ineligible actions get
exactly 0 and eligible ones at least ``min_probability``. ``choose`` draws
the action from exactly that row and returns a ``Choice`` with the
probability of each chosen action, which is what a log needs for off-policy
evaluation. ``update`` learns from rewards, ``fit`` relearns from scratch,
and ``to_json``/``from_json`` save and restore the full state.

Context-free policies: ``EpsilonGreedy``, ``BernoulliThompson`` (conversion
rewards in [0, 1]) and ``GaussianThompson`` (revenue or margin rewards).
Contextual policies, one ridge model per action on the decision's features:
``LinUCB`` and ``LinearThompson``. ``compute_rewards`` turns logged
decisions and later orders and returns into one reward per decision.

Example
-------
>>> from promoloop.bandits import BernoulliThompson, policy_from_json
>>> policy = BernoulliThompson(["none", "ten_off", "free_shipping"])
>>> policy = policy.update(["ten_off", "none"], [1.0, 0.0])
>>> choice = policy.choose(eligible=[True, True, False], random_state=0)
>>> float(choice.action_probabilities[0, 2])
0.0
>>> restored = policy_from_json(policy.to_json())
"""

from promoloop.bandits.base import (
    DEFAULT_MIN_PROBABILITY,
    FORMAT_VERSION,
    NO_PROMOTION,
    BanditPolicy,
    Choice,
    policy_from_dict,
    policy_from_json,
    policy_kinds,
)
from promoloop.bandits.linear import LinearThompson, LinUCB
from promoloop.bandits.policies import (
    BernoulliThompson,
    EpsilonGreedy,
    GaussianThompson,
)
from promoloop.bandits.rewards import REWARD_KINDS, compute_rewards

__all__ = [
    "DEFAULT_MIN_PROBABILITY",
    "FORMAT_VERSION",
    "NO_PROMOTION",
    "REWARD_KINDS",
    "BanditPolicy",
    "BernoulliThompson",
    "Choice",
    "EpsilonGreedy",
    "GaussianThompson",
    "LinUCB",
    "LinearThompson",
    "compute_rewards",
    "policy_from_dict",
    "policy_from_json",
    "policy_kinds",
]
