"""Qini and uplift curves, Qini coefficient and AUUC."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promoloop.errors import UndefinedMetricError
from promoloop.evaluation.uplift_metrics import (
    auuc,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_curve,
)

# Four customers: a treated responder, a treated non-responder, a control
# responder and a control non-responder, ranked in that order.
Y = np.array([1, 0, 1, 0])
T = np.array([1, 1, 0, 0])
S = np.array([4.0, 3.0, 2.0, 1.0])


def _synthetic(n: int = 600, seed: int = 3, decimals: int = 1):
    """Randomized campaign where a feature x drives the effect; scores tie a lot."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    treatment = rng.integers(0, 2, n)
    p = 0.2 + 0.5 * x * treatment
    y = (rng.uniform(0, 1, n) < p).astype(int)
    return y, treatment, np.round(x, decimals)


def test_qini_curve_tiny_case():
    n_targeted, qini = qini_curve(Y, T, S)
    assert n_targeted.tolist() == [0, 1, 2, 3, 4]
    # No control customer among the top 1 and 2, so the control term is 0.
    assert qini[1] == pytest.approx(1 - 0)
    assert qini[2] == pytest.approx(1 - 0)
    assert qini[3] == pytest.approx(1 - 1 * 2 / 1)
    assert qini[4] == pytest.approx(1 - 1 * 2 / 2)
    assert qini[0] == 0


def test_qini_curve_ties_enter_together():
    n_targeted, qini = qini_curve(Y, T, [4.0, 2.0, 2.0, 1.0])
    assert n_targeted.tolist() == [0, 1, 3, 4]
    # The treated non-responder and the control responder enter at once.
    assert qini[2] == pytest.approx(1 - 1 * 2 / 1)


def test_uplift_curve_tiny_case():
    n_targeted, uplift = uplift_curve(Y, T, S)
    assert n_targeted.tolist() == [0, 1, 2, 3, 4]
    assert uplift.tolist() == pytest.approx(
        [0, (1 / 1 - 0) * 1, (1 / 2 - 0) * 2, (1 / 2 - 1 / 1) * 3, (1 / 2 - 1 / 2) * 4]
    )


def test_qini_coefficient_tiny_case():
    # Model curve (0,0),(1,1),(2,1),(3,-1),(4,0); the random line is y = 0.
    model_area = (0 + 1) / 2 + (1 + 1) / 2 + (1 - 1) / 2 + (-1 + 0) / 2
    # Perfect curve (0,0),(1,1),(3,1),(4,0): the treated non-responder and
    # the control non-responder tie in the middle.
    perfect_area = (0 + 1) / 2 + 2 * (1 + 1) / 2 + (1 + 0) / 2
    raw = qini_coefficient(Y, T, S, normalize=False)
    assert raw.value == pytest.approx(model_area)
    assert qini_coefficient(Y, T, S).value == pytest.approx(model_area / perfect_area)


def test_auuc_tiny_case():
    model_area = (0 + 1) / 2 + (1 + 1) / 2 + (1 - 1.5) / 2 + (-1.5 + 0) / 2
    # One control responder and one treated non-responder: the treated
    # non-responder ranks before the control responder.
    # Perfect order: treated responder, control non-responder, treated
    # non-responder, control responder.
    perfect = [0, 1 * 1, (1 / 1 - 0 / 1) * 2, (1 / 2 - 0 / 1) * 3, 0]
    perfect_area = np.trapezoid(perfect, [0, 1, 2, 3, 4])
    assert auuc(Y, T, S, normalize=False).value == pytest.approx(model_area)
    assert auuc(Y, T, S).value == pytest.approx(model_area / perfect_area)


def test_qini_coefficient_perfect_ranking_is_one():
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    t = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    # Treated responders on top, control responders at the bottom.
    score = np.where(t == 1, y, -y) * 10 + np.arange(8) * 0.0
    result = qini_coefficient(y, t, score)
    assert result.defined
    assert result.value == pytest.approx(1.0)


