"""Off-policy evaluation: estimate a new policy's value from logged decisions.

Each logged round records the action the logging policy chose (a promotion,
or an item at a position), its probability ``pscore`` and the reward. A
target policy is given as ``action_dist``, its probability of each action at
each round and position, shape (n_rounds, n_actions, n_positions).

Typical use::

    log = BanditLog.from_frame(df, action="offer", reward="redeemed",
                               pscore="pscore", strata="segment")
    action_dist = deterministic_action_dist(log, df["target"].iloc[log.source_rows])
    result = evaluate_policy(log, action_dist, random_state=0)
    result.to_frame()

``BanditLog`` validates the rounds, ``check_support`` reports where the
target policy leaves the logging policy's support, ``fit_reward_model``
gives a cross-fitted ``reward_hat`` for the direct method and the doubly
robust estimators, and each estimator class has ``estimate_policy_value``
and ``estimate_interval``.
"""

from promoloop.ope.estimators import (
    DirectMethod,
    InversePropensityScoring,
    OffPolicyEstimator,
    PolicyValueInterval,
    SelfNormalizedInversePropensityScoring,
)
from promoloop.ope.estimators_dr import (
    DoublyRobust,
    DoublyRobustWithShrinkage,
    SwitchDoublyRobust,
)
from promoloop.ope.evaluate import (
    EstimateRow,
    PolicyEvaluation,
    default_estimators,
    evaluate_policy,
)
from promoloop.ope.logs import BanditLog, deterministic_action_dist
from promoloop.ope.reward_model import fit_reward_model
from promoloop.ope.support import SupportReport, check_support, effective_sample_size

__all__ = [
    "BanditLog",
    "DirectMethod",
    "DoublyRobust",
    "DoublyRobustWithShrinkage",
    "EstimateRow",
    "InversePropensityScoring",
    "OffPolicyEstimator",
    "PolicyEvaluation",
    "PolicyValueInterval",
    "SelfNormalizedInversePropensityScoring",
    "SupportReport",
    "SwitchDoublyRobust",
    "check_support",
    "default_estimators",
    "deterministic_action_dist",
    "effective_sample_size",
    "evaluate_policy",
    "fit_reward_model",
]
