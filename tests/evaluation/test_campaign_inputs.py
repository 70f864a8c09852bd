"""Campaign evaluation: hand-computed example, degenerate groups and bad input."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from promoloop.errors import InputError
from promoloop.evaluation.campaign import evaluate_campaigns
from promoloop.evaluation.campaign_stats import proportion_effect
from promoloop.warnings import DataQualityWarning

START = pd.Timestamp("2024-01-10", tz="UTC")


def make_exposures(n_treated: int, n_control: int, campaign: str = "c1"):
    ids = [f"u{i}" for i in range(n_treated + n_control)]
    return pd.DataFrame(
        {
            "decision_id": ids,
            "customer_id": ids,
            "campaign_id": campaign,
            "promotion_id": ["p1"] * n_treated + [None] * n_control,
            "holdout": [False] * n_treated + [True] * n_control,
            "timestamp": START,
        }
    )


OUTCOME_COLUMNS = [
    "customer_id",
    "order_id",
    "promotion_id",
    "revenue",
    "margin",
    "timestamp",
]


def make_outcomes(rows):
    """Outcome rows as (customer_id, revenue, days after START, promotion_id)."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_id": [f"o{i}" for i in range(len(rows))],
            "promotion_id": [r[3] for r in rows],
            "revenue": [float(r[1]) for r in rows],
            "margin": [0.5 * r[1] for r in rows],
            "timestamp": [START + pd.Timedelta(days=r[2]) for r in rows],
        },
        columns=[
            "customer_id",
            "order_id",
            "promotion_id",
            "revenue",
            "margin",
            "timestamp",
        ],
    )


# Treated u0..u3 spend 10, 0, 20, 0; control u4..u7 spend 5, 0, 0, 0.
# u0 redeems the promotion. Rows outside the 14-day window do not count.
HAND_OUTCOMES = [
    ("u0", 10, 1, "p1"),
    ("u2", 20, 2, None),
    ("u4", 5, 3, None),
    ("u1", 99, 20, None),
    ("u5", 40, -5, None),
]
COSTS = {"p1": {"cost_per_exposure": 1.0, "cost_per_redemption": 2.0}}


@pytest.fixture(scope="module")
def hand_report():
    return evaluate_campaigns(
        make_exposures(4, 4),
        make_outcomes(HAND_OUTCOMES),
        promotion_costs=COSTS,
        n_boot=200,
    )


def test_hand_conversion_lift(hand_report):
    lift = hand_report.effect("c1", "conversion_rate")
    assert lift.treated_value == pytest.approx(2 / 4)
    assert lift.control_value == pytest.approx(1 / 4)
    assert lift.estimate == pytest.approx(2 / 4 - 1 / 4)
    assert lift.relative_lift == pytest.approx((2 / 4 - 1 / 4) / (1 / 4))


def test_hand_revenue_lift_welch(hand_report):
    lift = hand_report.effect("c1", "revenue_per_customer")
    expected = stats.ttest_ind([10, 0, 20, 0], [5, 0, 0, 0], equal_var=False)
    assert lift.estimate == pytest.approx(30 / 4 - 5 / 4)
    assert lift.p_value == pytest.approx(expected.pvalue)
    assert lift.ci_low == pytest.approx(expected.confidence_interval().low)
    assert lift.relative_lift == pytest.approx((30 / 4 - 5 / 4) / (5 / 4))


def test_hand_incremental_revenue(hand_report):
    revenue = hand_report.effect("c1", "incremental_revenue")
    margin = hand_report.effect("c1", "incremental_margin")
    assert revenue.estimate == pytest.approx((30 / 4 - 5 / 4) * 4)
    assert margin.estimate == pytest.approx(0.5 * (30 / 4 - 5 / 4) * 4)


def test_hand_cost_and_roi(hand_report):
    cost = hand_report.effect("c1", "cost")
    roi = hand_report.effect("c1", "roi")
    assert cost.estimate == pytest.approx(4 * 1.0 + 1 * 2.0)
    assert roi.estimate == pytest.approx((0.5 * (30 / 4 - 5 / 4) * 4 - 6) / 6)
    assert roi.ci_low < roi.estimate < roi.ci_high


def test_hand_pre_period_from_outcomes(hand_report):
    # u5 spent 40 five days before the exposure; with one nonzero pre-spend
    # CUPED is defined and theta = cov(pre, post) / var(pre).
    pre = np.array([0, 0, 0, 0, 0, 40, 0, 0.0])
    post = np.array([10, 0, 20, 0, 5, 0, 0, 0.0])
    row = hand_report.tables["cuped"].iloc[0]
    assert row["theta"] == pytest.approx(np.cov(pre, post)[0, 1] / pre.var(ddof=1))


