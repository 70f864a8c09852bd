"""Parquet listing, scanning and replacing writes on DuckDB and Spark."""

from __future__ import annotations

import os
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from promoloop.engine import Engine
from promoloop.engine.parquet_io import (
    parquet_files,
    read_parquet_schema,
    replace_path,
    replacing,
    scan_parquet,
    spark_microsecond_timestamps,
    write_parquet,
)
from promoloop.errors import InputError

TIMESTAMP_TYPE = "spark.sql.parquet.outputTimestampType"


@pytest.fixture(scope="module")
def duckdb_engine():
    with Engine.duckdb() as engine:
        yield engine


def write_table(path: Path, **columns) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def dataset(root: Path) -> dict[str, Path]:
    """A dataset partitioned by date, with hidden files that readers skip."""
    return {
        "first": write_table(root / "date=2024-01-01" / "part-0.parquet", x=[1, 2]),
        "nested": write_table(
            root / "date=2024-01-02" / "sub" / "part-0.parquet", x=[3]
        ),
        "underscore": write_table(root / "date=2024-01-02" / "_stray.parquet", x=[9]),
        "dot": write_table(root / "date=2024-01-02" / ".part-1.parquet", x=[9]),
        "temporary": write_table(
            root / "date=2024-01-02" / "_temporary" / "0" / "part-2.parquet", x=[9]
        ),
        "hidden_folder": write_table(root / ".staging" / "part-3.parquet", x=[9]),
    }


def scratch_names(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if ".tmp-" in name or ".old-" in name]


