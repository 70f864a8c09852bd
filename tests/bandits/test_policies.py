"""Each policy's rule on hand-computed states, and learning on synthetic bandits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge

from promoloop.bandits import (
    BernoulliThompson,
    EpsilonGreedy,
    GaussianThompson,
    LinearThompson,
    LinUCB,
)
from promoloop.errors import InputError

ACTIONS = ["none", "ten_off", "free_shipping", "bundle"]


# ---------------------------------------------------------------------------
# Hand-computed states
# ---------------------------------------------------------------------------


def test_epsilon_greedy_rule_without_floor():
    policy = EpsilonGreedy(ACTIONS, epsilon=0.2, min_probability=0)
    policy.fit(["ten_off", "free_shipping", "bundle"], [1.0, 3.0, 2.0])
    np.testing.assert_allclose(policy.means_, [0.0, 1.0, 3.0, 2.0])
    probabilities = policy.action_probabilities()
    # The best action gets 0.8 + 0.2 / 4 and the others 0.2 / 4.
    np.testing.assert_allclose(probabilities, [[0.05, 0.05, 0.85, 0.05]])


def test_epsilon_greedy_floor_mixes_uniform():
    policy = EpsilonGreedy(ACTIONS, epsilon=0.2, min_probability=0.1)
    policy.fit(["ten_off", "free_shipping", "bundle"], [1.0, 3.0, 2.0])
    # 0.1 + (1 - 4 * 0.1) * rule.
    expected = [0.1 + 0.6 * 0.05, 0.1 + 0.6 * 0.05, 0.1 + 0.6 * 0.85, 0.13]
    np.testing.assert_allclose(policy.action_probabilities(), [expected])


def test_epsilon_greedy_best_eligible_takes_greedy_mass():
    policy = EpsilonGreedy(ACTIONS, epsilon=0.3, min_probability=0)
    policy.fit(["ten_off", "free_shipping", "bundle"], [1.0, 3.0, 2.0])
    probabilities = policy.action_probabilities(eligible=[True, True, False, True])
    # Three eligible actions: bundle is best among them.
    np.testing.assert_allclose(probabilities, [[0.1, 0.1, 0.0, 0.8]])


def test_epsilon_greedy_ties_share_greedy_mass():
    policy = EpsilonGreedy(ACTIONS, epsilon=0.0, min_probability=0)
    policy.fit(["ten_off", "bundle"], [2.0, 2.0])
    np.testing.assert_allclose(policy.action_probabilities(), [[0.0, 0.5, 0.0, 0.5]])


def test_epsilon_greedy_running_mean():
    policy = EpsilonGreedy(ACTIONS, initial_value=5.0)
    policy.update(["ten_off", "ten_off"], [1.0, 2.0])
    policy.update(["ten_off"], [6.0])
    np.testing.assert_allclose(policy.means_, [5.0, 3.0, 5.0, 5.0])


def test_bernoulli_posterior_counts():
    policy = BernoulliThompson(ACTIONS, prior_alpha=1.0, prior_beta=2.0)
    policy.fit(["ten_off", "ten_off", "ten_off", "bundle"], [1.0, 0.0, 1.0, 0.5])
    np.testing.assert_allclose(policy.alpha_, [1.0, 3.0, 1.0, 1.5])
    np.testing.assert_allclose(policy.beta_, [2.0, 3.0, 2.0, 2.5])


def test_bernoulli_win_probability_matches_exact():
    # Beta(3, 2) against a uniform Beta(1, 1): P(X > U) = E[X] = 0.6.
    policy = BernoulliThompson(["none", "ten_off"], n_draws=20_000, min_probability=0)
    policy.fit(["ten_off"] * 3, [1.0, 1.0, 0.0])
    probabilities = policy.action_probabilities()
    assert probabilities[0, 1] == pytest.approx(0.6, abs=0.015)


def test_bernoulli_rejects_rewards_above_one():
    policy = BernoulliThompson(ACTIONS)
    with pytest.raises(InputError, match=r"outside \[0, 1\].*row 2.*GaussianThompson"):
        policy.update(["none", "bundle"], [1.0, 12.5])


def test_gaussian_known_noise_posterior():
    policy = GaussianThompson(
        ["none", "ten_off"],
        prior_mean=0.0,
        prior_variance=1.0,
        noise_variance=1.0,
        n_draws=20_000,
        min_probability=0,
    )
    policy.fit(["ten_off", "ten_off"], [2.0, 2.0])
    # Precision 1 + 2 / 1 = 3, mean (0 + 4) / 3.
    np.testing.assert_allclose(policy.posterior_mean_, [0.0, 4 / 3])
    np.testing.assert_allclose(policy.posterior_variance_, [1.0, 1 / 3])
    # P(N(4/3, 1/3) > N(0, 1)) = Phi((4/3) / sqrt(4/3)).
    exact = stats.norm.cdf((4 / 3) / np.sqrt(1 / 3 + 1))
    assert policy.action_probabilities()[0, 1] == pytest.approx(exact, abs=0.015)


def test_gaussian_estimated_noise_pools_actions():
    policy = GaussianThompson(ACTIONS, initial_noise_variance=1.0)
    policy.fit(["ten_off", "ten_off", "bundle"], [1.0, 3.0, 5.0])
    # Squared deviations 2 (ten_off) + 0 (bundle), one degree of freedom
    # from ten_off plus one for the initial guess: (1 + 2) / 2.
    assert policy.noise_variance_ == pytest.approx(1.5)


def test_gaussian_merges_batches_exactly():
    policy = GaussianThompson(ACTIONS)
    policy.update(["bundle", "bundle"], [1.0, 3.0])
    policy.update(["bundle", "bundle"], [5.0, 7.0])
    state = policy.to_dict()["state"]
    assert state["means"][3] == pytest.approx(4.0)
    # (1-4)^2 + (3-4)^2 + (5-4)^2 + (7-4)^2.
    assert state["squared_deviations"][3] == pytest.approx(20.0)


def test_gaussian_accepts_negative_rewards():
    policy = GaussianThompson(["none", "deep_discount"], noise_variance=1.0)
    policy.fit(["deep_discount"] * 20 + ["none"] * 20, [-3.0] * 20 + [0.5] * 20)
    probabilities = policy.action_probabilities()
    assert probabilities[0, 0] > 0.9


def test_linucb_upper_bound_by_hand():
    # One feature, no intercept, ridge 1: A = 1 + 2 = 3, b = 2, theta = 2/3.
    policy = LinUCB(["none", "ten_off"], 1, alpha=1.0, fit_intercept=False)
    policy.fit(["ten_off", "ten_off"], [1.0, 1.0], [[1.0], [1.0]])
    bounds = policy.upper_bounds([[1.0]])
    np.testing.assert_allclose(bounds, [[1.0, 2 / 3 + np.sqrt(1 / 3)]])
    assert policy.action_probabilities([[1.0]])[0, 1] == pytest.approx(0.99)


def test_linucb_wide_bound_prefers_unexplored():
    # alpha 2: none scores 2 * 1 = 2, ten_off 2/3 + 2 sqrt(1/3) = 1.82.
    policy = LinUCB(["none", "ten_off"], 1, alpha=2.0, fit_intercept=False)
    policy.fit(["ten_off", "ten_off"], [1.0, 1.0], [[1.0], [1.0]])
    assert policy.action_probabilities([[1.0]])[0, 0] == pytest.approx(0.99)


def test_linear_coefficients_match_sklearn_ridge():
    rng = np.random.default_rng(4)
    context = rng.normal(size=(200, 3))
    actions = rng.choice(ACTIONS, 200)
    rewards = context @ [1.0, -2.0, 0.5] + rng.normal(size=200)
    policy = LinUCB(ACTIONS, 3, ridge_penalty=2.0, fit_intercept=False)
    policy.fit(actions, rewards, context)
    for code, name in enumerate(ACTIONS):
        rows = actions == name
        ridge = Ridge(alpha=2.0, fit_intercept=False).fit(context[rows], rewards[rows])
        np.testing.assert_allclose(policy.coef_[code], ridge.coef_, rtol=1e-10)


def test_linear_intercept_is_last_design_column():
    policy = LinUCB(["none", "ten_off"], 1, ridge_penalty=1e-9)
    context = np.array([[0.0], [1.0], [2.0]])
    policy.fit(["ten_off"] * 3, [1.0, 3.0, 5.0], context)
    assert policy.coef_[1, 0] == pytest.approx(2.0, abs=1e-6)
    assert policy.intercept_[1] == pytest.approx(1.0, abs=1e-6)


def test_linear_thompson_win_probability_matches_exact():
    # ten_off has mean 2/3 and variance 1/3, none the prior's mean 0 and variance 1.
    policy = LinearThompson(
        ["none", "ten_off"],
        1,
        noise_variance=1.0,
        fit_intercept=False,
        n_draws=20_000,
        min_probability=0,
    )
    policy.fit(["ten_off", "ten_off"], [1.0, 1.0], [[1.0], [1.0]])
    exact = stats.norm.cdf((2 / 3) / np.sqrt(1 / 3 + 1))
    assert policy.action_probabilities([[1.0]])[0, 1] == pytest.approx(exact, abs=0.015)


def test_linear_policy_needs_context():
    policy = LinUCB(ACTIONS, 2)
    with pytest.raises(InputError, match="'context' is missing"):
        policy.action_probabilities()
    with pytest.raises(InputError, match="'context' has the wrong shape"):
        policy.action_probabilities(np.zeros((1, 3)))
    with pytest.raises(InputError, match="non-finite value in 'context'.*row 2"):
        policy.update(["none", "none"], [0.0, 1.0], [[0.0, 1.0], [np.nan, 1.0]])


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda: EpsilonGreedy(ACTIONS, epsilon=1.5), "'epsilon'"),
        (lambda: EpsilonGreedy(ACTIONS, min_probability=-0.1), "'min_probability'"),
        (lambda: BernoulliThompson(ACTIONS, prior_alpha=0), "'prior_alpha'"),
        (lambda: BernoulliThompson(ACTIONS, n_draws=0), "'n_draws'"),
        (lambda: BernoulliThompson(ACTIONS, draws_seed=-1), "'draws_seed'"),
        (lambda: GaussianThompson(ACTIONS, noise_variance=0.0), "'noise_variance'"),
        (lambda: GaussianThompson(ACTIONS, prior_mean=np.inf), "'prior_mean'"),
        (lambda: LinUCB(ACTIONS, 0), "'n_features'"),
        (lambda: LinUCB(ACTIONS, 2, ridge_penalty=0.0), "'ridge_penalty'"),
        (lambda: LinUCB(ACTIONS, 2, fit_intercept="yes"), "'fit_intercept'"),
        (lambda: LinearThompson(ACTIONS, 2, noise_variance=-1), "'noise_variance'"),
    ],
)
def test_bad_parameters_raise(make, pattern):
    with pytest.raises(InputError, match=pattern):
        make()


# ---------------------------------------------------------------------------
# Learning on synthetic bandits
# ---------------------------------------------------------------------------

RATES = np.array([0.02, 0.05, 0.12, 0.07])
"""Conversion rate of each action of ACTIONS. free_shipping is best."""


def run_rounds(policy, reward_of, n_rounds=40, batch=50, seed=0, context_of=None):
    """Choose, observe and update in batches, as a service and a nightly job do."""
    rng = np.random.default_rng(seed)
    for _ in range(n_rounds):
        context = None if context_of is None else context_of(rng, batch)
        choice = policy.choose(context, np.ones((batch, len(ACTIONS)), bool), rng)
        rewards = reward_of(rng, choice.action_codes, context)
        policy.update(choice.actions, rewards, context)
    return policy


def conversions(rng, codes, context):
    return rng.binomial(1, RATES[codes]).astype(float)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "make",
    [
        lambda: EpsilonGreedy(ACTIONS, epsilon=0.1),
        lambda: BernoulliThompson(ACTIONS),
        lambda: GaussianThompson(ACTIONS, prior_variance=1.0, noise_variance=0.1),
    ],
    ids=["epsilon_greedy", "bernoulli_thompson", "gaussian_thompson"],
)
def test_context_free_policy_finds_best_action(make, seed):
    # 4000 decisions: enough for epsilon-greedy to leave an early wrong
    # leader on every seed tried (0 to 29).
    policy = run_rounds(make(), conversions, n_rounds=80, seed=seed)
    probabilities = policy.action_probabilities()[0]
    assert probabilities.argmax() == 2
    assert probabilities[2] > 0.6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_thompson_tries_best_action_most(seed):
    # Uniform exploration would give each action a quarter of the decisions.
    policy = run_rounds(BernoulliThompson(ACTIONS), conversions, seed=seed)
    assert policy.counts_.argmax() == 2
    assert policy.counts_[2] > 0.4 * policy.counts_.sum()


@pytest.mark.parametrize("seed", [0, 1])
def test_gaussian_thompson_finds_best_margin(seed):
    # Margin rewards: the deep discount sells more but loses money.
    means = np.array([1.0, -2.0, 3.0, 2.0])

    def margins(rng, codes, context):
        return rng.normal(means[codes], 5.0)

    policy = GaussianThompson(
        ACTIONS, prior_variance=100.0, initial_noise_variance=25.0
    )
    run_rounds(policy, margins, n_rounds=80, seed=seed)
    probabilities = policy.action_probabilities()[0]
    assert probabilities.argmax() == 2
    assert probabilities[1] < 0.05
    assert policy.noise_variance_ == pytest.approx(25.0, rel=0.15)


# Two customer segments, one-hot in the context: ten_off converts best in
# the first, bundle in the second, and on average they tie.
SEGMENT_RATES = np.array(
    [
        [0.05, 0.30, 0.08, 0.05],
        [0.05, 0.05, 0.08, 0.30],
    ]
)
SEGMENTS = np.eye(2)


def segment_context(rng, n):
    return SEGMENTS[rng.integers(0, 2, n)]


def segment_conversions(rng, codes, context):
    segment = context[:, 1].astype(int)
    return rng.binomial(1, SEGMENT_RATES[segment, codes]).astype(float)


def policy_value(policy):
    """Expected conversion rate of the policy over both segments, equally weighted."""
    context = SEGMENTS if policy.contextual else np.empty((2, 0))
    probabilities = policy.action_probabilities(context)
    return float((probabilities * SEGMENT_RATES).sum(axis=1).mean())


@pytest.mark.parametrize(
    "make",
    [
        lambda: LinUCB(ACTIONS, 2, alpha=0.5, fit_intercept=False),
        lambda: LinearThompson(ACTIONS, 2, noise_variance=0.2, fit_intercept=False),
    ],
    ids=["linucb", "linear_thompson"],
)
def test_contextual_policy_learns_segment_best(make):
    policy = run_rounds(
        make(), segment_conversions, n_rounds=40, context_of=segment_context
    )
    probabilities = policy.action_probabilities(SEGMENTS)
    assert probabilities[0].argmax() == 1
    assert probabilities[1].argmax() == 3
    assert probabilities[0, 1] > 0.6
    assert probabilities[1, 3] > 0.6


def test_context_free_policy_cannot_split_segments():
    # Uniformly logged data, learned by a contextual and a context-free
    # policy: only the contextual one reaches the 0.30 of each segment.
    rng = np.random.default_rng(3)
    n = 4000
    context = segment_context(rng, n)
    codes = rng.integers(0, len(ACTIONS), n)
    rewards = segment_conversions(rng, codes, context)
    actions = np.asarray(ACTIONS)[codes]
    contextual = LinUCB(ACTIONS, 2, alpha=0.2, fit_intercept=False)
    contextual.fit(actions, rewards, context)
    context_free = BernoulliThompson(ACTIONS).fit(actions, rewards)

    rows = context_free.action_probabilities(SEGMENTS)
    np.testing.assert_array_equal(rows[0], rows[1])
    assert min(rows[0, 1], rows[1, 3]) <= 0.5
    assert policy_value(contextual) > 0.27
    assert policy_value(context_free) < 0.2


def test_singular_saved_gram_raises():
    policy = LinUCB(ACTIONS, 2)
    data = policy.to_dict()
    data["state"]["gram"][1] = np.zeros((3, 3)).tolist()
    with pytest.raises(InputError, match="'gram' is singular"):
        LinUCB.from_dict(data)
