"""The learning loop against static targeting on simulated customers.

Each round, ``customers_per_round`` customers are drawn from the simulator
and every strategy chooses one action for each of them. All strategies see
the same customers in the same round, so their differences come from their
choices. The score of a choice is its exact expected incremental margin
over sending nothing, from the simulator, so no reward noise enters the
comparison. The strategies are in
``promoloop.benchmarks.bandit_loop_strategies``.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from promoloop.bandits.probabilities import sample_rows
from promoloop.benchmarks.bandit_loop_strategies import (
    STRATEGIES,
    Strategy,
    build_strategies,
)
from promoloop.errors import InputError
from promoloop.simulation import PromotionSimulator

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSettings:
    """Size of the loop benchmark.

    Attributes
    ----------
    n_rounds : int
        Rounds of decisions; the policies learn between rounds.
    customers_per_round : int
        Customers drawn (with replacement) per round.
    seeds : tuple of int
        One repetition per seed: its customers, draws and rewards.
    min_probability : float
        Exploration floor of the bandit policies.
    """

    n_rounds: int = 20
    customers_per_round: int = 500
    seeds: tuple[int, ...] = tuple(range(20))
    min_probability: float = 0.01

    def __post_init__(self) -> None:
        if self.n_rounds < 1 or self.customers_per_round < 1 or not self.seeds:
            raise InputError(
                "invalid loop settings",
                value=(self.n_rounds, self.customers_per_round, self.seeds),
                expected="n_rounds >= 1, customers_per_round >= 1 and one seed or more",
                fix="pass positive sizes and at least one seed",
            )


@dataclass
class LoopLog:
    """Decisions of one strategy over the rounds, as an off-policy log needs.

    Each attribute is a list with one array per round, and ``arrays()``
    concatenates them.

    Attributes
    ----------
    customers, round_index, actions : ndarray of int, shape (n,)
        Profile row, 0-based round and action code of each decision.
    pscore : ndarray of float, shape (n,)
        Probability with which the strategy chose the logged action.
    reward : ndarray of float, shape (n,)
        Sampled reward (margin net of every cost).
    true_uplift : ndarray of float, shape (n,)
        Exact expected incremental margin of the logged action.
    """

    customers: list = field(default_factory=list)
    round_index: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    pscore: list = field(default_factory=list)
    reward: list = field(default_factory=list)
    true_uplift: list = field(default_factory=list)

    def append(self, **columns: np.ndarray) -> None:
        """Add one round's arrays."""
        for name, values in columns.items():
            getattr(self, name).append(np.asarray(values))

    def arrays(self) -> dict[str, np.ndarray]:
        """Return every column concatenated over the rounds."""
        return {name: np.concatenate(values) for name, values in vars(self).items()}


# ----------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------


def run_loop(
    simulator: PromotionSimulator,
    strategies: Sequence[Strategy],
    *,
    n_rounds: int,
    customers_per_round: int,
    seed: int,
) -> dict[str, LoopLog]:
    """Run every strategy over the same customers and return their logs.

    Round t's customers come from ``seed`` and t, and each strategy's draws
    and rewards from a stream of ``seed`` and its name, so adding a strategy
    changes no other strategy's result.
    """
    streams = {
        strategy.name: np.random.default_rng([seed, zlib.crc32(strategy.name.encode())])
        for strategy in strategies
    }
    logs = {strategy.name: LoopLog() for strategy in strategies}
    for round_index in range(n_rounds):
        customers = simulator.sample_customers(
            customers_per_round, random_state=[seed, 10_000 + round_index]
        )
        for strategy in strategies:
            rng = streams[strategy.name]
            probabilities = strategy.probabilities(customers, round_index)
            codes = sample_rows(probabilities, rng)
            rewards = simulator.sample_reward(
                customers, codes, round_index=round_index, random_state=rng
            )
            uplift = simulator.expected_reward(
                customers, codes, round_index=round_index, incremental=True
            )
            logs[strategy.name].append(
                customers=customers,
                round_index=np.full(len(codes), round_index),
                actions=codes,
                pscore=probabilities[np.arange(len(codes)), codes],
                reward=rewards,
                true_uplift=uplift,
            )
            if strategy.learn is not None:
                strategy.learn(customers, codes, rewards, round_index)
    return logs


def run_scenario(
    simulator: PromotionSimulator, settings: LoopSettings
) -> dict[str, object]:
    """Run the loop once per seed and summarize each strategy's true margin.

    Returns
    -------
    dict
        ``strategies``: per strategy, the total true incremental margin
        over all rounds (mean, std, min, max over seeds, and per seed) and
        its mean per customer. Also per strategy: the per-customer value of
        the last quarter of the rounds, and of each round.
        ``paired``: per learning strategy and static strategy, the output
        of ``paired_differences``.
    """
    totals: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    per_round: dict[str, list[np.ndarray]] = {name: [] for name in STRATEGIES}
    for seed in settings.seeds:
        strategies = build_strategies(simulator, settings.min_probability, seed)
        logs = run_loop(
            simulator,
            strategies,
            n_rounds=settings.n_rounds,
            customers_per_round=settings.customers_per_round,
            seed=seed,
        )
        for name, log in logs.items():
            arrays = log.arrays()
            totals[name].append(float(arrays["true_uplift"].sum()))
            sums = np.bincount(
                arrays["round_index"],
                weights=arrays["true_uplift"],
                minlength=settings.n_rounds,
            )
            per_round[name].append(sums / settings.customers_per_round)
        logger.info("seed %d done", seed)
    return summarize(totals, per_round, settings)


def summarize(
    totals: dict[str, list[float]],
    per_round: dict[str, list[np.ndarray]],
    settings: LoopSettings,
) -> dict[str, object]:
    """Turn per-seed totals and per-round values into the reported figures."""
    decisions = settings.n_rounds * settings.customers_per_round
    last = max(1, settings.n_rounds // 4)
    strategies = {}
    for name in STRATEGIES:
        values = np.asarray(totals[name])
        rounds = np.asarray(per_round[name])
        strategies[name] = {
            "total_mean": float(values.mean()),
            "total_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "total_min": float(values.min()),
            "total_max": float(values.max()),
            "per_customer": float(values.mean() / decisions),
            "last_rounds_per_customer": float(rounds[:, -last:].mean()),
            "per_round_mean": rounds.mean(axis=0).round(4).tolist(),
            "totals": [round(value, 2) for value in values.tolist()],
        }
    return {
        "strategies": strategies,
        "paired": paired_differences(totals),
        "n_seeds": len(settings.seeds),
        "last_rounds": last,
    }


def paired_differences(totals: dict[str, list[float]]) -> dict[str, dict]:
    """Compare each learning strategy with each static one, seed by seed.

    Both ran on the same customers in each seed, so the per-seed difference
    of totals removes the customers' share of the noise. Returns, per pair,
    the mean difference, its standard error over seeds and the number of
    seeds in which the learning strategy earned more.
    """
    learners = ("linear_thompson", "linucb", "gaussian_thompson")
    static = ("static_rules", "static_model", "random", "send_nothing")
    paired: dict[str, dict] = {}
    for learner in learners:
        paired[learner] = {}
        for other in static:
            difference = np.asarray(totals[learner]) - np.asarray(totals[other])
            standard_error = (
                float(difference.std(ddof=1) / np.sqrt(len(difference)))
                if len(difference) > 1
                else 0.0
            )
            paired[learner][other] = {
                "mean_difference": float(difference.mean()),
                "standard_error": standard_error,
                "seeds_won": int(np.sum(difference > 0)),
            }
    return paired