def numbers(engine: Engine, n: int) -> ibis.Table:
    frame = pd.DataFrame(
        {"x": range(n), "day": ["2024-01-01", "2024-01-02"] * (n // 2)}
    )
    return engine.register_frame("numbers", frame)


def fail_after_partial_write(expr, path, **options):
    """Stand in for an engine write that leaves part of its output, then fails."""
    path = Path(path)
    if options:
        (path / "day=2024-01-01").mkdir(parents=True)
        (path / "day=2024-01-01" / "data_0.parquet").write_bytes(b"PAR1")
    else:
        path.write_bytes(b"PAR1")
    raise OSError("No space left on device")


# Listing and reading


def test_parquet_files_skip_hidden_paths(tmp_path):
    files = dataset(tmp_path)

    listed = parquet_files(tmp_path)

    assert listed == (files["first"], files["nested"])


def test_parquet_files_of_hidden_root(tmp_path):
    # Only the path below the folder counts, so a dot folder can be a dataset.
    path = write_table(tmp_path / ".state" / "date=2024-01-01" / "a.parquet", x=[1])

    assert parquet_files(tmp_path / ".state") == (path,)


def test_read_parquet_schema_of_valid_file(tmp_path):
    path = write_table(tmp_path / "a.parquet", x=[1])

    assert read_parquet_schema(path).names == ["x"]


@pytest.mark.parametrize(
    "content", [b"", b"PAR1", b"event_id,amount\ne1,3.5\n"], ids=["empty", "cut", "csv"]
)
def test_read_parquet_schema_rejects_garbage(tmp_path, content):
    path = tmp_path / "part-0.parquet"
    path.write_bytes(content)

    with pytest.raises(InputError, match="not a valid Parquet file") as raised:
        read_parquet_schema(path)

    assert raised.value.file == str(path)
    assert str(path) in str(raised.value)
    assert raised.value.expected
    assert raised.value.fix


def test_scan_reads_only_listed_files(duckdb_engine, tmp_path):
    files = dataset(tmp_path)

    table = scan_parquet(
        duckdb_engine, "listed", parquet_files(tmp_path), base=tmp_path
    )
    rows = duckdb_engine.to_pandas(table.order_by("x"))

    assert rows["x"].tolist() == [1, 2, 3]
    assert rows["date"].astype(str).tolist() == ["2024-01-01"] * 2 + ["2024-01-02"]
    assert files["underscore"].exists()


def test_scan_without_base_has_no_partition_column(duckdb_engine, tmp_path):
    files = dataset(tmp_path)

    table = scan_parquet(duckdb_engine, "one", [files["first"]])

    assert table.columns == ("x",)


def test_scan_adds_file_and_row(duckdb_engine, tmp_path):
    files = dataset(tmp_path)
    listed = [files["first"], files["nested"]]

    table = scan_parquet(
        duckdb_engine, "located", listed, file_column="file", row_column="row"
    )
    rows = duckdb_engine.to_pandas(table.order_by("x"))

    assert rows["file"].tolist() == [str(files["first"])] * 2 + [str(files["nested"])]
    assert rows["row"].tolist() == [0, 1, 0]


def test_scan_reads_nanoseconds_as_microseconds(duckdb_engine, tmp_path):
    stamps = pa.array([1_700_000_000_123_456_789], pa.timestamp("ns", tz="UTC"))
    path = write_table(tmp_path / "a.parquet", timestamp=stamps)

    table = scan_parquet(duckdb_engine, "stamps", [path])

    assert table.schema()["timestamp"].scale == 6


def test_scan_needs_a_file(duckdb_engine):
    with pytest.raises(ValueError, match="at least one file"):
        scan_parquet(duckdb_engine, "nothing", [])


# Writing


@pytest.mark.parametrize("old", ["missing", "file", "folder"])
@pytest.mark.parametrize("partition_by", [None, "day"], ids=["file", "partitioned"])
def test_write_replaces_old_output(duckdb_engine, tmp_path, old, partition_by):
    path = tmp_path / "out.parquet"
    if old == "file":
        write_table(path, y=[1])
    if old == "folder":
        write_table(path / "part-0.parquet", y=[1])

    write_parquet(duckdb_engine, numbers(duckdb_engine, 4), path, partition_by)

    written = pd.read_parquet(path)
    assert sorted(written["x"]) == [0, 1, 2, 3]
    assert "y" not in written.columns
    assert path.is_dir() == (partition_by is not None)
    assert scratch_names(tmp_path) == []


def test_write_creates_parent_folders(duckdb_engine, tmp_path):
    path = tmp_path / "a" / "b" / "out.parquet"

    write_parquet(duckdb_engine, numbers(duckdb_engine, 2), path)

    assert len(pd.read_parquet(path)) == 2


def test_write_empty_partitioned_result(duckdb_engine, tmp_path):
    path = tmp_path / "out"
    write_table(path / "day=2024-01-01" / "part-0.parquet", x=[1])
    table = numbers(duckdb_engine, 4)

    write_parquet(duckdb_engine, table.filter(table.x < 0), path, partition_by="day")

    assert path.is_dir()
    assert parquet_files(path) == ()


@pytest.mark.parametrize("old", ["file", "folder"])
@pytest.mark.parametrize("partition_by", [None, "day"], ids=["file", "partitioned"])
def test_failed_write_keeps_old_output(
    duckdb_engine, tmp_path, monkeypatch, old, partition_by
):
    path = tmp_path / "out.parquet"
    old_file = path if old == "file" else path / "part-0.parquet"
    write_table(old_file, y=[1, 2])
    table = numbers(duckdb_engine, 4)
    monkeypatch.setattr(duckdb_engine.backend, "to_parquet", fail_after_partial_write)

    with pytest.raises(OSError, match="No space left"):
        write_parquet(duckdb_engine, table, path, partition_by)

    assert pd.read_parquet(path)["y"].tolist() == [1, 2]
    assert parquet_files(path) == (() if old == "file" else (old_file,))
    assert scratch_names(tmp_path) == []


def test_replacing_removes_scratch_on_error(tmp_path):
    target = tmp_path / "out"
    target.write_text("old")

    with pytest.raises(RuntimeError, match="stop"), replacing(target) as scratch:
        scratch.mkdir()
        (scratch / "new.txt").write_text("new")
        raise RuntimeError("stop")

    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_replacing_swaps_in_new_output(tmp_path):
    target = tmp_path / "out"
    (target / "old").mkdir(parents=True)

    with replacing(target) as scratch:
        assert scratch.parent == tmp_path
        assert scratch.name.startswith(".out.tmp-")
        scratch.mkdir()
        (scratch / "new.txt").write_text("new")

    assert os.listdir(target) == ["new.txt"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


@pytest.mark.parametrize(
    ("new", "old"),
    [("file", "file"), ("file", "folder"), ("folder", "file"), ("folder", "folder")],
)
def test_replace_path_kinds(tmp_path, new, old):
    source, target = tmp_path / ".new", tmp_path / "out"
    for path, text, kind in ((source, "new", new), (target, "old", old)):
        if kind == "folder":
            path.mkdir()
            (path / "content.txt").write_text(text)
        else:
            path.write_text(text)

    replace_path(source, target)

    content = target / "content.txt" if new == "folder" else target
    assert content.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_replace_path_missing_new_removes_target(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")

    replace_path(tmp_path / ".new", tmp_path / "out")

    assert os.listdir(tmp_path) == []


def test_replace_path_creates_parent(tmp_path):
    (tmp_path / ".new").write_text("new")

    replace_path(tmp_path / ".new", tmp_path / "a" / "out")

    assert (tmp_path / "a" / "out").read_text() == "new"


# Spark local[2]


@pytest.mark.slow
def test_spark_write_microsecond_timestamps(spark_engine, tmp_path):
    stamps = pd.to_datetime(
        ["2024-01-01 10:00:00.123456", "2024-01-02 11:00:00.000000"], utc=True
    )
    frame = pd.DataFrame({"timestamp": stamps, "day": ["2024-01-01", "2024-01-02"]})
    table = spark_engine.register_frame("stamps", frame)
    before = spark_engine.spark_session.conf.get(TIMESTAMP_TYPE)
    path = tmp_path / "out"
    write_table(path / "old.parquet", y=[1])

    write_parquet(spark_engine, table, path, partition_by="day")

    files = parquet_files(path)
    assert [file.parent.name for file in files] == ["day=2024-01-01", "day=2024-01-02"]
    for file in files:
        assert read_parquet_schema(file).field("timestamp").type == pa.timestamp(
            "us", tz="UTC"
        )
    written = pd.read_parquet(path).sort_values("timestamp", ignore_index=True)
    assert written["timestamp"].tolist() == stamps.tolist()
    assert spark_engine.spark_session.conf.get(TIMESTAMP_TYPE) == before
    assert scratch_names(tmp_path) == []


@pytest.mark.slow
def test_spark_timestamp_setting_restored_on_error(spark_engine):
    before = spark_engine.spark_session.conf.get(TIMESTAMP_TYPE)

    with pytest.raises(RuntimeError), spark_microsecond_timestamps(spark_engine):
        assert spark_engine.spark_session.conf.get(TIMESTAMP_TYPE) == "TIMESTAMP_MICROS"
        raise RuntimeError("stop")

    assert spark_engine.spark_session.conf.get(TIMESTAMP_TYPE) == before


@pytest.mark.slow
def test_spark_scan_matches_duckdb(spark_engine, duckdb_engine, tmp_path):
    files = dataset(tmp_path)
    listed = parquet_files(tmp_path)
    results = []

    for engine in (duckdb_engine, spark_engine):
        table = scan_parquet(
            engine,
            "listed",
            listed,
            base=tmp_path,
            file_column="file",
            row_column="row",
        )
        rows = engine.to_pandas(table.order_by("x"))
        rows["file"] = [name.removeprefix("file:") for name in rows["file"]]
        results.append(rows)

    for rows in results:
        assert rows["x"].tolist() == [1, 2, 3]
        days = pd.to_datetime(rows["date"]).dt.strftime("%Y-%m-%d")
        assert days.tolist() == ["2024-01-01"] * 2 + ["2024-01-02"]
        assert rows["file"].tolist() == [str(files["first"])] * 2 + [
            str(files["nested"])
        ]
        assert rows["row"].tolist() == [0, 1, 0]
