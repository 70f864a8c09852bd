"""evaluate_policy: default estimators, result table and degenerate logs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from promoloop.errors import InputError
from promoloop.ope import (
    BanditLog,
    DirectMethod,
    InversePropensityScoring,
    SwitchDoublyRobust,
    evaluate_policy,
)
from promoloop.warnings import SupportWarning
from tests.ope.simulate import simulate_log

ROW_COLUMNS = [
    "name",
    "value",
    "ci_low",
    "ci_high",
    "ess",
    "max_weight",
    "clipped",
    "n_rounds",
    "n_unsupported",
    "note",
]


def assert_all_finite(result):
    numbers = result.to_frame().select_dtypes("number")
    assert np.isfinite(numbers.to_numpy()).all()


def test_defaults_without_reward_model():
    simulated = simulate_log(300, seed=21)
    result = evaluate_policy(
        simulated.log, simulated.action_dist, n_bootstrap=100, random_state=0
    )
    table = result.to_frame()
    assert list(table.columns) == ROW_COLUMNS
    assert table["name"].tolist() == ["ips", "snips"]
    assert result.skipped == {}
    assert_all_finite(result)


def test_defaults_with_reward_model():
    simulated = simulate_log(300, seed=22)
    result = evaluate_policy(
        simulated.log,
        simulated.action_dist,
        simulated.true_reward,
        n_bootstrap=100,
        random_state=0,
    )
    names = result.to_frame()["name"].tolist()
    assert names == ["dm", "ips", "snips", "dr", "switch-dr", "dr-shrinkage"]
    assert_all_finite(result)


def test_rows_match_estimators():
    simulated = simulate_log(300, seed=23)
    args = (simulated.log, simulated.action_dist, simulated.true_reward)
    result = evaluate_policy(*args, n_bootstrap=200, random_state=5)
    for estimator in (DirectMethod(), InversePropensityScoring()):
        row = result[estimator.name]
        assert row.value == pytest.approx(estimator.estimate_policy_value(*args))
        assert row.ci_low <= row.ci_high
        assert row.n_rounds == 300
    again = evaluate_policy(*args, n_bootstrap=200, random_state=5)
    assert again.to_frame().equals(result.to_frame())


def test_switch_note_counts_large_weights():
    simulated = simulate_log(300, seed=24)
    weights = InversePropensityScoring().applied_weights(
        simulated.log, simulated.action_dist
    )
    tau = float(np.quantile(weights, 0.9))
    result = evaluate_policy(
        simulated.log,
        simulated.action_dist,
        simulated.true_reward,
        estimators=[SwitchDoublyRobust(tau=tau)],
        n_bootstrap=50,
    )
    n_above = int(np.sum(weights > tau))
    assert f"{n_above} of 300 rounds have weight above tau=" in result["switch-dr"].note
    assert result["switch-dr"].max_weight <= tau


def test_undefined_snips_skipped():
    # The target always plays the action that was not logged: every weight is 0.
    log = BanditLog(
        action=np.array([0, 1, 0]),
        reward=np.array([1.0, 0.0, 1.0]),
        pscore=np.full(3, 0.5),
    )
    action_dist = np.eye(2)[1 - log.action]
    result = evaluate_policy(log, action_dist, random_state=0)
    assert [row.name for row in result.rows] == ["ips"]
    assert "importance weights sum to 0" in result.skipped["snips"]
    assert result["ips"].value == 0.0
    assert result["ips"].ess == 0.0
    assert_all_finite(result)
    with pytest.raises(KeyError, match="'snips' was skipped"):
        result["snips"]


def test_single_round_documented():
    log = BanditLog(action=[0], reward=[1.0], pscore=[0.5], action_names=["A", "B"])
    result = evaluate_policy(log, [[1.0, 0.0]], [[0.4, 0.2]], n_bootstrap=50)
    for row in result.rows:
        assert row.ci_low == row.value == row.ci_high, row.name
        assert "one round, so the interval has zero width" in row.note
    # IPS: 1 / 0.5 * 1
    assert result["ips"].value == 2.0
    assert_all_finite(result)


def test_all_zero_rewards_documented():
    simulated = simulate_log(200, seed=25)
    log = BanditLog(
        action=simulated.log.action,
        reward=np.zeros(200),
        pscore=simulated.log.pscore,
    )
    result = evaluate_policy(log, simulated.action_dist, n_bootstrap=50)
    for row in result.rows:
        assert row.value == 0.0
        assert "every logged reward is 0" in row.note


def test_target_outside_support_warns():
    log = BanditLog(
        action=np.array([0, 0, 1]),
        reward=np.array([1.0, 0.0, 1.0]),
        pscore=np.array([0.5, 0.5, 0.5]),
        action_names=["A", "B", "C"],
    )
    action_dist = np.tile([0.0, 0.0, 1.0], (3, 1))
    with pytest.warns(SupportWarning, match=r"for 3 of 3 rounds \(C\)"):
        result = evaluate_policy(log, action_dist, n_bootstrap=50)
    assert result.support.never_logged_actions == ("C",)
    assert result["ips"].value == 0.0
    assert "counts no reward for the unsupported target mass" in result["ips"].note


def test_supported_target_is_silent():
    simulated = simulate_log(200, seed=26)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_policy(simulated.log, simulated.action_dist, n_bootstrap=20)


BAD_CALLS = [
    (
        {"estimators": [DirectMethod()]},
        r"estimators \['dm'\] need 'reward_hat', which is None",
    ),
    (
        {"estimators": [InversePropensityScoring(), InversePropensityScoring()]},
        r"several estimators are named 'ips'",
    ),
    ({"n_bootstrap": -5}, r"'n_bootstrap' is -5"),
    ({"alpha": 0.0}, r"'alpha' is 0.0"),
    ({"logging_dist": np.ones((3, 2))}, r"'logging_dist' has shape \(3, 2\)"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_CALLS)
def test_bad_calls_rejected(kwargs, message):
    simulated = simulate_log(50, seed=27)
    with pytest.raises(InputError, match=message):
        evaluate_policy(simulated.log, simulated.action_dist, **kwargs)


def test_unknown_row_name():
    simulated = simulate_log(50, seed=28)
    result = evaluate_policy(simulated.log, simulated.action_dist, n_bootstrap=10)
    with pytest.raises(KeyError, match=r"no estimate named 'dr'; the rows are"):
        result["dr"]
    assert "ips" in str(result)