def test_newcombe_interval_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, 56/70 vs 48/80, method 10.
    treated = np.r_[np.ones(56), np.zeros(14)]
    control = np.r_[np.ones(48), np.zeros(32)]
    lift = proportion_effect("conversion_rate", treated, control, alpha=0.05)
    assert lift.ci_low == pytest.approx(0.0524, abs=1e-4)
    assert lift.ci_high == pytest.approx(0.3339, abs=1e-4)


@pytest.mark.parametrize(
    ("n_treated", "n_control", "reason"),
    [(50, 0, "no control group"), (0, 50, "no treated customer")],
)
def test_missing_group_not_identifiable(n_treated, n_control, reason):
    outcomes = make_outcomes([("u0", 10, 1, None)])
    report = evaluate_campaigns(make_exposures(n_treated, n_control), outcomes)
    for metric in ("conversion_rate", "revenue_per_customer", "incremental_margin"):
        effect = report.effect("c1", metric)
        assert not effect.defined
        assert effect.estimate is None
        assert reason in effect.reason
    effects = report.tables["effects"]
    assert effects["estimate"].isna().all()
    assert (
        not effects["estimate"].astype(object).map(lambda v: isinstance(v, float)).any()
    )
    statuses = {c["check"]: c["status"] for c in report.checks}
    assert statuses["groups_present"] == "fail"


def test_customers_in_both_groups_removed():
    exposures = make_exposures(300, 300)
    both = exposures.iloc[[0, 1]].assign(holdout=True, promotion_id=None)
    report = evaluate_campaigns(
        pd.concat([exposures, both]), make_outcomes([]), planned_holdout_share=0.5
    )
    lift = report.effect("c1", "conversion_rate")
    effects = report.tables["effects"]
    assert int(effects["n_treated"].iloc[0]) == 300 - 2
    assert int(effects["n_control"].iloc[0]) == 300
    assert lift.defined
    check = next(c for c in report.checks if c["check"] == "customers_in_both_groups")
    assert check["status"] == "warn"
    assert check["value"] == 2
    assert report.settings["customers_in_both_groups_removed"] == 2


def test_sample_ratio_mismatch_fails():
    report = evaluate_campaigns(
        make_exposures(700, 300), make_outcomes([]), planned_holdout_share=0.1
    )
    check = next(c for c in report.checks if c["check"] == "sample_ratio_mismatch")
    assert check["status"] == "fail"
    assert check["value"] < 0.001


def test_sample_ratio_share_from_exposures_column():
    exposures = make_exposures(900, 100).assign(holdout_share=0.1)
    report = evaluate_campaigns(exposures, make_outcomes([]))
    check = next(c for c in report.checks if c["check"] == "sample_ratio_mismatch")
    assert check["status"] == "ok"


@pytest.mark.parametrize("logged_share, status", [(0.1, "ok"), (0.3, "fail")])
def test_sample_ratio_share_from_logged_probability(logged_share, status):
    # promoloop logs a withheld offer with the holdout share as probability.
    exposures = make_exposures(900, 100)
    exposures["probability"] = np.where(
        exposures["holdout"], logged_share, 1 - logged_share
    )
    report = evaluate_campaigns(exposures, make_outcomes([]))
    check = next(c for c in report.checks if c["check"] == "sample_ratio_mismatch")
    assert check["status"] == status


def test_sample_ratio_unknown_plan_warns():
    report = evaluate_campaigns(make_exposures(900, 100), make_outcomes([]))
    check = next(c for c in report.checks if c["check"] == "sample_ratio_mismatch")
    assert check["status"] == "warn"
    assert "planned share is unknown" in check["message"]


def test_empty_outcomes_zero_lift():
    report = evaluate_campaigns(make_exposures(500, 500), make_outcomes([]))
    conversion = report.effect("c1", "conversion_rate")
    revenue = report.effect("c1", "revenue_per_customer")
    assert conversion.treated_value == 0.0
    assert conversion.control_value == 0.0
    assert conversion.estimate == 0.0
    assert conversion.ci_low < 0 < conversion.ci_high
    assert conversion.p_value == 1.0
    assert revenue.estimate == 0.0
    assert (revenue.ci_low, revenue.ci_high) == (0.0, 0.0)
    assert conversion.relative_lift is None


