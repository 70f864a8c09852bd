"""Learners recover a known effect on synthetic randomized campaigns."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

from promoloop.evaluation.uplift_metrics import qini_coefficient
from promoloop.uplift import (
    DRLearner,
    OutcomeTransformLearner,
    TwoModelLearner,
    XLearner,
)
from tests.uplift.simulate import linear_effect_campaign, step_effect_campaign

TREES = {"max_iter": 50, "max_depth": 3, "early_stopping": False}


def _classifier():
    return HistGradientBoostingClassifier(**TREES)


def _regressor():
    return HistGradientBoostingRegressor(**TREES)


TREE_LEARNERS = {
    "two_model": lambda: TwoModelLearner(_classifier()),
    "x": lambda: XLearner(_classifier(), _regressor()),
    "dr": lambda: DRLearner(_classifier(), _regressor(), random_state=0),
    "outcome_transform": lambda: OutcomeTransformLearner(_regressor()),
    "class_transformation": lambda: OutcomeTransformLearner(
        _classifier(), method="class_transformation"
    ),
}

# Effect 0.1 for x0 > 0, else 0. With 10,000 rows per half the sampling
# error of a group mean is about 0.01, and boosting shrinks the step a little
# (differences of 0.084 to 0.108 over seeds 0-4 and these learners), so 0.03
# covers both.
STEP_TOLERANCE = 0.03


@pytest.fixture(scope="module", params=range(5), ids=lambda s: f"seed{s}")
def step_campaigns(request):
    train = step_effect_campaign(request.param)
    held_out = step_effect_campaign(100 + request.param)
    return train, held_out


@pytest.mark.parametrize("name", list(TREE_LEARNERS))
def test_step_effect_recovered(name, step_campaigns):
    (X, treatment, y, _), (X_new, t_new, y_new, _) = step_campaigns
    score = TREE_LEARNERS[name]().fit(X, treatment, y).predict(X_new)[:, 0]
    positive = X_new[:, 0] > 0

    difference = score[positive].mean() - score[~positive].mean()
    assert difference == pytest.approx(0.1, abs=STEP_TOLERANCE)

    random_score = np.random.default_rng(0).random(len(score))
    qini = qini_coefficient(y_new, t_new, score).value
    assert qini > qini_coefficient(y_new, t_new, random_score).value
    assert qini > 0.02


@pytest.mark.parametrize(
    "learner", [TwoModelLearner(), DRLearner(random_state=0)], ids=["two_model", "dr"]
)
def test_linear_effect_continuous(learner):
    X, treatment, y, _ = linear_effect_campaign(seed=0)
    X_new, _, _, effect = linear_effect_campaign(seed=1)
    predicted = learner.fit(X, treatment, y).predict(X_new)[:, 0]
    assert learner.outcome_type_ == "continuous"
    assert np.corrcoef(predicted, effect)[0, 1] > 0.9
    # Slope of the effect on x1 is 2.
    slope = np.polyfit(X_new[:, 1], predicted, 1)[0]
    assert slope == pytest.approx(2.0, abs=0.15)


def test_x_learner_known_propensity():
    X, treatment, y, _ = linear_effect_campaign(seed=0)
    X_new, _, _, effect = linear_effect_campaign(seed=1)
    learner = XLearner(propensity=0.5).fit(X, treatment, y)
    predicted = learner.predict(X_new)[:, 0]
    assert learner.propensity_models_ == {}
    assert np.corrcoef(predicted, effect)[0, 1] > 0.9


def test_outcome_transform_continuous():
    X, treatment, y, _ = linear_effect_campaign(seed=0, n=8_000)
    X_new, _, _, effect = linear_effect_campaign(seed=1)
    learner = OutcomeTransformLearner(propensity={1: 0.5})
    predicted = learner.fit(X, treatment, y).predict(X_new)[:, 0]
    # The transformed outcome is noisy, so its fit is looser than the others.
    assert np.corrcoef(predicted, effect)[0, 1] > 0.8


def test_lightgbm_two_model():
    lightgbm = pytest.importorskip("lightgbm")
    X, treatment, y, _ = step_effect_campaign(seed=0)
    X_new, _, _, _ = step_effect_campaign(seed=100)
    model = lightgbm.LGBMClassifier(n_estimators=50, max_depth=3, verbose=-1)
    learner = TwoModelLearner(model, random_state=0).fit(X, treatment, y)
    score = learner.predict(X_new)[:, 0]
    positive = X_new[:, 0] > 0
    difference = score[positive].mean() - score[~positive].mean()
    assert difference == pytest.approx(0.1, abs=STEP_TOLERANCE)
    assert learner.arm_models_[1].get_params()["random_state"] == 0
