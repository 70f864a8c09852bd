"""Parquet listing, scanning and replacing writes on DuckDB and Spark."""

from __future__ import annotations

import logging
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
from promoloop.warnings import PromoloopWarning

TIMESTAMP_TYPE = "spark.sql.parquet.outputTimestampType"
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


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
    dataset(tmp_path)

    table = scan_parquet(
        duckdb_engine, "listed", parquet_files(tmp_path), base=tmp_path
    )
    rows = duckdb_engine.to_pandas(table.order_by("x"))

    assert rows["x"].tolist() == [1, 2, 3]
    assert rows["date"].astype(str).tolist() == ["2024-01-01"] * 2 + ["2024-01-02"]


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


def test_scan_ignores_partition_folders_above_base(duckdb_engine, tmp_path):
    base = tmp_path / "date=1999-12-31" / "region=north" / "events"
    write_table(base / "date=2024-01-05" / "part-0.parquet", x=[1, 2])

    table = scan_parquet(duckdb_engine, "nested", parquet_files(base), base=base)
    rows = duckdb_engine.to_pandas(table)

    assert table.columns == ("x", "date")
    assert table.schema()["date"].is_date()
    assert rows["date"].astype(str).tolist() == ["2024-01-05"] * 2


PARTITION_VALUES = [
    "2024-01-05",
    "2024-1-5",
    "2024-02-30",
    "2024-01-05 10:00:00",
    "2024-01-05T10:00",
    "2024-01-05 10:00:00.123456",
    "12",
    "-5",
    "05",
    "+5",
    "1.5",
    "99999999999999999999",
    "abc",
    "a%2Fb",
    HIVE_NULL,
]


def duckdb_hive_scan(engine: Engine, files: list[Path], key: str) -> list[tuple]:
    """Return the values and types that DuckDB's own hive partitioning reads."""
    paths = ", ".join(f"'{path}'" for path in files)
    scan = f"read_parquet([{paths}], hive_partitioning = true)"
    query = f'SELECT "{key}", typeof("{key}") FROM {scan} ORDER BY x'
    return engine.backend.con.sql(query).fetchall()


def scanned_partitions(engine: Engine, table: ibis.Table, key: str) -> list[tuple]:
    query = f'SELECT "{key}", typeof("{key}") FROM "{table.get_name()}" ORDER BY x'
    return engine.backend.con.sql(query).fetchall()


@pytest.mark.parametrize("value", PARTITION_VALUES)
def test_scan_types_partition_like_duckdb(duckdb_engine, tmp_path, value):
    path = write_table(tmp_path / f"key={value}" / "part-0.parquet", x=[1])

    table = scan_parquet(duckdb_engine, "typed", [path], base=tmp_path)

    expected = duckdb_hive_scan(duckdb_engine, [path], "key")
    assert scanned_partitions(duckdb_engine, table, "key") == expected


@pytest.mark.parametrize(
    "values",
    [["2024-01-05", "2024-01-06 12:00:00"], ["2024-01-05", "7"], ["7", HIVE_NULL]],
    ids=["date_and_timestamp", "date_and_number", "number_and_null"],
)
def test_scan_types_mixed_partitions_like_duckdb(duckdb_engine, tmp_path, values):
    files = [
        write_table(tmp_path / f"key={value}" / f"part-{x}.parquet", x=[x])
        for x, value in enumerate(values)
    ]

    table = scan_parquet(duckdb_engine, "mixed", files, base=tmp_path)

    expected = duckdb_hive_scan(duckdb_engine, files, "key")
    assert scanned_partitions(duckdb_engine, table, "key") == expected


def test_scan_two_partition_levels(duckdb_engine, tmp_path):
    first = write_table(tmp_path / "year=2024" / "month=1" / "a.parquet", x=[1])
    second = write_table(tmp_path / "year=2025" / "month=12" / "b.parquet", x=[2])

    table = scan_parquet(duckdb_engine, "levels", [first, second], base=tmp_path)
    rows = duckdb_engine.to_pandas(table.order_by("x"))

    assert table.columns == ("x", "year", "month")
    assert rows["year"].tolist() == [2024, 2025]
    assert rows["month"].tolist() == [1, 12]


