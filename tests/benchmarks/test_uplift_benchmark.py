"""The uplift benchmark on a stratified sample of the Hillstrom file."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from promoloop.benchmarks import run_uplift_benchmark
from promoloop.benchmarks.hillstrom_data import (
    OUTCOMES,
    read_hillstrom,
    stratified_sample,
    womens_vs_control,
)
from promoloop.benchmarks.models import chosen_candidates, promoloop_models
from promoloop.errors import InputError

MODELS = ["T-learner (logistic)", "promoloop chosen"]
PROTOCOL_KEYS = {
    "data",
    "rows",
    "outcomes",
    "features",
    "encoding",
    "split",
    "seeds",
    "qini",
    "uplift_at_k",
    "promoloop_chosen",
    "propensity",
    "lightgbm",
}


@pytest.fixture(scope="module")
def quick_run(data_dir, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("uplift")
    result = run_uplift_benchmark(
        data_dir,
        out_dir,
        seeds=[0, 1],
        include_reference=False,
        show_progress=False,
        models=MODELS,
        sample_rows=6000,
        policy_kwargs={"n_boot": 200},
    )
    return result, out_dir


@pytest.fixture(scope="module")
def sample_subset(data_dir):
    return womens_vs_control(stratified_sample(read_hillstrom(data_dir), 6000))


def test_json_protocol_keys(quick_run):
    result, out_dir = quick_run
    written = json.loads((out_dir / "uplift.json").read_text())
    assert PROTOCOL_KEYS <= set(written["protocol"])
    assert written["protocol"]["seeds"] == [0, 1]
    assert written["protocol"]["outcomes"] == ["visit", "conversion", "spend"]
    assert written["summary"] == result["summary"]


def test_summary_mean_std_every_model(quick_run):
    result, _ = quick_run
    summary = pd.DataFrame(result["summary"])
    for outcome in OUTCOMES:
        for model in MODELS:
            for metric in ("qini", "uplift_at_30"):
                row = summary[
                    (summary.outcome == outcome)
                    & (summary.model == model)
                    & (summary.metric == metric)
                ]
                assert len(row) == 1, (outcome, model, metric)
                assert np.isfinite(row["mean"].iloc[0]), (outcome, model, metric)
                assert np.isfinite(row["std"].iloc[0]), (outcome, model, metric)


def test_summary_mean_matches_records(quick_run):
    result, _ = quick_run
    records = pd.DataFrame(result["records"])
    summary = pd.DataFrame(result["summary"])
    rows = records[(records.model == MODELS[0]) & (records.outcome == "visit")]
    entry = summary[
        (summary.model == MODELS[0])
        & (summary.outcome == "visit")
        & (summary.metric == "qini")
    ]
    assert entry["mean"].iloc[0] == pytest.approx(rows["qini"].mean())
    assert entry["std"].iloc[0] == pytest.approx(rows["qini"].std(ddof=1))


def test_splits_same_test_rows_across_models(quick_run):
    result, _ = quick_run
    records = pd.DataFrame(result["records"])
    for (seed, outcome), group in records.groupby(["seed", "outcome"]):
        indices = np.asarray(result["test_indices"][f"{seed}/{outcome}"], np.int64)
        expected = hashlib.sha1(indices).hexdigest()
        assert set(group["test_sha1"]) == {expected}, (seed, outcome)
        assert set(group["model"]) == set(MODELS), (seed, outcome)


def test_splits_stratified_by_treatment_outcome(quick_run, sample_subset):
    result, _ = quick_run
    treatment = sample_subset["treatment"].to_numpy()
    for key, indices in result["test_indices"].items():
        outcome = key.split("/")[1]
        positive = sample_subset[outcome].to_numpy() > 0
        in_test = np.zeros(len(treatment), dtype=bool)
        in_test[indices] = True
        assert in_test.sum() == pytest.approx(0.3 * len(treatment), abs=1)
        for t in (0, 1):
            for p in (False, True):
                stratum = (treatment == t) & (positive == p)
                # train_test_split rounds each stratum's share to whole rows.
                assert in_test[stratum].sum() == pytest.approx(
                    0.3 * stratum.sum(), abs=1.5
                ), (key, t, p)


def test_splits_differ_between_seeds(quick_run):
    result, _ = quick_run
    assert result["test_indices"]["0/visit"] != result["test_indices"]["1/visit"]


def test_chosen_is_candidate(quick_run):
    result, _ = quick_run
    records = [r for r in result["records"] if r["model"] == MODELS[1]]
    assert len(records) == 2 * len(OUTCOMES)
    for record in records:
        binary = record["outcome"] != "spend"
        names = chosen_candidates(binary, record["seed"])
        assert record["chosen"] in names, record


def test_chosen_candidates_penalty_grid():
    logistic = chosen_candidates(True, 0)
    ridge = chosen_candidates(False, 0)
    assert [m.estimator.C for m in logistic.values()] == [0.1, 1.0, 10.0]
    assert [m.estimator.alpha for m in ridge.values()] == [1.0, 10.0, 100.0]
    assert list(logistic) == [
        "Interaction S-learner (spline, C=0.1)",
        "Interaction S-learner (spline, C=1)",
        "Interaction S-learner (spline, C=10)",
    ]


def test_fixed_rows_include_interaction():
    names = [m.name for m in promoloop_models()]
    assert "Interaction S-learner (spline logistic)" in names
    assert names[-1] == "promoloop chosen"


def test_protocol_names_inner_repeats(quick_run):
    result, _ = quick_run
    text = result["protocol"]["promoloop_chosen"]
    assert "3 repeats of 3-fold stratified CV on the training part only" in text


def test_report_has_outcome_tables(quick_run):
    _, out_dir = quick_run
    html = (out_dir / "report.html").read_text(encoding="utf-8")
    for outcome in OUTCOMES:
        assert f"<h2>{outcome}</h2>" in html
    assert "±" in html
    assert "Quick run on a stratified sample of\n6000 rows" in html


def test_policy_nobody_is_zero(quick_run):
    result, _ = quick_run
    nobody = [r for r in result["policy"]["rows"] if r["policy"] == "nobody"][0]
    assert nobody["share_mailed"] == 0.0
    for outcome in ("visits", "net_spend"):
        assert nobody[outcome] == {"estimate": 0.0, "low": 0.0, "high": 0.0}


def test_policy_budget_respected(quick_run):
    result, _ = quick_run
    for row in result["policy"]["rows"]:
        if row["policy"].startswith("model policy"):
            assert row["share_mailed"] <= 0.5


def test_missing_file_raises(tmp_path):
    with pytest.raises(InputError, match="Hillstrom file not found"):
        run_uplift_benchmark(tmp_path, tmp_path / "out", show_progress=False)


def test_missing_column_raises(tmp_path):
    folder = tmp_path / "hillstrom"
    folder.mkdir()
    (folder / "hillstrom.csv").write_text("recency,segment\r\n1,No E-Mail\r\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['history'"):
        read_hillstrom(tmp_path)


def test_unknown_segment_raises(data_dir, tmp_path):
    raw = read_hillstrom(data_dir).head(5)
    raw.loc[2, "segment"] = "Kids E-Mail"
    (tmp_path / "hillstrom").mkdir()
    raw.to_csv(tmp_path / "hillstrom" / "hillstrom.csv", index=False)
    with pytest.raises(InputError, match="unknown segment.*row 3"):
        read_hillstrom(tmp_path)


@pytest.mark.slow
def test_full_run_with_reference_tools(data_dir, tmp_path):
    pytest.importorskip("sklift")
    result = run_uplift_benchmark(data_dir, tmp_path, show_progress=False)
    summary = pd.DataFrame(result["summary"])
    visit = summary[(summary.outcome == "visit") & (summary.metric == "qini")]
    two_models = visit[visit.model == "sklift TwoModels (logistic)"]
    # Published reference point: two-model logistic regression on visit
    # reaches a mean normalized Qini of about 0.06.
    assert two_models["mean"].iloc[0] == pytest.approx(0.06, abs=0.015)
    assert len(result["records"]) == len(result["protocol"]["seeds"]) * len(
        [r for r in result["records"] if r["seed"] == 0]
    )
