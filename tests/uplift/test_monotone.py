"""Effects made non-decreasing across arms ordered by discount depth."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import isotonic_regression

from promoloop.uplift import DRLearner, TwoModelLearner, isotonic_across_arms
from tests.uplift.simulate import three_arm_campaign


def test_isotonic_matches_sklearn_rows():
    effects = np.random.default_rng(0).normal(size=(300, 4))
    expected = np.array([isotonic_regression(row) for row in effects])
    np.testing.assert_allclose(isotonic_across_arms(effects), expected, atol=1e-12)


def test_isotonic_pools_violating_pair():
    effects = np.array([[0.3, 0.1, 0.5], [0.1, 0.2, 0.3]])
    result = isotonic_across_arms(effects)
    np.testing.assert_allclose(result[0], [(0.3 + 0.1) / 2, (0.3 + 0.1) / 2, 0.5])
    np.testing.assert_allclose(result[1], [0.1, 0.2, 0.3])


def test_isotonic_keeps_row_mean():
    effects = np.random.default_rng(1).normal(size=(50, 3))
    result = isotonic_across_arms(effects)
    np.testing.assert_allclose(result.mean(axis=1), effects.mean(axis=1))


def test_isotonic_single_arm_unchanged():
    effects = np.array([[0.4], [-0.2]])
    np.testing.assert_array_equal(isotonic_across_arms(effects), effects)


@pytest.mark.parametrize("make", [TwoModelLearner, DRLearner], ids=["two_model", "dr"])
def test_learner_monotone_in_depth(make):
    X, treatment, y = three_arm_campaign(seed=0)
    free = make(treatments=[20, 5], random_state=0).fit(X, treatment, y)
    ordered = make(treatments=[20, 5], monotone_in_depth=True, random_state=0)
    raw = free.predict(X)
    effects = ordered.fit(X, treatment, y).predict(X)

    # With arm 20 listed first as the shallower one, most rows violate the
    # order before the projection and none after it.
    assert (raw[:, 0] > raw[:, 1]).mean() > 0.5
    assert (np.diff(effects, axis=1) >= -1e-12).all()
    np.testing.assert_allclose(effects, isotonic_across_arms(raw))
