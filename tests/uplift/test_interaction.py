"""Interaction S-learner: design columns, known effects, arms and input checks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import SplineTransformer, StandardScaler

from promoloop.errors import InputError
from promoloop.uplift.interaction import InteractionLearner, interaction_design
from tests.uplift.simulate import step_effect_campaign


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_design_columns_by_hand():
    basis_matrix = np.array([[1.0, 2.0], [3.0, 4.0]])
    design = interaction_design(basis_matrix, [1, 0])
    assert design.tolist() == [[1.0, 2.0, 1.0, 1.0, 2.0], [3.0, 4.0, 0.0, 0.0, 0.0]]


def test_linear_effect_recovered_exactly():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 2))
    treatment = rng.binomial(1, 0.5, 400)
    # Noise-free outcome: baseline 1 + 2 x0 - x1, effect 0.5 + 3 x0.
    y = 1.0 + 2.0 * X[:, 0] - X[:, 1] + treatment * (0.5 + 3.0 * X[:, 0])
    learner = InteractionLearner(LinearRegression()).fit(X, treatment, y)
    new = np.array([[0.0, 5.0], [1.0, -2.0], [-2.0, 0.0]])
    effects = learner.predict(new)[:, 0]
    assert effects == pytest.approx([0.5, 3.5, -5.5], abs=1e-9)


def test_logistic_effect_recovered():
    rng = np.random.default_rng(1)
    n = 60_000
    X = rng.normal(size=(n, 2))
    treatment = rng.binomial(1, 0.5, n)
    # Logit -1 + x1 for control, plus 0.8 x0 for treated customers.
    logit = -1.0 + X[:, 1] + treatment * 0.8 * X[:, 0]
    y = rng.binomial(1, _sigmoid(logit))
    learner = InteractionLearner(LogisticRegression(C=100.0)).fit(X, treatment, y)
    new = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 1.0]])
    expected = _sigmoid(-1.0 + new[:, 1] + 0.8 * new[:, 0]) - _sigmoid(-1.0 + new[:, 1])
    # expected = [0, 0.4502 - 0.2689, 0.3100 - 0.5] = [0, 0.181, -0.190]
    assert learner.predict(new)[:, 0] == pytest.approx(expected, abs=0.02)


def test_spline_basis_finds_step_effect():
    X, treatment, y, effect = step_effect_campaign(seed=3, n=20_000)
    learner = InteractionLearner(
        LogisticRegression(max_iter=2000), basis=SplineTransformer(n_knots=5)
    ).fit(X, treatment, y)
    predicted = learner.predict(X)[:, 0]
    # True effect 0.1 for x0 > 0 and 0 otherwise.
    assert predicted[effect > 0].mean() - predicted[effect == 0].mean() > 0.04
    assert predicted.mean() == pytest.approx(0.05, abs=0.02)


def test_columns_follow_arms():
    rng = np.random.default_rng(2)
    n = 6_000
    X = rng.normal(size=(n, 2))
    treatment = rng.choice([0, 5, 20], size=n)
    lift = np.select([treatment == 5, treatment == 20], [1.0, 4.0], 0.0)
    y = X[:, 0] + lift + rng.normal(scale=0.1, size=n)
    learner = InteractionLearner(LinearRegression()).fit(X, treatment, y)
    effects = learner.predict(X[:10])
    assert learner.treatments_ == [5, 20]
    assert effects.shape == (10, 2)
    assert effects[:, 0] == pytest.approx(np.full(10, 1.0), abs=0.05)
    assert effects[:, 1] == pytest.approx(np.full(10, 4.0), abs=0.05)
    assert set(learner.bases_) == {5, 20}
    assert set(learner.models_) == {5, 20}


def test_arguments_stay_unfitted():
    X, treatment, y, _ = step_effect_campaign(seed=0, n=2_000)
    estimator = LogisticRegression()
    basis = StandardScaler()
    InteractionLearner(estimator, basis=basis).fit(X, treatment, y)
    assert not hasattr(estimator, "coef_")
    assert not hasattr(basis, "mean_")


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError):
        InteractionLearner().predict(np.zeros((2, 3)))


def test_bad_input_raises():
    X, treatment, y, _ = step_effect_campaign(seed=0, n=2_000)
    spend = y * 10.0 + 0.5
    cases = [
        (
            InteractionLearner(basis=LinearRegression()),
            y,
            r"'basis' is a LinearRegression",
        ),
        (
            InteractionLearner(LogisticRegression()),
            spend,
            r"LogisticRegression is a classifier but 'y' is continuous",
        ),
        (InteractionLearner(basis="splines"), y, r"'basis' is a str"),
    ]
    for learner, outcome, message in cases:
        with pytest.raises(InputError, match=message):
            learner.fit(X, treatment, outcome)
