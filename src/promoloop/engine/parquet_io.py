"""Parquet datasets read and written by an engine, the same way on DuckDB and Spark.

:func:`parquet_files` lists the files of a dataset folder, and
:func:`scan_parquet` registers exactly those files as a table, so both
engines read the same rows. :func:`write_parquet` writes an expression to a
scratch path next to its target and moves the result into place only when
the write has succeeded, so a failed write leaves the previous output.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from urllib.parse import unquote

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from promoloop.engine.backends import (
    SPARK,
    Engine,
    quiet_library_deprecations,
    sql_identifier,
    sql_string,
)
from promoloop.errors import InputError
from promoloop.warnings import PromoloopWarning

logger = logging.getLogger(__name__)

# DuckDB types that Ibis does not map, and the type they are read as.
DUCKDB_CASTS = {"TIMESTAMP_NS": "TIMESTAMP", "TIMESTAMPTZ_NS": "TIMESTAMPTZ"}

HIDDEN_PREFIXES = (".", "_")
"""Name prefixes of files and folders that a dataset listing skips."""

GLOB_CHARACTERS = "*?["
"""Path characters that both engines expand as a glob pattern."""

SPARK_PATH_CHARACTERS = GLOB_CHARACTERS + "{}\\:"
"""Path characters that Spark's Hadoop paths read as a pattern or a URI part."""

# Folder value that Hive and Spark write for a null partition value.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"

# Column that carries each row's file path in the DuckDB scan.
_FILE = "__promoloop_file"

# Partition values that DuckDB's hive type inference reads as a date, a
# timestamp or a 64-bit integer (DuckDB 2.0 keeps "05" and "+5" as text).
_DATE_VALUE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIMESTAMP_VALUE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
)
_INTEGER_VALUE = re.compile(r"-?(?:0|[1-9]\d*)")


# Reading


def parquet_files(folder: Path) -> tuple[Path, ...]:
    """Return the Parquet files of a folder at any depth, sorted by path.

    A file is listed when its name ends in ``.parquet`` and neither its
    name nor a folder between ``folder`` and it starts with ``.`` or ``_``.
    Spark skips such names too when it reads a folder, because writers keep
    job metadata and unfinished output there, such as ``_SUCCESS``,
    ``_temporary/`` and checksum files.
    """
    files = []
    for path in sorted(folder.rglob("*.parquet")):
        parts = path.relative_to(folder).parts
        if not any(part.startswith(HIDDEN_PREFIXES) for part in parts):
            files.append(path)
    return tuple(files)


def read_parquet_schema(path: Path) -> pa.Schema:
    """Read the schema from the footer of a Parquet file.

    Raises
    ------
    InputError
        If the file is not a valid Parquet file, for example a CSV file or
        one cut short while it was written. The message names the file.
    """
    try:
        return pq.read_schema(path)
    except pa.ArrowInvalid as error:
        raise InputError(
            f"not a valid Parquet file ({error})",
            file=str(path),
            expected="a complete Parquet file, which ends with the bytes PAR1",
            fix="write the file again with a Parquet writer, or move it out "
            "of the dataset folder",
        ) from error


