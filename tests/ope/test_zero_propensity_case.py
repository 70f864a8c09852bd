"""Offer log with a zero pscore and a segment the logging rule never varied.

Eight rounds. Round 8 logged FREESHIP with pscore 0, and VIP customers
always got OFF20 (pscore 1), while the target policy offers FREESHIP to the
VIP customer of round 6. The target policy plays ``target_offer``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from promoloop.errors import InputError
from promoloop.ope import (
    BanditLog,
    InversePropensityScoring,
    SelfNormalizedInversePropensityScoring,
    check_support,
    deterministic_action_dist,
    evaluate_policy,
)
from promoloop.warnings import DataQualityWarning, SupportWarning

COLUMNS = {
    "action": "logged_offer",
    "reward": "redeemed",
    "pscore": "pscore",
    "round_id": "round",
    "strata": "user_segment",
    "source": "logged_offers.csv",
}


@pytest.fixture
def offers(reference_dir) -> pd.DataFrame:
    path = reference_dir / "15-zero-propensity-ips" / "logged_offers.csv"
    if not path.is_file():
        pytest.skip(f"reference input {path} not found")
    return pd.read_csv(path)


@pytest.fixture
def dropped(offers):
    """The log without round 8, and the target policy on the kept rounds."""
    with pytest.warns(DataQualityWarning, match=r"dropped 1 of 8 rounds.*rounds 8"):
        log = BanditLog.from_frame(offers, on_invalid="drop", **COLUMNS)
    target = offers["target_offer"].iloc[log.source_rows]
    return log, deterministic_action_dist(log, target)


def test_zero_pscore_rejected_by_default(offers):
    with pytest.raises(InputError) as caught:
        BanditLog.from_frame(offers, **COLUMNS)
    message = str(caught.value)
    assert message.startswith(
        "round 8: logged action FREESHIP has pscore 0; a logged action needs pscore > 0"
    )
    assert "logged_offers.csv" in message
    assert "column 'pscore'" in message
    assert "value 0.0" in message
    assert "Fix: log the probability the logging policy gave" in message
    assert "on_invalid='drop'" in message


def test_drop_counts_round_eight(dropped):
    log, _ = dropped
    assert log.n_rounds == 7
    assert log.dropped == {"pscore_not_positive": 1}
    assert log.round_id.tolist() == [1, 2, 3, 4, 5, 6, 7]


def test_ips_and_snips_values(dropped):
    log, action_dist = dropped
    # Weights per round: 0, 2, 1.25, 5, 1, 0, 1.25; rewards 0, 1, 1, 0, 1, 0, 0.
    ips = InversePropensityScoring().estimate_policy_value(log, action_dist)
    snips = SelfNormalizedInversePropensityScoring().estimate_policy_value(
        log, action_dist
    )
    assert ips == pytest.approx((2 * 1 + 1.25 * 1 + 1 * 1) / 7)  # 0.6071
    assert snips == pytest.approx(4.25 / 10.5)  # 0.4048
    assert round(ips, 4) == 0.6071
    assert round(snips, 4) == 0.4048


def test_support_flags_vip_round(dropped):
    log, action_dist = dropped
    with pytest.warns(SupportWarning, match=r"DR estimate with a reward model"):
        report = check_support(log, action_dist, strata_name="segment")
    assert report.max_weight == 5.0
    # (0 + 2 + 1.25 + 5 + 1 + 0 + 1.25)^2 / (4 + 1.5625 + 25 + 1 + 1.5625)
    assert report.ess == pytest.approx(10.5**2 / 33.125)
    assert round(report.ess, 2) == 3.33
    assert report.n_unsupported == 1
    assert report.unsupported_round_ids.tolist() == [6]
    assert report.message.startswith(
        "target policy puts mass on unsupported actions for 1 of 7 rounds "
        "(segment vip: FREESHIP)"
    )


def test_clipping_only_when_asked(dropped):
    log, action_dist = dropped
    unclipped = SelfNormalizedInversePropensityScoring().estimate_policy_value(
        log, action_dist
    )
    clipped = SelfNormalizedInversePropensityScoring(
        max_weight=3.0
    ).estimate_policy_value(log, action_dist)
    assert unclipped == pytest.approx(4.25 / 10.5)
    # Round 4's weight 5 becomes 3: 4.25 / (10.5 - 2)
    assert clipped == pytest.approx(4.25 / 8.5)
    # IPS at max_weight 1.5: weights 0, 1.5, 1.25, 1.5, 1, 0, 1.25;
    # (1.5 + 1.25 + 1) / 7
    ips = InversePropensityScoring(max_weight=1.5).estimate_policy_value(
        log, action_dist
    )
    assert ips == pytest.approx(3.75 / 7)


def test_evaluation_reports_case(dropped):
    log, action_dist = dropped
    with pytest.warns(SupportWarning, match=r"1 of 7 rounds"):
        result = evaluate_policy(log, action_dist, random_state=0, n_bootstrap=500)
    table = result.to_frame().set_index("name")
    assert list(table.index) == ["ips", "snips"]
    assert table.loc["ips", "value"] == pytest.approx(4.25 / 7)
    assert table.loc["snips", "value"] == pytest.approx(4.25 / 10.5)
    assert table.loc["ips", "max_weight"] == 5.0
    assert table.loc["ips", "ess"] == pytest.approx(10.5**2 / 33.125)
    assert (table["clipped"] == 0).all()
    assert (table["n_unsupported"] == 1).all()
    assert "user_segment vip: FREESHIP" in table.loc["ips", "note"]
    numbers = table.select_dtypes("number").to_numpy()
    assert np.isfinite(numbers).all()


def test_evaluation_records_clipping(dropped):
    log, action_dist = dropped
    estimators = [
        InversePropensityScoring(),
        InversePropensityScoring(max_weight=3.0, name="ips-clipped"),
    ]
    with pytest.warns(SupportWarning):
        result = evaluate_policy(log, action_dist, estimators=estimators)
    assert result["ips"].clipped == 0
    assert "max_weight" not in result["ips"].note
    assert result["ips-clipped"].clipped == 1
    assert result["ips-clipped"].max_weight == 3.0
    assert "clipped in 1 of 7 rounds" in result["ips-clipped"].note


def test_dr_uses_model_for_unsupported(dropped):
    log, action_dist = dropped
    # A reward model of 0.5 for every offer.
    reward_hat = np.full(action_dist.shape, 0.5)
    with pytest.warns(SupportWarning):
        result = evaluate_policy(log, action_dist, reward_hat, random_state=0)
    assert result["dm"].value == pytest.approx(0.5)
    # DR: 0.5 + mean of w * (r - 0.5) with w = 0, 2, 1.25, 5, 1, 0, 1.25 and
    # r - 0.5 = -0.5, 0.5, 0.5, -0.5, 0.5, -0.5, -0.5:
    # (1 + 0.625 - 2.5 + 0.5 - 0.625) / 7 = -1 / 7
    assert result["dr"].value == pytest.approx(0.5 - 1 / 7)
    assert "reward model alone values" in result["dr"].note
    for row in result.rows:
        assert math.isfinite(row.value), row.name
        assert math.isfinite(row.ci_low), row.name
        assert math.isfinite(row.ci_high), row.name


def test_no_inf_or_nan_from_raw_log(offers):
    # Even built by hand, a log with the zero pscore never reaches an estimator.
    with pytest.raises(InputError, match=r"round 8: .* pscore 0"):
        BanditLog(
            action=np.array([0] * 8),
            reward=offers["redeemed"].to_numpy(dtype=float),
            pscore=offers["pscore"].to_numpy(),
            round_id=offers["round"].to_numpy(),
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SupportWarning)
        warnings.simplefilter("ignore", DataQualityWarning)
        log = BanditLog.from_frame(offers, on_invalid="drop", **COLUMNS)
        target = offers["target_offer"].iloc[log.source_rows]
        result = evaluate_policy(log, deterministic_action_dist(log, target))
    assert np.isfinite(result.to_frame().select_dtypes("number").to_numpy()).all()
