"""Observational effects of targeted campaigns: known effects, hand and edge cases."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from promoloop.data.dataset import ShopData
from promoloop.data.report import CleaningReport
from promoloop.errors import InputError, UndefinedMetricError
from promoloop.evaluation.observational import (
    DESIGN,
    EFFECT_COLUMNS,
    estimate_campaign_effects,
    past_campaign_effects,
)
from promoloop.evaluation.observational_balance import (
    att_weights,
    effective_sample_size,
    standardized_mean_differences,
)
from promoloop.evaluation.observational_stats import (
    cross_fit_propensity,
    estimate_att,
)
from promoloop.warnings import OverlapWarning

START = pd.Timestamp("2024-04-01", tz="UTC")
PRE_WEEKS = 12
WINDOW_DAYS = 28
AS_OF = START + pd.Timedelta(days=40)
EFFECT_SPEND = 20.0  # every treated customer gets one extra order of this amount
EFFECT_ORDERS = 1.0


def _orders(rng, ids, level, counts, begin, end, tag) -> pd.DataFrame:
    """One purchase line per order, at uniform times in [begin, end)."""
    who = np.repeat(np.arange(len(ids)), counts)
    offsets = rng.integers(0, (end - begin).value, len(who))
    amount = level[who] * rng.uniform(0.8, 1.2, len(who))
    return pd.DataFrame(
        {
            "customer_id": ids[who],
            "amount": amount,
            "discount": np.where(rng.random(len(who)) < 0.3, 0.1 * amount, 0.0),
            "timestamp": begin + pd.to_timedelta(offsets, unit="ns"),
            "order_id": [f"{tag}{i}" for i in range(len(who))],
        }
    )


def simulate(seed: int, n: int = 1500, *, targeting=None):
    """Build a confounded campaign whose true ATT is known.

    Each customer has a basket value (higher for the "55+" band) and an
    order rate. Targeting favours customers with a high pre-period spend
    and a recorded 55+ band, who also spend more in the window without the
    campaign, so the naive difference overstates the effect. The band is
    missing for a fifth of the customers, and targeting uses only the
    recorded band, so the covariates capture every reason for targeting.
    The campaign adds one order of EFFECT_SPEND to every treated customer,
    so the ATT is exactly EFFECT_SPEND on spend and 1 on orders.
    """
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:04d}" for i in range(n)])
    old = rng.random(n) < 0.4
    recorded = rng.random(n) >= 0.2
    level = np.exp(rng.normal(3.0, 0.4, n)) + 10.0 * old
    rate = rng.gamma(2.0, 0.4, n)
    pre_start = START - pd.Timedelta(weeks=PRE_WEEKS)
    k_pre = rng.poisson(PRE_WEEKS * rate)
    pre = _orders(rng, ids, level, k_pre, pre_start, START, "pre")
    who = np.repeat(np.arange(n), k_pre)
    pre_spend = np.bincount(who, pre["amount"].to_numpy(), minlength=n)

    if targeting is None:
        logit = -2.0 + (np.log1p(pre_spend) - 5.0) + 0.8 * (old & recorded)
        treated = rng.random(n) < 1 / (1 + np.exp(-logit))
    else:
        treated = targeting(old & recorded, rng)

    end = START + pd.Timedelta(days=WINDOW_DAYS)
    window = _orders(
        rng, ids, level, rng.poisson(WINDOW_DAYS / 7 * rate), START, end, "win"
    )
    extra = pd.DataFrame(
        {
            "customer_id": ids[treated],
            "amount": EFFECT_SPEND,
            "discount": 0.0,
            "timestamp": START + pd.Timedelta(days=1),
            "order_id": [f"extra-{i}" for i in ids[treated]],
        }
    )
    events = pd.concat([pre, window, extra], ignore_index=True)
    events["item_id"] = [f"i{k}" for k in rng.integers(0, 50, len(events))]
    events["event_id"] = [f"e{k}" for k in range(len(events))]
    events["event_type"] = "purchase"
    events["quantity"] = 1.0
    exposures = pd.DataFrame(
        {
            "decision_id": "spring-" + ids[treated],
            "customer_id": ids[treated],
            "campaign_id": "spring",
            "promotion_id": "TypeA",
            "probability": np.nan,
            "holdout": False,
            "timestamp": START,
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "age": np.where(old, "55+", "under 55"),
            "locale": "en",
            "consent": True,
        }
    )
    customers.loc[~recorded, "age"] = None
    return events, exposures, customers, describe("spring", START, WINDOW_DAYS)


def describe(campaign_id: str, start: pd.Timestamp, days: int) -> pd.DataFrame:
    """Campaign descriptions as The Complete Journey gives them (naive dates)."""
    return pd.DataFrame(
        {
            "campaign_id": [campaign_id],
            "campaign_type": ["TypeA"],
            "start_date": [start.tz_localize(None)],
            "end_date": [(start + pd.Timedelta(days=days - 1)).tz_localize(None)],
        }
    )


def effects_by_outcome(report) -> pd.DataFrame:
    return report.effects.set_index("outcome")


# Known effect under confounding


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_intervals_cover_true_att(seed):
    events, exposures, customers, descriptions = simulate(seed)
    report = estimate_campaign_effects(
        events, exposures, customers, descriptions, as_of=AS_OF, seed=seed
    )
    effects = effects_by_outcome(report)
    for outcome, truth in (
        ("spend_per_customer", EFFECT_SPEND),
        ("orders_per_customer", EFFECT_ORDERS),
    ):
        row = effects.loc[outcome]
        assert row["estimated"], row["reason"]
        assert row["ipw_att_ci_low"] <= truth <= row["ipw_att_ci_high"], outcome
        assert row["dr_att_ci_low"] <= truth <= row["dr_att_ci_high"], outcome
        # Targeted customers would have spent more anyway: the naive
        # interval lies wholly above the truth.
        assert row["naive_ci_low"] > truth, outcome
        assert row["overlap"] == "ok", row["overlap_reasons"]


def test_weighting_balances_confounders():
    events, exposures, customers, descriptions = simulate(0)
    report = estimate_campaign_effects(
        events, exposures, customers, descriptions, as_of=AS_OF
    )
    balance = report.balance.set_index("covariate")
    assert abs(balance.loc["log_pre_spend", "smd_before"]) > 0.5
    assert abs(balance.loc["log_pre_spend", "smd_after"]) < 0.1
    assert abs(balance.loc["age=55+", "smd_after"]) < 0.1
    assert (balance["design"] == DESIGN).all()


def test_rows_are_labelled_observational():
    events, exposures, customers, descriptions = simulate(0)
    report = estimate_campaign_effects(
        events, exposures, customers, descriptions, as_of=AS_OF
    )
    assert list(report.effects.columns) == EFFECT_COLUMNS
    assert len(report.effects) == 2
    assert (report.effects["design"] == "observational").all()
    summary = report.summary()
    assert summary["design"] == "observational"
    assert "no unmeasured confounding" in summary["assumption"]
    assert summary["campaigns_estimated"] == ["spring"]


def test_every_customer_counted():
    events, exposures, customers, descriptions = simulate(0)
    # A targeted customer without any purchase is counted, not compared.
    absent = exposures.head(1).assign(customer_id="never-bought")
    exposures = pd.concat([exposures, absent], ignore_index=True)
    report = estimate_campaign_effects(
        events, exposures, customers, descriptions, as_of=AS_OF
    )
    row = report.effects.iloc[0]
    buyers = events["customer_id"].nunique()
    assert row["n_exposed"] == len(exposures)
    assert row["n_treated"] + row["n_exposed_inactive"] == row["n_exposed"]
    assert row["n_exposed_inactive"] >= 1
    # Every buyer is in one count, and so is the targeted customer who never
    # bought.
    total = row["n_treated"] + row["n_control"] + row["n_unexposed_inactive"]
    assert total + row["n_exposed_inactive"] == buyers + 1


def test_same_seed_same_estimates():
    events, exposures, customers, descriptions = simulate(0)
    first = estimate_campaign_effects(
        events, exposures, customers, descriptions, as_of=AS_OF, seed=4
    )
    second = estimate_campaign_effects(
        events, exposures, customers, descriptions, as_of=AS_OF, seed=4
    )
    pd.testing.assert_frame_equal(first.effects, second.effects)


# Hand-checkable building blocks


def test_att_weights_by_hand():
    propensity = [0.5, 0.5, 0.2, 0.8]
    treated = [True, False, False, False]
    # Control odds e/(1-e): 1, 0.25, 4, summing to 5.25.
    expected = [1.0, 1 / 5.25, 0.25 / 5.25, 4 / 5.25]
    np.testing.assert_allclose(att_weights(propensity, treated), expected)


def test_att_weights_treated_share_one():
    weights = att_weights([0.9, 0.3, 0.1], [True, True, False])
    np.testing.assert_allclose(weights, [0.5, 0.5, 1.0])


@pytest.mark.parametrize(
    ("propensity", "treated", "message"),
    [
        ([0.5, 1.0], [True, False], "propensity 1"),
        ([0.5, 1.2], [True, False], r"outside \[0, 1\]"),
        ([0.5, 0.5], [True, True], "control weights sum to 0"),
        ([0.5], [True, False], "shape"),
    ],
)
def test_att_weights_rejects_invalid(propensity, treated, message):
    with pytest.raises(InputError, match=message):
        att_weights(propensity, treated)


def test_effective_sample_size_by_hand():
    assert effective_sample_size([1, 1, 2]) == pytest.approx(16 / 6)
    assert effective_sample_size([0.25] * 4) == pytest.approx(4.0)


def test_effective_sample_size_rejects_zero_weights():
    with pytest.raises(InputError, match="effective sample size"):
        effective_sample_size([0.0, 0.0])


def test_smd_by_hand():
    # Treated x = 1, 3 (mean 2, variance 2); controls x = 0, 1, 2 (mean 1,
    # variance 1): SMD = (2 - 1) / sqrt((2 + 1) / 2).
    x = pd.DataFrame({"x": [1.0, 3.0, 0.0, 1.0, 2.0]})
    treated = [True, True, False, False, False]
    smd = standardized_mean_differences(x, treated)
    assert smd["x"] == pytest.approx(1 / math.sqrt(1.5))
    # All control weight on x = 2 moves the control mean to the treated mean,
    # on the same (unweighted) scale.
    weighted = standardized_mean_differences(x, treated, [0.5, 0.5, 0.0, 0.0, 1.0])
    assert weighted["x"] == pytest.approx(0.0)


def test_smd_of_constant_and_separating_covariates():
    x = pd.DataFrame({"constant": [1.0] * 4, "separating": [1.0, 1.0, 0.0, 0.0]})
    smd = standardized_mean_differences(x, [True, True, False, False])
    assert smd["constant"] == 0.0
    assert smd["separating"] == np.inf


def test_cross_fitted_score_ignores_own_label():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    treated = rng.random(200) < 0.4
    folds = np.arange(200) % 4
    scores = cross_fit_propensity(x, treated, folds)
    flipped = treated.copy()
    flipped[folds == 0] = ~flipped[folds == 0]
    rescored = cross_fit_propensity(x, flipped, folds)
    np.testing.assert_allclose(scores[folds == 0], rescored[folds == 0])
    assert not np.allclose(scores[folds != 0], rescored[folds != 0])


# Degenerate cases


def att_inputs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    covariates = pd.DataFrame({"x": rng.normal(size=n), "constant": 3.0})
    treated = rng.random(n) < 1 / (1 + np.exp(-covariates["x"].to_numpy()))
    outcomes = pd.DataFrame({"y": covariates["x"] + 2.0 * treated})
    return covariates, treated, outcomes


def test_constant_covariate_has_zero_smd():
    covariates, treated, outcomes = att_inputs()
    result = estimate_att(covariates, treated, outcomes, n_boot=50)
    balance = result.balance.set_index("covariate")
    assert balance.loc["constant", "smd_before"] == 0.0
    assert balance.loc["constant", "smd_after"] == 0.0
    assert math.isfinite(result.dr["y"].value)


def test_separated_groups_have_no_overlap():
    n = 200
    treated = np.arange(n) < 60
    covariates = pd.DataFrame({"flag": treated.astype(float)})
    outcomes = pd.DataFrame({"y": np.ones(n)})
    with pytest.raises(UndefinedMetricError, match="no overlap"):
        estimate_att(covariates, treated, outcomes, C=100.0, n_boot=20)
    result = estimate_att(
        covariates, treated, outcomes, C=100.0, n_boot=20, trim_above=None
    )
    assert result.diagnostics["poor_overlap"]
    assert result.diagnostics["treated_above_high"] == 60
    assert result.diagnostics["max_abs_smd_after"] == np.inf


def no_treated(covariates, treated, outcomes):
    return covariates, np.zeros_like(treated), outcomes, {}


def all_treated(covariates, treated, outcomes):
    return covariates, np.ones_like(treated), outcomes, {}


def missing_covariate(covariates, treated, outcomes):
    return (
        covariates.assign(x=covariates["x"].where(covariates.index != 5)),
        treated,
        outcomes,
        {},
    )


def short_outcomes(covariates, treated, outcomes):
    return covariates, treated, outcomes.iloc[:-1], {}


def setting(**settings):
    def change(covariates, treated, outcomes):
        return covariates, treated, outcomes, settings

    return change


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (no_treated, UndefinedMetricError, "got 0 treated"),
        (all_treated, UndefinedMetricError, "0 controls"),
        (missing_covariate, InputError, "non-finite value in the covariates"),
        (short_outcomes, InputError, "differ in length"),
        (setting(n_folds=1), InputError, "n_folds"),
        (setting(trim_above=0.3), InputError, "trim_above"),
        (setting(alpha=1.5), InputError, "alpha"),
        (setting(n_boot=0), InputError, "n_boot"),
    ],
)
def test_estimate_att_rejects_invalid(change, error, message):
    covariates, treated, outcomes, settings = change(*att_inputs())
    with pytest.raises(error, match=message):
        estimate_att(covariates, treated, outcomes, **{"n_boot": 20, **settings})


def test_campaign_without_controls_is_reported():
    events, exposures, customers, descriptions = simulate(0, n=300)
    everyone = events["customer_id"].unique()
    exposures = pd.DataFrame(
        {
            "decision_id": everyone,
            "customer_id": everyone,
            "campaign_id": "spring",
            "promotion_id": "TypeA",
            "probability": np.nan,
            "holdout": False,
            "timestamp": START,
        }
    )
    report = estimate_campaign_effects(
        events, exposures, customers, descriptions, as_of=AS_OF
    )
    row = report.effects.iloc[0]
    assert not row["estimated"]
    assert "0 controls" in row["reason"]
    assert row["n_control"] == 0
    assert np.isnan(row["dr_att"])
    assert report.campaigns.iloc[0]["status"] == "not estimated"


def test_campaign_without_active_treated_is_reported():
    events, exposures, customers, descriptions = simulate(0, n=300)
    exposures = exposures.assign(customer_id="never-bought").head(1)
    report = estimate_campaign_effects(
        events, exposures, customers, descriptions, as_of=AS_OF
    )
    row = report.effects.iloc[0]
    assert not row["estimated"]
    assert "got 0 treated" in row["reason"]
    assert row["n_exposed_inactive"] == 1


def test_campaign_before_history_has_no_pre_period():
    events, exposures, customers, _ = simulate(0, n=300)
    early = START - pd.Timedelta(weeks=20)
    report = estimate_campaign_effects(
        events,
        exposures.assign(timestamp=early),
        customers,
        describe("spring", early, 7),
        as_of=AS_OF,
    )
    row = report.effects.iloc[0]
    assert not row["estimated"]
    assert row["reason"].startswith("no pre-period")
    assert row["pre_period_days"] == 0.0


def test_short_pre_period_is_reported():
    events, exposures, customers, _ = simulate(0, n=300)
    first = events["timestamp"].min()
    start = (first + pd.Timedelta(days=10)).normalize()
    report = estimate_campaign_effects(
        events,
        exposures.assign(timestamp=start),
        customers,
        describe("spring", start, 7),
        as_of=AS_OF,
    )
    assert "shorter than min_pre_days=28" in report.effects.iloc[0]["reason"]


def test_running_campaign_is_not_estimated():
    events, exposures, customers, descriptions = simulate(0, n=300)
    # The campaign's last day is START + 27 days, so as of that day it has
    # ended, and as of the day before it has not.
    last_day = (START + pd.Timedelta(days=WINDOW_DAYS - 1)).tz_localize(None)
    ended = last_day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    for as_of, status in ((ended, "estimated"), (ended - pd.Timedelta(days=1), None)):
        report = estimate_campaign_effects(
            events, exposures, customers, descriptions, as_of=as_of.tz_localize("UTC")
        )
        if status is None:
            assert report.campaigns.iloc[0]["status"] == "not ended"
            assert report.effects.empty
        else:
            assert report.campaigns.iloc[0]["status"] == status


def test_campaign_without_description_uses_window_days():
    events, exposures, customers, _ = simulate(0, n=300)
    report = estimate_campaign_effects(
        events, exposures, customers, None, as_of=AS_OF, window_days=14
    )
    row = report.effects.iloc[0]
    assert row["estimated"]
    assert row["window_days"] == 14
    assert row["end"] == START + pd.Timedelta(days=14)


def test_poor_overlap_warns_and_labels_rows():
    def band_decides(old, rng):
        # Nearly every 55+ customer is targeted and almost nobody else.
        return np.where(old, rng.random(len(old)) < 0.97, rng.random(len(old)) < 0.02)

    events, exposures, customers, descriptions = simulate(0, targeting=band_decides)
    with pytest.warns(OverlapWarning, match="spring"):
        report = estimate_campaign_effects(
            events, exposures, customers, descriptions, as_of=AS_OF
        )
    effects = report.effects
    assert (effects["overlap"] == "poor overlap").all()
    assert effects["overlap_reasons"].str.len().gt(0).all()
    assert report.summary()["campaigns_poor_overlap"] == ["spring"]


def test_holdout_campaign_is_left_to_evaluate():
    events, exposures, customers, descriptions = simulate(0, n=300)
    mixed = exposures.copy()
    mixed.loc[mixed.index[:5], "holdout"] = True
    report = estimate_campaign_effects(
        events, mixed, customers, descriptions, as_of=AS_OF
    )
    assert "holdout group" in report.effects.iloc[0]["reason"]


def shop_data(events, exposures, customers, extras=None) -> ShopData:
    return ShopData(
        events=events,
        items=pd.DataFrame({"item_id": []}),
        customers=customers,
        exposures=exposures,
        outcomes=pd.DataFrame(),
        report=CleaningReport(source="test"),
        extras=extras or {},
    )


def test_run_adapter_explains_skips():
    events, exposures, customers, descriptions = simulate(0, n=300)
    no_exposures = past_campaign_effects(
        shop_data(events, exposures.iloc[:0], customers), AS_OF
    )
    assert no_exposures.reason.startswith("Nothing estimated")
    assert "no past campaign exposures" in no_exposures.reason
    assert no_exposures.effects.empty
    assert list(no_exposures.effects.columns) == EFFECT_COLUMNS

    # A campaign with a holdout group is reported, not estimated.
    randomized = exposures.assign(holdout=[True] + [False] * (len(exposures) - 1))
    skipped = past_campaign_effects(shop_data(events, randomized, customers), AS_OF)
    assert not skipped.effects["estimated"].any()
    assert skipped.campaigns["reason"].str.contains("holdout group").all()

    with warnings.catch_warnings():
        warnings.simplefilter("error", OverlapWarning)
        estimated = past_campaign_effects(
            shop_data(
                events,
                exposures,
                customers,
                {"campaign_descriptions": descriptions},
            ),
            AS_OF,
        )
    assert estimated.reason is None
    assert estimated.effects["estimated"].all()


def test_run_writes_campaign_tables(tmp_path):
    from promoloop.config import RunConfig
    from promoloop.pipeline import DataSource, run

    shop = Path(__file__).resolve().parents[2] / "examples" / "shop"
    source = DataSource(
        events=shop / "events.csv",
        items=shop / "items.csv",
        customers=shop / "customers.csv",
        mapping=shop / "mapping.yaml",
    )
    config = RunConfig(show_progress=False)
    run(source, tmp_path, promotions=shop / "promotions.yaml", config=config)
    effects = pd.read_parquet(tmp_path / "campaign_effects.parquet")
    assert effects.empty
    assert "design" in effects.columns
    assert (tmp_path / "campaign_balance.parquet").is_file()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "no past campaign exposures" in manifest["past_campaigns"]["reason"]
    stages = [t["name"] for t in manifest["timings"]]
    assert stages.index("past campaigns") == stages.index("profiles") + 1
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Past campaigns (observational estimates)" in html


def test_as_of_without_time_zone_is_utc():
    events, exposures, customers, descriptions = simulate(0, n=300)
    report = estimate_campaign_effects(
        events, exposures, customers, descriptions, as_of="2024-05-11"
    )
    assert report.campaigns.iloc[0]["status"] == "estimated"
    assert report.settings["as_of"].endswith("+00:00")
