"""Simulated contextual bandit logs whose target policy value is known.

Contexts are standard normal. The click probability of action a at position
k is ``sigmoid(x @ REWARD_COEF[:, a] + REWARD_BIAS[a] + POSITION_EFFECT[k])``.
The logging and target policies are softmax policies over linear scores, so
the logging policy gives every action a positive probability. The
coefficients are fixed, so the true value does not depend on the seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from promoloop.ope import BanditLog

N_ACTIONS = 4
N_FEATURES = 3
REWARD_COEF = np.array(
    [
        [0.8, -0.5, 0.0, 0.3],
        [-0.4, 0.6, 0.5, 0.0],
        [0.2, 0.2, -0.7, 0.5],
    ]
)
REWARD_BIAS = np.array([-1.0, -0.5, -1.5, -0.8])
POSITION_EFFECT = np.array([0.0, -0.6])
LOGGING_COEF = 0.5 * np.array(
    [
        [0.3, -0.2, 0.1, 0.0],
        [0.0, 0.4, -0.3, 0.1],
        [-0.2, 0.0, 0.2, 0.3],
    ]
)
# The target policy leans toward the actions with the best rewards.
TARGET_COEF = 1.5 * REWARD_COEF


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def reward_probabilities(context: np.ndarray, n_positions: int) -> np.ndarray:
    """Click probability of each action at each position.

    Returns shape (n_rounds, n_actions, n_positions).
    """
    logits = context @ REWARD_COEF + REWARD_BIAS
    logits = logits[:, :, np.newaxis] + POSITION_EFFECT[np.newaxis, :n_positions]
    return 1 / (1 + np.exp(-logits))


def policies(context: np.ndarray, n_positions: int) -> tuple[np.ndarray, np.ndarray]:
    """Logging and target distributions, each (n, n_actions, n_positions).

    The target policy is sharper at the second position, so a bug that reads
    the wrong position changes the estimate.
    """
    logging = _softmax(context @ LOGGING_COEF)
    target = np.stack(
        [_softmax(context @ TARGET_COEF * (1 + k)) for k in range(n_positions)],
        axis=2,
    )
    return np.repeat(logging[:, :, np.newaxis], n_positions, axis=2), target


@functools.cache
def true_value(n_positions: int = 1, n_draws: int = 200_000) -> float:
    """Target policy value over the context and (uniform) position distribution."""
    rng = np.random.default_rng(2024)
    context = rng.normal(size=(n_draws, N_FEATURES))
    _, target = policies(context, n_positions)
    values = np.sum(target * reward_probabilities(context, n_positions), axis=1)
    return float(values.mean())


@dataclass(frozen=True)
class SimulatedLog:
    """A log with its target policy, true reward probabilities and truth."""

    log: BanditLog
    action_dist: np.ndarray
    logging_dist: np.ndarray
    true_reward: np.ndarray
    truth: float


def simulate_log(n_rounds: int, seed: int, n_positions: int = 1) -> SimulatedLog:
    """Draw contexts, positions, logged actions and clicks."""
    rng = np.random.default_rng(seed)
    context = rng.normal(size=(n_rounds, N_FEATURES))
    position = rng.integers(0, n_positions, size=n_rounds)
    logging, target = policies(context, n_positions)
    reward_prob = reward_probabilities(context, n_positions)

    rounds = np.arange(n_rounds)
    logging_here = logging[rounds, :, position]
    cumulative = logging_here.cumsum(axis=1)
    uniform = rng.random(n_rounds)[:, np.newaxis]
    action = np.minimum((uniform > cumulative).sum(axis=1), N_ACTIONS - 1)
    reward = rng.random(n_rounds) < reward_prob[rounds, action, position]

    log = BanditLog(
        action=action,
        reward=reward.astype(float),
        pscore=logging_here[rounds, action],
        position=position,
        context=context,
        action_names=[f"offer{code}" for code in range(N_ACTIONS)],
        position_names=[str(k + 1) for k in range(n_positions)],
        source=f"simulation seed {seed}",
    )
    return SimulatedLog(
        log=log,
        action_dist=target,
        logging_dist=logging,
        true_reward=reward_prob,
        truth=true_value(n_positions),
    )
