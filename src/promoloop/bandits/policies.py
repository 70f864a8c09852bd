"""Context-free bandit policies: epsilon-greedy and Thompson sampling.

Each keeps one reward estimate per action, shared by every customer.
``BernoulliThompson`` suits conversion rewards in [0, 1], and
``GaussianThompson`` suits revenue or margin rewards, which can be negative.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from promoloop.bandits._checks import (
    checked_count,
    checked_finite,
    checked_positive,
    checked_seed,
    state_array,
)
from promoloop.bandits.base import (
    DEFAULT_MIN_PROBABILITY,
    NO_PROMOTION,
    BanditPolicy,
)
from promoloop.bandits.probabilities import argmax_probabilities, win_frequencies
from promoloop.errors import InputError

DEFAULT_DRAWS = 1000
"""Default number of posterior draws behind each Thompson probability row.

The standard error of an estimated probability p is sqrt(p (1 - p) / 1000),
at most 0.016."""


class EpsilonGreedy(BanditPolicy):
    """Best mean reward with probability 1 - epsilon, a uniform draw otherwise.

    The rule's probability of eligible action a is
    ``(1 - epsilon) * [a has the highest mean] + epsilon / k_eligible``.
    Actions tied for the highest mean share the greedy mass equally.

    Parameters
    ----------
    actions : sequence of str
        Unique action names, including ``no_action``.
    epsilon : float, default 0.1
        Share of decisions drawn uniformly among the eligible actions.
    initial_value : float, default 0.0
        Mean reward assumed for an action without rewards. A value above the
        expected rewards makes the policy try every action early.
    no_action : str, default "none"
        Name of the action that sends no promotion.
    min_probability : float, default 0.01
        Exploration floor (see ``BanditPolicy``).
    """

    kind = "epsilon_greedy"

    def __init__(
        self,
        actions: Sequence[str],
        *,
        epsilon: float = 0.1,
        initial_value: float = 0.0,
        no_action: str = NO_PROMOTION,
        min_probability: float = DEFAULT_MIN_PROBABILITY,
    ) -> None:
        self.epsilon = checked_positive("epsilon", epsilon, allow_zero=True)
        if self.epsilon > 1:
            raise InputError(
                "invalid parameter 'epsilon'",
                value=epsilon,
                expected="a share from 0 to 1",
                fix="pass epsilon between 0 and 1, e.g. 0.1",
            )
        self.initial_value = checked_finite("initial_value", initial_value)
        super().__init__(actions, no_action=no_action, min_probability=min_probability)

    @property
    def means_(self) -> np.ndarray:
        """Mean reward of each action (``initial_value`` before any reward)."""
        return self._means.copy()

    def _params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "initial_value": self.initial_value}

    def _state(self) -> dict[str, Any]:
        return {"means": self._means.tolist()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self._means = state_array(state, "means", (self.n_actions,))

    def _reset(self) -> None:
        self._means = np.full(self.n_actions, self.initial_value)

    def _update(self, codes, rewards, context) -> None:
        sums = np.bincount(codes, weights=rewards, minlength=self.n_actions)
        added = np.bincount(codes, minlength=self.n_actions)
        seen = added > 0
        before = self._counts[seen] - added[seen]
        total = before * self._means[seen] + sums[seen]
        self._means[seen] = total / self._counts[seen]

    def _rule_probabilities(self, context, eligible) -> np.ndarray:
        scores = np.broadcast_to(self._means, eligible.shape)
        greedy = argmax_probabilities(scores, eligible)
        uniform = eligible / eligible.sum(axis=1, keepdims=True)
        return (1.0 - self.epsilon) * greedy + self.epsilon * uniform


class _ThompsonPolicy(BanditPolicy):
    """Thompson sampling from independent per-action posteriors.

    A row's rule probability of action a is the share of ``n_draws``
    posterior draws in which a has the highest expected reward among the
    row's eligible actions. The draws come from a generator seeded with
    ``draws_seed`` and are cached until the state changes, so a state gives
    the same probabilities on every call. Subclasses implement
    ``_posterior_draws(rng)``.
    """

    def __init__(
        self,
        actions: Sequence[str],
        *,
        n_draws: int,
        draws_seed: int,
        no_action: str,
        min_probability: float,
    ) -> None:
        self.n_draws = checked_count("n_draws", n_draws)
        self.draws_seed = checked_seed(draws_seed)
        self._cached_draws: np.ndarray | None = None
        super().__init__(actions, no_action=no_action, min_probability=min_probability)

    @abstractmethod
    def _posterior_draws(self, rng: np.random.Generator) -> np.ndarray:
        """Return ``n_draws`` draws of every action's expected reward, (n_draws, k)."""

    def _forget_draws(self) -> None:
        self._cached_draws = None

    def _rule_probabilities(self, context, eligible) -> np.ndarray:
        if self._cached_draws is None:
            rng = np.random.default_rng(self.draws_seed)
            self._cached_draws = self._posterior_draws(rng)
        return win_frequencies(self._cached_draws, eligible)