@quiet_library_deprecations
def scan_parquet(
    engine: Engine,
    name: str,
    files: Sequence[Path],
    *,
    base: Path | None = None,
    file_column: str | None = None,
    row_column: str | None = None,
) -> ibis.Table:
    """Register Parquet files as one table on the engine.

    Parameters
    ----------
    engine : Engine
        Engine to register the table on.
    name : str
        Table name; an existing table of that name is replaced.
    files : sequence of Path
        The files to read; at least one. No other file is read, whatever
        else their folders contain.
    base : Path, optional
        Root folder of a dataset partitioned hive style. When given, the
        ``key=value`` names of the folders between ``base`` and each file
        become columns, typed by the engine's inference
        (``date=2024-01-31`` becomes a date). Folder names above ``base``
        are ignored.
    file_column, row_column : str, optional
        Names of added columns that contain each row's file and its 0-based
        row number in that file. DuckDB gives the file as the path that was
        passed in, Spark as a ``file:`` URI.

    Returns
    -------
    ibis.Table
        On DuckDB, nanosecond timestamps are read as microseconds.

    Raises
    ------
    ValueError
        If ``files`` is empty.
    InputError
        If a path contains a character that the engine reads as a pattern
        (see Notes), or if a file is not below ``base``.

    Notes
    -----
    Both engines expand the glob characters ``*``, ``?`` and ``[`` in a
    path, so a file named ``a[1].parquet`` would read ``a1.parquet``.
    Spark reads paths as Hadoop paths, where ``{`` and ``}`` are glob
    characters too, ``\\`` escapes the next character and ``:`` separates
    a URI scheme. A path with one of these characters, in a file name or a
    folder above it, raises an InputError on that engine.

    On DuckDB, the partition values come from the folder names and are
    typed as DuckDB's hive inference types them: a date, a timestamp, a
    64-bit integer, else text. ``__HIVE_DEFAULT_PARTITION__`` is null and
    ``%XX`` escapes are decoded. NOTE: the inference is rebuilt here for
    the common forms (``2024-01-31``, ``2024-01-31 10:00:00``, ``42``), so
    rarer forms such as hexadecimal integers stay text on DuckDB.
    """
    if not files:
        raise ValueError("scan_parquet needs at least one file")
    _check_path_characters(engine, [*files, *([] if base is None else [base])])
    if engine.name == SPARK:
        return _scan_spark(engine, name, files, base, file_column, row_column)
    return _scan_duckdb(engine, name, files, base, file_column, row_column)


def _check_path_characters(engine: Engine, paths: Sequence[Path]) -> None:
    """Raise InputError if a path contains a character the engine reads as a pattern."""
    special = GLOB_CHARACTERS
    if engine.name == SPARK:
        # Spark gets absolute paths, so the working folder counts too.
        special = SPARK_PATH_CHARACTERS
        paths = [Path(os.path.abspath(path)) for path in paths]
    for path in paths:
        found = sorted({character for character in str(path) if character in special})
        if found:
            raise InputError(
                f"path contains characters that {engine.name} reads as a pattern",
                file=str(path),
                value="".join(found),
                expected=f"a path without any of {' '.join(special)}",
                fix="rename the file or folder without these characters",
            )


def _scan_duckdb(
    engine: Engine,
    name: str,
    files: Sequence[Path],
    base: Path | None,
    file_column: str | None,
    row_column: str | None,
) -> ibis.Table:
    """Create a DuckDB view over the files, casting types Ibis cannot read."""
    # DuckDB's own hive_partitioning takes key=value folder names above
    # ``base`` too, and the one nearest the root wins. So the scan reads the
    # data columns only, and the partition values are joined by file.
    partitions = {} if base is None else _hive_partitions(files, base)
    paths = ", ".join(sql_string(str(path)) for path in files)
    options = "hive_partitioning = false"
    connection = engine.backend.con
    described = connection.sql(
        f"DESCRIBE SELECT * FROM read_parquet([{paths}], {options})"
    ).fetchall()

    columns = []
    for column, column_type, *_ in described:
        # A partition value replaces a stored column of the same name.
        if column in partitions:
            continue
        quoted = sql_identifier(column)
        cast = DUCKDB_CASTS.get(column_type)
        if cast:
            columns.append(f"CAST(data.{quoted} AS {cast}) AS {quoted}")
        else:
            columns.append(f"data.{quoted}")
    columns.extend(f"partitions.{sql_identifier(key)}" for key in partitions)
    if file_column is not None:
        columns.append(f"data.{sql_identifier(_FILE)} AS {sql_identifier(file_column)}")
    if row_column is not None:
        columns.append(f"data.file_row_number AS {sql_identifier(row_column)}")

    options += f", filename = {sql_string(_FILE)}"
    source = f"read_parquet([{paths}], {options}) AS data"
    if partitions:
        file = sql_identifier(_FILE)
        source += (
            f" JOIN {_partition_values_sql(files, partitions)} AS partitions"
            f" ON data.{file} = partitions.{file}"
        )
    connection.execute(
        f"CREATE OR REPLACE TEMP VIEW {sql_identifier(name)} AS "
        f"SELECT {', '.join(columns)} FROM {source}"
    )
    return engine.backend.table(name)


