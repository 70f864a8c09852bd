"""Coverage of off-policy estimates on simulated logs with a known truth.

Two fixed target policies are valued from logs that two logging policies
collect on the stationary simulator, and each estimate is compared with the
target's exact value:

- ``uniform`` logs: every decision a uniform draw among the eligible
  actions, independent of every other decision.
- ``adaptive`` logs: the decisions of the learning loop (linear Thompson
  sampling with the exploration floor), whose probabilities in a round
  depend on the rewards of the rounds before.

The targets are ``static_rules`` (the hand-written rules of
``promoloop.benchmarks.bandit_loop_strategies``) and ``learned_frozen``: the linear
Thompson policy after one reference run of the loop, frozen, with its
exploration floor. Both are fixed across repetitions, so their true values
are fixed too.

Adaptive logging keeps IPS unbiased, because each round's ``pscore`` is the
probability the policy had given everything before. But the rounds are no
longer independent and identically distributed. The bootstrap resamples
rounds as if they were, and the cross-fitted reward models assume it too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

from promoloop.bandits import policy_from_json
from promoloop.bandits.probabilities import sample_rows
from promoloop.benchmarks.bandit_loop import run_loop
from promoloop.benchmarks.bandit_loop_strategies import (
    bandit_strategy,
    learning_policies,
    rules_actions,
)
from promoloop.errors import InputError
from promoloop.ope import (
    BanditLog,
    DoublyRobust,
    InversePropensityScoring,
    SelfNormalizedInversePropensityScoring,
    fit_reward_model,
)
from promoloop.simulation import PromotionSimulator

logger = logging.getLogger(__name__)

ESTIMATORS = ("ips", "snips", "dr_ridge", "dr_action_ridge")
"""Estimates reported: IPS, SNIPS, and DR with two reward models.

``dr_ridge`` uses ``promoloop.ope.fit_reward_model(model="ridge")``, one
ridge regression on the features and a one-hot action, so every action
shares the features' effects. ``dr_action_ridge`` fits a ridge regression
per action on the features, so effects can differ by action. Both are
cross-fitted on two folds."""

LOGGERS = ("uniform", "adaptive")
TARGETS = ("static_rules", "learned_frozen")


@dataclass(frozen=True)
class OpeSettings:
    """Size of the off-policy coverage benchmark.

    Attributes
    ----------
    repetitions : int
        Logs collected and valued per logging policy.
    n_rounds, customers_per_round : int
        Size of each log: the learning loop's rounds, and the same number
        of decisions for the uniform log.
    n_bootstrap : int
        Resamples per percentile bootstrap interval.
    alpha : float
        One minus the intervals' nominal coverage.
    min_probability : float
        Exploration floor of the learning loop.
    reference_seed : int
        Seed of the loop run that produces the frozen learned policy.
    """

    repetitions: int = 200
    n_rounds: int = 20
    customers_per_round: int = 500
    n_bootstrap: int = 1000
    alpha: float = 0.05
    min_probability: float = 0.01
    reference_seed: int = 1_000

    def __post_init__(self) -> None:
        if self.repetitions < 2:
            raise InputError(
                "invalid parameter 'repetitions'",
                value=self.repetitions,
                expected="at least 2, so the spread of the estimates is defined",
                fix="pass repetitions >= 2; the benchmark uses 200",
            )


def build_targets(
    simulator: PromotionSimulator, settings: OpeSettings
) -> dict[str, np.ndarray]:
    """Return each target policy's action_dist over every profile row, (n, k).

    A target's probabilities depend only on the customer, so the rows of a
    log are these rows indexed by the log's customers.
    """
    policy = learning_policies(
        simulator, settings.min_probability, settings.reference_seed
    )["linear_thompson"]
    run_loop(
        simulator,
        [bandit_strategy("linear_thompson", policy, simulator)],
        n_rounds=settings.n_rounds,
        customers_per_round=settings.customers_per_round,
        seed=settings.reference_seed,
    )
    frozen = policy_from_json(policy.to_json())
    everyone = np.arange(simulator.n_customers)
    learned = frozen.action_probabilities(
        simulator.features(everyone), simulator.eligible(everyone)
    )
    rules = np.zeros((simulator.n_customers, simulator.n_actions))
    rules[everyone, rules_actions(simulator, everyone)] = 1.0
    return {"static_rules": rules, "learned_frozen": learned}


def collect_log(
    simulator: PromotionSimulator, kind: str, settings: OpeSettings, seed: int
) -> tuple[BanditLog, np.ndarray]:
    """Collect one log of ``kind`` and return it with its customers' rows."""
    n_rounds, per_round = settings.n_rounds, settings.customers_per_round
    if kind == "uniform":
        rng = np.random.default_rng([seed, 1])
        customers = simulator.sample_customers(n_rounds * per_round, random_state=rng)
        eligible = simulator.eligible(customers)
        probabilities = eligible / eligible.sum(axis=1, keepdims=True)
        actions = sample_rows(probabilities, rng)
        pscore = probabilities[np.arange(len(actions)), actions]
        reward = simulator.sample_reward(customers, actions, random_state=rng)
    else:
        policy = learning_policies(simulator, settings.min_probability, seed)[
            "linear_thompson"
        ]
        logs = run_loop(
            simulator,
            [bandit_strategy("linear_thompson", policy, simulator)],
            n_rounds=n_rounds,
            customers_per_round=per_round,
            seed=seed,
        )
        arrays = logs["linear_thompson"].arrays()
        customers, actions = arrays["customers"], arrays["actions"]
        pscore, reward = arrays["pscore"], arrays["reward"]
    log = BanditLog(
        action=actions,
        reward=reward,
        pscore=pscore,
        context=simulator.features(customers),
        action_names=simulator.actions,
        source=f"{kind} log, seed {seed}",
    )
    return log, customers


