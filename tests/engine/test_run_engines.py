"""``promoloop run --engine spark`` against the default engine on the example shop."""

from __future__ import annotations

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