def _hive_partitions(files: Sequence[Path], base: Path) -> dict[str, list[str | None]]:
    """Read the ``key=value`` folder names between ``base`` and each file.

    Returns
    -------
    dict of str to list
        Each partition key, in folder order, and its value for each file:
        ``%XX`` escapes decoded, and None for ``__HIVE_DEFAULT_PARTITION__``.

    Raises
    ------
    InputError
        If a file is not below ``base``, or if two files have different
        partition keys, which DuckDB's and Spark's own partition discovery
        reject too.
    """
    root = Path(os.path.abspath(base))
    partitions: dict[str, list[str | None]] = {}
    for index, path in enumerate(files):
        found = _folder_partitions(path, root)
        if index == 0:
            partitions = {key: [] for key in found}
        if list(found) != list(partitions):
            raise InputError(
                "partition folders differ between the files of a dataset",
                file=str(path),
                value=", ".join(found) or "no key=value folder",
                expected=f"the partition keys of {files[0]}: "
                + (", ".join(partitions) or "no key=value folder"),
                fix="give every file the same key=value folder levels below "
                f"{root}, or move the file out of the dataset",
            )
        for key, value in found.items():
            partitions[key].append(value)
    return partitions


def _folder_partitions(path: Path, root: Path) -> dict[str, str | None]:
    """Return the partition values of the folders between ``root`` and a file."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(root)
    except ValueError:
        raise InputError(
            "file is not in the dataset folder",
            file=str(path),
            expected=f"a file below {root}",
            fix="pass the dataset folder that contains the files as base",
        ) from None
    found = {}
    for folder in relative.parts[:-1]:
        key, separator, value = folder.partition("=")
        if separator and key:
            found[key] = None if value == HIVE_NULL else unquote(value)
    return found


def _partition_values_sql(
    files: Sequence[Path], partitions: dict[str, list[str | None]]
) -> str:
    """Return a subquery of each file's path and its typed partition values."""
    rows = []
    for index, path in enumerate(files):
        cells = [sql_string(str(path))]
        for values in partitions.values():
            value = values[index]
            cells.append("NULL" if value is None else sql_string(value))
        rows.append(f"({', '.join(cells)})")
    names = ", ".join(sql_identifier(key) for key in [_FILE, *partitions])
    typed = [sql_identifier(_FILE)]
    for key, values in partitions.items():
        quoted = sql_identifier(key)
        typed.append(f"CAST({quoted} AS {_partition_type(values)}) AS {quoted}")
    return (
        f"(SELECT {', '.join(typed)} "
        f"FROM (VALUES {', '.join(rows)}) AS folder_values({names}))"
    )


def _partition_type(values: Sequence[str | None]) -> str:
    """Return the DuckDB type of a partition column from its folder values.

    The type is the first of DATE, TIMESTAMP and BIGINT that reads every
    value that is not None, else VARCHAR, as in DuckDB's hive inference.
    """
    present = [value for value in values if value is not None]
    if not present:
        return "VARCHAR"
    for type_name, reads in (
        ("DATE", _is_date),
        ("TIMESTAMP", _is_timestamp),
        ("BIGINT", _is_bigint),
    ):
        if all(reads(value) for value in present):
            return type_name
    return "VARCHAR"


def _is_date(text: str) -> bool:
    match = _DATE_VALUE.fullmatch(text)
    if match is None:
        return False
    try:
        date(*(int(part) for part in match.groups()))
    except ValueError:
        return False
    return True


def _is_timestamp(text: str) -> bool:
    match = _TIMESTAMP_VALUE.fullmatch(text)
    if match is None:
        return False
    *fields, fraction = match.groups()
    try:
        datetime(
            *(int(part or 0) for part in fields),
            microsecond=int((fraction or "").ljust(6, "0")),
        )
    except ValueError:
        return False
    return True


def _is_bigint(text: str) -> bool:
    return _INTEGER_VALUE.fullmatch(text) is not None and -(2**63) <= int(text) < 2**63


