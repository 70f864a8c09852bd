"""Parameter and input checks specific to one learner or to the feature encoder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from promoloop.errors import InputError
from promoloop.uplift import (
    DRLearner,
    FeatureEncoder,
    OutcomeTransformLearner,
    TwoModelLearner,
    XLearner,
)
from tests.uplift.simulate import linear_effect_campaign, step_effect_campaign

X, TREATMENT, Y, _ = step_effect_campaign(seed=3, n=400)
X_CONT, T_CONT, Y_CONT, _ = linear_effect_campaign(seed=3, n=400)
UNBALANCED = np.where(np.arange(400) < 300, 1, 0)

LEARNER_CASES = [
    (
        "classifier on amounts",
        TwoModelLearner(LogisticRegression()),
        (X_CONT, T_CONT, Y_CONT),
        r"is a classifier but 'y' is continuous",
    ),
    (
        "one class in a group",
        TwoModelLearner(),
        (X, TREATMENT, np.where(TREATMENT == 1, Y, 0)),
        r"single class \(0\) among the rows of control \(0\)",
    ),
    (
        "propensity above 1",
        XLearner(propensity=1.5),
        (X, TREATMENT, Y),
        r"'propensity' for arm 1 is 1.5",
    ),
    (
        "propensity without arm",
        DRLearner(propensity={2: 0.5}),
        (X, TREATMENT, Y),
        r"no entry for arm 1",
    ),
    ("one fold", DRLearner(n_folds=1), (X, TREATMENT, Y), r"'n_folds' is 1"),
    ("text folds", DRLearner(n_folds="2"), (X, TREATMENT, Y), r"'n_folds' is '2'"),
    (
        "fold larger than group",
        DRLearner(n_folds=5),
        (X[:60], TREATMENT[:60], np.r_[1, 1, np.zeros(58)]),
        r"cross-fitting arm 1.*at least 5 rows",
    ),
    (
        "unknown method",
        OutcomeTransformLearner(method="z"),
        (X, TREATMENT, Y),
        r"'method' is 'z'",
    ),
    (
        "class transformation of amounts",
        OutcomeTransformLearner(method="class_transformation"),
        (X_CONT, T_CONT, Y_CONT),
        r"needs a binary outcome",
    ),
    (
        "class transformation unbalanced",
        OutcomeTransformLearner(method="class_transformation"),
        (X, UNBALANCED, Y),
        r"observed treated share 0.750",
    ),
    (
        "class transformation known propensity",
        OutcomeTransformLearner(method="class_transformation", propensity=0.7),
        (X, TREATMENT, Y),
        r"has propensity 0.700",
    ),
    (
        "class transformation regressor",
        OutcomeTransformLearner(Ridge(), method="class_transformation"),
        (X, TREATMENT, Y),
        r"Ridge is not a classifier",
    ),
    (
        "class transformation one z class",
        OutcomeTransformLearner(method="class_transformation"),
        (X, TREATMENT, TREATMENT),
        r"transformed class z has a single value",
    ),
]


@pytest.mark.parametrize(
    ("learner", "data", "message"),
    [case[1:] for case in LEARNER_CASES],
    ids=[case[0] for case in LEARNER_CASES],
)
def test_learner_bad_input_raises(learner, data, message):
    with pytest.raises(InputError, match=message):
        learner.fit(*data)


def test_x_learner_estimated_propensity_clipped():
    learner = XLearner(random_state=0).fit(X, TREATMENT, Y)
    model = learner.propensity_models_[1]
    share = model.predict_proba(X)[:, 1].mean()
    assert share == pytest.approx(TREATMENT.mean(), abs=0.01)


def _frame():
    return pd.DataFrame(
        {"spend": [1.0, 2.0, 3.0], "tier": ["gold", "silver", "gold"], "vip": [1, 0, 1]}
    )


def test_encoder_one_hot_columns():
    matrix = FeatureEncoder().fit_transform(_frame())
    np.testing.assert_array_equal(
        matrix, [[1.0, 1, 1, 0], [2.0, 0, 0, 1], [3.0, 1, 1, 0]]
    )


ENCODER_CASES = [
    ("missing category", _frame().assign(tier=["gold", None, "gold"]), None, "row 1"),
    ("empty table", _frame().iloc[:0], None, r"shape \(0, 3\)"),
    ("missing column", _frame(), _frame().drop(columns="vip"), r"lacks.*'vip'"),
    ("array after table", _frame(), np.ones((3, 4)), r"fitted on one"),
    ("text in numeric", _frame(), _frame().assign(spend=["a", "b", "c"]), "numeric"),
    ("infinite value", _frame(), _frame().assign(spend=np.inf), r"column 'spend'"),
]


@pytest.mark.parametrize(
    ("fit_on", "transform", "message"),
    [case[1:] for case in ENCODER_CASES],
    ids=[case[0] for case in ENCODER_CASES],
)
def test_encoder_bad_input_raises(fit_on, transform, message):
    with pytest.raises(InputError, match=message):
        FeatureEncoder().fit(fit_on).transform(
            fit_on if transform is None else transform
        )