def action_ridge_reward_hat(
    log: BanditLog, *, n_folds: int = 2, random_state: int | None = None
) -> np.ndarray:
    """Cross-fit one ridge regression per action; return reward_hat (n, k, 1).

    An action with fewer than two training rounds in a fold gets the
    fold's mean reward.
    """
    reward_hat = np.empty((log.n_rounds, log.n_actions, 1))
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for train, test in folds.split(log.context):
        for action in range(log.n_actions):
            rows = train[log.action[train] == action]
            if rows.size < 2:
                reward_hat[test, action, 0] = log.reward[train].mean()
                continue
            model = Ridge(alpha=1.0).fit(log.context[rows], log.reward[rows])
            reward_hat[test, action, 0] = model.predict(log.context[test])
    return reward_hat


def estimate_all(
    log: BanditLog, action_dist: np.ndarray, reward_hats: dict, settings, seed: int
) -> dict[str, tuple[float, float, float]]:
    """Return (estimate, interval low, interval high) of every estimator."""
    estimators = {
        "ips": (InversePropensityScoring(), None),
        "snips": (SelfNormalizedInversePropensityScoring(), None),
        "dr_ridge": (DoublyRobust(), reward_hats["dr_ridge"]),
        "dr_action_ridge": (DoublyRobust(), reward_hats["dr_action_ridge"]),
    }
    results = {}
    for name, (estimator, reward_hat) in estimators.items():
        interval = estimator.estimate_interval(
            log,
            action_dist,
            reward_hat,
            n_bootstrap=settings.n_bootstrap,
            alpha=settings.alpha,
            random_state=seed,
        )
        results[name] = (interval.value, interval.low, interval.high)
    return results


def run_ope_coverage(
    simulator: PromotionSimulator, settings: OpeSettings
) -> dict[str, object]:
    """Value each target from each kind of log, ``repetitions`` times.

    Returns
    -------
    dict
        ``truth``: each target's exact value (expected reward per customer,
        margin net of every cost). ``send_nothing_value``: the same value of
        sending no promotion, for reference. ``results``: per logging policy, target
        and estimator: the bias and its Monte Carlo standard error, the
        RMSE, the standard deviation of the estimates, the share of
        intervals covering the truth and the mean interval width.
        ``max_weight``: per logging policy and target, the mean over
        repetitions of the largest importance weight.
    """
    targets = build_targets(simulator, settings)
    truth = {name: simulator.true_policy_value(dist) for name, dist in targets.items()}
    records = {
        (kind, target, estimator): []
        for kind in LOGGERS
        for target in TARGETS
        for estimator in ESTIMATORS
    }
    max_weights = {(kind, target): [] for kind in LOGGERS for target in TARGETS}
    for repetition in range(settings.repetitions):
        for kind in LOGGERS:
            log, customers = collect_log(simulator, kind, settings, repetition)
            reward_hats = {
                "dr_ridge": fit_reward_model(
                    log, model="ridge", random_state=repetition
                ),
                "dr_action_ridge": action_ridge_reward_hat(
                    log, random_state=repetition
                ),
            }
            for target, dist in targets.items():
                action_dist = dist[customers]
                logged = action_dist[np.arange(log.n_rounds), log.action]
                max_weights[kind, target].append(float((logged / log.pscore).max()))
                estimates = estimate_all(
                    log, action_dist, reward_hats, settings, repetition
                )
                for estimator, values in estimates.items():
                    records[kind, target, estimator].append(values)
        if (repetition + 1) % 10 == 0:
            logger.info("repetition %d of %d", repetition + 1, settings.repetitions)
    nothing = np.zeros((simulator.n_customers, simulator.n_actions))
    nothing[:, 0] = 1.0
    return {
        "truth": truth,
        "send_nothing_value": simulator.true_policy_value(nothing),
        "results": _coverage_table(records, truth),
        "max_weight": {
            f"{kind}/{target}": float(np.mean(values))
            for (kind, target), values in max_weights.items()
        },
    }


def _coverage_table(records: dict, truth: dict[str, float]) -> list[dict]:
    rows = []
    for (kind, target, estimator), values in records.items():
        values = np.asarray(values)
        error = values[:, 0] - truth[target]
        covered = (values[:, 1] <= truth[target]) & (truth[target] <= values[:, 2])
        n = len(values)
        rows.append(
            {
                "logging": kind,
                "target": target,
                "estimator": estimator,
                "truth": truth[target],
                "bias": float(error.mean()),
                "bias_standard_error": float(error.std(ddof=1) / np.sqrt(n)),
                "rmse": float(np.sqrt(np.mean(error**2))),
                "std": float(values[:, 0].std(ddof=1)),
                "coverage": float(covered.mean()),
                "mean_width": float(np.mean(values[:, 2] - values[:, 1])),
                "repetitions": n,
            }
        )
    return rows