class BernoulliThompson(_ThompsonPolicy):
    """Thompson sampling with a Beta posterior of each action's success rate.

    A reward r in [0, 1] adds r to alpha and 1 - r to beta, which is the
    conjugate update for 0/1 rewards and its usual extension to fractions.

    Parameters
    ----------
    actions : sequence of str
        Unique action names, including ``no_action``.
    prior_alpha, prior_beta : float, default 1.0
        Beta prior of every action. The default (1, 1) is uniform on [0, 1].
    n_draws : int, default 1000
        Posterior draws behind each probability row.
    draws_seed : int, default 0
        Seed of the posterior draws.
    no_action : str, default "none"
        Name of the action that sends no promotion.
    min_probability : float, default 0.01
        Exploration floor (see ``BanditPolicy``).
    """

    kind = "bernoulli_thompson"

    def __init__(
        self,
        actions: Sequence[str],
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        n_draws: int = DEFAULT_DRAWS,
        draws_seed: int = 0,
        no_action: str = NO_PROMOTION,
        min_probability: float = DEFAULT_MIN_PROBABILITY,
    ) -> None:
        self.prior_alpha = checked_positive("prior_alpha", prior_alpha)
        self.prior_beta = checked_positive("prior_beta", prior_beta)
        super().__init__(
            actions,
            n_draws=n_draws,
            draws_seed=draws_seed,
            no_action=no_action,
            min_probability=min_probability,
        )

    @property
    def alpha_(self) -> np.ndarray:
        """Posterior alpha of each action (prior plus summed rewards)."""
        return self._alpha.copy()

    @property
    def beta_(self) -> np.ndarray:
        """Posterior beta of each action (prior plus summed 1 - reward)."""
        return self._beta.copy()

    def _params(self) -> dict[str, Any]:
        return {
            "prior_alpha": self.prior_alpha,
            "prior_beta": self.prior_beta,
            "n_draws": self.n_draws,
            "draws_seed": self.draws_seed,
        }

    def _state(self) -> dict[str, Any]:
        return {"alpha": self._alpha.tolist(), "beta": self._beta.tolist()}

    def _load_state(self, state: dict[str, Any]) -> None:
        alpha = state_array(state, "alpha", (self.n_actions,))
        beta = state_array(state, "beta", (self.n_actions,))
        if (alpha <= 0).any() or (beta <= 0).any():
            raise InputError(
                "policy state 'alpha' or 'beta' is not positive",
                fix="pass the state saved by to_dict",
            )
        self._alpha, self._beta = alpha, beta
        self._forget_draws()

    def _reset(self) -> None:
        self._alpha = np.full(self.n_actions, self.prior_alpha)
        self._beta = np.full(self.n_actions, self.prior_beta)
        self._forget_draws()

    def _check_reward_values(self, rewards: np.ndarray) -> None:
        outside = (rewards < 0) | (rewards > 1)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise InputError(
                "reward outside [0, 1] for a Beta posterior",
                row=row + 1,
                column="rewards",
                value=float(rewards[row]),
                expected="conversion rewards from 0 to 1",
                fix="use GaussianThompson for revenue or margin rewards",
            )

    def _update(self, codes, rewards, context) -> None:
        self._alpha += np.bincount(codes, weights=rewards, minlength=self.n_actions)
        self._beta += np.bincount(
            codes, weights=1.0 - rewards, minlength=self.n_actions
        )
        self._forget_draws()

    def _posterior_draws(self, rng: np.random.Generator) -> np.ndarray:
        return rng.beta(self._alpha, self._beta, size=(self.n_draws, self.n_actions))


