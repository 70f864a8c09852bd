"""Bootstrap intervals that skip resamples where a metric is undefined."""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd
import pytest

from promoloop.errors import UndefinedMetricError
from promoloop.evaluation.uplift_metrics import (
    average_treatment_effect,
    bootstrap_interval,
    qini_coefficient,
    uplift_at_k,
)


def _campaign(n: int = 200, seed: int = 5):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    treatment = rng.integers(0, 2, n)
    y = (rng.uniform(0, 1, n) < 0.2 + 0.4 * x * treatment).astype(int)
    return y, treatment, x


def _ate(y, treatment, score):
    return average_treatment_effect(y, treatment)


def test_bootstrap_estimate_is_full_data_metric():
    y, t, score = _campaign()
    interval = bootstrap_interval(qini_coefficient, y, t, score, n_boot=50)
    assert interval.estimate == qini_coefficient(y, t, score).value
    assert interval.low < interval.estimate < interval.high
    assert interval.n_defined == 50


def test_bootstrap_same_seed_same_interval():
    y, t, score = _campaign()
    first = bootstrap_interval(_ate, y, t, score, n_boot=40, seed=7)
    second = bootstrap_interval(_ate, y, t, score, n_boot=40, seed=7)
    other = bootstrap_interval(_ate, y, t, score, n_boot=40, seed=8)
    assert first == second
    assert other != first


def test_bootstrap_stratified_keeps_group_sizes():
    y, t, score = _campaign()

    def n_treated(y, treatment, score):
        return float(np.sum(treatment))

    fixed = bootstrap_interval(n_treated, y, t, score, n_boot=30, stratify=True)
    assert fixed.low == fixed.high == float(t.sum())
    free = bootstrap_interval(n_treated, y, t, score, n_boot=30, stratify=False)
    assert free.low < free.high


def test_bootstrap_skips_undefined_resamples(caplog):
    y, t, score = _campaign(n=40)
    top = score.max()

    # Defined only in resamples that drew the top-scored customer; a given
    # customer is missing from about (1 - 1/n)^n, roughly a third, of them.
    def needs_top(y, treatment, score):
        return score.max() if score.max() == top else float("nan")

    with caplog.at_level(logging.INFO, logger="promoloop.evaluation.bootstrap"):
        interval = bootstrap_interval(needs_top, y, t, score, n_boot=100)
    assert 50 <= interval.n_defined < 100
    assert f"Skipped {100 - interval.n_defined} of 100" in caplog.text


def test_bootstrap_mostly_undefined_raises():
    y, t, score = _campaign(n=40)
    top = score.max()

    calls = []

    # Defined on the full input (the first call) and then only in resamples
    # that missed the top-scored customer, roughly a third of them.
    def lacks_top(y, treatment, score):
        calls.append(1)
        if len(calls) > 1 and score.max() == top:
            raise UndefinedMetricError("top-scored customer drawn")
        return 1.0

    with pytest.raises(UndefinedMetricError, match=r"defined on only \d+ of 100"):
        bootstrap_interval(lacks_top, y, t, score, n_boot=100)


def test_bootstrap_undefined_on_full_input_raises(reference_dir):
    frame = pd.read_csv(reference_dir / "14-uplift-at-k-missing-control" / "scored.csv")
    metric = functools.partial(uplift_at_k, k=0.3)
    with pytest.raises(UndefinedMetricError, match="0 control users"):
        bootstrap_interval(
            metric, frame["converted"], frame["treatment"], frame["uplift_score"]
        )


def test_bootstrap_uplift_at_k_overall_skips():
    y, t, score = _campaign(n=60)
    metric = functools.partial(uplift_at_k, k=3)
    full = metric(y, t, score)
    assert full.defined
    interval = bootstrap_interval(metric, y, t, score, n_boot=200)
    assert interval.estimate == pytest.approx(1 / 1 - 1 / 2)
    # Top-3 slices of a resample often hold one group only and are skipped.
    assert 100 <= interval.n_defined < 200
    assert interval.low <= interval.estimate <= interval.high
