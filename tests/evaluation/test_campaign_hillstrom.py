"""Campaign evaluation on the Hillstrom e-mail experiment (real data)."""

import pandas as pd
import pytest

from promoloop.errors import InputError
from promoloop.evaluation.campaign import evaluate_campaigns
from promoloop.evaluation.hillstrom import (
    CAMPAIGN_ID,
    hillstrom_as_campaign,
    hillstrom_pre_period,
)


@pytest.fixture(scope="module")
def hillstrom_report(data_dir):
    path = data_dir / "hillstrom" / "hillstrom.csv"
    exposures, outcomes = hillstrom_as_campaign(path)
    return evaluate_campaigns(
        exposures,
        outcomes,
        pre_period=hillstrom_pre_period(path),
        planned_holdout_share=1 / 3,
        n_boot=200,
    )


def _group_rate(report, promotion_id, group):
    groups = report.tables["groups"]
    row = groups[(groups["promotion_id"] == promotion_id) & (groups["group"] == group)]
    return float(row["conversion_rate"].iloc[0])


def test_hillstrom_arm_conversion_rates(hillstrom_report):
    assert _group_rate(hillstrom_report, "mens", "treated") == pytest.approx(
        0.01253, abs=5e-6
    )
    assert _group_rate(hillstrom_report, "womens", "treated") == pytest.approx(
        0.00884, abs=5e-6
    )
    assert _group_rate(hillstrom_report, "(all promotions)", "control") == (
        pytest.approx(0.00573, abs=5e-6)
    )


def test_hillstrom_womens_lift_interval(hillstrom_report):
    lift = hillstrom_report.effect(CAMPAIGN_ID, "conversion_rate", "womens")
    assert lift.defined
    assert lift.ci_low <= 0.00884 - 0.00573 <= lift.ci_high
    assert lift.ci_low > 0


def test_hillstrom_sample_ratio_passes(hillstrom_report):
    srm = [c for c in hillstrom_report.checks if c["check"] == "sample_ratio_mismatch"]
    assert len(srm) == 1
    assert srm[0]["status"] == "ok"
    assert srm[0]["value"] > 0.001


def test_hillstrom_margin_assumption_noted(hillstrom_report):
    assert any("30%" in note for note in hillstrom_report.notes)
    lift = hillstrom_report.effect(CAMPAIGN_ID, "margin_per_customer", "mens")
    revenue = hillstrom_report.effect(CAMPAIGN_ID, "revenue_per_customer", "mens")
    assert lift.estimate == pytest.approx(0.3 * revenue.estimate)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("segment,spend\nNo E-Mail,0\n", r"missing column.*conversion"),
        (
            "segment,conversion,spend,history\nPostcard,0,0,10\n",
            r"unknown arm.*'Postcard'",
        ),
    ],
)
def test_hillstrom_bad_file(tmp_path, text, message):
    path = tmp_path / "hillstrom.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        hillstrom_as_campaign(path)


def test_hillstrom_bad_margin_rate(tmp_path):
    path = tmp_path / "hillstrom.csv"
    path.write_text("segment,conversion,spend,history\nNo E-Mail,0,0,10\n")
    with pytest.raises(InputError, match="margin_rate"):
        hillstrom_as_campaign(path, margin_rate=1.5)


def test_hillstrom_crlf_rows(tmp_path):
    path = tmp_path / "hillstrom.csv"
    path.write_bytes(
        b"segment,conversion,spend,history\r\nMens E-Mail,1,50,10\r\nNo E-Mail,0,0,20"
    )
    exposures, outcomes = hillstrom_as_campaign(path, margin_rate=0.4)
    assert exposures["holdout"].tolist() == [False, True]
    assert outcomes["customer_id"].tolist() == ["1"]
    assert outcomes["margin"].tolist() == [pytest.approx(50 * 0.4)]
    assert pd.isna(exposures["promotion_id"].iloc[1])