def _scan_spark(
    engine: Engine,
    name: str,
    files: Sequence[Path],
    base: Path | None,
    file_column: str | None,
    row_column: str | None,
) -> ibis.Table:
    """Register a Spark temporary view over the files."""
    from pyspark.sql import functions

    reader = engine.spark_session.read
    # PySpark 4.0's DataFrameReader.parquet ignores the keyword options that
    # it does not name, basePath among them, so it is set with option().
    if base is not None:
        reader = reader.option("basePath", os.path.abspath(base))
    frame = reader.parquet(*[os.path.abspath(path) for path in files])
    added = []
    if file_column is not None:
        added.append(functions.col("_metadata.file_path").alias(file_column))
    if row_column is not None:
        added.append(functions.col("_metadata.row_index").alias(row_column))
    if added:
        frame = frame.select("*", *added)
    frame.createOrReplaceTempView(name)
    return engine.backend.table(name)


# Writing


def write_parquet(
    engine: Engine, expr: ibis.Table, path: Path, partition_by: str | None = None
) -> None:
    """Write an expression to Parquet with the engine, replacing ``path``.

    DuckDB writes one file, or hive partition folders with ``partition_by``.
    Spark writes a folder of part files in both cases. A result without rows
    and with ``partition_by`` is an empty folder. The output is first
    written next to ``path`` (see :func:`replacing`), so until it is
    complete the old output stays in place, and disk space is needed for
    both.

    Parameters
    ----------
    engine : Engine
        Engine that runs ``expr`` and writes the result.
    expr : ibis.Table
        Expression on ``engine``.
    path : Path
        Output file or folder on the local file system.
    partition_by : str, optional
        Column whose values name the ``column=value`` output folders.

    Raises
    ------
    FileNotFoundError
        If the engine wrote no output at the local scratch path, for
        example Spark with a default file system other than the local
        one. ``path`` is left as it was.
    OSError
        If the write or the move into place fails; ``path`` is left as it
        was.
    """
    with replacing(path) as scratch:
        if engine.name == SPARK:
            options = {} if partition_by is None else {"partitionBy": partition_by}
            with spark_microsecond_timestamps(engine):
                engine.backend.to_parquet(expr, str(scratch), **options)
        else:
            options = {} if partition_by is None else {"partition_by": partition_by}
            engine.backend.to_parquet(expr, str(scratch), **options)
            # DuckDB writes no folder for a partitioned result without rows.
            if partition_by is not None:
                scratch.mkdir(exist_ok=True)


@contextmanager
def spark_microsecond_timestamps(engine: Engine) -> Iterator[None]:
    """Make Spark write timestamps as INT64 microseconds while the block runs.

    Spark's default, INT96, is read by DuckDB as a timestamp without a time
    zone, so data that the two engines wrote would not mix.

    Parameters
    ----------
    engine : Engine
        A Spark engine. Its session's ``spark.sql.parquet.outputTimestampType``
        gets its previous value back when the block ends or raises.

    Yields
    ------
    None
    """
    key = "spark.sql.parquet.outputTimestampType"
    session = engine.spark_session
    previous = session.conf.get(key)
    session.conf.set(key, "TIMESTAMP_MICROS")
    try:
        yield
    finally:
        session.conf.set(key, previous)