def test_qini_coefficient_reversed_ranking_lower():
    y, t, score = _synthetic()
    good = qini_coefficient(y, t, score).value
    reversed_ = qini_coefficient(y, t, -score).value
    assert good > 0.05
    assert reversed_ < good
    assert reversed_ < 0


def test_constant_score_equals_random_line():
    y, t, _ = _synthetic()
    constant = np.full(y.size, 0.7)
    assert qini_coefficient(y, t, constant).value == pytest.approx(0.0, abs=1e-12)
    assert qini_coefficient(y, t, constant, normalize=False).value == pytest.approx(
        0.0, abs=1e-9
    )
    assert auuc(y, t, constant).value == pytest.approx(0.0, abs=1e-12)
    n_targeted, _ = qini_curve(y, t, constant)
    assert n_targeted.tolist() == [0, y.size]


def test_metrics_ignore_row_order():
    y, t, score = _synthetic(decimals=1)
    order = np.random.default_rng(11).permutation(y.size)
    ys, ts, ss = y[order], t[order], score[order]

    for curve in (qini_curve, uplift_curve):
        x_before, v_before = curve(y, t, score)
        x_after, v_after = curve(ys, ts, ss)
        assert x_after.tolist() == x_before.tolist()
        assert v_after == pytest.approx(v_before)
    for metric in (qini_coefficient, auuc):
        assert metric(ys, ts, ss).value == pytest.approx(metric(y, t, score).value)
    for strategy in ("overall", "by_group"):
        before = uplift_at_k(y, t, score, k=0.3, strategy=strategy)
        after = uplift_at_k(ys, ts, ss, k=0.3, strategy=strategy)
        assert after == before


def test_pandas_series_match_arrays():
    y, t, score = _synthetic()
    frame = pd.DataFrame({"y": y, "t": t, "s": score}, index=np.arange(y.size)[::-1])
    from_series = qini_coefficient(frame["y"], frame["t"], frame["s"])
    assert from_series == qini_coefficient(y, t, score)


def test_no_responders_normalized_undefined():
    y = np.zeros(6)
    t = np.array([1, 1, 1, 0, 0, 0])
    score = np.arange(6.0)
    for metric in (qini_coefficient, auuc):
        result = metric(y, t, score)
        assert not result.defined
        assert result.value is None
        assert "perfect ranking is no better than a random one" in result.reason
    # Without normalization the area is a plain 0 gain.
    assert qini_coefficient(y, t, score, normalize=False).value == 0.0


def test_all_control_curves_undefined():
    y = np.array([1, 0, 1])
    t = np.zeros(3)
    score = np.array([0.3, 0.2, 0.1])
    for curve in (qini_curve, uplift_curve):
        with pytest.raises(UndefinedMetricError, match="no treated group"):
            curve(y, t, score)
    for metric in (qini_coefficient, auuc):
        result = metric(y, t, score)
        assert not result.defined
        assert result.reason.startswith("no treated group")
        assert result.n_control == 3
        assert result.control_rate == pytest.approx(2 / 3)
        with pytest.raises(UndefinedMetricError, match="no treated group"):
            metric(y, t, score, errors="raise")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_matches_scikit_uplift():
    metrics = pytest.importorskip("sklift.metrics")
    for seed in (1, 2, 3):
        y, t, score = _synthetic(n=300, seed=seed, decimals=2)
        assert qini_coefficient(y, t, score).value == pytest.approx(
            metrics.qini_auc_score(y, score, t)
        )
        assert auuc(y, t, score).value == pytest.approx(
            metrics.uplift_auc_score(y, score, t)
        )
        ours_x, ours_q = qini_curve(y, t, score)
        their_x, their_q = metrics.qini_curve(y, score, t)
        assert ours_x.tolist() == their_x.tolist()
        assert ours_q == pytest.approx(their_q)
        ours_x, ours_u = uplift_curve(y, t, score)
        their_x, their_u = metrics.uplift_curve(y, score, t)
        assert ours_x.tolist() == their_x.tolist()
        assert ours_u == pytest.approx(their_u)
