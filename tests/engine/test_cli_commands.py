"""The engine commands of the command line: clean-events and features."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from promoloop.benchmarks.synthetic_events import EventGenerator, shop_for_events
from promoloop.cli import app
from promoloop.engine.clean_events import REPORT_FILE

runner = CliRunner()


def write_events(folder: Path, n_events: int = 3_000, days: int = 3) -> pa.Table:
    """Write a small generated shop's events as one Parquet file per day."""
    config = shop_for_events(n_events, days=days, seed=11)
    tables = []
    for day, table in EventGenerator(config).days():
        partition = folder / f"date={day.strftime('%Y-%m-%d')}"
        partition.mkdir(parents=True)
        pq.write_table(table, partition / "part-0.parquet")
        tables.append(table)
    return pa.concat_tables(tables)


def features_arguments(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    return [
        "features",
        "--events", str(tmp_path / "events"),
        "--state", str(tmp_path / "state"),
        "--out", str(out),
        *extra,
    ]  # fmt: skip


def test_clean_events_writes_days_and_report(tmp_path):
    events = write_events(tmp_path / "raw")
    doubled = tmp_path / "raw" / "date=2024-01-01" / "part-1.parquet"
    pq.write_table(events.slice(0, 5), doubled)  # five exact duplicates

    result = runner.invoke(
        app, ["clean-events", str(tmp_path / "raw"), str(tmp_path / "clean")]
    )

    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "clean" / REPORT_FILE).read_text())
    counts = {rule["rule"]: rule["rows"] for rule in report["rules"]}
    assert counts["exact_duplicates"] == 5
    assert "exact_duplicates 5" in result.output
    assert f"read {len(events) + 5:,} events" in result.output
    assert sorted(p.name for p in (tmp_path / "clean").glob("date=*"))


def test_clean_events_rejects_full_destination(tmp_path):
    write_events(tmp_path / "raw", days=1)
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "keep.txt").write_text("earlier output")

    result = runner.invoke(
        app, ["clean-events", str(tmp_path / "raw"), str(tmp_path / "clean")]
    )

    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert (tmp_path / "clean" / "keep.txt").read_text() == "earlier output"


def test_features_unwritable_output_is_one_error_line(tmp_path):
    write_events(tmp_path / "events")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    result = runner.invoke(app, features_arguments(tmp_path, blocker / "out"))

    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert "can be written" in result.output
    assert "Traceback" not in result.output


def test_features_out_of_memory_names_the_setting(tmp_path):
    write_events(tmp_path / "events")
    config = tmp_path / "settings.yaml"
    config.write_text("engine:\n  duckdb_memory_limit: 1MB\n")

    result = runner.invoke(
        app, features_arguments(tmp_path, tmp_path / "out", "--config", str(config))
    )

    assert result.exit_code == 2
    assert "DuckDB ran out of memory" in result.output
    assert "engine.duckdb_memory_limit" in result.output


def test_features_bad_items_leave_state_untouched(tmp_path):
    write_events(tmp_path / "events")
    items = tmp_path / "items.parquet"
    pq.write_table(
        pa.table({"item_id": ["i1", "i1"], "category": ["tea", "coffee"]}), items
    )

    result = runner.invoke(
        app, features_arguments(tmp_path, tmp_path / "out", "--items", str(items))
    )

    assert result.exit_code == 2
    assert "several different rows" in result.output
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "out").exists()


def test_warnings_print_as_one_line(tmp_path):
    events = write_events(tmp_path / "events", days=1)
    (folder,) = (tmp_path / "events").glob("date=*")
    # Three events of the next day, filed under this one
    late = events.slice(0, 3).to_pandas()
    late["timestamp"] += pd.Timedelta(days=1)
    late_table = pa.Table.from_pandas(late, schema=events.schema, preserve_index=False)
    pq.write_table(late_table, folder / "part-1.parquet")

    result = runner.invoke(app, features_arguments(tmp_path, tmp_path / "out"))

    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "Warning]" in line]
    assert len(warnings) == 1, result.output
    assert warnings[0].startswith("warning: ")
    assert warnings[0].endswith("[DataQualityWarning]")
    assert ".py:" not in result.output
