"""``promoloop run --engine spark`` against the default engine.

On the example shop the tables the engines compute are compared. On The
Complete Journey the whole run folder is: every table, the decisions CSV and
the manifest. Floating values may differ in the last bits, because each
engine adds in its own order, so they are compared with a relative tolerance
of 1e-9. What differs by design is left out and named: the engine setting,
and the stage and model-fit times.
"""

from __future__ import annotations

import json
import math
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from promoloop.cli import app
from tests.store.conftest import SHOP

runner = CliRunner()


def run_shop(out, *engine_options) -> None:
    result = runner.invoke(
        app,
        [
            "run", "--events", str(SHOP / "events.csv"),
            "--items", str(SHOP / "items.csv"),
            "--customers", str(SHOP / "customers.csv"),
            "--mapping", str(SHOP / "mapping.yaml"),
            "--promotions", str(SHOP / "promotions.yaml"),
            "--out", str(out), "--no-progress", *engine_options,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java")
def test_spark_run_matches_duckdb(tmp_path):
    pytest.importorskip("pyspark")
    run_shop(tmp_path / "duckdb")
    run_shop(tmp_path / "spark", "--engine", "spark", "--spark-master", "local[2]")

    # The tables the engines compute, and everything built on them.
    for table in ("profiles", "interest", "decisions", "exposures"):
        duckdb = pd.read_parquet(tmp_path / "duckdb" / f"{table}.parquet")
        spark = pd.read_parquet(tmp_path / "spark" / f"{table}.parquet")
        pd.testing.assert_frame_equal(spark, duckdb, check_exact=False, rtol=1e-9)


# Measured times, which differ between any two runs.
TIME_KEYS = {"timings", "timings_seconds", "fit_seconds", "seconds"}


def without_times(value):
    """Return a manifest part with every timing entry removed."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in TIME_KEYS}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def assert_same_manifest(left, right, path="manifest") -> None:
    """Compare two manifests, floats to a relative tolerance of 1e-9."""
    if isinstance(left, dict):
        assert isinstance(right, dict) and left.keys() == right.keys(), path
        for key in left:
            assert_same_manifest(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list):
        assert isinstance(right, list) and len(left) == len(right), path
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same_manifest(a, b, f"{path}[{index}]")
    elif isinstance(left, float) and isinstance(right, float):
        assert math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12), (
            f"{path}: {left} != {right}"
        )
    else:
        assert left == right, f"{path}: {left!r} != {right!r}"


@pytest.mark.slow
def test_spark_run_folder_matches_on_complete_journey(
    complete_journey_run, spark_engine, tmp_path
):
    spark_out = tmp_path / "spark"
    result = runner.invoke(
        app,
        [
            "run", "--dataset", "complete-journey", "--out", str(spark_out),
            "--no-progress", "--engine", "spark", "--spark-master", "local[2]",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    # The report is the manifest and tables drawn as HTML, with the times.
    files = {p.name for p in complete_journey_run.iterdir()} - {"report.html"}
    assert files == {p.name for p in spark_out.iterdir()} - {"report.html"}
    for name in sorted(files - {"manifest.json"}):
        if name.endswith(".parquet"):
            duckdb = pd.read_parquet(complete_journey_run / name)
            spark = pd.read_parquet(spark_out / name)
            duckdb = duckdb.drop(columns=TIME_KEYS & set(duckdb.columns))
            spark = spark.drop(columns=TIME_KEYS & set(spark.columns))
            pd.testing.assert_frame_equal(
                spark, duckdb, check_exact=False, rtol=1e-9, obj=name
            )
        else:
            assert (spark_out / name).read_bytes() == (
                complete_journey_run / name
            ).read_bytes(), name

    duckdb = json.loads((complete_journey_run / "manifest.json").read_text())
    spark = json.loads((spark_out / "manifest.json").read_text())
    assert duckdb["parameters"].pop("engine")["name"] == "duckdb"
    assert spark["parameters"].pop("engine")["name"] == "spark"
    assert_same_manifest(without_times(spark), without_times(duckdb))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--engine", "oracle"], "engine"),
        (["--engine", "spark", "--spark-master", ""], "spark_master"),
    ],
)
def test_bad_engine_options_exit_2(tmp_path, options, message):
    result = runner.invoke(
        app,
        [
            "run", "--events", str(SHOP / "events.csv"),
            "--items", str(SHOP / "items.csv"),
            "--mapping", str(SHOP / "mapping.yaml"),
            "--out", str(tmp_path / "out"), "--no-progress", *options,
        ],
    )  # fmt: skip

    assert result.exit_code == 2
    assert message in result.output