def test_small_lift_below_mde_warns():
    outcomes = make_outcomes([("u0", 10, 1, None), ("u60", 10, 1, None)])
    report = evaluate_campaigns(make_exposures(50, 50), outcomes)
    mde = [c for c in report.checks if c["check"] == "minimum_detectable_effect"]
    assert mde[0]["status"] == "warn"
    assert "too few customers to detect an effect of this size" in mde[0]["message"]


def test_small_segment_flagged():
    exposures = make_exposures(400, 400)
    segments = pd.DataFrame(
        {
            "customer_id": exposures["customer_id"],
            "segment": ["vip" if i % 20 == 0 else "regular" for i in range(800)],
        }
    )
    report = evaluate_campaigns(exposures, make_outcomes([]), segments=segments)
    table = report.tables["segments"]
    small = table.groupby("segment")["small_segment"].first()
    assert bool(small["vip"])
    assert not bool(small["regular"])
    flagged = [c["segment"] for c in report.checks if c["check"] == "segment_size"]
    assert flagged == ["vip"]


def test_missing_margin_warns():
    outcomes = make_outcomes([("u0", 10, 1, None)]).drop(columns="margin")
    with pytest.warns(DataQualityWarning, match="no margin"):
        report = evaluate_campaigns(make_exposures(10, 10), outcomes)
    assert report.effect("c1", "margin_per_customer").treated_value == 0.0


BAD_INPUTS = [
    ({"exposures": ("drop", "holdout")}, r"missing required column 'holdout'"),
    ({"exposures": ("drop", "campaign_id")}, r"missing required column 'campaign_id'"),
    ({"exposures": ("drop", "timestamp")}, r"missing required column 'timestamp'"),
    ({"outcomes": ("drop", "revenue")}, r"missing required column 'revenue'"),
    ({"outcomes": ("drop", "customer_id")}, r"missing required column 'customer_id'"),
    ({"pre_period": pd.DataFrame({"customer_id": ["u0"]})}, r"'pre_spend'"),
    ({"segments": pd.DataFrame({"customer_id": ["u0"]})}, r"'segment'"),
    ({"promotion_costs": pd.DataFrame({"promotion_id": ["p1"]})}, r"no cost column"),
    (
        {"promotion_costs": pd.DataFrame({"cost_per_exposure": [1.0]})},
        r"'promotion_id'",
    ),
    (
        {"promotion_costs": {"p1": {"cost_per_exposure": -1.0}}},
        r"invalid promotion cost",
    ),
    ({"planned_holdout_share": 1.5}, r"invalid planned holdout share.*1.5"),
    ({"planned_holdout_share": {"c1": 0.0}}, r"campaign 'c1'"),
    ({"alpha": 0.0}, r"invalid alpha"),
    ({"min_segment_size": 0}, r"invalid min_segment_size"),
    ({"n_boot": 10}, r"invalid n_boot"),
    ({"window_days": 0}, r"invalid outcome window"),
    ({"exposures": ("holdout_na", None)}, r"missing holdout flag.*row 1"),
    ({"exposures": ("bad_time", None)}, r"invalid value.*'timestamp'"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_input_raises(change, message):
    kwargs = {
        "exposures": make_exposures(4, 4),
        "outcomes": make_outcomes(HAND_OUTCOMES),
    }
    for name, value in change.items():
        if name in ("exposures", "outcomes"):
            action, column = value
            frame = kwargs[name]
            if action == "drop":
                frame = frame.drop(columns=column)
            elif action == "holdout_na":
                frame = frame.astype({"holdout": object}).assign(
                    holdout=[None] + [False] * 3 + [True] * 4
                )
            elif action == "bad_time":
                frame = frame.assign(timestamp=["not a date"] * len(frame))
            kwargs[name] = frame
        else:
            kwargs[name] = value
    with pytest.raises(InputError, match=message):
        evaluate_campaigns(**kwargs)


def test_report_write(tmp_path, hand_report):
    path = hand_report.write(tmp_path / "out")
    html = path.read_text()
    assert "How to read this" in html
    assert "data:image/png;base64," in html
    assert "contains 0 means no detectable effect" in html
    saved = json.loads((tmp_path / "out" / "campaign_report.json").read_text())
    assert saved["settings"]["window_days"] == 14
    effects = pd.read_csv(tmp_path / "out" / "effects.csv")
    assert set(effects["metric"]) >= {"conversion_rate", "roi", "incremental_margin"}


def test_report_json_undefined_as_null():
    report = evaluate_campaigns(make_exposures(10, 0), make_outcomes([]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = report.to_dict()
    row = data["tables"]["effects"][0]
    assert row["estimate"] is None
    assert row["defined"] is False
    json.dumps(data, allow_nan=False)
