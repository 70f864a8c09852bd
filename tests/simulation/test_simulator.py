"""The simulator's true response on a hand-computed toy, its draws and its checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from promoloop.errors import InputError
from promoloop.simulation import (
    POLICY_FEATURES,
    Drift,
    PromotionSimulator,
    SimulatedPromotion,
    default_promotions,
)

TEN = SimulatedPromotion(
    "ten", percent_off=0.1, message_cost=0.1, lift=1.0, spend_lift=0.2
)
FIVE = SimulatedPromotion(
    "five",
    amount_off=5.0,
    message_cost=0.1,
    lift=0.5,
    lift_weights={"discount_sensitivity": 1.0},
)


def shifted(p: float, shift: float) -> float:
    """Probability whose log-odds are those of p plus shift."""
    return 1.0 / (1.0 + (1.0 - p) / p * math.exp(-shift))


def toy_simulator(profiles, **kwargs) -> PromotionSimulator:
    return PromotionSimulator(profiles, [TEN, FIVE], window_days=7.0, **kwargs)


# Chance to buy within 7 days without a promotion: p_alive * (1 - exp(-7 * rate)).
P0 = [
    1.0 * (1 - math.exp(-7 * 7 / 70)),
    0.5 * (1 - math.exp(-7 * 14 / 70)),
    0.9 * (1 - math.exp(-7 * 35 / 350)),
]
VALUE = [20.0, 50.0, 10.0]
# Shift of "five": max(0, 0.5 + z) with z = -sqrt(1.5), 0, sqrt(1.5).
FIVE_SHIFT = [0.0, 0.5, 0.5 + math.sqrt(1.5)]


def hand_rewards() -> np.ndarray:
    rows = []
    for p0, value, five_shift in zip(P0, VALUE, FIVE_SHIFT, strict=True):
        rows.append(
            [
                p0 * value * 0.3,
                shifted(p0, 1.0) * (1.2 * value * (0.3 - 0.1)) - 0.1,
                shifted(p0, five_shift) * (value * 0.3 - 5.0) - 0.1,
            ]
        )
    return np.array(rows)


# ---------------------------------------------------------------------------
# True response
# ---------------------------------------------------------------------------


def test_toy_actions_in_order(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    assert simulator.actions == ("none", "ten", "five")
    assert simulator.n_customers == 3
    assert list(simulator.customer_ids) == ["a", "b", "c"]


def test_toy_purchase_probability(toy_profiles):
    probability = toy_simulator(toy_profiles).purchase_probability()
    expected = [
        [p0, shifted(p0, 1.0), shifted(p0, shift)]
        for p0, shift in zip(P0, FIVE_SHIFT, strict=True)
    ]
    np.testing.assert_allclose(probability, expected, rtol=1e-12)


def test_toy_order_margin(toy_profiles):
    margin = toy_simulator(toy_profiles).order_margin()
    expected = [[v * 0.3, 1.2 * v * 0.2, v * 0.3 - 5.0] for v in VALUE]
    np.testing.assert_allclose(margin, expected, rtol=1e-12)


def test_toy_expected_rewards(toy_profiles):
    rewards = toy_simulator(toy_profiles).expected_reward()
    np.testing.assert_allclose(rewards, hand_rewards(), rtol=1e-12)


def test_toy_incremental_rewards(toy_profiles):
    uplift = toy_simulator(toy_profiles).expected_reward(incremental=True)
    expected = hand_rewards() - hand_rewards()[:, :1]
    np.testing.assert_allclose(uplift, expected, rtol=1e-12, atol=1e-12)
    # The $5 coupon on a $10 order loses money even though it moves customer c.
    assert uplift[2, 2] < 0


def test_toy_reward_of_given_actions(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    rewards = simulator.expected_reward([2, 0, 1], ["five", "ten", "none"])
    expected = hand_rewards()[[2, 0, 1], [2, 1, 0]]
    np.testing.assert_allclose(rewards, expected, rtol=1e-12)


def test_drift_scales_effects_and_rate(toy_profiles):
    drift = Drift(effect_factor_per_round={"ten": 0.5}, baseline_factor_per_round=2.0)
    simulator = toy_simulator(toy_profiles, drift=drift)
    probability = simulator.purchase_probability([1], round_index=2)
    # Round 2: rate times 2 ** 2 and the "ten" shift times 0.5 ** 2.
    p0 = 0.5 * (1 - math.exp(-7 * 4 * 14 / 70))
    expected = [[p0, shifted(p0, 0.25), shifted(p0, 0.5)]]
    np.testing.assert_allclose(probability, expected, rtol=1e-12)


def test_drift_round_zero_is_stationary(toy_profiles):
    drift = Drift(effect_factor_per_round={"ten": 0.5}, baseline_factor_per_round=2.0)
    drifting = toy_simulator(toy_profiles, drift=drift).expected_reward()
    np.testing.assert_allclose(drifting, hand_rewards(), rtol=1e-12)


def test_consent_limits_eligibility(toy_profiles):
    eligible = toy_simulator(toy_profiles).eligible()
    np.testing.assert_array_equal(
        eligible, [[True, True, True], [True, True, True], [True, False, False]]
    )


def test_best_actions_are_best_eligible(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    rewards = hand_rewards()
    best = simulator.best_actions()
    np.testing.assert_array_equal(best[:2], rewards[:2].argmax(axis=1))
    # Customer c may only get "none".
    assert best[2] == 0


def test_missing_interpurchase_uses_tenure(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    assert simulator.profile_table["interpurchase_days"].iloc[2] == 350.0


def test_features_are_standardized(shop_profiles):
    simulator = PromotionSimulator(shop_profiles)
    features = simulator.features()
    assert simulator.feature_names == POLICY_FEATURES
    assert features.shape == (300, len(POLICY_FEATURES))
    np.testing.assert_allclose(features.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(features.std(axis=0), 1.0, rtol=1e-12)


def test_features_of_given_customers(shop_profiles):
    simulator = PromotionSimulator(shop_profiles)
    np.testing.assert_array_equal(
        simulator.features([5, 2, 5]), simulator.features()[[5, 2, 5]]
    )


def test_default_promotions_pay_on_some(shop_profiles):
    uplift = PromotionSimulator(shop_profiles).expected_reward(incremental=True)
    assert PromotionSimulator(shop_profiles).actions == (
        "none",
        "ten_pct_off",
        "five_off",
        "free_shipping",
    )
    # Each promotion pays on some customers and loses on others.
    assert (uplift[:, 1:] > 0).any(axis=0).all()
    assert (uplift[:, 1:] < 0).any(axis=0).all()


def test_mean_order_margin(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    assert simulator.mean_order_margin == pytest.approx(0.3 * (20 + 50 + 10) / 3)


# ---------------------------------------------------------------------------
# Policy value
# ---------------------------------------------------------------------------


def test_one_hot_value_is_mean_reward(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    customers = np.array([0, 1, 2, 1])
    actions = np.array([1, 2, 0, 1])
    dist = np.eye(3)[actions]
    value = simulator.true_policy_value(dist, customers)
    expected = hand_rewards()[customers, actions].mean()
    assert value == pytest.approx(expected, rel=1e-12)


def test_mixed_policy_value_is_weighted(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    dist = np.array([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75], [1.0, 0.0, 0.0]])
    rewards = hand_rewards()
    expected = (
        0.5 * rewards[0, 0]
        + 0.5 * rewards[0, 1]
        + 0.25 * rewards[1, 1]
        + 0.75 * rewards[1, 2]
        + rewards[2, 0]
    ) / 3
    assert simulator.true_policy_value(dist) == pytest.approx(expected, rel=1e-12)


def test_send_nothing_incremental_zero(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    nothing = np.eye(3)[[0, 0, 0]]
    assert simulator.true_policy_value(nothing, incremental=True) == 0.0


def test_policy_value_accepts_ope_layout(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    dist = np.eye(3)[[1, 2, 0]]
    assert simulator.true_policy_value(dist[:, :, None]) == pytest.approx(
        simulator.true_policy_value(dist)
    )


# ---------------------------------------------------------------------------
# Draws
# ---------------------------------------------------------------------------


def test_sample_means_converge(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    n = 200_000
    for customer in range(3):
        for action in range(3):
            customers = np.full(n, customer)
            actions = np.full(n, action)
            rewards = simulator.sample_reward(
                customers, actions, random_state=10 * customer + action
            )
            standard_error = rewards.std() / math.sqrt(n)
            expected = hand_rewards()[customer, action]
            assert abs(rewards.mean() - expected) < 4.5 * standard_error, (
                customer,
                action,
            )


def test_no_purchase_costs_message(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    n = 20_000
    rewards = simulator.sample_reward(np.ones(n, int), ["five"] * n, random_state=0)
    # Without a purchase only the message is paid, with probability 1 - p.
    # A purchase's reward is continuous, so it is never exactly -0.1.
    no_purchase = 1 - shifted(P0[1], FIVE_SHIFT[1])
    share = np.mean(rewards == -0.1)
    assert abs(share - no_purchase) < 4.5 * math.sqrt(
        no_purchase * (1 - no_purchase) / n
    )


def test_seed_reproduces_rewards(toy_profiles):
    simulator = toy_simulator(toy_profiles)
    customers = simulator.sample_customers(50, random_state=3)
    np.testing.assert_array_equal(
        customers, simulator.sample_customers(50, random_state=3)
    )
    first = simulator.sample_reward(customers, np.ones(50, int), random_state=7)
    again = simulator.sample_reward(customers, np.ones(50, int), random_state=7)
    other = simulator.sample_reward(customers, np.ones(50, int), random_state=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_sample_customers_with_replacement(toy_profiles):
    customers = toy_simulator(toy_profiles).sample_customers(100, random_state=0)
    assert customers.shape == (100,)
    assert set(customers.tolist()) == {0, 1, 2}


def test_from_run_reads_profiles(tmp_path, toy_profiles):
    toy_profiles.to_parquet(tmp_path / "profiles.parquet")
    simulator = PromotionSimulator.from_run(tmp_path, promotions=[TEN, FIVE])
    np.testing.assert_allclose(simulator.expected_reward(), hand_rewards())


# ---------------------------------------------------------------------------
# Invalid input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: SimulatedPromotion("none"), "invalid promotion name"),
        (lambda: SimulatedPromotion("x", percent_off=1.0), "'percent_off'.*< 1"),
        (lambda: SimulatedPromotion("x", amount_off=-1.0), "'amount_off'.*>= 0"),
        (lambda: SimulatedPromotion("x", spend_lift=-1.0), "'spend_lift'.*> -1"),
        (lambda: SimulatedPromotion("x", lift=math.nan), "'lift'"),
        (
            lambda: SimulatedPromotion("x", lift_weights={"age": 1.0}),
            "unknown response feature.*'age'",
        ),
        (
            lambda: Drift(baseline_factor_per_round=0.0),
            "'baseline_factor_per_round'.*> 0",
        ),
    ],
)
def test_invalid_promotion_or_drift(build, pattern):
    with pytest.raises(InputError, match=pattern):
        build()


@pytest.mark.parametrize(
    ("change", "kwargs", "pattern"),
    [
        (lambda df: df.drop(columns="p_alive"), {}, "no column.*'p_alive'"),
        (
            lambda df: df.assign(avg_order_value=[20.0, 0.0, 10.0]),
            {},
            "invalid profile value.*row 2.*'avg_order_value'",
        ),
        (
            lambda df: df.assign(p_alive=[1.0, 1.5, 0.9]),
            {},
            "invalid profile value.*'p_alive'",
        ),
        (lambda df: df.iloc[:0], {}, "not a non-empty DataFrame"),
        (lambda df: df, {"promotions": [TEN, TEN]}, "duplicate promotion name"),
        (lambda df: df, {"promotions": ["ten"]}, "not a SimulatedPromotion"),
        (
            lambda df: df,
            {"drift": Drift(effect_factor_per_round={"bogo": 0.9})},
            "drift names an unknown promotion.*'bogo'",
        ),
        (lambda df: df, {"margin_rate": 1.5}, "'margin_rate'"),
        (lambda df: df, {"window_days": 0}, "'window_days'"),
    ],
)
def test_invalid_simulator_input(toy_profiles, change, kwargs, pattern):
    kwargs.setdefault("promotions", [TEN, FIVE])
    with pytest.raises(InputError, match=pattern):
        PromotionSimulator(change(toy_profiles), **kwargs)


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda s: s.expected_reward([0, 3]), "customer row out of range.*row 2"),
        (lambda s: s.expected_reward([0.5]), "not a 1-d array of profile rows"),
        (lambda s: s.expected_reward([0, 1], ["ten", "bogo"]), "unknown action"),
        (lambda s: s.expected_reward([0, 1], [0, 3]), "unknown action.*row 2"),
        (lambda s: s.expected_reward([0, 1], ["ten"]), "one action per customer"),
        (lambda s: s.purchase_probability(round_index=-1), "'round_index'"),
        (lambda s: s.sample_customers(-1), "invalid parameter 'n'"),
        (lambda s: s.true_policy_value(np.ones((3, 3))), "not a probability"),
        (lambda s: s.true_policy_value(np.ones((2, 3)) / 3), "has shape \\(2, 3\\)"),
    ],
)
def test_invalid_call(toy_profiles, call, pattern):
    with pytest.raises(InputError, match=pattern):
        call(toy_simulator(toy_profiles))


def test_from_run_without_profiles(tmp_path):
    with pytest.raises(InputError, match="no profiles.parquet.*promoloop run"):
        PromotionSimulator.from_run(tmp_path)


def test_default_promotions_names():
    names = [promotion.name for promotion in default_promotions()]
    assert names == ["ten_pct_off", "five_off", "free_shipping"]
    assert all(p.message_cost == 0.10 for p in default_promotions())


def test_profiles_with_index_ids():
    profiles = pd.DataFrame(
        {
            "recency_days": [1.0],
            "frequency": [2],
            "avg_order_value": [10.0],
            "basket_size": [3.0],
            "discount_sensitivity": [1.0],
            "interpurchase_days": [4.0],
            "p_alive": [1.0],
            "tenure_days": [30.0],
        },
        index=pd.Index(["x"], name="customer_id"),
    )
    simulator = PromotionSimulator(profiles)
    assert list(simulator.customer_ids) == ["x"]
    # One customer: standardized features are 0, never NaN.
    np.testing.assert_array_equal(simulator.features(), np.zeros((1, 7)))
