"""Uplift at k and the average treatment effect, including undefined slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promoloop.errors import UndefinedMetricError
from promoloop.evaluation.uplift_metrics import (
    auuc,
    average_treatment_effect,
    qini_coefficient,
    uplift_at_k,
)

CAMPAIGN = "14-uplift-at-k-missing-control"


@pytest.fixture
def scored(reference_dir):
    return pd.read_csv(reference_dir / CAMPAIGN / "scored.csv")


@pytest.fixture
def all_treated(reference_dir):
    return pd.read_csv(reference_dir / CAMPAIGN / "all_treated.csv")


def _args(frame):
    return frame["converted"], frame["treatment"], frame["uplift_score"]


def test_uplift_at_k_overall_slice_without_control(scored):
    result = uplift_at_k(*_args(scored), k=0.3, strategy="overall")
    assert not result.defined
    assert result.value is None
    assert result.reason == "top-k slice has 0 control users; need >= 1"
    assert result.n_treated == 3
    assert result.n_control == 0
    assert result.treated_rate == pytest.approx(2 / 3)
    assert result.control_rate is None


def test_uplift_at_k_overall_raises_on_request(scored):
    with pytest.raises(UndefinedMetricError, match="0 control users"):
        uplift_at_k(*_args(scored), k=0.3, errors="raise")


def test_uplift_at_k_by_group_count(scored):
    result = uplift_at_k(*_args(scored), k=2, strategy="by_group")
    assert result.defined
    assert result.value == pytest.approx(1.0 - 0.5)
    assert result.n_treated == 2
    assert result.n_control == 2
    assert result.treated_rate == pytest.approx(2 / 2)
    assert result.control_rate == pytest.approx(1 / 2)


def test_uplift_at_k_by_group_share(scored):
    # 40 % of 5 customers per group is 2 customers per group.
    result = uplift_at_k(*_args(scored), k=0.4, strategy="by_group")
    assert result.value == pytest.approx(1.0 - 0.5)


def test_uplift_at_k_overall_defined_slice(scored):
    # Top 4: U01, U02, U03 treated (2 of 3 converted), U04 control (converted).
    result = uplift_at_k(*_args(scored), k=4)
    assert result.value == pytest.approx(2 / 3 - 1 / 1)
    assert (result.n_treated, result.n_control) == (3, 1)


def test_uplift_at_k_tie_at_cutoff_enters_whole():
    y = np.array([1, 0, 1, 0])
    t = np.array([1, 0, 1, 0])
    score = np.array([3.0, 2.0, 2.0, 1.0])
    result = uplift_at_k(y, t, score, k=2)
    assert result.n_treated + result.n_control == 3
    assert result.value == pytest.approx(2 / 2 - 0 / 1)


def test_average_treatment_effect_reference(scored):
    result = average_treatment_effect(scored["converted"], scored["treatment"])
    assert result.value == pytest.approx(3 / 5 - 2 / 5)
    assert (result.n_treated, result.n_control) == (5, 5)


def test_all_treated_effects_undefined(all_treated):
    y, t, score = _args(all_treated)
    results = [
        uplift_at_k(y, t, score, k=0.3),
        uplift_at_k(y, t, score, k=2, strategy="by_group"),
        average_treatment_effect(y, t),
        qini_coefficient(y, t, score),
        auuc(y, t, score),
    ]
    for result in results:
        assert not result.defined
        assert result.value is None
        assert result.reason.startswith("no control group")
        assert result.n_control == 0
        assert result.control_rate is None
    # Response rates are still reported: 5 of 10 treated customers converted.
    assert results[2].treated_rate == pytest.approx(5 / 10)
    assert results[2].n_treated == 10
    assert results[0].treated_rate == pytest.approx(2 / 3)


def test_all_treated_raises_on_request(all_treated):
    y, t, score = _args(all_treated)
    with pytest.raises(UndefinedMetricError, match="no control group"):
        average_treatment_effect(y, t, errors="raise")
    with pytest.raises(UndefinedMetricError, match="no control group"):
        uplift_at_k(y, t, score, errors="raise")


def test_all_control_effect_undefined():
    result = average_treatment_effect([1, 0, 0, 1], [0, 0, 0, 0])
    assert not result.defined
    assert result.reason.startswith("no treated group")
    assert result.control_rate == pytest.approx(2 / 4)
    assert result.treated_rate is None


def test_constant_score_uplift_at_k_is_ate(scored):
    y, t, _ = _args(scored)
    result = uplift_at_k(y, t, np.zeros(len(y)), k=0.3)
    assert result.value == pytest.approx(3 / 5 - 2 / 5)
    assert (result.n_treated, result.n_control) == (5, 5)
