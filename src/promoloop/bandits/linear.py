"""Contextual bandit policies on linear reward models: LinUCB and linear Thompson.

Each action has its own ridge regression of reward on the decision's
features: the "disjoint" linear model of LinUCB (Li, Chu, Langford and
Schapire, "A contextual-bandit approach to personalized news article
recommendation", WWW 2010, arXiv:1003.0146). For action a with
feature rows X_a and rewards r_a the state is

    A_a = ridge_penalty * I + X_a' X_a        b_a = X_a' r_a

and the coefficients are theta_a = A_a^-1 b_a. For a context x the model's
expected reward is x' theta_a and its uncertainty is x' A_a^-1 x. Features
are used as given, so put them on comparable scales (for example
standardized profile features), because the penalty and the uncertainty
both depend on scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from promoloop.bandits._checks import (
    checked_count,
    checked_positive,
    checked_seed,
    row_count,
    state_array,
)
from promoloop.bandits.base import (
    DEFAULT_MIN_PROBABILITY,
    NO_PROMOTION,
    BanditPolicy,
)
from promoloop.bandits.policies import DEFAULT_DRAWS
from promoloop.bandits.probabilities import argmax_probabilities, row_win_frequencies
from promoloop.errors import InputError


class _DisjointRidgePolicy(BanditPolicy):
    """Per-action ridge regressions, updated incrementally from their sufficient
    statistics ``A_a`` and ``b_a``.

    Subclasses turn the predicted mean and variance factor of each action
    into rule probabilities.
    """

    contextual = True

    def __init__(
        self,
        actions: Sequence[str],
        n_features: int,
        *,
        ridge_penalty: float,
        fit_intercept: bool,
        no_action: str,
        min_probability: float,
    ) -> None:
        self.n_features = checked_count("n_features", n_features)
        self.ridge_penalty = checked_positive("ridge_penalty", ridge_penalty)
        if not isinstance(fit_intercept, bool):
            raise InputError(
                "invalid parameter 'fit_intercept'",
                value=fit_intercept,
                expected="True or False",
                fix="pass fit_intercept as a bool",
            )
        self.fit_intercept = fit_intercept
        super().__init__(actions, no_action=no_action, min_probability=min_probability)

    @property
    def coef_(self) -> np.ndarray:
        """Ridge coefficients of each action, shape (k, n_features)."""
        return self._coef[:, : self.n_features].copy()

    @property
    def intercept_(self) -> np.ndarray:
        """Ridge intercept of each action (zeros when ``fit_intercept`` is False)."""
        if not self.fit_intercept:
            return np.zeros(self.n_actions)
        return self._coef[:, -1].copy()

    def _state(self) -> dict[str, Any]:
        return {"gram": self._gram.tolist(), "moments": self._moments.tolist()}

    def _load_state(self, state: dict[str, Any]) -> None:
        width = self._width()
        gram = state_array(state, "gram", (self.n_actions, width, width))
        moments = state_array(state, "moments", (self.n_actions, width))
        self._gram, self._moments = gram, moments
        try:
            self._solve(np.arange(self.n_actions))
        except np.linalg.LinAlgError as error:
            raise InputError(
                f"policy state 'gram' is singular: {error}",
                fix="pass the state saved by to_dict, or relearn the policy",
            ) from error

    def _reset(self) -> None:
        width = self._width()
        self._gram = np.tile(self.ridge_penalty * np.eye(width), (self.n_actions, 1, 1))
        self._moments = np.zeros((self.n_actions, width))
        self._covariance = np.tile(
            np.eye(width) / self.ridge_penalty, (self.n_actions, 1, 1)
        )
        self._coef = np.zeros((self.n_actions, width))

    def _update(self, codes, rewards, context) -> None:
        design = self._design(context)
        changed = np.unique(codes)
        for code in changed:
            rows = codes == code
            self._gram[code] += design[rows].T @ design[rows]
            self._moments[code] += design[rows].T @ rewards[rows]
        self._solve(changed)

    def _solve(self, codes: np.ndarray) -> None:
        """Recompute A_a^-1 and theta_a of the given actions."""
        # XXX: A_a is symmetric positive definite (ridge_penalty > 0), but with
        # a tiny penalty and collinear features its inverse loses precision.
        inverse = np.linalg.inv(self._gram[codes])
        self._covariance[codes] = 0.5 * (inverse + np.swapaxes(inverse, 1, 2))
        self._coef[codes] = np.einsum(
            "kij,kj->ki", self._covariance[codes], self._moments[codes]
        )

    def _width(self) -> int:
        return self.n_features + int(self.fit_intercept)

    def _design(self, features: np.ndarray) -> np.ndarray:
        if not self.fit_intercept:
            return features
        return np.hstack([features, np.ones((len(features), 1))])

    def _predictions(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return x' theta_a and x' A_a^-1 x for every row and action, (n, k) each."""
        design = self._design(features)
        means = design @ self._coef.T
        spreads = np.empty_like(means)
        for code in range(self.n_actions):
            spreads[:, code] = np.einsum(
                "ij,ij->i", design @ self._covariance[code], design
            )
        return means, np.maximum(spreads, 0.0)


