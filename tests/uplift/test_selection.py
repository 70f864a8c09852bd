"""Learner choice by held-out Qini coefficient."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold

from promoloop.errors import InputError
from promoloop.evaluation.uplift_metrics import qini_coefficient
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


def test_selection_one_repeat_matches_stratified_kfold(campaign):
    X, treatment, y = campaign
    result = select_learner({"t": TwoModelLearner()}, X, treatment, y, seed=4)

    # The same folds by hand: treatment x outcome strata, shuffled with seed 4.
    strata = treatment * 2 + y
    folds = StratifiedKFold(3, shuffle=True, random_state=4)
    expected = []
    for train, test in folds.split(np.zeros(len(y)), strata):
        model = TwoModelLearner().fit(X[train], treatment[train], y[train])
        score = model.predict(X[test])[:, 0]
        expected.append(qini_coefficient(y[test], treatment[test], score).value)
    assert result.fold_scores["qini"].tolist() == pytest.approx(expected)
    assert set(result.fold_scores["repeat"]) == {0}
    assert result.mean_scores["t"] == pytest.approx(np.mean(expected))


def test_selection_repeats_hold_out_every_row(campaign):
    X, treatment, y = campaign
    candidates = {"memoriser": MemorisingLearner(), "two_model": TwoModelLearner()}
    result = select_learner(candidates, X, treatment, y, n_splits=3, n_repeats=2)
    table = result.fold_scores
    assert len(table) == 2 * 2 * 3
    assert sorted(set(zip(table["repeat"], table["fold"], strict=True))) == [
        (r, f) for r in (0, 1) for f in (0, 1, 2)
    ]
    # Each repeat holds out every row exactly once.
    memoriser = table.query("candidate == 'memoriser'")
    assert memoriser.groupby("repeat")["n_test"].sum().tolist() == [len(y), len(y)]
    assert (memoriser["qini"] == 0.0).all()


def test_selection_repeats_reshuffle_folds(campaign):
    X, treatment, y = campaign
    result = select_learner(
        {"t": TwoModelLearner()}, X, treatment, y, n_splits=3, n_repeats=2, seed=0
    )
    scores = result.fold_scores.set_index(["repeat", "fold"])["qini"]
    assert not np.allclose(scores.loc[0].to_numpy(), scores.loc[1].to_numpy())
    assert result.mean_scores["t"] == pytest.approx(scores.mean())


def test_selection_first_repeat_is_unrepeated_split(campaign):
    X, treatment, y = campaign
    once = select_learner({"t": TwoModelLearner()}, X, treatment, y, seed=2)
    twice = select_learner(
        {"t": TwoModelLearner()}, X, treatment, y, seed=2, n_repeats=2
    )
    first = twice.fold_scores.query("repeat == 0")["qini"].to_numpy()
    assert first == pytest.approx(once.fold_scores["qini"].to_numpy())


def test_selection_bad_repeats_raise(campaign):
    X, treatment, y = campaign
    cases = [
        (0, r"'n_repeats' is 0"),
        (-2, r"'n_repeats' is -2"),
        (1.5, r"'n_repeats' is 1.5"),
        (True, r"'n_repeats' is True"),
    ]
    for n_repeats, message in cases:
        with pytest.raises(InputError, match=message):
            select_learner(
                {"a": TwoModelLearner()}, X, treatment, y, n_repeats=n_repeats
            )
