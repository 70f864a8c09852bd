"""promoloop evaluate on a run's decision log and on hand-made files."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from promoloop.cli import app
from promoloop.privacy import KEY_ENV

runner = CliRunner()
STAMP = pd.Timestamp("2024-03-01 10:00", tz="UTC")


def write_files(tmp_path, n=2000, seed=0, raw_ids=False):
    """Exposures as CSV (holdout written True/False) and outcomes with a 0.1 lift."""
    rng = np.random.default_rng(seed)
    ids = [f"c{i}" for i in range(n)]
    holdout = rng.random(n) < 0.2
    exposures = pd.DataFrame(
        {
            "decision_id": [f"d{i}" for i in range(n)],
            "customer_id": ids,
            "campaign_id": "spring",
            "promotion_id": "ten-off",
            "holdout": holdout,
            "timestamp": STAMP.isoformat(),
        }
    )
    converted = rng.random(n) < np.where(holdout, 0.2, 0.3)
    buyers = [i for i, c in zip(ids, converted, strict=True) if c]
    outcomes = pd.DataFrame(
        {
            "customer_id": buyers,
            "order_id": [f"o{i}" for i in range(len(buyers))],
            "revenue": 40.0,
            "margin": 12.0,
            "timestamp": (STAMP + pd.Timedelta(days=2)).isoformat(),
        }
    )
    if not raw_ids:
        exposures.to_csv(tmp_path / "exposures.csv", index=False)
    else:
        key = b"test-key"
        hashed = [
            hmac.new(key, i.encode(), hashlib.sha256).hexdigest()[:16] for i in ids
        ]
        exposures.assign(customer_id=hashed).to_csv(
            tmp_path / "exposures.csv", index=False
        )
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    return tmp_path / "exposures.csv", tmp_path / "outcomes.csv"


def evaluate(*args):
    return runner.invoke(app, ["evaluate", *map(str, args)])


def read_checks(out):
    report = json.loads((out / "campaign_report.json").read_text())
    return {c["check"]: c for c in report["checks"]}


def test_evaluate_csv_files_recovers_lift(tmp_path):
    # A 95% interval misses the true lift in 1 draw of 20; seed 0 is such a
    # draw (upper bound 0.098), so the test uses seed 1.
    exposures, outcomes = write_files(tmp_path, seed=1)
    out = tmp_path / "report"
    result = evaluate(
        "--exposures",
        exposures,
        "--outcomes",
        outcomes,
        "--out",
        out,
        "--planned-holdout-share",
        0.2,
    )
    assert result.exit_code == 0, result.output
    effects = pd.read_csv(out / "effects.csv")
    rate = effects[effects["metric"] == "conversion_rate"].iloc[0]
    assert rate["ci_low"] <= 0.1 <= rate["ci_high"]
    checks = read_checks(out)
    assert checks["outcome_rows"]["status"] == "ok"
    assert checks["sample_ratio_mismatch"]["status"] == "ok"


def test_evaluate_costs_file_gives_cost_and_roi(tmp_path):
    exposures, outcomes = write_files(tmp_path, seed=1)
    costs = tmp_path / "costs.csv"
    pd.DataFrame({"promotion_id": ["ten-off"], "cost_per_exposure": [0.5]}).to_csv(
        costs, index=False
    )
    out = tmp_path / "report"
    result = evaluate(
        "--exposures", exposures, "--outcomes", outcomes, "--out", out,
        "--costs", costs,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    effects = pd.read_csv(out / "effects.csv")
    overall = effects[effects["promotion_id"] == "(all promotions)"]
    overall = overall.set_index("metric")
    treated = (~pd.read_csv(exposures)["holdout"]).sum()
    assert overall.loc["cost", "estimate"] == pytest.approx(0.5 * treated)
    assert overall.loc["roi", "defined"]


def test_evaluate_mismatched_ids_fails_check(tmp_path, monkeypatch):
    exposures, outcomes = write_files(tmp_path, raw_ids=True)
    out = tmp_path / "report"
    result = evaluate("--exposures", exposures, "--outcomes", outcomes, "--out", out)
    assert result.exit_code == 0, result.output
    assert "1 failed" in result.output
    checks = read_checks(out)
    assert checks["outcome_rows"]["status"] == "fail"
    assert "same customer ids" in checks["outcome_rows"]["message"]


def test_evaluate_pseudonymizes_raw_outcome_ids(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "test-key")
    exposures, outcomes = write_files(tmp_path, raw_ids=True)
    out = tmp_path / "report"
    result = evaluate(
        "--exposures",
        exposures,
        "--outcomes",
        outcomes,
        "--out",
        out,
        "--pseudonymize-outcomes",
    )
    assert result.exit_code == 0, result.output
    assert read_checks(out)["outcome_rows"]["status"] == "ok"


BAD = [
    ("dataset_and_files", r"cannot be combined"),
    ("run_folder", r"run folder of promoloop run"),
    ("out_is_file", r"is a file"),
    ("outcomes_is_folder", r"is a folder"),
    ("day_first_dates", r"ISO 8601"),
    ("negative_revenue", r"negative revenue in outcomes"),
    ("blank_revenue", r"missing revenue in outcomes"),
    ("holdout_words", r"true or false"),
]


@pytest.mark.parametrize(("case", "message"), BAD)
def test_evaluate_rejects_bad_input(tmp_path, case, message):
    exposures, outcomes = write_files(tmp_path, n=200)
    out = tmp_path / "report"
    args = ["--exposures", exposures, "--outcomes", outcomes, "--out", out]
    table = pd.read_csv(outcomes)
    if case == "dataset_and_files":
        args += ["--dataset", "hillstrom", "--data-dir", tmp_path]
    elif case == "run_folder":
        out.mkdir()
        (out / "manifest.json").write_text("{}")
    elif case == "out_is_file":
        out.write_text("not a folder")
    elif case == "outcomes_is_folder":
        args[3] = tmp_path
    elif case == "day_first_dates":
        table["timestamp"] = "03/10/2024 10:00"
    elif case == "negative_revenue":
        table.loc[3, "revenue"] = -500.0
    elif case == "blank_revenue":
        table.loc[3, "revenue"] = np.nan
    elif case == "holdout_words":
        ex = pd.read_csv(exposures)
        ex["holdout"] = np.where(ex["holdout"], "maybe", "no")
        ex.to_csv(exposures, index=False)
    table.to_csv(outcomes, index=False)
    result = evaluate(*args)
    assert result.exit_code == 2, result.output
    assert re.search(message, result.output), result.output
    assert "Traceback" not in result.output
