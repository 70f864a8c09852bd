"""Doubly robust estimators: DR, switch-DR and DR with shrinkage.

Each adds importance-weighted residuals of a reward model to the direct
method, in the notation of :mod:`promoloop.ope.estimators`:

.. math::

    \\hat{V} = \\frac{1}{n} \\sum_i \\Big[ \\sum_a \\pi_e(a | x_i, k_i)
    \\hat{q}(x_i, a, k_i) + \\tilde{w}_i \\big(r_i - \\hat{q}(x_i, a_i, k_i)\\big)
    \\Big]

They differ in the weight :math:`\\tilde{w}_i` applied to the residual. DR is
unbiased when either the weights or the reward model are correct.
"""

from __future__ import annotations

import math

import numpy as np

from promoloop.ope._checks import check_weight_bound
from promoloop.ope.estimators import (
    InversePropensityScoring,
    OffPolicyEstimator,
    RoundInputs,
)


def _doubly_robust_terms(inputs: RoundInputs, weight: np.ndarray) -> np.ndarray:
    residual = inputs.reward - inputs.logged_reward_hat
    return inputs.direct_term + weight * residual


class DoublyRobust(InversePropensityScoring):
    """Doubly robust (DR) estimator with :math:`\\tilde{w}_i = \\min(w_i, M)`.

    Target mass on actions the logging policy could not take is valued by
    the reward model alone, through the direct term.

    Parameters
    ----------
    max_weight : float, optional
        Clip weights above this value. Default no clipping.
    name : str, default "dr"
        Label of the estimate in results.
    """

    requires_reward_hat = True

    def __init__(self, *, max_weight: float | None = None, name: str = "dr") -> None:
        super().__init__(max_weight=max_weight, name=name)

    def _round_terms(self, inputs: RoundInputs) -> tuple[np.ndarray, None]:
        weight = self._applied_weights(inputs.weight)
        return _doubly_robust_terms(inputs, weight), None


class SwitchDoublyRobust(OffPolicyEstimator):
    """Switch-DR: DR on rounds with :math:`w_i \\le \\tau`, DM on the others.

    .. math:: \\tilde{w}_i = w_i \\, \\mathbb{1}\\{w_i \\le \\tau\\}

    ``tau=math.inf`` gives DR and ``tau=0`` gives DM. This is the
    doubly robust form of the switch estimator, so the residual correction
    is dropped, not the whole round, where the weight is large.

    Parameters
    ----------
    tau : float, default 100.0
        Largest weight whose residual is kept.
    name : str, default "switch-dr"
        Label of the estimate in results.

    Notes
    -----
    The default ``tau`` is a fixed round number, not tuned to the data. A
    uniform logging policy over 100 actions gives weights up to 100, which
    the default keeps.
    """

    requires_reward_hat = True

    def __init__(self, *, tau: float = 100.0, name: str = "switch-dr") -> None:
        self.tau = check_weight_bound(tau, "tau", allow_zero=True)
        self.name = name

    def _applied_weights(self, weight: np.ndarray) -> np.ndarray:
        return np.where(weight <= self.tau, weight, 0.0)

    def _round_terms(self, inputs: RoundInputs) -> tuple[np.ndarray, None]:
        weight = self._applied_weights(inputs.weight)
        return _doubly_robust_terms(inputs, weight), None


class DoublyRobustWithShrinkage(OffPolicyEstimator):
    """DR with optimistic shrinkage of the weights.

    .. math:: \\tilde{w}_i = \\frac{\\lambda w_i}{w_i^2 + \\lambda}

    The shrunk weight is close to :math:`w_i` when :math:`w_i^2 \\ll \\lambda`
    and tends to 0 for large weights. ``lambda_=math.inf`` gives DR and
    ``lambda_=0`` gives DM (Su, Dimakopoulou, Krishnamurthy and Dudík,
    "Doubly Robust Off-Policy Evaluation with Shrinkage", 2020).

    Parameters
    ----------
    lambda_ : float, default 10000.0
        Shrinkage strength, in squared weight units.
    name : str, default "dr-shrinkage"
        Label of the estimate in results.

    Notes
    -----
    The default ``lambda_`` is the square of switch-DR's default ``tau`` and
    is not tuned to the data. A weight of 100 is shrunk to 50.
    """

    requires_reward_hat = True

    def __init__(
        self, *, lambda_: float = 10_000.0, name: str = "dr-shrinkage"
    ) -> None:
        self.lambda_ = check_weight_bound(lambda_, "lambda_", allow_zero=True)
        self.name = name

    def _applied_weights(self, weight: np.ndarray) -> np.ndarray:
        if math.isinf(self.lambda_):
            return weight
        if self.lambda_ == 0:
            return np.zeros_like(weight)
        # Dividing w by 1 + w^2 / lambda avoids overflow in lambda * w. An
        # infinite weight shrinks to 0, the limit of the formula.
        with np.errstate(over="ignore", invalid="ignore"):
            shrunk = weight / (1 + weight * (weight / self.lambda_))
        return np.where(np.isinf(weight), 0.0, shrunk)

    def _round_terms(self, inputs: RoundInputs) -> tuple[np.ndarray, None]:
        weight = self._applied_weights(inputs.weight)
        return _doubly_robust_terms(inputs, weight), None
