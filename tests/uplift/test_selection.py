"""Learner choice by held-out Qini coefficient."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from promoloop.errors import InputError
from promoloop.uplift import DRLearner, TwoModelLearner, select_learner
from tests.uplift.simulate import linear_effect_campaign, step_effect_campaign


class MemorisingLearner(BaseEstimator):
    """Scores training rows perfectly from their outcome and 0 on other rows.

    In-sample its Qini is near 1; on held-out rows every score is 0, so its
    Qini there is exactly 0.
    """

    def __init__(self, control=0):
        self.control = control

    def fit(self, X, treatment, y):
        treated = np.asarray(treatment) != self.control
        self.seen_ = {
            tuple(row): s for row, s in zip(X, np.where(treated, y, -y), strict=True)
        }
        self.treatments_ = [1]
        return self

    def predict(self, X):
        return np.array([[self.seen_.get(tuple(row), 0.0)] for row in X])


class NoiseLearner(MemorisingLearner):
    """Scores every row with uniform noise."""

    def predict(self, X):
        return np.random.default_rng(0).random((len(X), 1))


@pytest.fixture(scope="module", name="campaign")
def step_campaign():
    X, treatment, y, _ = step_effect_campaign(seed=0, n=6_000)
    return X, treatment, y


def test_selection_prefers_model_over_noise(campaign):
    X, treatment, y = campaign
    candidates = {"noise": NoiseLearner(), "two_model": TwoModelLearner()}
    result = select_learner(candidates, X, treatment, y, n_splits=3, seed=0)
    assert result.best_name == "two_model"
    assert isinstance(result.best_learner, TwoModelLearner)
    assert result.best_learner.treatments_ == [1]
    assert result.mean_scores["two_model"] > result.mean_scores["noise"]
    assert len(result.fold_scores) == 2 * 3
    assert set(result.fold_scores["fold"]) == {0, 1, 2}


def test_selection_scores_held_out_rows(campaign):
    X, treatment, y = campaign
    candidates = {"memoriser": MemorisingLearner(), "two_model": TwoModelLearner()}
    result = select_learner(candidates, X, treatment, y, n_splits=3, seed=0)
    memoriser = result.fold_scores.query("candidate == 'memoriser'")
    assert (memoriser["qini"] == 0.0).all()
    # Each fold holds out a third of the rows.
    assert memoriser["n_test"].sum() == len(y)
    assert result.best_name == "two_model"


def test_selection_two_arms_mean_over_arms():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3_000, 3))
    treatment = rng.choice([0, 1, 2], size=3_000)
    y = rng.binomial(1, 0.2 + 0.2 * (treatment > 0) * (X[:, 0] > 0))
    result = select_learner({"t": TwoModelLearner()}, X, treatment, y, n_splits=2)
    table = result.fold_scores
    assert sorted(table["arm"].unique()) == [1, 2]
    per_fold = table.groupby("fold")["qini"].mean()
    assert result.mean_scores["t"] == pytest.approx(per_fold.mean())


def test_selection_continuous_outcome():
    X, treatment, y, _ = linear_effect_campaign(seed=0, n=1_500)
    candidates = {"noise": NoiseLearner(), "dr": DRLearner(random_state=0)}
    result = select_learner(candidates, X, treatment, y, n_splits=2)
    assert result.best_name == "dr"
    assert result.mean_scores["dr"] > 0


def test_selection_bad_input_raises(campaign):
    X, treatment, y = campaign
    cases = [
        ({}, {}, r"'candidates' is empty"),
        (
            {"a": TwoModelLearner(), "b": TwoModelLearner(control=1)},
            {},
            r"different control labels",
        ),
        ({"a": TwoModelLearner()}, {"n_splits": 1}, r"'n_splits' is 1"),
    ]
    for candidates, params, message in cases:
        with pytest.raises(InputError, match=message):
            select_learner(candidates, X, treatment, y, **params)


def test_selection_small_stratum_raises(campaign):
    X, treatment, y = campaign
    y = np.zeros_like(y)
    y[:2] = 1
    treatment = treatment.copy()
    treatment[:2] = 1
    with pytest.raises(InputError, match=r"has 2 rows.*at least 3"):
        select_learner({"a": TwoModelLearner()}, X, treatment, y, n_splits=3)