@pytest.mark.parametrize(
    "second",
    ["year=2025/b.parquet", "b.parquet", "month=1/year=2025/b.parquet"],
    ids=["missing_key", "no_keys", "other_order"],
)
def test_scan_rejects_different_partition_keys(duckdb_engine, tmp_path, second):
    first = write_table(tmp_path / "year=2024" / "month=1" / "a.parquet", x=[1])
    other = write_table(tmp_path / second, x=[2])

    with pytest.raises(InputError, match="partition folders differ") as raised:
        scan_parquet(duckdb_engine, "levels", [first, other], base=tmp_path)

    assert raised.value.file == str(other)
    assert raised.value.fix


def test_scan_partition_replaces_stored_column(duckdb_engine, tmp_path):
    path = write_table(
        tmp_path / "date=2024-01-05" / "a.parquet", x=[1], date=["stored"]
    )

    table = scan_parquet(duckdb_engine, "shadowed", [path], base=tmp_path)
    rows = duckdb_engine.to_pandas(table)

    assert table.columns == ("x", "date")
    assert rows["date"].astype(str).tolist() == ["2024-01-05"]


def test_scan_file_outside_base(duckdb_engine, tmp_path):
    path = write_table(tmp_path / "other" / "date=2024-01-05" / "a.parquet", x=[1])

    with pytest.raises(InputError, match="not in the dataset folder") as raised:
        scan_parquet(duckdb_engine, "outside", [path], base=tmp_path / "events")

    assert raised.value.file == str(path)
    assert raised.value.fix


def test_scan_file_column_with_stored_filename(duckdb_engine, tmp_path):
    path = write_table(
        tmp_path / "date=2024-01-05" / "a.parquet", x=[1], filename=["stored"]
    )

    table = scan_parquet(
        duckdb_engine, "named", [path], base=tmp_path, file_column="file"
    )
    rows = duckdb_engine.to_pandas(table)

    assert rows["filename"].tolist() == ["stored"]
    assert rows["file"].tolist() == [str(path)]
    assert rows["date"].astype(str).tolist() == ["2024-01-05"]


@pytest.mark.parametrize("name", ["a[1].parquet", "a*.parquet", "a?.parquet"])
def test_scan_rejects_glob_characters(duckdb_engine, tmp_path, name):
    path = write_table(tmp_path / name, x=[1])
    write_table(tmp_path / "a1.parquet", x=[2])

    with pytest.raises(InputError, match="reads as a pattern") as raised:
        scan_parquet(duckdb_engine, "globbed", [path])

    assert raised.value.file == str(path)
    assert raised.value.value == name[1]
    assert raised.value.fix


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


