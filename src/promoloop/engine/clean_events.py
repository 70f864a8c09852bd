"""Clean a canonical events Parquet dataset on an engine, without pandas.

:func:`clean_events_parquet` reads a Parquet file or a folder of Parquet
files, applies the cleaning rules of :mod:`promoloop.engine.cleaning` in the
order the loaders apply them, and writes the cleaned events partitioned by
date, with the cleaning report next to them::

    DESTINATION/date=YYYY-MM-DD/*.parquet
    DESTINATION/_cleaning_report.json

Only counts and the rows named in an error reach Python, so a shop too big
for memory is cleaned out of core on DuckDB or across a Spark cluster.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from promoloop.data.report import CleaningReport
from promoloop.data.schema import EVENTS
from promoloop.engine import cleaning as rules
from promoloop.engine.backends import (
    SPARK,
    Engine,
    engine_or_default,
    library_deprecations_hidden,
    sql_identifier,
)
from promoloop.engine.cleaning import SOURCE_FILE, SOURCE_ROW
from promoloop.engine.parquet_io import (
    parquet_files,
    read_parquet_schema,
    replacing,
    scan_parquet,
    write_parquet,
)
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

PARTITION_COLUMN = "date"
"""Partition key of the written dataset: the UTC date of ``timestamp``."""

REPORT_FILE = "_cleaning_report.json"
"""Report file in the destination; Parquet readers skip names starting with _."""

ID_COLUMNS = [C.customer_id, C.item_id, C.order_id, C.event_id]
_SOURCE_TABLE = "events_source"


def clean_events_parquet(
    source: str | Path,
    destination: str | Path,
    *,
    engine: Engine | None = None,
    overwrite: bool = False,
) -> CleaningReport:
    """Clean a canonical events Parquet dataset and write it partitioned by date.

    The rules and their order are those of the loaders. Exact duplicates
    are dropped, and a discount column stored as negative numbers is
    negated. Ids are made canonical strings, event types are made lower
    case, and infinite amounts, discounts and quantities are made missing.
    Missing or unknown event types, negative values and repeated event
    ids raise. The events are written sorted by
    :data:`promoloop.engine.cleaning.EVENT_SORT_ORDER`.

    Parameters
    ----------
    source : str or Path
        A Parquet file, or a folder of Parquet files at any depth, with the
        columns of :data:`promoloop.data.schema.EVENTS` (``channel`` may be
        missing). In a folder, files whose name, or the name of a folder
        below ``source``, starts with ``.`` or ``_`` are skipped, as Spark
        skips them. A folder may be partitioned hive style, and its partition
        keys are read as columns. A ``date`` column, such as the partition
        key of a folder partitioned by date, is replaced by the UTC date of
        ``timestamp``. Id columns may contain numbers, amounts may be
        integers, and a timestamp without a time zone is taken as UTC.
        ``NaN`` is read as missing, as pandas reads it.
    destination : str or Path
        Folder to write. It must not exist or be empty, unless
        ``overwrite``. The output is written next to it first and moved
        into place when complete, so a failure leaves what was there.
    engine : Engine, optional
        Engine to run on; left open. Default: a new in-process DuckDB
        engine, closed afterwards. Spark 4 reads only Parquet timestamps
        stored in microseconds or milliseconds.
    overwrite : bool, default False
        Replace what is at ``destination``.

    Returns
    -------
    CleaningReport
        The source rows read and the count of every rule, also written as
        JSON to ``destination / REPORT_FILE``.

    Raises
    ------
    InputError
        If ``source`` is missing, has no Parquet files, has a file that is
        not valid Parquet, or lacks a column. If ``timestamp`` is not a
        timestamp. If ``destination`` overlaps ``source``, or is not empty
        and ``overwrite`` is False. If a rule rejects a row: the error names
        its Parquet file, its 1-based row in that file, the column and the
        value.

    Notes
    -----
    Each rule's count is a query over the dataset. The rows left after the
    exact duplicates, and again after the repairs, are cached on the engine
    (DuckDB keeps them in a temporary table, Spark persists them), so the
    later queries do not repeat the earlier rules.

    DuckDB spills to disk when a query exceeds its ``memory_limit``, within
    limits. NOTE: 2 million events (73 MB of Parquet) were cleaned with a
    limit of 250 MB and 2 threads, and failed with an out-of-memory error
    at 100 MB, in the aggregation over every column that finds exact
    duplicates.
    """
    if engine is None:
        with engine_or_default() as default:
            return clean_events_parquet(
                source, destination, engine=default, overwrite=overwrite
            )
    source, destination = Path(source), Path(destination)
    files = _source_files(source)
    _check_destination(source, destination, overwrite)
    # Read each footer first, so that an error names a file that is not Parquet.
    for path in files:
        read_parquet_schema(path)

    report = CleaningReport(source=str(source))
    events = _conform(_scan(engine, source, files), source)
    report.rows_read["events"] = int(rules.scalar(engine, events.count()))

    # Drop exact duplicates and keep the rest on the engine.
    deduplicated = rules.drop_exact_duplicates(events)
    rules.EXACT_DUPLICATES.record(report, rules.scalar(engine, deduplicated.count))
    unique = _CachedTable(engine, "events_unique", deduplicated.table)

    # Repair values and keep the result, then check it. The events and the
    # report are written next to the destination and replace it together.
    with unique:
        repaired = _CachedTable(
            engine, "events_repaired", _repair(engine, unique.table, report, source)
        )
    with repaired:
        _check(engine, repaired.table, source)
        with replacing(destination) as output:
            _write(engine, repaired.table, output)
            report_text = json.dumps(report.to_dict(), indent=2)
            (output / REPORT_FILE).write_text(report_text)
    logger.info(
        "cleaned %d events from %s into %s",
        report.rows_read["events"] - report.count("exact_duplicates"),
        source,
        destination,
    )
    return report


# Steps


def _source_files(source: Path) -> tuple[Path, ...]:
    """Return the Parquet files to read: ``source`` itself, or those in it."""
    if not source.exists():
        raise InputError(
            "Parquet dataset not found",
            file=str(source),
            fix="pass a Parquet file or a folder of Parquet files",
        )
    if not source.is_dir():
        return (source,)
    files = parquet_files(source)
    if not files:
        raise InputError(
            "no Parquet files found in the folder",
            file=str(source),
            expected="files ending in .parquet at any depth, with no name "
            "starting with . or _ in their path below the folder",
            fix="pass the folder that contains the events' Parquet files",
        )
    return files


def _check_destination(source: Path, destination: Path, overwrite: bool) -> None:
    inside = destination.resolve().is_relative_to(source.resolve())
    if inside or source.resolve().is_relative_to(destination.resolve()):
        raise InputError(
            "the destination overlaps the source dataset",
            file=str(destination),
            fix="write the cleaned events to a folder outside the source",
        )
    occupied = destination.exists() and (
        not destination.is_dir() or any(destination.iterdir())
    )
    if occupied and not overwrite:
        raise InputError(
            "the destination folder is not empty",
            file=str(destination),
            fix="choose an empty folder, or pass overwrite=True to replace it",
        )


def _repair(
    engine: Engine, events: ibis.Table, report: CleaningReport, source: Path
) -> ibis.Table:
    """Apply the rules that change values, recording each count."""
    counts = rules.collect(
        engine, rules.discount_sign_counts(events, [C.discount])
    ).iloc[0]
    negative = int(counts[f"negative:{C.discount}"])
    positive = int(counts[f"positive:{C.discount}"])
    if negative and positive:
        _raise_mixed_signs(engine, events, negative, positive, source)
    flipped = rules.flip_discount_signs(events, [C.discount] if negative else [])
    rules.discount_sign_entry(C.discount).record(report, negative)
    if negative:
        report.notes.append(rules.flipped_signs_note(C.discount, negative))
    events = flipped.table

    for column in ID_COLUMNS:
        canonical = rules.canonicalize_id(events, column)
        rules.canonical_id_entry(column).record(
            report, rules.scalar(engine, canonical.count)
        )
        events = canonical.table

    # Types are checked before they are lower-cased, so an error shows the
    # value as the file stores it.
    _check_event_types(engine, events)
    lowered = rules.lower_case_event_types(events)
    rules.EVENT_TYPE_LOWER_CASED.record(report, rules.scalar(engine, lowered.count))
    events = lowered.table

    infinite = rules.make_infinite_missing(events)
    rules.NON_FINITE_AMOUNT.record(report, rules.scalar(engine, infinite.count))
    return infinite.table


def _raise_mixed_signs(engine, events, negative, positive, source) -> None:
    minority_negative = negative <= positive
    rows = rules.collect(
        engine,
        rules.minority_sign_rows(events, C.discount, minority_negative).limit(
            rules.MAX_ROWS_LISTED
        ),
    )
    named = [_row_name(source, row) for _, row in rows.iterrows()]
    file, row = _locate(rows.iloc[0])
    raise rules.mixed_signs_error(
        C.discount,
        named,
        negative if minority_negative else positive,
        rows[C.discount].iloc[0],
        file=file,
        row=row,
    )


def _check_event_types(engine: Engine, events: ibis.Table) -> None:
    """Raise for the first event whose type is missing or unknown in any case."""
    unknown = rules.unknown_event_type_rows(events)
    total = int(rules.scalar(engine, unknown.count()))
    if not total:
        return
    first = rules.first_row(engine, unknown)
    file, row = _locate(first)
    value = first[C.event_type]
    raise rules.unknown_event_type_error(
        None if pd.isna(value) else value,
        total,
        file=file,
        row=row,
        fix="map every event to one of these types before cleaning, or "
        "drop the events of other kinds",
    )


def _check(engine: Engine, events: ibis.Table, source: Path) -> None:
    """Raise for the rows that no rule repairs.

    Checked in this order: missing timestamps, negative money values and
    repeated event ids.
    """
    undated = events.filter(events[C.timestamp].isnull()).order_by(
        [SOURCE_FILE, SOURCE_ROW]
    )
    if rules.scalar(engine, undated.count()):
        file, row = _locate(rules.first_row(engine, undated))
        raise InputError(
            "event without a timestamp",
            file=file,
            row=row,
            column=C.timestamp,
            value=None,
            expected="a timestamp on every event: the output is partitioned by day",
            fix="drop or repair the events without a timestamp before cleaning",
        )
    negatives = rules.collect(engine, rules.negative_counts(events)).iloc[0]
    for column in rules.MONEY_COLUMNS:
        if negatives[column]:
            first = rules.first_row(engine, rules.negative_rows(events, column))
            file, row = _locate(first)
            raise rules.negative_value_error(column, first[column], file=file, row=row)
    if rules.scalar(engine, rules.repeated_event_id_count(events)):
        first = rules.repeated_event_ids(events).limit(rules.MAX_ROWS_LISTED)
        rows = rules.collect(engine, first)
        file, row = _locate(rows.iloc[0])
        ids = [None if pd.isna(i) else i for i in rows[C.event_id]]
        raise rules.repeated_event_ids_error(ids, file=file, row=row)


def _write(engine: Engine, events: ibis.Table, destination: Path) -> None:
    """Write the events sorted, partitioned by the UTC date of their timestamp."""
    columns = rules.data_columns(events)
    dated = events.mutate(**{PARTITION_COLUMN: events[C.timestamp].date()})
    ordered = dated.order_by(
        [
            ibis.asc(PARTITION_COLUMN, nulls_first=False),
            *[ibis.asc(c, nulls_first=False) for c in rules.EVENT_SORT_ORDER],
            *rules.source_order(events),
        ]
    )
    output = ordered.select(*columns, PARTITION_COLUMN)
    with library_deprecations_hidden():
        write_parquet(engine, output, destination, partition_by=PARTITION_COLUMN)


# Reading


def _scan(engine: Engine, source: Path, files: tuple[Path, ...]) -> ibis.Table:
    """Register the files with each row's file and 0-based row in that file."""
    return scan_parquet(
        engine,
        _SOURCE_TABLE,
        files,
        base=source if source.is_dir() else None,
        file_column=SOURCE_FILE,
        row_column=SOURCE_ROW,
    )