@contextmanager
def replacing(path: Path, *, missing_removes_target: bool = False) -> Iterator[Path]:
    """Yield a scratch path for new output, then move it into ``path``'s place.

    The scratch path, ``.NAME.tmp-RANDOM``, is in the folder of ``path``,
    so the final move is a rename within one file system. The block writes
    a file or a folder there. When the block raises, the scratch path is
    removed and ``path`` is left as it was. The parent folder of ``path``
    is created when missing, and a symbolic link at ``path`` is followed,
    so the new output replaces the link's target and the link stays.

    Before the block runs, the leftovers of an interrupted earlier call are
    handled: ``.NAME.tmp-*`` scratch paths are deleted, and when ``path``
    is missing and exactly one ``.NAME.old-*`` output is next to it (see
    :func:`replace_path`), that output is moved back to ``path``. Two
    calls on the same path at the same time would delete each other's
    scratch output, so run one at a time.

    Parameters
    ----------
    path : Path
        File or folder to replace.
    missing_removes_target : bool, default False
        When the block writes nothing at the scratch path, remove ``path``
        instead of raising.

    Yields
    ------
    Path
        The scratch path, which does not exist yet.

    Raises
    ------
    FileNotFoundError
        If the block wrote nothing at the scratch path and
        ``missing_removes_target`` is false. ``path`` is left as it was.

    Warns
    -----
    PromoloopWarning
        When an earlier output is moved back to ``path``, or when several
        are next to the missing ``path`` and none is moved back.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover_interrupted_replace(path)
    scratch = _sibling(path, "tmp")
    try:
        yield scratch
        if not os.path.lexists(scratch) and not missing_removes_target:
            raise FileNotFoundError(
                f"no output was written at the scratch path {scratch}, so {path} "
                "was left as it was. A writer that writes to another file "
                "system, such as Spark with HDFS as its default, leaves no local "
                "output"
            )
        replace_path(scratch, path, missing_removes_target=missing_removes_target)
    except BaseException:
        try:
            remove_path(scratch)
        except OSError as error:
            logger.warning("failed to delete the scratch output %s: %s", scratch, error)
        raise


def replace_path(
    new: Path, target: Path, *, missing_removes_target: bool = False
) -> None:
    """Move ``new`` to ``target``, replacing the file or folder there.

    A file replaces a file in one atomic ``os.replace``. Otherwise the old
    ``target`` is renamed to ``.NAME.old-RANDOM`` next to it, ``new`` is
    renamed in, and the old one is deleted. Between the two renames nothing
    is at ``target``. When the second rename fails, the old one is renamed
    back. A crash between the two renames leaves the old output at
    ``.NAME.old-RANDOM``, which the next :func:`replacing` of ``target``
    moves back.

    Parameters
    ----------
    new : Path
        New file or folder, in the same file system as ``target``.
    target : Path
        Path to replace. Its parent folder is created when missing.
    missing_removes_target : bool, default False
        When ``new`` does not exist, remove ``target`` instead of raising.

    Raises
    ------
    FileNotFoundError
        If ``new`` does not exist and ``missing_removes_target`` is false.
    OSError
        If a rename fails. ``target`` keeps its old content.
    """
    if not os.path.lexists(new):
        if not missing_removes_target:
            raise FileNotFoundError(
                f"new output {new} not found, so {target} was left as it was"
            )
        remove_path(target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if not os.path.lexists(target):
        new.rename(target)
        return
    if not new.is_dir() and not target.is_dir():
        os.replace(new, target)
        return
    old = _sibling(target, "old")
    target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        old.rename(target)
        raise
    try:
        remove_path(old)
    except OSError as error:
        logger.warning("failed to delete the replaced output %s: %s", old, error)


def remove_path(path: Path) -> None:
    """Delete a file, symbolic link or folder tree; do nothing if it is missing.

    Parameters
    ----------
    path : Path
        Path to delete. A symbolic link is deleted, not its target.

    Raises
    ------
    OSError
        If the file system refuses a deletion, for example for lack of
        permission.
    """
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _sibling(path: Path, kind: str) -> Path:
    """Return a new hidden path ``.NAME.KIND-RANDOM`` next to ``path``."""
    return path.parent / f".{path.name}.{kind}-{secrets.token_hex(4)}"


def _siblings(path: Path, kind: str) -> list[Path]:
    """Return the existing ``.NAME.KIND-*`` paths next to ``path``, sorted."""
    prefix = f".{path.name}.{kind}-"
    return sorted(
        child for child in path.parent.iterdir() if child.name.startswith(prefix)
    )


def _recover_interrupted_replace(path: Path) -> None:
    """Delete stale scratch output and move back an old output left by a crash."""
    for stale in _siblings(path, "tmp"):
        logger.info("deleting the scratch output %s of an interrupted write", stale)
        remove_path(stale)
    if os.path.lexists(path):
        return
    old = _siblings(path, "old")
    if len(old) == 1:
        old[0].rename(path)
        warnings.warn(
            f"{path} was missing after an interrupted replace, so the previous "
            f"output {old[0]} was moved back",
            PromoloopWarning,
            stacklevel=4,
        )
    elif old:
        warnings.warn(
            f"{path} is missing and {len(old)} earlier outputs are next to it: "
            f"{', '.join(str(item) for item in old)}. None was moved back. Move "
            f"the one to keep to {path} and delete the others",
            PromoloopWarning,
            stacklevel=4,
        )