def test_replace_path_missing_new_raises(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")

    with pytest.raises(FileNotFoundError, match="left as it was"):
        replace_path(tmp_path / ".new", tmp_path / "out")

    assert (tmp_path / "out" / "old.txt").read_text() == "old"


def test_replace_path_missing_new_removes_target(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")

    replace_path(tmp_path / ".new", tmp_path / "out", missing_removes_target=True)

    assert os.listdir(tmp_path) == []


def fail_on_rename(number: int, rename):
    """Return an ``os.rename`` whose call ``number`` fails; the others rename."""
    calls = []

    def fail(source, destination):
        calls.append((Path(source).name, Path(destination).name))
        if len(calls) == number:
            raise OSError("Read-only file system")
        rename(source, destination)

    return fail, calls


def test_replace_path_rolls_back_failed_rename(tmp_path, monkeypatch):
    new, target = tmp_path / ".new", tmp_path / "out"
    for path, text in ((new, "new"), (target, "old")):
        path.mkdir()
        (path / "content.txt").write_text(text)
    rename, calls = fail_on_rename(2, os.rename)
    monkeypatch.setattr(os, "rename", rename)

    with pytest.raises(OSError, match="Read-only"):
        replace_path(new, target)

    assert (target / "content.txt").read_text() == "old"
    assert (new / "content.txt").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == [".new", "out"]
    assert len(calls) == 3
    assert calls[1] == (".new", "out")
    assert calls[2][1] == "out"


def test_replacing_without_output_keeps_target(tmp_path):
    target = tmp_path / "out"
    target.write_text("old")

    with pytest.raises(FileNotFoundError, match=str(target)), replacing(target):
        pass

    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_replacing_without_output_removes_when_asked(tmp_path):
    target = tmp_path / "out"
    target.write_text("old")

    with replacing(target, missing_removes_target=True):
        pass

    assert os.listdir(tmp_path) == []


def test_write_without_local_output_keeps_target(duckdb_engine, tmp_path, monkeypatch):
    path = write_table(tmp_path / "out.parquet", y=[1])
    monkeypatch.setattr(duckdb_engine.backend, "to_parquet", lambda *_, **__: None)

    with pytest.raises(FileNotFoundError, match="no output was written"):
        write_parquet(duckdb_engine, numbers(duckdb_engine, 2), path)

    assert pd.read_parquet(path)["y"].tolist() == [1]
    assert scratch_names(tmp_path) == []


def test_replacing_deletes_stale_scratch(tmp_path, caplog):
    target = tmp_path / "out"
    target.write_text("old")
    (tmp_path / ".out.tmp-0000aaaa").mkdir()
    (tmp_path / ".out.tmp-0000aaaa" / "part-0.parquet").write_text("partial")
    (tmp_path / ".out.tmp-0000bbbb").write_text("partial")
    (tmp_path / ".other.tmp-0000cccc").write_text("other output")

    with caplog.at_level(logging.INFO), replacing(target) as scratch:
        scratch.write_text("new")

    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == [".other.tmp-0000cccc", "out"]
    assert ".out.tmp-0000aaaa" in caplog.text
    assert ".out.tmp-0000bbbb" in caplog.text


def test_replacing_moves_back_old_output(tmp_path):
    # A crash between the two renames of replace_path leaves this state.
    target = tmp_path / "out"
    old = tmp_path / ".out.old-0000aaaa"
    old.mkdir()
    (old / "content.txt").write_text("old")
    (tmp_path / ".out.tmp-0000bbbb").mkdir()

    with (
        pytest.warns(PromoloopWarning, match=str(old)),
        pytest.raises(RuntimeError, match="stop"),
        replacing(target) as scratch,
    ):
        assert (target / "content.txt").read_text() == "old"
        scratch.write_text("new")
        raise RuntimeError("stop")

    assert (target / "content.txt").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_replacing_leaves_several_old_outputs(tmp_path):
    target = tmp_path / "out"
    names = [".out.old-0000aaaa", ".out.old-0000bbbb"]
    for name in names:
        (tmp_path / name).write_text(name)

    with pytest.warns(PromoloopWarning, match="2 earlier outputs"):
        with replacing(target) as scratch:
            scratch.write_text("new")

    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == [*names, "out"]


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_replacing_follows_symbolic_link(tmp_path, kind):
    real = tmp_path / "real" / "out"
    real.parent.mkdir()
    if kind == "folder":
        real.mkdir()
        (real / "old.txt").write_text("old")
    else:
        real.write_text("old")
    link = tmp_path / "link"
    link.symlink_to(real)

    with replacing(link) as scratch:
        assert scratch.parent == real.parent
        scratch.write_text("new")

    assert link.is_symlink()
    assert link.resolve() == real
    assert real.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]
    assert os.listdir(real.parent) == ["out"]


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
def test_spark_write_without_local_output_keeps_target(
    spark_engine, tmp_path, monkeypatch
):
    # Spark with a default file system other than the local one writes
    # nothing at the local scratch path.
    path = tmp_path / "out"
    write_table(path / "day=2024-01-01" / "part-0.parquet", y=[1])
    table = numbers(spark_engine, 2)
    monkeypatch.setattr(spark_engine.backend, "to_parquet", lambda *_, **__: None)

    with pytest.raises(FileNotFoundError, match="no output was written"):
        write_parquet(spark_engine, table, path, partition_by="day")

    assert pd.read_parquet(path)["y"].tolist() == [1]
    assert scratch_names(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("character", ["{", "}", "\\", ":", "["])
def test_spark_scan_rejects_special_characters(spark_engine, tmp_path, character):
    path = write_table(tmp_path / f"a{character}b" / "part-0.parquet", x=[1])

    with pytest.raises(InputError, match="reads as a pattern") as raised:
        scan_parquet(spark_engine, "special", [path], base=tmp_path)

    assert raised.value.file == str(path)
    assert raised.value.value == character
    assert raised.value.fix


@pytest.mark.slow
def test_spark_scan_ignores_partition_folders_above_base(
    spark_engine, duckdb_engine, tmp_path
):
    base = tmp_path / "date=1999-12-31" / "events"
    write_table(base / "date=2024-01-05" / "part-0.parquet", x=[1, 2])

    for engine in (duckdb_engine, spark_engine):
        table = scan_parquet(engine, "nested", parquet_files(base), base=base)
        rows = engine.to_pandas(table)

        assert table.columns == ("x", "date")
        days = pd.to_datetime(rows["date"]).dt.strftime("%Y-%m-%d")
        assert days.tolist() == ["2024-01-05"] * 2


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