def _conform(table: ibis.Table, source: Path) -> ibis.Table:
    """Cast the columns to the canonical types and add a missing channel."""
    if PARTITION_COLUMN in table.columns:
        table = table.drop(PARTITION_COLUMN)
    missing = [c for c in EVENTS.required if c not in table.columns]
    if missing:
        raise InputError(
            f"missing required column(s) {missing} for the events table",
            file=str(source),
            expected=f"columns {EVENTS.required}",
            fix="add the columns when writing the Parquet files",
        )
    timestamp = table[C.timestamp]
    if not timestamp.type().is_timestamp():
        raise InputError(
            "the timestamp column is not a Parquet timestamp",
            file=str(source),
            column=C.timestamp,
            value=str(timestamp.type()),
            expected="a timestamp type, UTC or without a time zone",
            fix="write the column as a timestamp, e.g. from a pandas datetime",
        )
    casts = {C.timestamp: timestamp.cast(dt.Timestamp(timezone="UTC"))}
    for spec in EVENTS.columns:
        if spec.dtype == "string":
            if spec.name in table.columns:
                casts[spec.name] = table[spec.name].cast("string")
            else:
                casts[spec.name] = ibis.null("string")
        elif spec.dtype == "float":
            value = table[spec.name].cast("float64")
            casts[spec.name] = ibis.ifelse(value.isnan(), ibis.null("float64"), value)
    return table.mutate(**casts)


