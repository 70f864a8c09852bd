"""Off-policy estimators of a target policy's value: DM, IPS and SNIPS.

Notation used in the docstrings, for round :math:`i` of :math:`n`: context
:math:`x_i`, position :math:`k_i`, logged action :math:`a_i`, reward
:math:`r_i`, logging probability :math:`\\pi_b(a_i | x_i, k_i)` (``pscore``),
target probability :math:`\\pi_e(a | x_i, k_i)` (``action_dist[i, a, k_i]``),
expected reward :math:`\\hat{q}(x_i, a, k_i)` (``reward_hat[i, a, k_i]``) and
importance weight

.. math:: w_i = \\pi_e(a_i | x_i, k_i) / \\pi_b(a_i | x_i, k_i).

Each round is read only at its own position :math:`k_i`. The doubly robust
family is in :mod:`promoloop.ope.estimators_dr`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from promoloop.errors import InputError, UndefinedMetricError
from promoloop.ope._checks import (
    check_bootstrap_arguments,
    check_policy_array,
    check_weight_bound,
    values_at_logged_position,
)
from promoloop.ope.logs import BanditLog

# Upper bound on the resample indices held in memory at once (8 bytes each).
_MAX_BOOTSTRAP_INDICES = 2_000_000


class PolicyValueInterval(NamedTuple):
    """Point estimate and percentile bootstrap interval of a policy value.

    ``n_defined`` counts the resamples that defined the estimate; SNIPS is
    undefined on a resample whose weights sum to 0, and such resamples are
    left out of the percentiles.
    """

    value: float
    low: float
    high: float
    n_bootstrap: int
    n_defined: int


@dataclass(frozen=True)
class RoundInputs:
    """Validated per-round arrays that every estimator reads.

    Attributes
    ----------
    target : ndarray, shape (n_rounds, n_actions)
        Target probabilities at each round's position.
    weight : ndarray, shape (n_rounds,)
        Importance weights before clipping.
    reward : ndarray, shape (n_rounds,)
    logged_action : ndarray of int, shape (n_rounds,)
    reward_hat : ndarray, shape (n_rounds, n_actions), or None
        Expected rewards at each round's position.
    """

    target: np.ndarray
    weight: np.ndarray
    reward: np.ndarray
    logged_action: np.ndarray
    reward_hat: np.ndarray | None

    @property
    def direct_term(self) -> np.ndarray:
        """Expected reward of the target policy per round under the reward model."""
        return np.sum(self.target * self.reward_hat, axis=1)

    @property
    def logged_reward_hat(self) -> np.ndarray:
        """Reward model's prediction for the logged action of each round."""
        return self.reward_hat[np.arange(self.reward.size), self.logged_action]


def prepare_inputs(
    log: BanditLog, action_dist: object, reward_hat: object | None = None
) -> RoundInputs:
    """Validate ``action_dist`` and ``reward_hat`` and read them at each round."""
    target = values_at_logged_position(log, check_policy_array(log, action_dist))
    rounds = np.arange(log.n_rounds)
    with np.errstate(over="ignore"):
        weight = target[rounds, log.action] / log.pscore
    q_hat = None
    if reward_hat is not None:
        checked = check_policy_array(log, reward_hat, "reward_hat", distribution=False)
        q_hat = values_at_logged_position(log, checked)
    return RoundInputs(
        target=target,
        weight=weight,
        reward=log.reward,
        logged_action=log.action,
        reward_hat=q_hat,
    )


