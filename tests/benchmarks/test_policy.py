"""IPS policy values on toy logs, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from promoloop.benchmarks import ips_contributions, policy_value_table
from promoloop.benchmarks.policy import bootstrap_mean, budgeted_choice
from promoloop.errors import InputError

# Arms are ordered none, mens, womens.
NONE, MENS, WOMENS = [1, 0, 0], [0, 1, 0], [0, 0, 1]
LOGGED = ["none", "mens", "womens", "mens", "none", "womens"]
SPEND = [1.0, 0.0, 1.0, 1.0, 0.0, 2.0]
POLICY = [MENS, MENS, WOMENS, NONE, NONE, WOMENS]


def test_ips_toy_log_hand_computed():
    terms = ips_contributions(SPEND, LOGGED, POLICY, propensity=1 / 3)
    # Row 1 was logged without e-mail but the policy mails: -y/p. Rows 3 and
    # 6 match the policy's e-mail: +y/p. The others contribute 0.
    expected = [-3 * 1.0, 0.0, 3 * 1.0, 0.0, 0.0, 3 * 2.0]
    assert terms == pytest.approx(expected)
    assert terms.mean() == pytest.approx((-3 + 3 + 6) / 6)


def test_ips_toy_log_cost_per_mailed():
    terms = ips_contributions(SPEND, LOGGED, POLICY, propensity=1 / 3, cost=0.1)
    # Four of the six customers are mailed.
    assert terms.mean() == pytest.approx((-3 + 3 + 6) / 6 - 0.1 * 4 / 6)


def test_ips_stochastic_policy():
    random_mail = [[0.0, 0.5, 0.5]] * 6
    terms = ips_contributions(SPEND, LOGGED, random_mail, propensity=1 / 3)
    expected = [-3.0, 0.0, 1.5, 1.5, 0.0, 3.0]
    assert terms == pytest.approx(expected)


def test_ips_nobody_is_zero():
    terms = ips_contributions(SPEND, LOGGED, [NONE] * 6, cost=0.1)
    assert np.all(terms == 0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"logged_arm": ["none"] * 5 + ["kids"]}, "unknown arm in logged_arm"),
        ({"policy_probs": [[0.5, 0.0, 0.0]] * 6}, "do not sum to 1"),
        ({"propensity": 0.0}, "invalid propensity"),
        ({"outcome": SPEND[:5]}, "do not match"),
        ({"policy_probs": [[1.0, 0.0]] * 6}, "do not match"),
    ],
)
def test_ips_bad_input_raises(kwargs, message):
    arguments = {"outcome": SPEND, "logged_arm": LOGGED, "policy_probs": POLICY}
    arguments.update(kwargs)
    with pytest.raises(InputError, match=message):
        ips_contributions(**arguments)


def test_budgeted_choice_hand_case():
    effects = np.array([[0.3, 0.1], [0.05, 0.02], [0.2, 0.5], [-0.1, 0.0]])
    # Net of 0.1: rows 1 (mens, 0.2) and 3 (womens, 0.4) are positive.
    probs = budgeted_choice(effects, cost=0.1, budget=0.5)
    assert probs.tolist() == [MENS, NONE, WOMENS, NONE]


def test_budgeted_choice_budget_cuts_lowest():
    effects = np.array([[0.3, 0.1], [0.05, 0.02], [0.2, 0.5], [-0.1, 0.0]])
    probs = budgeted_choice(effects, cost=0.1, budget=0.25)
    assert probs.tolist() == [NONE, NONE, WOMENS, NONE]


def test_bootstrap_mean_constant_values():
    interval = bootstrap_mean(np.full(50, 2.5), n_boot=100, seed=0)
    assert interval == {"estimate": 2.5, "low": 2.5, "high": 2.5}


def test_bootstrap_mean_interval_covers_mean():
    values = np.random.default_rng(1).normal(1.0, 1.0, 400)
    interval = bootstrap_mean(values, n_boot=300, seed=0)
    assert interval["low"] < values.mean() < interval["high"]
    # The half-width is close to 1.96 standard errors (0.098 here).
    half = (interval["high"] - interval["low"]) / 2
    assert half == pytest.approx(1.96 * values.std() / 20, rel=0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cost": -0.1}, "invalid cost"),
        ({"budget": 0.0}, "invalid budget"),
        ({"budget": 1.5}, "invalid budget"),
        ({"estimator": "forest"}, "invalid estimator"),
    ],
)
def test_policy_table_bad_parameter_raises(kwargs, message):
    with pytest.raises(InputError, match=message):
        policy_value_table(None, **kwargs)
