"""Read tables in fixed-size batches and write batches of results to Parquet.

Batch scoring reads its inputs (customer ids, feature tables) from a Parquet
file or folder, an Arrow table or dataset, or an in-memory sequence, and
never needs the whole input as Python objects: :func:`table_batches` and
:func:`id_batches` yield slices of exactly ``batch_size`` rows (the last one
may be shorter), and :func:`write_parquet_batches` streams frames into one
Parquet file, one row group per frame.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from promoloop.errors import InputError

logger = logging.getLogger(__name__)

# Record batches the Arrow scanner reads ahead of the consumer. Arrow's
# defaults (16 batches, 4 files) would keep up to 64 batches in memory.
_BATCH_READAHEAD = 2
_FRAGMENT_READAHEAD = 1

# With pre-buffering (the default), pyarrow 26 keeps every row group it has
# read from a Parquet file until the scan of that file ends, so memory grows
# with the file. Without it, one row group at a time is held.
_PARQUET_SCAN = ds.ParquetFragmentScanOptions(
    pre_buffer=False, use_buffered_stream=True
)

TableSource = str | os.PathLike | ds.Dataset | pa.Table | pa.RecordBatchReader


def check_batch_size(batch_size: object) -> int:
    """Return ``batch_size`` as an int, or raise InputError unless it is >= 1."""
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise InputError(
            "invalid value of argument 'batch_size'",
            value=batch_size,
            expected="an integer >= 1 (rows per batch)",
        )
    return int(batch_size)


def table_batches(
    source: TableSource | pd.DataFrame | pa.RecordBatch,
    batch_size: int,
    columns: Sequence[str] | None = None,
) -> Iterator[pa.Table]:
    """Yield a table's rows in order, as tables of exactly ``batch_size`` rows.

    Only the last table may be shorter. Rows are read one record batch at a
    time, so at most about two batches of the source are in memory.

    Parameters
    ----------
    source : path, Dataset, Table, RecordBatch, RecordBatchReader or DataFrame
        A path is a Parquet file or a folder of Parquet files (read as a
        ``pyarrow.dataset``, files in path order).
    batch_size : int
        Rows per yielded table.
    columns : sequence of str, optional
        Columns to read; all columns when None.

    Yields
    ------
    pyarrow.Table

    Raises
    ------
    InputError
        If ``batch_size`` is not a positive integer, the path does not exist
        or a requested column is missing.
    """
    batch_size = check_batch_size(batch_size)
    return _rebatch(_record_batches(source, batch_size, columns), batch_size)


def id_batches(
    ids: TableSource | pd.DataFrame | Iterable,
    batch_size: int,
    column: str,
) -> Iterator[pd.Series]:
    """Yield ids in order, ``batch_size`` at a time, as pandas Series.

    Parameters
    ----------
    ids : path, Dataset, Table, RecordBatchReader, DataFrame or iterable
        Tabular sources give their ``column``. A pyarrow Array, a pandas
        Series or Index, a NumPy array or a list is sliced. Any other
        iterable (a generator, for instance) is read ``batch_size`` items
        at a time.
    batch_size : int
        Ids per batch; only the last batch may be shorter.
    column : str
        Column of the ids in a tabular source.

    Yields
    ------
    Series
        The ids of one batch, index 0..n-1, in input order and with
        duplicates kept.

    Raises
    ------
    InputError
        As :func:`table_batches`.
    """
    batch_size = check_batch_size(batch_size)
    if _is_tabular(ids):
        tables = table_batches(ids, batch_size, [column])
        return (table.column(0).to_pandas() for table in tables)
    if isinstance(ids, pa.Array | pa.ChunkedArray):
        return _sliced(ids, batch_size, lambda part: part.to_pandas())
    if isinstance(ids, pd.Series | pd.Index | np.ndarray | list | tuple):
        series = pd.Series(ids) if not isinstance(ids, pd.Series) else ids
        series = series.reset_index(drop=True)
        return _sliced(series, batch_size, lambda part: part.reset_index(drop=True))
    return _chunked(iter(ids), batch_size)


@dataclass(frozen=True)
class WriteSummary:
    """Counts and wall time of one batch write.

    Attributes
    ----------
    path : Path
        The Parquet file.
    rows : int
        Rows written.
    batches : int
        Batches written, one Parquet row group each (empty batches are
        skipped).
    seconds : float
        Wall time from the first read to the closed file.
    """

    path: Path
    rows: int
    batches: int
    seconds: float


def write_parquet_batches(
    frames: Iterable[pd.DataFrame], path: str | os.PathLike, schema: pa.Schema
) -> WriteSummary:
    """Write frames one after another into one Parquet file.

    The file is written under a temporary name next to ``path`` and renamed
    when complete, so ``path`` never contains a partial result. With no
    rows, the file contains the schema and no row group.

    Parameters
    ----------
    frames : iterable of DataFrame
        Frames with the columns of ``schema``; each is converted and written
        before the next is requested.
    path : str or path-like
        Output file; its folder is created.
    schema : pyarrow.Schema
        Column names and types of the file.

    Returns
    -------
    WriteSummary
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    started = time.perf_counter()
    rows = batches = 0
    try:
        with pq.ParquetWriter(partial, schema) as writer:
            for frame in frames:
                if frame.empty:
                    continue
                table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
                writer.write_table(table)
                rows += table.num_rows
                batches += 1
                logger.debug("wrote batch %d (%d rows) to %s", batches, rows, path)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    logger.info(
        "wrote %d rows in %d batches to %s in %.1f s", rows, batches, path, seconds
    )
    return WriteSummary(path=path, rows=rows, batches=batches, seconds=seconds)


