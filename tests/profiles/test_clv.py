import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from promoloop.config import RunConfig
from promoloop.profiles import btyd_summary, build_profiles, clv, clv_estimate
from promoloop.profiles.clv import FitResult
from promoloop.warnings import ConvergenceWarning
from tests.profiles.conftest import make_events
from tests.profiles.simulate import (
    simulate_bgnbd_summary,
    simulate_bgnbd_times,
    simulate_gamma_gamma,
)

BGNBD_TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
CLV_COLUMNS = ["expected_purchases", "expected_spend", "clv"]


@pytest.mark.parametrize("seed", range(5))
def test_bgnbd_recovers_parameters(seed):
    summary = simulate_bgnbd_summary(10_000, *BGNBD_TRUE.values(), seed=seed)
    fit = clv.fit_bgnbd(summary)
    assert fit.accepted
    for name, true in BGNBD_TRUE.items():
        assert fit.params[name] == pytest.approx(true, rel=0.15), name


@pytest.mark.parametrize("seed", range(5))
def test_gamma_gamma_recovers_parameters(seed):
    frequency, spend = simulate_gamma_gamma(20_000, 2.0, 4.0, 15.0, seed, 5)
    fit = clv.fit_gamma_gamma(frequency, spend)
    assert fit.accepted
    assert fit.params["q"] == pytest.approx(4.0, rel=0.10)
    assert clv.gamma_gamma_population_mean(fit.params) == pytest.approx(
        2.0 * 15.0 / (4.0 - 1), rel=0.05
    )
    assert fit.params["p"] == pytest.approx(2.0, rel=0.20)


def test_bgnbd_likelihood_hand_computed():
    # x = 0: log of Gamma-Poisson zero count, alpha^r / (alpha + T)^r.
    params = np.array([2.0, 3.0, 1.0, 1.0])
    ll = clv.bgnbd_log_likelihood(
        params, np.array([0.0]), np.array([0.0]), np.array([5.0])
    )
    assert ll[0] == pytest.approx(2 * np.log(3.0) - 2 * np.log(3.0 + 5.0))


def test_p_alive_one_without_repeats():
    summary = pd.DataFrame(
        {"frequency": [0.0, 3.0], "recency": [0.0, 2.0], "T": [9.0, 9.0]}
    )
    alive = clv.bgnbd_p_alive(BGNBD_TRUE, summary)
    assert alive[0] == 1.0
    assert 0 < alive[1] < 1


def test_gamma_gamma_conditional_spend_hand_computed():
    params = {"p": 2.0, "q": 3.0, "v": 10.0}
    spend = clv.gamma_gamma_expected_spend(params, np.array([4.0]), np.array([20.0]))
    assert spend[0] == pytest.approx(2.0 * (10.0 + 4 * 20.0) / (2.0 * 4 + 3.0 - 1))
    assert clv.gamma_gamma_population_mean(params) == pytest.approx(2.0 * 10.0 / 2.0)


def simulated_events(n, seed):
    """Purchase events of BG/NBD customers with calm buying (weeks rarely merge)."""
    customer, time, age = simulate_bgnbd_times(n, 0.5, 60.0, 0.8, 2.5, seed, 730.0)
    as_of = pd.Timestamp("2024-01-01", tz="UTC")
    start = as_of - pd.to_timedelta(age[customer], unit="D")
    stamp = start + pd.to_timedelta(time, unit="D")
    spend = np.random.default_rng(seed).gamma(4.0, 10.0, customer.size)
    events = pd.DataFrame(
        {
            "customer_id": pd.Series(customer).map("K{:05d}".format).astype("str"),
            "item_id": "I1",
            "event_type": "purchase",
            "order_id": np.arange(customer.size).astype(str),
            "timestamp": stamp,
            "amount": spend,
            "quantity": 1.0,
            "discount": 0.0,
        }
    )
    return events, as_of