class _CachedTable:
    """A table computed once and kept on its engine until the ``with`` block ends.

    Ibis 12's ``CachedTable.release`` fails on DuckDB 2 with a syntax error,
    so DuckDB gets a temporary table and Spark a persisted DataFrame.
    """

    def __init__(self, engine: Engine, name: str, table: ibis.Table) -> None:
        self.engine = engine
        self.name = name
        query = engine.backend.compile(table)
        with library_deprecations_hidden():
            if engine.name == SPARK:
                self._frame = engine._spark_session.sql(query).persist()
                self._frame.createOrReplaceTempView(name)
            else:
                engine.backend.con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {sql_identifier(name)} AS {query}"
                )
            self.table = engine.backend.table(name)

    def __enter__(self) -> _CachedTable:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.engine.name == SPARK:
            self._frame.unpersist()
            self.engine._spark_session.catalog.dropTempView(self.name)
        else:
            self.engine.backend.con.execute(
                f"DROP TABLE IF EXISTS {sql_identifier(self.name)}"
            )


# Errors and engine settings


def _locate(row) -> tuple[str, int]:
    """Return the Parquet file and 1-based row of a collected source row."""
    return rules.source_file_path(row[SOURCE_FILE]), int(row[SOURCE_ROW]) + 1


def _row_name(source: Path, row) -> str:
    file, number = _locate(row)
    root = source if source.is_dir() else source.parent
    try:
        file = str(Path(file).relative_to(root))
    except ValueError:
        pass
    return f"{file}:{number}"
