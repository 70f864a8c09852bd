"""Contract every uplift learner meets: shapes, column order, seeds, input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from promoloop.errors import InputError
from promoloop.uplift import (
    DRLearner,
    InteractionLearner,
    OutcomeTransformLearner,
    TwoModelLearner,
    XLearner,
)
from tests.uplift.simulate import step_effect_campaign, three_arm_campaign

LEARNERS = {
    "two_model": lambda **kw: TwoModelLearner(**kw),
    "x": lambda **kw: XLearner(**kw),
    "dr": lambda **kw: DRLearner(**kw),
    "outcome_transform": lambda **kw: OutcomeTransformLearner(**kw),
    "interaction": lambda **kw: InteractionLearner(**kw),
}


@pytest.fixture(params=list(LEARNERS), name="make")
def make_learner(request):
    return LEARNERS[request.param]


@pytest.fixture(scope="module", name="campaign")
def small_campaign():
    X, treatment, y, _ = step_effect_campaign(seed=1, n=800)
    return X, treatment, y


def test_predict_shape_one_arm(make, campaign):
    X, treatment, y = campaign
    effects = make().fit(X, treatment, y).predict(X[:7])
    assert effects.shape == (7, 1)
    assert np.isfinite(effects).all()


def test_columns_follow_sorted_arms(make):
    X, treatment, y = three_arm_campaign(seed=0)
    learner = make(random_state=0).fit(X, treatment, y)
    effects = learner.predict(X)
    assert learner.treatments_ == [5, 20]
    # Arm 20 lifts conversion by 0.25 or more, arm 5 by 0.05.
    assert effects[:, 1].mean() - effects[:, 0].mean() > 0.1
    assert effects[:, 1].mean() == pytest.approx(0.3, abs=0.1)


def test_columns_follow_treatments_argument(make):
    X, treatment, y = three_arm_campaign(seed=0)
    learner = make(treatments=[20, 5], random_state=0).fit(X, treatment, y)
    effects = learner.predict(X)
    assert learner.treatments_ == [20, 5]
    assert effects[:, 0].mean() - effects[:, 1].mean() > 0.1


def test_string_labels_with_control_label():
    X, treatment, y = three_arm_campaign(seed=0)
    names = np.array(["none", "small", "deep"])[np.searchsorted([0, 5, 20], treatment)]
    learner = TwoModelLearner(control="none").fit(X, names, y)
    assert learner.treatments_ == ["deep", "small"]
    assert learner.predict(X).shape == (len(X), 2)


def test_same_seed_same_predictions(make, campaign):
    X, treatment, y = campaign
    first = make(random_state=3).fit(X, treatment, y).predict(X)
    second = make(random_state=3).fit(X, treatment, y).predict(X)
    np.testing.assert_array_equal(first, second)


def test_dataframe_matches_array(make, campaign):
    X, treatment, y = campaign
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    from_array = make(random_state=0).fit(X, treatment, y).predict(X)
    learner = make(random_state=0).fit(frame, pd.Series(treatment), pd.Series(y))
    np.testing.assert_allclose(learner.predict(frame), from_array)


def test_dataframe_categorical_one_hot(make, campaign):
    X, treatment, y = campaign
    frame = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1]})
    frame["region"] = np.where(X[:, 2] > 0, "north", "south")
    learner = make(random_state=0).fit(frame, treatment, y)
    assert learner.feature_encoder_.feature_names_ == [
        "x0",
        "x1",
        "region_north",
        "region_south",
    ]
    unseen = frame.head(3).assign(region="east")
    assert np.isfinite(learner.predict(unseen)).all()


def test_predict_before_fit_raises(make, campaign):
    X, _, _ = campaign
    with pytest.raises(NotFittedError):
        make().predict(X)


def test_predict_other_width_raises(make, campaign):
    X, treatment, y = campaign
    learner = make().fit(X, treatment, y)
    with pytest.raises(InputError, match=r"has 4 columns.*Expected 5 columns"):
        learner.predict(X[:, :4])


def _bad_inputs():
    X, treatment, y, _ = step_effect_campaign(seed=2, n=300)
    X_nan = X.copy()
    X_nan[4, 1] = np.nan
    return [
        ("no control rows", X, np.ones_like(treatment), y, {}, r"control label 0"),
        ("one class", X, treatment, np.zeros_like(y), {}, r"single class"),
        ("nan in X", X_nan, treatment, y, {}, r"'X' contains NaN.*row 4"),
        ("short y", X, treatment, y[:-1], {}, r"different lengths.*y=299"),
        ("short treatment", X, treatment[:-1], y, {}, r"treatment=299"),
        ("unknown control", X, treatment, y, {"control": 9}, r"control label 9"),
        ("only control", X, np.zeros_like(treatment), y, {}, r"no treated rows"),
        ("nan treatment", X, np.where(treatment == 1, 1.0, np.nan), y, {}, r"missing"),
        ("nan y", X, treatment, np.r_[np.nan, y[1:]], {}, r"'y' contains NaN"),
        ("text y", X, treatment, y.astype(str).astype(object) + "x", {}, r"numeric"),
        ("1-D X", X[:, 0], treatment, y, {}, r"shape \(300,\)"),
        ("text X", X.astype(str), treatment, y, {}, r"not numeric"),
        ("bad outcome", X, treatment, y, {"outcome": "count"}, r"'outcome'"),
        ("arms list", X, treatment, y, {"treatments": [2]}, r"'treatments' lists"),
        ("binary outcome", X, treatment, y * 2.5, {"outcome": "binary"}, r"0 and 1"),
    ]


@pytest.mark.parametrize(
    ("X", "treatment", "y", "params", "message"),
    [case[1:] for case in _bad_inputs()],
    ids=[case[0] for case in _bad_inputs()],
)
def test_fit_bad_input_raises(make, X, treatment, y, params, message):
    with pytest.raises(InputError, match=message):
        make(**params).fit(X, treatment, y)