def _is_tabular(source: object) -> bool:
    tabular = (str, os.PathLike, ds.Dataset, pa.Table, pa.RecordBatch)
    return isinstance(source, tabular + (pa.RecordBatchReader, pd.DataFrame))


def _record_batches(source, batch_size: int, columns) -> Iterator[pa.RecordBatch]:
    if isinstance(source, str | os.PathLike):
        source = _open_dataset(Path(source))
    if isinstance(source, pd.DataFrame):
        _check_columns(list(source.columns), columns)
        frame = source if columns is None else source[list(columns)]
        source = pa.Table.from_pandas(frame, preserve_index=False)
    if isinstance(source, pa.RecordBatch):
        source = pa.Table.from_batches([source])

    if isinstance(source, ds.Dataset):
        _check_columns(source.schema.names, columns)
        parquet = isinstance(source.format, ds.ParquetFileFormat)
        return source.to_batches(
            columns=None if columns is None else list(columns),
            batch_size=batch_size,
            batch_readahead=_BATCH_READAHEAD,
            fragment_readahead=_FRAGMENT_READAHEAD,
            fragment_scan_options=_PARQUET_SCAN if parquet else None,
        )
    if isinstance(source, pa.Table):
        _check_columns(source.schema.names, columns)
        table = source if columns is None else source.select(list(columns))
        return iter(table.to_batches(max_chunksize=batch_size))
    if isinstance(source, pa.RecordBatchReader):
        _check_columns(source.schema.names, columns)
        if columns is None:
            return iter(source)
        return (batch.select(list(columns)) for batch in source)
    raise InputError(
        f"unsupported batch input of type {type(source).__name__}",
        expected="a Parquet path, a pyarrow Dataset, Table, RecordBatch or "
        "RecordBatchReader, or a pandas DataFrame",
    )


def _open_dataset(path: Path) -> ds.Dataset:
    if not path.exists():
        raise InputError(
            "Parquet input not found",
            file=str(path),
            fix="pass an existing Parquet file or folder of Parquet files",
        )
    return ds.dataset(path, format="parquet")


def _check_columns(available: list[str], requested) -> None:
    if requested is None:
        return
    missing = [c for c in requested if c not in available]
    if missing:
        raise InputError(
            f"missing column(s) {missing} in the batch input",
            expected=f"columns {list(requested)}; the input has {available}",
        )


def _rebatch(batches: Iterable[pa.RecordBatch], batch_size: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= batch_size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, batch_size)
            rest = table.slice(batch_size)
            pending = rest.to_batches()
            pending_rows = rest.num_rows
    if pending_rows:
        yield pa.Table.from_batches(pending)


def _sliced(values, batch_size: int, convert) -> Iterator[pd.Series]:
    for start in range(0, len(values), batch_size):
        yield convert(values[start : start + batch_size])


def _chunked(values: Iterator, batch_size: int) -> Iterator[pd.Series]:
    while chunk := list(itertools.islice(values, batch_size)):
        yield pd.Series(chunk, dtype="object")