def test_weekly_daily_agree_on_median():
    events, as_of = simulated_events(4_000, seed=0)
    predictions = {}
    for period, days in (("D", 1), ("W", 7)):
        summary = btyd_summary(events, as_of, period)
        fit = clv.fit_bgnbd(summary, period=period)
        assert fit.accepted, period
        predictions[period] = clv.bgnbd_expected_purchases(
            fit.params, summary, 364 / days
        )
    assert np.median(predictions["W"]) == pytest.approx(
        np.median(predictions["D"]), rel=0.05
    )


def with_spend(summary: pd.DataFrame) -> pd.DataFrame:
    out = summary.copy()
    out["customer_id"] = [f"K{i}" for i in range(len(out))]
    out["monetary_value"] = np.where(out["frequency"] > 0, 20.0, np.nan)
    out["in_gg_fit"] = out["frequency"] > 0
    out["spend_total"] = 20.0 * (out["frequency"] + 1)
    return out


def failed_fit(summary, optimizer="L-BFGS-B", period="D"):
    return FitResult(
        "bgnbd",
        period,
        optimizer,
        False,
        "forced failure",
        1.0,
        -1.0,
        {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0},
        False,
        1,
    )


def test_fallback_order_then_baseline(monkeypatch):
    summary = with_spend(simulate_bgnbd_summary(500, *BGNBD_TRUE.values(), seed=1))
    monkeypatch.setattr(clv, "fit_bgnbd", failed_fit)
    with pytest.warns(ConvergenceWarning, match="no BG/NBD fit was accepted"):
        values, diagnostics = clv_estimate.estimate_clv({"D": summary, "W": summary})
    steps = [(a["period"], a["optimizer"]) for a in diagnostics["attempts"]]
    assert steps == [("D", "L-BFGS-B"), ("W", "L-BFGS-B"), ("W", "Nelder-Mead")]
    assert (values["clv_method"] == "baseline").all()
    rate = (summary["frequency"] + 1) / (summary["T"] + 1)
    np.testing.assert_allclose(values["expected_purchases"], rate * 365)
    assert not values[CLV_COLUMNS].isna().any().any()


def test_fallback_weekly_warns(monkeypatch):
    summary = with_spend(simulate_bgnbd_summary(2_000, *BGNBD_TRUE.values(), seed=2))
    real_fit = clv.fit_bgnbd

    def fail_daily(data, optimizer="L-BFGS-B", period="D"):
        if period == "D":
            return failed_fit(data, optimizer, period)
        return real_fit(data, optimizer, period)

    monkeypatch.setattr(clv, "fit_bgnbd", fail_daily)
    with pytest.warns(ConvergenceWarning, match="fallback with period W"):
        values, diagnostics = clv_estimate.estimate_clv({"D": summary, "W": summary})
    assert diagnostics["bgnbd"]["period"] == "W"
    assert (values["clv_method"] == "bgnbd_gg").all()


def test_spend_falls_back_without_repeat_buyers():
    summary = with_spend(simulate_bgnbd_summary(300, *BGNBD_TRUE.values(), seed=3))
    summary["in_gg_fit"] = False
    with pytest.warns(ConvergenceWarning, match="Gamma-Gamma spend model"):
        values, diagnostics = clv_estimate.estimate_clv({"D": summary, "W": summary})
    assert diagnostics["spend_method"] == "customer_mean"
    np.testing.assert_allclose(values["expected_spend"], 20.0)