class LinUCB(_DisjointRidgePolicy):
    """LinUCB: the eligible action with the highest upper confidence bound.

    The score of action a for context x is
    ``x' theta_a + alpha * sqrt(x' A_a^-1 x)``. The rule puts all its mass
    on the highest score, shared equally among ties, and the exploration
    floor gives the other eligible actions their probability.

    Parameters
    ----------
    actions : sequence of str
        Unique action names, including ``no_action``.
    n_features : int
        Number of context features per decision.
    alpha : float, default 1.0
        Width of the confidence bound in standard errors of the model.
    ridge_penalty : float, default 1.0
        Ridge penalty on the coefficients (and on the intercept).
    fit_intercept : bool, default True
        Add a constant feature, so each action has its own base reward.
    no_action : str, default "none"
        Name of the action that sends no promotion.
    min_probability : float, default 0.01
        Exploration floor (see ``BanditPolicy``). With 0 the logged
        probabilities are 0 or 1, and the log no longer supports off-policy
        evaluation of other policies.
    """

    kind = "linucb"

    def __init__(
        self,
        actions: Sequence[str],
        n_features: int,
        *,
        alpha: float = 1.0,
        ridge_penalty: float = 1.0,
        fit_intercept: bool = True,
        no_action: str = NO_PROMOTION,
        min_probability: float = DEFAULT_MIN_PROBABILITY,
    ) -> None:
        self.alpha = checked_positive("alpha", alpha, allow_zero=True)
        super().__init__(
            actions,
            n_features,
            ridge_penalty=ridge_penalty,
            fit_intercept=fit_intercept,
            no_action=no_action,
            min_probability=min_probability,
        )

    def _params(self) -> dict[str, Any]:
        return {
            "n_features": self.n_features,
            "alpha": self.alpha,
            "ridge_penalty": self.ridge_penalty,
            "fit_intercept": self.fit_intercept,
        }

    def upper_bounds(self, context) -> np.ndarray:
        """Return the UCB score of every action for each context, shape (n, k)."""
        features = self._checked_context(
            context, row_count(context, None), required=True
        )
        means, spreads = self._predictions(features)
        return means + self.alpha * np.sqrt(spreads)

    def _rule_probabilities(self, context, eligible) -> np.ndarray:
        means, spreads = self._predictions(context)
        return argmax_probabilities(means + self.alpha * np.sqrt(spreads), eligible)


class LinearThompson(_DisjointRidgePolicy):
    """Thompson sampling from the Bayesian linear model of each action.

    The model has prior theta_a ~ Normal(0, noise_variance / ridge_penalty * I)
    and Normal reward noise of variance ``noise_variance``. Its posterior is
    theta_a ~ Normal(A_a^-1 b_a, noise_variance * A_a^-1), so the expected
    reward for context x is Normal with mean x' theta_a and variance
    ``noise_variance * x' A_a^-1 x``. Each row's rule probability of action
    a is the share of ``n_draws`` draws in which a has the highest expected
    reward among the row's eligible actions. Because the actions' models are
    independent, drawing these scalars is equivalent to drawing whole
    coefficient vectors.

    The standard normal draws come from a generator seeded with
    ``draws_seed`` and are shared by all rows, so a row's probabilities
    depend only on the state and its context.

    Parameters
    ----------
    actions : sequence of str
        Unique action names, including ``no_action``.
    n_features : int
        Number of context features per decision.
    noise_variance : float, default 1.0
        Variance of one reward around the model's expected reward, in
        squared reward units. Larger values explore more. For 0/1
        conversions it is at most 0.25.
    ridge_penalty : float, default 1.0
        Ridge penalty (prior precision relative to the noise).
    fit_intercept : bool, default True
        Add a constant feature, so each action has its own base reward.
    n_draws : int, default 1000
        Posterior draws behind each probability row.
    draws_seed : int, default 0
        Seed of the posterior draws.
    no_action : str, default "none"
        Name of the action that sends no promotion.
    min_probability : float, default 0.01
        Exploration floor (see ``BanditPolicy``).
    """

    kind = "linear_thompson"

    def __init__(
        self,
        actions: Sequence[str],
        n_features: int,
        *,
        noise_variance: float = 1.0,
        ridge_penalty: float = 1.0,
        fit_intercept: bool = True,
        n_draws: int = DEFAULT_DRAWS,
        draws_seed: int = 0,
        no_action: str = NO_PROMOTION,
        min_probability: float = DEFAULT_MIN_PROBABILITY,
    ) -> None:
        self.noise_variance = checked_positive("noise_variance", noise_variance)
        self.n_draws = checked_count("n_draws", n_draws)
        self.draws_seed = checked_seed(draws_seed)
        super().__init__(
            actions,
            n_features,
            ridge_penalty=ridge_penalty,
            fit_intercept=fit_intercept,
            no_action=no_action,
            min_probability=min_probability,
        )
        rng = np.random.default_rng(self.draws_seed)
        self._normals = rng.standard_normal((self.n_draws, self.n_actions))

    def _params(self) -> dict[str, Any]:
        return {
            "n_features": self.n_features,
            "noise_variance": self.noise_variance,
            "ridge_penalty": self.ridge_penalty,
            "fit_intercept": self.fit_intercept,
            "n_draws": self.n_draws,
            "draws_seed": self.draws_seed,
        }

    def _rule_probabilities(self, context, eligible) -> np.ndarray:
        means, spreads = self._predictions(context)
        scales = np.sqrt(self.noise_variance * spreads)
        return row_win_frequencies(means, scales, self._normals, eligible)
