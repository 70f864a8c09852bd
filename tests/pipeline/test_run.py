"""The main job end to end on the example shop's files and on real data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from promoloop.cli import app
from promoloop.config import RunConfig
from promoloop.evaluation.campaign import evaluate_campaigns
from promoloop.pipeline import DataSource, run
from promoloop.targeting.promotions import load_promotions

REPO = Path(__file__).resolve().parents[2]
SHOP = REPO / "examples" / "shop"
RUN_FILES = [
    "decisions.parquet",
    "decisions.csv",
    "holdouts.parquet",
    "exposures.parquet",
    "recommendations.parquet",
    "profiles.parquet",
    "interest.parquet",
    "segments.parquet",
    "rules.parquet",
    "bundles.parquet",
    "recommender_metrics.parquet",
    "cleaning.parquet",
    "scores.parquet",
    "campaign_effects.parquet",
    "campaign_balance.parquet",
    "report.html",
    "manifest.json",
]
RAW_CUSTOMER_IDS = ["K001", "K002", "K003", "K004"]


def shop_source() -> DataSource:
    return DataSource(
        events=SHOP / "events.csv",
        items=SHOP / "items.csv",
        customers=SHOP / "customers.csv",
        mapping=SHOP / "mapping.yaml",
    )


def run_shop(out: Path, **settings) -> dict:
    config = RunConfig(show_progress=False, **settings)
    result = run(shop_source(), out, promotions=SHOP / "promotions.yaml", config=config)
    return result.tables


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("shop-run")
    run_shop(out)
    return out


def test_run_folder_has_every_output(shop_run):
    for name in RUN_FILES:
        assert (shop_run / name).is_file(), name


def test_decisions_one_row_per_customer(shop_run):
    decisions = pd.read_parquet(shop_run / "decisions.parquet")
    profiles = pd.read_parquet(shop_run / "profiles.parquet")
    assert decisions["customer_id"].is_unique
    assert set(decisions["customer_id"]) == set(profiles["customer_id"])


def test_decisions_respect_budget_and_consent(shop_run):
    decisions = pd.read_parquet(shop_run / "decisions.parquet")
    plan = load_promotions(SHOP / "promotions.yaml")
    offered = decisions[decisions["promotion_id"].notna()]
    spent = offered.groupby("campaign_id")["expected_cost"].sum()
    for campaign_id, budget in plan.budgets().items():
        assert spent.get(campaign_id, 0.0) <= budget + 1e-9
    # The customer who declined offers (offers_ok = no) gets none.
    no_consent = decisions[decisions["reason"] == "no consent"]
    assert len(no_consent) == 1
    assert no_consent["promotion_id"].isna().all()


def test_holdout_customers_get_no_offer_of_their_campaign(shop_run):
    decisions = pd.read_parquet(shop_run / "decisions.parquet")
    for _, row in decisions.iterrows():
        if pd.notna(row["promotion_id"]):
            assert row["campaign_id"] not in list(row["holdout_campaigns"])


def test_messages_only_for_offers(shop_run):
    decisions = pd.read_parquet(shop_run / "decisions.parquet")
    has_offer = decisions["promotion_id"].notna()
    assert (decisions.loc[has_offer, "message"].str.len() > 0).all()
    assert (decisions.loc[~has_offer, "message"].fillna("") == "").all()


def test_customer_ids_pseudonymized_everywhere(shop_run):
    for name in RUN_FILES:
        text = (shop_run / name).read_bytes()
        for raw in RAW_CUSTOMER_IDS:
            assert raw.encode() not in text, (name, raw)


def test_no_pseudonymize_keeps_raw_ids(tmp_path):
    tables = run_shop(tmp_path, pseudonymize=False)
    assert set(tables["profiles"]["customer_id"]) >= set(RAW_CUSTOMER_IDS)


def test_same_seed_same_outputs(tmp_path):
    first = run_shop(tmp_path / "a", seed=3)
    second = run_shop(tmp_path / "b", seed=3)
    for name in ("decisions", "recommendations", "profiles", "segments", "rules"):
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)


def test_as_of_ignores_later_events(tmp_path):
    tables = run_shop(tmp_path, as_of="2024-03-10")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["as_of"].startswith("2024-03-10T23:59:59")
    cut = [
        r
        for r in manifest["rows"]["cleaning_rules"]
        if r["rule"].startswith("after_as_of")
    ]
    assert sum(r["rows"] for r in cut) > 0
    assert tables["profiles"]["recency_days"].min() >= 0


def test_manifest_records_inputs_and_timings(shop_run):
    manifest = json.loads((shop_run / "manifest.json").read_text())
    paths = [Path(entry["path"]).name for entry in manifest["inputs"]]
    assert "events.csv" in paths
    assert "promotions.yaml" in paths
    assert all(re.fullmatch(r"[0-9a-f]{64}", e["sha256"]) for e in manifest["inputs"])
    stages = [t["name"] for t in manifest["timings"]]
    assert stages[-1] == "total"
    assert "recommendations" in stages
    assert manifest["libraries"]["pandas"] == pd.__version__


def test_report_has_every_section(shop_run):
    html = (shop_run / "report.html").read_text(encoding="utf-8")
    for heading in (
        "Data quality",
        "Segments",
        "Recommendations",
        "Allocation and budget",
        "Sample of messages",
    ):
        assert f"<h2>{heading}</h2>" in html
    assert "data:image/png;base64," in html
    assert "estimate" in html


def test_report_escapes_text_from_the_data(tmp_path):
    from promoloop.pipeline.report import write_report

    tables = run_shop(tmp_path)
    decisions = tables["decisions"]
    offered = decisions["promotion_id"].notna()
    assert offered.any()
    decisions.loc[offered, "message"] = "<script>alert(1)</script>"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    plan = load_promotions(SHOP / "promotions.yaml")
    html = write_report(tmp_path, manifest, tables, plan).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


runner = CliRunner()


def cli_run(*args: str):
    return runner.invoke(app, ["run", "--no-progress", *args])


def test_cli_generic_form(tmp_path):
    result = cli_run(
        "--events",
        str(SHOP / "events.csv"),
        "--items",
        str(SHOP / "items.csv"),
        "--customers",
        str(SHOP / "customers.csv"),
        "--mapping",
        str(SHOP / "mapping.yaml"),
        "--promotions",
        str(SHOP / "promotions.yaml"),
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "offers for 6 customers" in result.output


BAD_INVOCATIONS = [
    (["--dataset", "no-such-shop"], r"unknown dataset 'no-such-shop'"),
    (["--dataset", "online-retail"], r"needs --data-dir"),
    (["--events", "x.csv"], r"missing --items, --mapping"),
    (
        ["--dataset", "online-retail", "--data-dir", "/nonexistent/folder"],
        r"/nonexistent/folder",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_INVOCATIONS)
def test_cli_rejects_bad_invocation(tmp_path, args, message):
    result = cli_run(*args, "--out", str(tmp_path))
    assert result.exit_code == 2
    assert re.search(message, result.output), result.output
    assert "Traceback" not in result.output


def test_cli_reports_bad_file_without_traceback(tmp_path):
    events = tmp_path / "events.csv"
    text = (SHOP / "events.csv").read_text(encoding="utf-8-sig")
    events.write_text(
        text.replace("04.03.2024 14:00", "2024-13-45 99:00", 1), encoding="utf-8-sig"
    )
    result = cli_run(
        "--events",
        str(events),
        "--items",
        str(SHOP / "items.csv"),
        "--mapping",
        str(SHOP / "mapping.yaml"),
        "--promotions",
        str(SHOP / "promotions.yaml"),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 2
    assert "events.csv" in result.output
    assert "row 1" in result.output
    assert "2024-13-45 99:00" in result.output
    assert not (tmp_path / "out" / "decisions.parquet").exists()


@pytest.mark.slow
def test_online_retail_end_to_end(data_dir, tmp_path):
    result = cli_run(
        "--dataset",
        "online-retail",
        "--data-dir",
        str(data_dir / "online-retail"),
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    rules = {r["rule"]: r["rows"] for r in manifest["rows"]["cleaning_rules"]}
    assert rules["exact_duplicates"] == 5268
    decisions = pd.read_parquet(tmp_path / "decisions.parquet")
    assert decisions["customer_id"].nunique() == len(decisions)
    assert len(decisions) > 4000
    metrics = pd.read_parquet(tmp_path / "recommender_metrics.parquet")
    assert set(metrics["model"]) >= {"popularity", "repeat", "als_untuned"}

    # The run's decision log measures a known effect: simulated outcomes where
    # an offer raises conversion from 0.20 to 0.30 must give a lift interval
    # that contains 0.10 (a 95% interval, so it misses 1 run in 20 at worst;
    # the seed is fixed, so the test is repeatable).
    log = pd.read_parquet(tmp_path / "exposures.parquet")
    assert log["holdout"].any()
    assert (~log["holdout"]).any()
    rng = np.random.default_rng(7)
    converted = rng.random(len(log)) < np.where(log["holdout"], 0.20, 0.30)
    buyers = log[converted]
    outcomes = pd.DataFrame(
        {
            "customer_id": buyers["customer_id"].to_numpy(),
            "order_id": [f"o{i}" for i in range(len(buyers))],
            "revenue": 50.0,
            "margin": 15.0,
            "timestamp": buyers["timestamp"].to_numpy() + pd.Timedelta(days=1),
        }
    )
    report = evaluate_campaigns(log, outcomes, n_boot=100)
    for campaign_id in log["campaign_id"].unique():
        effect = report.effect(campaign_id, "conversion_rate")
        assert effect.defined
        assert effect.ci_low <= 0.10 <= effect.ci_high, (campaign_id, effect)


def test_cli_rejects_invalid_as_of(tmp_path):
    result = cli_run(
        "--events",
        str(SHOP / "events.csv"),
        "--items",
        str(SHOP / "items.csv"),
        "--mapping",
        str(SHOP / "mapping.yaml"),
        "--promotions",
        str(SHOP / "promotions.yaml"),
        "--as-of",
        "yesterday-ish",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 2
    assert "invalid --as-of 'yesterday-ish'" in result.output


def test_cli_config_file_sets_holdout_share(tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("targeting:\n  holdout_share: 0.0\n", encoding="utf-8")
    promotions = tmp_path / "promotions.yaml"
    text = (SHOP / "promotions.yaml").read_text(encoding="utf-8")
    promotions.write_text(text.replace("holdout_share: 0.1", ""), encoding="utf-8")
    result = cli_run(
        "--events",
        str(SHOP / "events.csv"),
        "--items",
        str(SHOP / "items.csv"),
        "--mapping",
        str(SHOP / "mapping.yaml"),
        "--promotions",
        str(promotions),
        "--config",
        str(config),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 0, result.output
    holdouts = pd.read_parquet(tmp_path / "out" / "holdouts.parquet")
    assert not holdouts["holdout"].any()


def test_cli_rejects_unknown_config_key(tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("targeting:\n  holdout_shares: 0.2\n", encoding="utf-8")
    result = cli_run(
        "--dataset",
        "complete-journey",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 2
    assert "holdout_shares" in result.output


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("interest:\n  event_weights: {view: 1.0, View: 2.0}\n", "differ only in case"),
        ("recommend:\n  event_weights: {Purchase: 1, purchase: 2}\n", "only in case"),
        ("engine:\n  duckdb_memory_limit: lots\n", "such as 8gb"),
        ("engine:\n  spark_driver_memory: 2 gigabytes\n", "such as 2g"),
    ],
)
def test_cli_rejects_bad_config_values(tmp_path, settings, message):
    config = tmp_path / "settings.yaml"
    config.write_text(settings, encoding="utf-8")
    result = cli_run(
        "--dataset",
        "complete-journey",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.slow
def test_complete_journey_end_to_end(complete_journey_run):
    out = complete_journey_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["inputs"]) == 8  # seven package tables and the promotions
    assert all(re.fullmatch(r"[0-9a-f]{64}", e["sha256"]) for e in manifest["inputs"])
    assert manifest["rows"]["kept"]["events"] == 1_469_307
    assert manifest["rows"]["kept"]["exposures"] == 6_589
    decisions = pd.read_parquet(out / "decisions.parquet")
    assert len(decisions) == 2_469
    holdouts = pd.read_parquet(out / "holdouts.parquet")
    share = holdouts.groupby("campaign_id")["holdout"].mean()
    assert share.between(0.07, 0.13).all()
    targeting = manifest["metrics"]["targeting"]
    held_out = holdouts[holdouts["holdout"]]
    several = int((held_out.groupby("customer_id").size() > 1).sum())
    assert targeting["holdout_customers_in_several_campaigns"] == several > 0
    assert sum(targeting["holdout_by_campaign"].values()) == len(held_out)
    assert targeting["holdout_customers"] == held_out["customer_id"].nunique()
    report = (out / "report.html").read_text()
    assert f"{several} of them are in the holdout of more" in report
    agreement = manifest["metrics"]["profiles"]["value"]["period_agreement"]
    assert agreement["unstable"]
    assert "The CLV figures are unstable" in report
    spent = decisions.groupby("campaign_id")["expected_cost"].sum()
    budgets = manifest["metrics"]["targeting"]["allocation"]["budgets"]
    for campaign_id, budget in budgets.items():
        assert spent.get(campaign_id, 0.0) <= budget + 1e-6
    # The dataset's campaigns were targeted, without a holdout group, so no
    # uplift model is trained and the report gives the reason.
    assert manifest["uplift"]["learned"] is None
    statuses = {c["status"] for c in manifest["uplift"]["campaigns"]}
    assert statuses == {"no holdout group: not randomized"}
    assert "none of which trained an uplift model" in (out / "report.html").read_text(
        encoding="utf-8"
    )


def test_missing_customers_file_counts_unknown_consent(tmp_path):
    source = shop_source()
    source.customers = None
    config = RunConfig(show_progress=False)
    result = run(source, tmp_path, promotions=SHOP / "promotions.yaml", config=config)
    rules = {r["rule"]: r["rows"] for r in result.manifest["rows"]["cleaning_rules"]}
    assert rules["consent_unknown"] == 6
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "6 customers have no consent value" in html


def test_past_exposures_count_and_are_described(shop_run, tmp_path):
    log = shop_run / "exposures.parquet"
    source = shop_source()
    source.exposures = log
    config = RunConfig(show_progress=False)
    result = run(source, tmp_path, promotions=SHOP / "promotions.yaml", config=config)
    past = pd.read_parquet(log)
    assert result.manifest["rows"]["kept"]["exposures"] == len(past)
    campaigns = {c["campaign_id"]: c for c in result.manifest["uplift"]["campaigns"]}
    assert set(campaigns) == set(past["campaign_id"])
    # Six customers are far too few to learn from.
    assert all(
        c["status"].startswith("fewer than") or c["status"].startswith("no holdout")
        for c in campaigns.values()
    )
    assert result.manifest["uplift"]["learned"] is None


def test_cli_rejects_exposures_of_another_shop(tmp_path):
    foreign = pd.DataFrame(
        {
            "decision_id": ["d1"],
            "customer_id": ["someone-else"],
            "campaign_id": ["spring"],
            "promotion_id": ["p"],
            "holdout": [False],
            "timestamp": ["2024-03-01T00:00:00Z"],
        }
    )
    foreign.to_csv(tmp_path / "log.csv", index=False)
    result = cli_run(
        "--events", str(SHOP / "events.csv"), "--items", str(SHOP / "items.csv"),
        "--mapping", str(SHOP / "mapping.yaml"),
        "--promotions", str(SHOP / "promotions.yaml"),
        "--exposures", str(tmp_path / "log.csv"), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "none of the customer ids in the exposures file" in result.output
    assert "Traceback" not in result.output