class GaussianThompson(_ThompsonPolicy):
    """Thompson sampling with a Normal posterior of each action's mean reward.

    Rewards of action a are modelled as Normal(mu_a, sigma^2) with prior
    mu_a ~ Normal(prior_mean, prior_variance). With n_a rewards of mean m_a
    the posterior of mu_a is Normal with precision
    ``1 / prior_variance + n_a / sigma^2`` and mean
    ``(prior_mean / prior_variance + n_a m_a / sigma^2) / precision``.

    Parameters
    ----------
    actions : sequence of str
        Unique action names, including ``no_action``.
    prior_mean : float, default 0.0
        Prior mean of every action's mean reward.
    prior_variance : float, default 1.0
        Prior variance of every action's mean reward, in squared reward
        units. Set it to the plausible spread of the means: a value far
        below it makes the prior outweigh the data.
    noise_variance : float or None, default None
        Variance sigma^2 of one reward around its action's mean. None
        estimates it as the pooled within-action variance of all rewards
        learned, with ``initial_noise_variance`` counted as one extra degree
        of freedom: ``(initial_noise_variance + sum of squared deviations) /
        (1 + sum over actions of (n_a - 1))``.
    initial_noise_variance : float, default 1.0
        Noise variance assumed before any reward, when ``noise_variance``
        is None.
    n_draws : int, default 1000
        Posterior draws behind each probability row.
    draws_seed : int, default 0
        Seed of the posterior draws.
    no_action : str, default "none"
        Name of the action that sends no promotion.
    min_probability : float, default 0.01
        Exploration floor (see ``BanditPolicy``).

    Notes
    -----
    The estimated noise variance is plugged in as if known, so with few
    rewards the posterior is narrower than the Student t that a full
    Normal-inverse-gamma model would give.
    """

    kind = "gaussian_thompson"

    def __init__(
        self,
        actions: Sequence[str],
        *,
        prior_mean: float = 0.0,
        prior_variance: float = 1.0,
        noise_variance: float | None = None,
        initial_noise_variance: float = 1.0,
        n_draws: int = DEFAULT_DRAWS,
        draws_seed: int = 0,
        no_action: str = NO_PROMOTION,
        min_probability: float = DEFAULT_MIN_PROBABILITY,
    ) -> None:
        self.prior_mean = checked_finite("prior_mean", prior_mean)
        self.prior_variance = checked_positive("prior_variance", prior_variance)
        self.noise_variance = (
            None
            if noise_variance is None
            else checked_positive("noise_variance", noise_variance)
        )
        self.initial_noise_variance = checked_positive(
            "initial_noise_variance", initial_noise_variance
        )
        super().__init__(
            actions,
            n_draws=n_draws,
            draws_seed=draws_seed,
            no_action=no_action,
            min_probability=min_probability,
        )

    @property
    def noise_variance_(self) -> float:
        """Noise variance in use: the parameter, or its current estimate."""
        if self.noise_variance is not None:
            return self.noise_variance
        freedom = np.maximum(self._counts - 1, 0).sum()
        return float(
            (self.initial_noise_variance + self._squared_deviations.sum())
            / (1.0 + freedom)
        )

    @property
    def posterior_mean_(self) -> np.ndarray:
        """Posterior mean of each action's mean reward."""
        return self._posterior()[0]

    @property
    def posterior_variance_(self) -> np.ndarray:
        """Posterior variance of each action's mean reward."""
        return self._posterior()[1]

    def _params(self) -> dict[str, Any]:
        return {
            "prior_mean": self.prior_mean,
            "prior_variance": self.prior_variance,
            "noise_variance": self.noise_variance,
            "initial_noise_variance": self.initial_noise_variance,
            "n_draws": self.n_draws,
            "draws_seed": self.draws_seed,
        }

    def _state(self) -> dict[str, Any]:
        return {
            "means": self._means.tolist(),
            "squared_deviations": self._squared_deviations.tolist(),
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self._means = state_array(state, "means", (self.n_actions,))
        deviations = state_array(state, "squared_deviations", (self.n_actions,))
        if (deviations < 0).any():
            raise InputError(
                "policy state 'squared_deviations' is negative",
                fix="pass the state saved by to_dict",
            )
        self._squared_deviations = deviations
        self._forget_draws()

    def _reset(self) -> None:
        self._means = np.zeros(self.n_actions)
        self._squared_deviations = np.zeros(self.n_actions)
        self._forget_draws()

    def _update(self, codes, rewards, context) -> None:
        # Merge each action's batch mean and squared deviations into the
        # running ones. With delta = batch mean - running mean, the merged
        # deviations gain delta^2 * n_before * n_batch / n_total.
        added = np.bincount(codes, minlength=self.n_actions)
        seen = added > 0
        batch_means = np.zeros(self.n_actions)
        batch_means[seen] = (
            np.bincount(codes, weights=rewards, minlength=self.n_actions)[seen]
            / added[seen]
        )
        batch_deviations = np.bincount(
            codes, weights=(rewards - batch_means[codes]) ** 2, minlength=self.n_actions
        )
        before = (self._counts - added).astype(float)
        total = self._counts.astype(float)
        delta = batch_means - self._means
        self._means[seen] += delta[seen] * added[seen] / total[seen]
        self._squared_deviations[seen] += (
            batch_deviations[seen]
            + delta[seen] ** 2 * before[seen] * added[seen] / total[seen]
        )
        self._forget_draws()

    def _posterior(self) -> tuple[np.ndarray, np.ndarray]:
        noise = self.noise_variance_
        precision = 1.0 / self.prior_variance + self._counts / noise
        mean = (
            self.prior_mean / self.prior_variance + self._counts * self._means / noise
        ) / precision
        return mean, 1.0 / precision

    def _posterior_draws(self, rng: np.random.Generator) -> np.ndarray:
        mean, variance = self._posterior()
        normals = rng.standard_normal((self.n_draws, self.n_actions))
        return mean + np.sqrt(variance) * normals
