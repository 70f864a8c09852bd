"""Hillstrom as a three-action log: IPS, SNIPS and the matched estimate agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from promoloop.benchmarks.hillstrom_data import read_hillstrom, stratified_sample
from promoloop.benchmarks.hillstrom_ope import (
    OUTCOME_COSTS,
    evaluate_split,
    held_out_log,
    matched_estimate,
)
from promoloop.benchmarks.policy import ARMS
from promoloop.ope import (
    BanditLog,
    InversePropensityScoring,
    SelfNormalizedInversePropensityScoring,
    deterministic_action_dist,
)

# Six customers; arms are ordered none, mens, womens.
LOGGED = ["none", "mens", "womens", "mens", "none", "womens"]
SPEND = [1.0, 0.0, 1.0, 1.0, 0.0, 2.0]
POLICY_ARMS = ["mens", "mens", "womens", "none", "none", "womens"]


def toy_log() -> BanditLog:
    frame = pd.DataFrame({"arm": LOGGED, "spend": SPEND, "pscore": 1 / 3})
    return BanditLog.from_frame(
        frame, action="arm", reward="spend", pscore="pscore", actions=ARMS
    )


def test_ips_matched_share_identity():
    # With a deterministic policy pi and pscore p = 1/3 in every round,
    #   IPS = (1/n) sum_i 1[a_i = pi(x_i)] y_i / p
    #       = (m / n) / p * (1/m) sum_{matched} y_i
    #       = matched_mean * share_matched / p,
    # where m of the n customers are matched. Here customers 2, 3, 5 and 6
    # are matched, with spend 0, 1, 0 and 2: m = 4, matched mean 3/4.
    log = toy_log()
    action_dist = deterministic_action_dist(log, POLICY_ARMS)
    probs = action_dist[:, :, 0]
    matched = matched_estimate(log, probs, n_boot=100, seed=0)
    assert matched["n_matched"] == 4
    assert matched["share_matched"] == pytest.approx(4 / 6)
    assert matched["estimate"] == pytest.approx(3 / 4)

    ips = InversePropensityScoring().estimate_policy_value(log, action_dist)
    assert ips == pytest.approx(3 * (0 + 1 + 0 + 2) / 6)
    assert ips == pytest.approx(matched["estimate"] * (4 / 6) / (1 / 3))


def test_snips_is_matched_mean():
    # Every matched weight is 1/p and every other weight 0, so SNIPS is
    # sum(y / p) / sum(1 / p) over the matched customers: their mean.
    log = toy_log()
    action_dist = deterministic_action_dist(log, POLICY_ARMS)
    snips = SelfNormalizedInversePropensityScoring().estimate_policy_value(
        log, action_dist
    )
    assert snips == pytest.approx(3 / 4)


def test_matched_interval_contains_estimate():
    log = toy_log()
    probs = deterministic_action_dist(log, POLICY_ARMS)[:, :, 0]
    matched = matched_estimate(log, probs, n_boot=200, seed=1)
    assert matched["low"] <= matched["estimate"] <= matched["high"]
    assert matched["low"] >= 0.0
    assert matched["high"] <= 2.0


@pytest.fixture(scope="module")
def hillstrom_sample(data_dir):
    if not (data_dir / "hillstrom" / "hillstrom.csv").is_file():
        pytest.skip(f"Hillstrom file not found under {data_dir}")
    return stratified_sample(read_hillstrom(data_dir), 6000)


def test_held_out_log_has_design_pscore(hillstrom_sample):
    test = np.arange(0, 6000, 3)
    log = held_out_log(hillstrom_sample, test, "visit")
    assert log.action_names == tuple(ARMS)
    assert np.all(log.pscore == pytest.approx(1 / 3))
    assert log.n_rounds == test.size
    assert log.reward.tolist() == hillstrom_sample["visit"].iloc[test].tolist()


def test_split_identities_hillstrom_sample(hillstrom_sample):
    rows = evaluate_split(hillstrom_sample, seed=0, n_boot=200)
    assert [row["outcome"] for row in rows] == list(OUTCOME_COSTS)
    for row in rows:
        matched = row["matched"]
        assert row["n_test"] == 1800
        assert abs(row["ips_identity_gap"]) < 1e-12
        assert row["ope"]["snips"]["estimate"] == pytest.approx(matched["estimate"])
        # promoloop's IPS difference to mailing nobody is the existing
        # benchmark's incremental IPS value.
        assert row["incremental_ips_promoloop"] == pytest.approx(
            row["incremental_ips_benchmark"]
        )
        assert 0.0 < row["share_mailed"] <= 1.0
        for values in row["ope"].values():
            assert values["low"] <= values["estimate"] <= values["high"]
