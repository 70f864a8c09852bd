"""The learning-loop benchmark on small synthetic shops."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from promoloop.benchmarks.bandit_loop import (
    LoopSettings,
    paired_differences,
    run_loop,
    run_scenario,
)
from promoloop.benchmarks.bandit_loop_ope import (
    ESTIMATORS,
    OpeSettings,
    action_ridge_reward_hat,
    run_ope_coverage,
)
from promoloop.benchmarks.bandit_loop_strategies import (
    STRATEGIES,
    build_strategies,
    rules_actions,
)
from promoloop.errors import InputError
from promoloop.ope import BanditLog
from promoloop.simulation import (
    PromotionSimulator,
    SimulatedPromotion,
    seasonal_drift,
)

TINY = LoopSettings(n_rounds=4, customers_per_round=60, seeds=(0, 1, 2))

# Promotions that do not change the chance to buy but cost money, so each loses.
COSTLY = [
    SimulatedPromotion("ten_pct_off", percent_off=0.1, message_cost=0.1),
    SimulatedPromotion("five_off", amount_off=5.0, message_cost=0.1),
    SimulatedPromotion("free_shipping", shipping_cost=4.0, message_cost=0.1),
]


def test_tiny_scenario_runs_fast(shop_profiles):
    simulator = PromotionSimulator(shop_profiles)
    started = time.perf_counter()
    result = run_scenario(simulator, TINY)
    assert time.perf_counter() - started < 10
    assert set(result["strategies"]) == set(STRATEGIES)
    assert result["n_seeds"] == 3


@pytest.mark.parametrize("drift", [None, seasonal_drift()])
def test_oracle_beats_every_strategy(shop_profiles, drift):
    simulator = PromotionSimulator(shop_profiles, drift=drift)
    strategies = run_scenario(simulator, TINY)["strategies"]
    oracle = np.asarray(strategies["oracle"]["totals"])
    for name in STRATEGIES:
        totals = np.asarray(strategies[name]["totals"])
        # Totals are rounded to cents in the summary.
        assert (oracle >= totals - 0.01).all(), name
    assert oracle.min() > 0


def test_send_nothing_scores_zero(shop_profiles):
    strategies = run_scenario(PromotionSimulator(shop_profiles), TINY)["strategies"]
    assert strategies["send_nothing"]["totals"] == [0.0, 0.0, 0.0]


def test_random_loses_on_costly_promotions(shop_profiles):
    simulator = PromotionSimulator(shop_profiles, COSTLY)
    strategies = run_scenario(simulator, TINY)["strategies"]
    assert max(strategies["random"]["totals"]) < 0
    # Nothing is worth sending, so the oracle sends nothing.
    assert strategies["oracle"]["totals"] == [0.0, 0.0, 0.0]
    for name in ("linear_thompson", "linucb", "gaussian_thompson"):
        assert max(strategies[name]["totals"]) < 0, name


def test_random_loses_with_default_promotions(shop_profiles):
    strategies = run_scenario(PromotionSimulator(shop_profiles), TINY)["strategies"]
    assert strategies["random"]["total_mean"] < 0


def test_strategies_see_the_same_customers(shop_profiles):
    simulator = PromotionSimulator(shop_profiles)
    strategies = build_strategies(simulator, 0.01, seed=0)
    logs = run_loop(simulator, strategies, n_rounds=3, customers_per_round=40, seed=5)
    customers = [log.arrays()["customers"] for log in logs.values()]
    for other in customers[1:]:
        np.testing.assert_array_equal(customers[0], other)
    assert customers[0].shape == (120,)


def test_log_records_probabilities_and_truth(shop_profiles):
    simulator = PromotionSimulator(shop_profiles)
    strategies = build_strategies(simulator, 0.01, seed=0, names=["random", "oracle"])
    logs = run_loop(simulator, strategies, n_rounds=2, customers_per_round=50, seed=1)
    random_log = logs["random"].arrays()
    # Every action is eligible: the uniform draw has probability 1/4.
    np.testing.assert_allclose(random_log["pscore"], 0.25)
    oracle_log = logs["oracle"].arrays()
    np.testing.assert_allclose(oracle_log["pscore"], 1.0)
    expected = simulator.expected_reward(
        oracle_log["customers"], oracle_log["actions"], incremental=True
    )
    np.testing.assert_allclose(oracle_log["true_uplift"], expected)
    np.testing.assert_array_equal(random_log["round_index"], np.repeat([0, 1], 50))


def test_learning_policy_is_updated(shop_profiles):
    simulator = PromotionSimulator(shop_profiles)
    strategies = build_strategies(simulator, 0.01, seed=0, names=["linucb"])
    run_loop(simulator, strategies, n_rounds=3, customers_per_round=40, seed=0)
    assert strategies[0].policy.counts_.sum() == 120


def test_static_model_learns_only_round_zero(shop_profiles):
    simulator = PromotionSimulator(shop_profiles)
    strategies = build_strategies(simulator, 0.01, seed=0, names=["static_model"])
    logs = run_loop(simulator, strategies, n_rounds=3, customers_per_round=40, seed=0)
    assert strategies[0].policy.counts_.sum() == 40
    pscore = logs["static_model"].arrays()["pscore"]
    np.testing.assert_allclose(pscore[:40], 0.25)
    # Later rounds are greedy, without exploration floor.
    np.testing.assert_allclose(pscore[40:], 1.0)


def test_rules_follow_priority(toy_profiles):
    profiles = toy_profiles.assign(consent=True)
    simulator = PromotionSimulator(profiles)
    # a: 5 days since the last order, usual gap 10 -> not lapsed; lowest
    # discount sensitivity and basket -> nothing. b: 30 days, gap 5 -> lapsed,
    # $5 off. c: highest sensitivity -> 10% off.
    names = np.asarray(simulator.actions)[rules_actions(simulator, [0, 1, 2])]
    assert names.tolist() == ["none", "five_off", "ten_pct_off"]


def test_rules_respect_eligibility(toy_profiles):
    simulator = PromotionSimulator(toy_profiles)
    # Customer c has no consent, so the rule's 10% off becomes nothing.
    assert rules_actions(simulator, [2]).tolist() == [0]


def test_action_ridge_recovers_linear_rewards():
    rng = np.random.default_rng(0)
    n = 2000
    context = rng.normal(size=(n, 2))
    action = rng.integers(0, 2, n)
    coef = np.array([[1.0, -2.0], [0.5, 3.0]])
    reward = np.einsum("ij,ij->i", context, coef[action])
    log = BanditLog(
        action=action, reward=reward, pscore=np.full(n, 0.5), context=context
    )
    reward_hat = action_ridge_reward_hat(log, random_state=0)
    assert reward_hat.shape == (n, 2, 1)
    # Ridge (alpha 1 on about 500 rounds per fit) shrinks by about 0.2%.
    np.testing.assert_allclose(
        reward_hat[:, :, 0], context @ coef.T, rtol=0.005, atol=0.01
    )


def test_ope_coverage_tiny(shop_profiles):
    simulator = PromotionSimulator(shop_profiles)
    settings = OpeSettings(
        repetitions=2, n_rounds=3, customers_per_round=80, n_bootstrap=50
    )
    result = run_ope_coverage(simulator, settings)
    assert len(result["results"]) == 2 * 2 * len(ESTIMATORS)
    nothing = np.eye(4)[np.zeros(simulator.n_customers, int)]
    assert result["send_nothing_value"] == pytest.approx(
        simulator.true_policy_value(nothing)
    )
    for row in result["results"]:
        assert row["truth"] == result["truth"][row["target"]]
        assert 0.0 <= row["coverage"] <= 1.0
        assert row["rmse"] >= abs(row["bias"])
        assert row["mean_width"] > 0
    # Uniform logging of four eligible actions: weights of the rules are 0 or 4.
    assert result["max_weight"]["uniform/static_rules"] == 4.0


def test_paired_differences_per_seed():
    totals = {name: [0.0, 0.0, 0.0] for name in STRATEGIES}
    totals["linucb"] = [3.0, -1.0, 4.0]
    totals["static_rules"] = [1.0, 1.0, 1.0]
    paired = paired_differences(totals)["linucb"]["static_rules"]
    # Differences 2, -2 and 3: mean 1, sample std sqrt(7), 2 seeds won.
    assert paired["mean_difference"] == pytest.approx(1.0)
    assert paired["standard_error"] == pytest.approx(math.sqrt(7) / math.sqrt(3))
    assert paired["seeds_won"] == 2


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: LoopSettings(n_rounds=0), "invalid loop settings"),
        (lambda: LoopSettings(seeds=()), "invalid loop settings"),
        (lambda: OpeSettings(repetitions=1), "'repetitions'"),
    ],
)
def test_invalid_settings(build, pattern):
    with pytest.raises(InputError, match=pattern):
        build()
