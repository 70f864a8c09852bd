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
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

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

logger = logging.getLogger(__name__)

# DuckDB types that Ibis does not map, and the type they are read as.
DUCKDB_CASTS = {"TIMESTAMP_NS": "TIMESTAMP", "TIMESTAMPTZ_NS": "TIMESTAMPTZ"}

HIDDEN_PREFIXES = (".", "_")
"""Name prefixes of files and folders that a dataset listing skips."""


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
        ``key=value`` folder names become columns, typed by the engine's
        inference (``date=2024-01-31`` becomes a date).
    file_column, row_column : str, optional
        Names of added columns that contain each row's file and its 0-based
        row number in that file. DuckDB gives the file as the path that was
        passed in, Spark as a ``file:`` URI.

    Returns
    -------
    ibis.Table
        On DuckDB, nanosecond timestamps are read as microseconds.

    Notes
    -----
    Both engines expand the glob characters ``*``, ``?`` and ``[`` in each
    path. NOTE: DuckDB takes ``key=value`` folder names anywhere in a path,
    above ``base`` too, while Spark takes only those below ``base``.
    """
    if not files:
        raise ValueError("scan_parquet needs at least one file")
    if engine.name == SPARK:
        return _scan_spark(engine, name, files, base, file_column, row_column)
    return _scan_duckdb(engine, name, files, base, file_column, row_column)


def _scan_duckdb(engine, name, files, base, file_column, row_column) -> ibis.Table:
    """Create a DuckDB view over the files, casting types Ibis cannot read."""
    paths = ", ".join(sql_string(str(path)) for path in files)
    scan = "read_parquet([{}], hive_partitioning = {})".format(
        paths, "false" if base is None else "true"
    )
    connection = engine.backend.con
    described = connection.sql(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    columns = []
    for column, column_type, *_ in described:
        quoted = sql_identifier(column)
        cast = DUCKDB_CASTS.get(column_type)
        columns.append(f"CAST({quoted} AS {cast}) AS {quoted}" if cast else quoted)
    if file_column is not None:
        columns.append(f"filename AS {sql_identifier(file_column)}")
    if row_column is not None:
        columns.append(f"file_row_number AS {sql_identifier(row_column)}")
    connection.execute(
        f"CREATE OR REPLACE TEMP VIEW {sql_identifier(name)} AS "
        f"SELECT {', '.join(columns)} FROM {scan}"
    )
    return engine.backend.table(name)


def _scan_spark(engine, name, files, base, file_column, row_column) -> ibis.Table:
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
    """
    with replacing(path) as scratch:
        if engine.name == SPARK:
            options = {} if partition_by is None else {"partitionBy": partition_by}
            with spark_microsecond_timestamps(engine):
                engine.backend.to_parquet(expr, str(scratch), **options)
        else:
            options = {} if partition_by is None else {"partition_by": partition_by}
            engine.backend.to_parquet(expr, str(scratch), **options)
        if partition_by is not None:
            scratch.mkdir(exist_ok=True)


@contextmanager
def spark_microsecond_timestamps(engine: Engine) -> Iterator[None]:
    """Make Spark write timestamps as INT64 microseconds while the block runs.

    Spark's default, INT96, is read by DuckDB as a timestamp without a time
    zone, so data that the two engines wrote would not mix.
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
def replacing(path: Path) -> Iterator[Path]:
    """Yield a scratch path for new output, then move it into ``path``'s place.

    The scratch path, ``.NAME.tmp-RANDOM``, is in the folder of ``path``,
    so the final move is a rename within one file system. The block writes
    a file or a folder there. When the block raises, the scratch path is
    removed and ``path`` is left as it was. The parent folder of ``path``
    is created when missing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
    try:
        yield scratch
        replace_path(scratch, path)
    except BaseException:
        try:
            remove_path(scratch)
        except OSError as error:
            logger.warning("failed to delete the scratch output %s: %s", scratch, error)
        raise


def replace_path(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``, replacing the file or folder there.

    A file replaces a file in one atomic ``os.replace``. Otherwise the old
    ``target`` is renamed away, ``new`` is renamed in, and the old one is
    deleted. Between the two renames nothing is at ``target``. ``new`` must
    be in the same file system as ``target``, whose parent folder is created
    when missing. When ``new`` does not exist, ``target`` is removed.
    """
    if not new.exists():
        remove_path(target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() and not target.is_symlink():
        new.rename(target)
        return
    if not new.is_dir() and not target.is_dir():
        os.replace(new, target)
        return
    old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
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
    """Delete a file, symbolic link or folder tree; do nothing if it is missing."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
