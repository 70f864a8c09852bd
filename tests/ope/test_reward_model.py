"""Cross-fitted reward models: shapes, fold isolation, fallbacks, accuracy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.model_selection import KFold

from promoloop.errors import InputError
from promoloop.ope import BanditLog, DoublyRobust, fit_reward_model
from promoloop.warnings import ColdStartWarning
from tests.ope.simulate import simulate_log


def test_logistic_shape_and_range():
    simulated = simulate_log(2000, seed=31, n_positions=2)
    reward_hat = fit_reward_model(simulated.log, random_state=0)
    assert reward_hat.shape == (2000, 4, 2)
    assert np.isfinite(reward_hat).all()
    assert reward_hat.min() > 0
    assert reward_hat.max() < 1


def test_cross_fitting_hides_own_round():
    # Nineteen rounds of actions 0 and 1 with reward 0.2, and one round of
    # action 2 with reward 1. The only evidence on action 2 is that round, so
    # its own prediction must come from the fold mean alone.
    action = np.array([0, 1] * 9 + [0, 2])
    reward = np.array([0.2] * 19 + [1.0])
    log = BanditLog(action=action, reward=reward, pscore=np.full(20, 0.5))
    reward_hat = fit_reward_model(log, model="mean", random_state=0)
    # The other fold has no action 2 and mean reward 0.2, so
    # (0 + 1 * 0.2) / (0 + 1) = 0.2, where a model fit on round 20 would
    # give (1 + 1 * mean) / (1 + 1) > 0.6.
    assert reward_hat[19, 2, 0] == pytest.approx(0.2)


def test_mean_model_matches_hand_formula():
    simulated = simulate_log(200, seed=32, n_positions=2)
    log = simulated.log
    reward_hat = fit_reward_model(
        log, model="mean", n_folds=3, random_state=4, smoothing=2.0
    )
    folds = KFold(n_splits=3, shuffle=True, random_state=4).split(log.action)
    for train, test in folds:
        overall = log.reward[train].mean()
        for action in range(4):
            for position in range(2):
                cell = train[
                    (log.action[train] == action) & (log.position[train] == position)
                ]
                expected = (log.reward[cell].sum() + 2.0 * overall) / (cell.size + 2.0)
                assert reward_hat[test, action, position] == pytest.approx(
                    np.full(test.size, expected)
                )


def test_fold_without_positive_falls_back():
    # One click in 100 rounds: one fold trains without it.
    rng = np.random.default_rng(0)
    reward = np.zeros(100)
    reward[17] = 1.0
    log = BanditLog(
        action=rng.integers(0, 3, size=100),
        reward=reward,
        pscore=np.full(100, 1 / 3),
        context=rng.normal(size=(100, 2)),
    )
    with pytest.warns(ColdStartWarning) as caught:
        reward_hat = fit_reward_model(log, model="logistic", random_state=0)
    assert len(caught) == 1
    assert "all 50 training rounds have reward 0" in str(caught[0].message)
    assert "instead of logistic" in str(caught[0].message)
    # Round 18 (index 17) is held out by the fold that fell back to the
    # smoothed mean of a training fold whose rewards are all 0.
    assert np.all(reward_hat[17] == 0.0)
    assert np.isfinite(reward_hat).all()


def test_rare_clicks_fit_without_fallback():
    # 40 clicks in 10,000 rounds, as rare as clicks in the Open Bandit data.
    rng = np.random.default_rng(1)
    reward = np.zeros(10_000)
    reward[rng.choice(10_000, size=40, replace=False)] = 1.0
    log = BanditLog(
        action=rng.integers(0, 10, size=10_000),
        reward=reward,
        pscore=np.full(10_000, 0.1),
        position=rng.integers(0, 3, size=10_000),
        context=rng.normal(size=(10_000, 3)),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ColdStartWarning)
        reward_hat = fit_reward_model(log, model="logistic", random_state=0)
    assert reward_hat.shape == (10_000, 10, 3)
    # The click rate is 0.004; the model's mean prediction stays near it.
    assert 0.002 < reward_hat.mean() < 0.008


@pytest.mark.parametrize("model", ["logistic", "lightgbm", "ridge"])
def test_fitted_model_dr_near_truth(model):
    simulated = simulate_log(20_000, seed=33)
    reward_hat = fit_reward_model(simulated.log, model=model, random_state=0)
    value = DoublyRobust().estimate_policy_value(
        simulated.log, simulated.action_dist, reward_hat
    )
    # Same tolerance as the other estimators on 20,000 rounds.
    assert abs(value - simulated.truth) < 0.03


def test_lightgbm_regressor_for_real_rewards():
    simulated = simulate_log(1000, seed=34)
    log = BanditLog(
        action=simulated.log.action,
        reward=simulated.log.reward * 25.0,
        pscore=simulated.log.pscore,
        context=simulated.log.context,
    )
    reward_hat = fit_reward_model(log, model="lightgbm", random_state=0)
    assert np.isfinite(reward_hat).all()
    assert reward_hat.max() > 1  # a classifier would stay within [0, 1]


def test_model_params_reach_the_model():
    simulated = simulate_log(1000, seed=35)
    loose = fit_reward_model(simulated.log, random_state=0)
    tight = fit_reward_model(simulated.log, random_state=0, model_params={"C": 1e-6})
    # Strong regularization leaves almost no difference between actions.
    assert tight.std(axis=1).max() < 1e-3
    assert loose.std(axis=1).max() > 0.05


BAD_ARGUMENTS = [
    ({"model": "forest"}, r"'model' is 'forest'"),
    ({"n_folds": 1}, r"'n_folds' is 1"),
    ({"n_folds": 6}, r"'n_folds' is 6"),
    ({"n_folds": True}, r"'n_folds' is True"),
    ({"n_folds": 2.0}, r"'n_folds' is 2.0"),
    ({"smoothing": 0}, r"'smoothing' is 0"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGUMENTS)
def test_bad_arguments_rejected(kwargs, message):
    simulated = simulate_log(50, seed=36)
    with pytest.raises(InputError, match=message):
        fit_reward_model(simulated.log, **kwargs)


def test_logistic_needs_binary_rewards():
    log = BanditLog(action=[0, 1, 0], reward=[0.0, 2.5, 1.0], pscore=[0.5] * 3)
    with pytest.raises(InputError, match=r"rewards such as \[2.5\].*model='ridge'"):
        fit_reward_model(log)


def test_too_few_rounds_for_folds():
    log = BanditLog(action=[0, 1], reward=[0.0, 1.0], pscore=[0.5, 0.5])
    with pytest.raises(InputError, match=r"n_folds=3 needs at least 3 rounds"):
        fit_reward_model(log, n_folds=3)