class OffPolicyEstimator(ABC):
    """Base class: an estimator is an average of per-round terms.

    Subclasses return a numerator per round and, for self-normalized
    estimators, a denominator per round. The estimate is
    :math:`\\sum_i u_i / \\sum_i d_i`, with :math:`d_i = 1` by default, so the
    bootstrap can resample rounds without knowing the estimator.
    """

    name: str
    requires_reward_hat: ClassVar[bool] = False

    @abstractmethod
    def _round_terms(self, inputs: RoundInputs) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the numerator and denominator (or None for 1) of each round."""

    def applied_weights(self, log: BanditLog, action_dist: object) -> np.ndarray:
        """Return the importance weights the estimator multiplies rewards by.

        These are the weights after clipping, switching or shrinkage. The
        direct method applies none, so it returns the unmodified weights as
        a diagnostic of the log.
        """
        return self._applied_weights(prepare_inputs(log, action_dist).weight)

    def _applied_weights(self, weight: np.ndarray) -> np.ndarray:
        return weight

    def _terms(
        self, log: BanditLog, action_dist: object, reward_hat: object | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if self.requires_reward_hat and reward_hat is None:
            raise InputError(
                f"estimator {self.name!r} needs 'reward_hat', which is None",
                expected="expected rewards of shape (n_rounds, n_actions, n_positions)",
                fix="pass reward_hat=fit_reward_model(log), or use IPS or SNIPS",
            )
        inputs = prepare_inputs(
            log, action_dist, reward_hat if self.requires_reward_hat else None
        )
        numerator, denominator = self._round_terms(inputs)
        if not np.isfinite(numerator).all():
            index = int(np.flatnonzero(~np.isfinite(numerator))[0])
            raise InputError(
                f"estimator {self.name!r} has a non-finite term at round "
                f"{log.round_id[index]}, where pscore is {log.pscore[index]:g} "
                f"and the weight {inputs.weight[index]:g}",
                fix="check that pscore is the logged probability, or pass "
                "max_weight to clip the weights",
            )
        return numerator, denominator

    def estimate_round_rewards(
        self, log: BanditLog, action_dist: object, reward_hat: object | None = None
    ) -> np.ndarray:
        """Estimate each round's contribution to the policy value.

        Parameters
        ----------
        log : BanditLog
        action_dist : array-like of float, shape (n_rounds, n_actions, n_positions)
            Target policy's probability of each action at each round and
            position. Shape (n_rounds, n_actions) is accepted for one position.
        reward_hat : array-like of float, same shape as action_dist, optional
            Expected reward of each action at each round and position.

        Returns
        -------
        ndarray of float, shape (n_rounds,)
            Values whose mean is ``estimate_policy_value``.
        """
        numerator, denominator = self._terms(log, action_dist, reward_hat)
        if denominator is None:
            return numerator
        return numerator / self._mean_denominator(denominator)

    def estimate_policy_value(
        self, log: BanditLog, action_dist: object, reward_hat: object | None = None
    ) -> float:
        """Estimate the target policy's expected reward per round.

        Parameters are those of :meth:`estimate_round_rewards`.

        Returns
        -------
        float
            Finite estimate.

        Raises
        ------
        InputError
            On arrays that do not match the log, or when the estimator needs
            ``reward_hat`` and none is given.
        UndefinedMetricError
            When a self-normalized estimate has weights that sum to 0.
        """
        return float(np.mean(self.estimate_round_rewards(log, action_dist, reward_hat)))

    def estimate_interval(
        self,
        log: BanditLog,
        action_dist: object,
        reward_hat: object | None = None,
        *,
        n_bootstrap: int = 1000,
        alpha: float = 0.05,
        random_state: int | np.random.Generator | None = None,
    ) -> PolicyValueInterval:
        """Estimate the policy value and its percentile bootstrap interval.

        Each resample draws ``n_rounds`` rounds with replacement and
        recomputes the estimate, normalizing again inside the resample for
        self-normalized estimators. The interval is the :math:`\\alpha/2` and
        :math:`1 - \\alpha/2` quantiles of the resample estimates.

        Parameters
        ----------
        log, action_dist, reward_hat
            As in :meth:`estimate_round_rewards`.
        n_bootstrap : int, default 1000
            Number of resamples.
        alpha : float, default 0.05
            One minus the nominal coverage of the interval.
        random_state : int, Generator or None, default None
            Seed or generator of the resampling.

        Returns
        -------
        PolicyValueInterval
            With one round, every resample equals the estimate and the
            interval has zero width.

        Raises
        ------
        InputError
            On invalid arguments, as in :meth:`estimate_policy_value`.
        UndefinedMetricError
            When the estimate is undefined on the full log or on more than
            half of the resamples.

        Notes
        -----
        The resamples reuse ``reward_hat`` as given, so DM and DR intervals
        leave out the reward model's own estimation error and can be too
        narrow, most of all for DM.
        """
        check_bootstrap_arguments(n_bootstrap, alpha)
        numerator, denominator = self._terms(log, action_dist, reward_hat)
        value = float(np.sum(numerator) / self._sum_denominator(denominator, log))
        rng = np.random.default_rng(random_state)
        resampled = _bootstrap_values(numerator, denominator, n_bootstrap, rng)
        if 2 * resampled.size < n_bootstrap:
            raise UndefinedMetricError(
                f"estimator {self.name!r} is defined on only {resampled.size} of "
                f"{n_bootstrap} bootstrap resamples because their weights sum "
                "to 0; the target policy rarely chooses the logged actions. "
                "Use IPS or DR for this target policy"
            )
        low, high = np.quantile(resampled, [alpha / 2, 1 - alpha / 2])
        return PolicyValueInterval(
            value, float(low), float(high), n_bootstrap, int(resampled.size)
        )

    def _mean_denominator(self, denominator: np.ndarray) -> float:
        mean = float(np.mean(denominator))
        if mean <= 0:
            raise UndefinedMetricError(
                f"estimator {self.name!r} is undefined because the importance "
                "weights sum to 0: the target policy never chooses a logged "
                "action. Use IPS, which gives 0 here, or DR with a reward model"
            )
        return mean

    def _sum_denominator(self, denominator: np.ndarray | None, log: BanditLog) -> float:
        if denominator is None:
            return float(log.n_rounds)
        return self._mean_denominator(denominator) * denominator.size

    def __repr__(self) -> str:
        parameters = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({parameters})"


def _bootstrap_values(
    numerator: np.ndarray,
    denominator: np.ndarray | None,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return the estimate on each resample where it is defined."""
    n_rounds = numerator.size
    chunk = max(1, _MAX_BOOTSTRAP_INDICES // n_rounds)
    values = []
    for start in range(0, n_bootstrap, chunk):
        rows = rng.integers(
            0, n_rounds, size=(min(chunk, n_bootstrap - start), n_rounds)
        )
        totals = numerator[rows].sum(axis=1)
        if denominator is None:
            values.append(totals / n_rounds)
            continue
        weight_totals = denominator[rows].sum(axis=1)
        defined = weight_totals > 0
        values.append(totals[defined] / weight_totals[defined])
    return np.concatenate(values)


class DirectMethod(OffPolicyEstimator):
    """Direct method (DM): the reward model's value of the target policy.

    .. math::

        \\hat{V}_{DM} = \\frac{1}{n} \\sum_i \\sum_a \\pi_e(a | x_i, k_i)
        \\hat{q}(x_i, a, k_i)

    Unbiased only when the reward model is; it uses the logged rewards only
    through the model.

    Parameters
    ----------
    name : str, default "dm"
        Label of the estimate in results.
    """

    requires_reward_hat = True

    def __init__(self, *, name: str = "dm") -> None:
        self.name = name

    def _round_terms(self, inputs: RoundInputs) -> tuple[np.ndarray, None]:
        return inputs.direct_term, None


class InversePropensityScoring(OffPolicyEstimator):
    """Inverse propensity scoring (IPS): rewards weighted by :math:`w_i`.

    .. math:: \\hat{V}_{IPS} = \\frac{1}{n} \\sum_i \\min(w_i, M) \\, r_i

    Unbiased when the logging policy gives every action the target policy
    chooses a positive probability and :math:`M` (``max_weight``) is
    infinite. Target mass on actions the logging policy could not take gets
    no reward, so it biases the estimate toward 0; see
    :func:`promoloop.ope.check_support`.

    Parameters
    ----------
    max_weight : float, optional
        Clip weights above this value, trading bias for variance. Default no
        clipping.
    name : str, default "ips"
        Label of the estimate in results.
    """

    def __init__(self, *, max_weight: float | None = None, name: str = "ips") -> None:
        self.max_weight = (
            None
            if max_weight is None
            else check_weight_bound(max_weight, "max_weight", allow_zero=False)
        )
        self.name = name

    def _applied_weights(self, weight: np.ndarray) -> np.ndarray:
        if self.max_weight is None:
            return weight
        return np.minimum(weight, self.max_weight)

    def _round_terms(self, inputs: RoundInputs) -> tuple[np.ndarray, None]:
        return self._applied_weights(inputs.weight) * inputs.reward, None


class SelfNormalizedInversePropensityScoring(InversePropensityScoring):
    """Self-normalized IPS (SNIPS): IPS divided by the mean weight.

    .. math::

        \\hat{V}_{SNIPS} = \\frac{\\sum_i \\min(w_i, M) \\, r_i}
        {\\sum_i \\min(w_i, M)}

    Biased but consistent, with lower variance than IPS, and always within
    the range of the logged rewards. Undefined when every weight is 0.

    Parameters
    ----------
    max_weight : float, optional
        Clip weights above this value. Default no clipping.
    name : str, default "snips"
        Label of the estimate in results.
    """

    def __init__(self, *, max_weight: float | None = None, name: str = "snips") -> None:
        super().__init__(max_weight=max_weight, name=name)

    def _round_terms(self, inputs: RoundInputs) -> tuple[np.ndarray, np.ndarray]:
        weight = self._applied_weights(inputs.weight)
        return weight * inputs.reward, weight