def test_outside_fit_gets_population_mean(reference_dir):
    raw = pd.read_csv(
        reference_dir / "08-gammagamma-nonpositive-spend" / "repeat_lines.csv"
    )
    events = make_events(
        [
            {
                "customer_id": c,
                "item_id": "I1",
                "timestamp": t,
                "event_type": "purchase" if k == "purchase" else "return",
                "amount": abs(a),
                "order_id": f"L{i}",
            }
            for i, (c, t, a, k) in enumerate(
                zip(
                    raw["customer_id"],
                    raw["order_ts"],
                    raw["amount"],
                    raw["kind"],
                    strict=True,
                )
            )
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table = build_profiles(
            events,
            pd.DataFrame({"item_id": ["I1"]}),
            pd.DataFrame({"customer_id": []}),
            pd.Timestamp("2021-06-30", tz="UTC"),
            RunConfig(),
        ).table.set_index("customer_id")
    outside = table.loc[["G3", "G5"]]
    assert outside["expected_spend_is_population_mean"].all()
    assert outside["expected_spend"].nunique() == 1
    assert (table["expected_spend"] > 0).all()
    assert (table["clv"] >= 0).all()
    assert not table[CLV_COLUMNS].isna().any().any()


def rfm_to_events(rfm: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Purchase events on distinct days matching each row's frequency, recency, T."""
    rng = np.random.default_rng(0)
    offsets = []
    for frequency, recency, age in rfm[["frequency", "recency", "T"]].itertuples(
        index=False
    ):
        days = [0] if frequency == 0 else [0, recency]
        if frequency > 1:
            days += list(
                rng.choice(np.arange(1, recency), frequency - 1, replace=False)
            )
        offsets.append(as_of - pd.to_timedelta(age - np.array(days), unit="D"))
    counts = [len(o) for o in offsets]
    stamps = pd.DatetimeIndex(np.concatenate([o.to_numpy() for o in offsets]), tz="UTC")
    return pd.DataFrame(
        {
            "customer_id": np.repeat(rfm["customer_id"].to_numpy(), counts).astype(str),
            "item_id": "I1",
            "event_type": "purchase",
            "order_id": np.arange(len(stamps)).astype(str),
            "timestamp": stamps,
            "amount": 12.5,
            "quantity": 1.0,
            "discount": 0.0,
        }
    )


def test_heavy_buyers_build_reports_method(reference_dir, tmp_path):
    script = reference_dir / "06-bgnbd-nonconvergence-heavy-buyers" / "make_rfm.py"
    out = tmp_path / "rfm.csv"
    subprocess.run(
        [sys.executable, str(script), "300", str(out)], check=True, capture_output=True
    )
    rfm = pd.read_csv(out)
    as_of = pd.Timestamp("2024-01-01", tz="UTC")
    events = rfm_to_events(rfm, as_of)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        profiles = build_profiles(
            events,
            pd.DataFrame({"item_id": ["I1"]}),
            pd.DataFrame({"customer_id": []}),
            as_of,
            RunConfig(),
        )
    table = profiles.table
    assert len(table) == len(rfm)
    assert not table[CLV_COLUMNS].isna().any().any()
    value = profiles.diagnostics["value"]
    assert value["clv_method"] in ("bgnbd_gg", "baseline")
    aged = rfm[rfm["T"] > 0]
    assert value["near_daily_buyer_share"] == pytest.approx(
        (aged["frequency"] / aged["T"] > 0.5).mean()
    )
    assert "coarser period" in value["advice"]


def test_heavy_buyers_summary_fit(reference_dir, tmp_path):
    script = reference_dir / "06-bgnbd-nonconvergence-heavy-buyers" / "make_rfm.py"
    out = tmp_path / "rfm.csv"
    subprocess.run(
        [sys.executable, str(script), "20000", str(out)],
        check=True,
        capture_output=True,
    )
    daily = with_spend(pd.read_csv(out).drop(columns="customer_id"))
    weekly = daily.copy()
    weekly["recency"] = daily["recency"] // 7
    weekly["T"] = daily["T"] // 7
    weekly["frequency"] = np.minimum(daily["frequency"], weekly["recency"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        values, diagnostics = clv_estimate.estimate_clv({"D": daily, "W": weekly})
    assert not values[CLV_COLUMNS].isna().any().any()
    assert (values["clv"] >= 0).all()
    first = diagnostics["attempts"][0]
    for key in ("optimizer", "success", "message", "gradient_norm", "log_likelihood"):
        assert key in first, key
    assert diagnostics["near_daily_buyer_share"] > 0.2
