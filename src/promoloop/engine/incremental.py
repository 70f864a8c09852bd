"""Incremental feature runs over events partitioned by day.

A shop's events are a Parquet dataset partitioned hive style by day
(``EVENTS/date=2024-01-31/*.parquet``). A state folder stores the partials
of the behaviour features and of the interest scores of every processed
partition, and a manifest of those partitions with a fingerprint of their
files (relative paths, sizes and modification times)::

    STATE/manifest.json
    STATE/behaviour/date=YYYY-MM-DD/*.parquet   behaviour_partials
    STATE/interest/date=YYYY-MM-DD/*.parquet    interest_partials

:func:`update` computes the partials of new and changed partitions only, and
drops those of removed partitions. :func:`behaviour_as_of` and
:func:`interest_as_of` merge the stored partials into the features as of a
date, with the same definitions as a full computation
(:mod:`promoloop.engine.behaviour`, :mod:`promoloop.engine.interest`), and
:func:`write_features` writes them to Parquet.

Both engines read and write the state, and one state may hold partials
from both. With Spark, the state folder must be on storage that the driver
and the executors share.

NOTE: nothing locks a state folder, so run one update at a time on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa

from promoloop.config import InterestConfig
from promoloop.engine import cleaning as rules
from promoloop.engine.backends import Engine
from promoloop.engine.behaviour import behaviour_partials, merge_behaviour
from promoloop.engine.cleaning import SOURCE_FILE, SOURCE_ROW
from promoloop.engine.events import is_known_type
from promoloop.engine.interest import (
    DIMENSIONS,
    interest_partials,
    merge_interest,
    ordered_interest,
)
from promoloop.engine.parquet_io import (
    HIDDEN_PREFIXES,
    parquet_files,
    read_parquet_schema,
    remove_path,
    replace_path,
    replacing,
    scan_parquet,
    write_parquet,
)
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.warnings import DataQualityWarning

logger = logging.getLogger(__name__)

PARTITION_COLUMN = "date"
MANIFEST_FILE = "manifest.json"
BEHAVIOUR_DIR = "behaviour"
INTEREST_DIR = "interest"
STATE_FORMAT = 1

# Columns that the partials read, and the Arrow type of each in an empty table.
INPUT_SCHEMA = pa.schema(
    [
        (C.customer_id, pa.string()),
        (C.item_id, pa.string()),
        (C.event_type, pa.string()),
        (C.order_id, pa.string()),
        (C.timestamp, pa.timestamp("us", tz="UTC")),
        (C.quantity, pa.float64()),
        (C.amount, pa.float64()),
        (C.discount, pa.float64()),
    ]
)

# Column of each event's reference time for the interest partials: the
# latest timestamp of its partition, so no event is later than its reference.
_PARTITION_LAST_EVENT = "_partition_last_event"
# Column of the number of events of a partition whose type is missing or
# not canonical.
_UNKNOWN_TYPES = "_unknown_types"
_INCOMING_DIR = "_incoming"
_ONE_DAY = pd.Timedelta(days=1)
_ONE_MICROSECOND = pd.Timedelta(microseconds=1)


@dataclass(frozen=True)
class UpdateSummary:
    """Partitions that one :func:`update` found, by what it did with them.

    Attributes
    ----------
    new, changed, unchanged, removed : tuple of str
        Partition dates (``YYYY-MM-DD``). Partials were computed for the new
        and changed ones, kept for the unchanged ones and dropped for the
        removed ones.
    newest : str
        Date of the newest partition in the state after the update.
    """

    new: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    newest: str

    @property
    def processed(self) -> tuple[str, ...]:
        """Partitions whose partials were computed: the new and changed ones."""
        return self.new + self.changed

    def counts(self) -> dict[str, int]:
        """Return the number of partitions of each kind."""
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
        }


@dataclass(frozen=True)
class FeatureFiles:
    """Parquet outputs of :func:`write_features`.

    With Spark each output is a folder of part files; ``pandas.read_parquet``
    reads either form.
    """

    as_of: pd.Timestamp
    behaviour: Path
    interest: Path | None


@dataclass(frozen=True)
class Partition:
    """One date partition of the events: its folder and Parquet files."""

    day: str
    folder: Path
    files: tuple[Path, ...]

    def fingerprint(self) -> str:
        """Return a SHA-256 digest of the files' relative paths, sizes and mtimes."""
        entries = []
        for path in self.files:
            status = path.stat()
            relative = path.relative_to(self.folder).as_posix()
            entries.append([relative, status.st_size, status.st_mtime_ns])
        return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


# Update


def update(
    engine: Engine,
    events_dir: str | Path,
    state_dir: str | Path,
    *,
    interest: InterestConfig | None = None,
    partition_column: str = PARTITION_COLUMN,
) -> UpdateSummary:
    """Bring the stored partials in line with the events' partitions.

    Parameters
    ----------
    engine : Engine
        Engine that computes the partials.
    events_dir : str or Path
        Folder of the events, partitioned hive style by day:
        ``{partition_column}=YYYY-MM-DD`` subfolders of Parquet files with
        the columns of :data:`INPUT_SCHEMA`.
    state_dir : str or Path
        State folder; created when missing.
    interest : InterestConfig, optional
        Event weights and half-life of the interest partials; the defaults
        of :class:`~promoloop.config.InterestConfig` when omitted. When they
        differ from the settings of the stored partials, every partition is
        computed again.
    partition_column : str, default "date"
        Name of the partition key in the folder names.

    Returns
    -------
    UpdateSummary
        The new, changed, unchanged and removed partitions.

    Raises
    ------
    InputError
        If ``events_dir`` is missing or has no partitions, if a partition
        folder is not named by an ISO date, or if a Parquet file is outside
        the partition folders (see :func:`find_partitions`). Also if a file
        of a new or changed partition is not a valid Parquet file, lacks an
        input column, or types it differently from the partitions processed
        before. Also if an event of such a partition has no event type, or
        one that is not a value of :class:`~promoloop.vocabulary.EventType`
        in any case, because every feature would leave it out. Nothing in
        the state changes.
    """
    events_dir = Path(events_dir)
    state_dir = Path(state_dir)
    interest = interest or InterestConfig()
    settings = {
        "format": STATE_FORMAT,
        "partition_column": partition_column,
        "interest": interest.model_dump(mode="json"),
    }

    # Compare the partitions found with those of the manifest
    partitions = find_partitions(events_dir, partition_column)
    manifest = read_manifest(state_dir)
    stored = manifest.get("partitions", {})
    if stored and manifest.get("settings") != settings:
        logger.info("the feature settings changed, so every partition is recomputed")
        stored = {day: {**entry, "fingerprint": None} for day, entry in stored.items()}
    fingerprints = {
        day: partition.fingerprint() for day, partition in partitions.items()
    }
    new = tuple(day for day in partitions if day not in stored)
    changed = tuple(
        day
        for day in partitions
        if day in stored and stored[day]["fingerprint"] != fingerprints[day]
    )
    unchanged = tuple(
        day for day in partitions if day not in new and day not in changed
    )
    removed = tuple(day for day in sorted(stored) if day not in partitions)

    # Compute the partials of the new and changed partitions
    todo = [partitions[day] for day in new + changed]
    # New files must match the column types of the kept partitions. With none
    # kept, the first new file sets the types.
    schema = manifest.get("schema") if unchanged else None
    schema = check_schema([path for p in todo for path in p.files], schema)
    last_events = {}
    if todo:
        last_events = _compute_partials(
            engine, events_dir, state_dir, todo, interest, partition_column
        )

    # Drop the partials of removed partitions, then record the new state
    entries = {day: stored[day] for day in unchanged}
    for partition in todo:
        entries[partition.day] = {
            "fingerprint": fingerprints[partition.day],
            "files": len(partition.files),
            "bytes": sum(path.stat().st_size for path in partition.files),
            "last_event": last_events.get(partition.day),
        }
    entries = dict(sorted(entries.items()))
    _remove_stale_partials(state_dir, partition_column, set(entries))
    _write_manifest(
        state_dir, {"settings": settings, "schema": schema, "partitions": entries}
    )

    summary = UpdateSummary(new, changed, unchanged, removed, newest=max(entries))
    logger.info(
        "feature state %s: %d new, %d changed, %d unchanged, %d removed partitions",
        state_dir,
        *summary.counts().values(),
    )
    return summary


def _compute_partials(
    engine: Engine,
    events_dir: Path,
    state_dir: Path,
    todo: list[Partition],
    interest: InterestConfig,
    partition_column: str,
) -> dict[str, str | None]:
    """Write the partials of ``todo`` into the state; return each last event time.

    Raises
    ------
    InputError
        If an event has a missing or unknown type. Nothing is written then.
    """
    # Read exactly the files that the fingerprints cover
    files = [path for partition in todo for path in partition.files]
    events = scan_parquet(
        engine, "promoloop_partitioned_events", files, base=events_dir
    )
    days = [date.fromisoformat(partition.day) for partition in todo]
    events = events.mutate(**{partition_column: events[partition_column].cast("date")})
    selected = events.filter(events[partition_column].isin(days))

    # Latest event of each partition: the reference time of its interest
    # partials. The same query counts the events of unknown type, so the
    # check costs no extra scan and runs before any partial is written.
    last = selected.group_by(partition_column).aggregate(
        **{_PARTITION_LAST_EVENT: selected[C.timestamp].max()}
    )
    summary = selected.group_by(partition_column).aggregate(
        **{
            _PARTITION_LAST_EVENT: selected[C.timestamp].max(),
            _UNKNOWN_TYPES: (~is_known_type(selected)).sum(),
        }
    )
    summary = engine.to_pandas(summary)
    summary[partition_column] = [
        pd.Timestamp(day).strftime("%Y-%m-%d") for day in summary[partition_column]
    ]
    _check_event_types(
        engine, todo, summary.set_index(partition_column)[_UNKNOWN_TYPES]
    )
    with_reference = selected.join(last, partition_column)

    # Write both partials to a scratch folder, then swap in each partition, so
    # a failed write leaves the stored partials as they were. The manifest is
    # written last, so the next update computes again any partition whose
    # swap a failure interrupted.
    outputs = {
        BEHAVIOUR_DIR: behaviour_partials(selected, by=[partition_column]),
        INTEREST_DIR: interest_partials(
            with_reference, interest, _PARTITION_LAST_EVENT, by=[partition_column]
        ),
    }
    incoming = state_dir / _INCOMING_DIR
    remove_path(incoming)
    try:
        for kind, expr in outputs.items():
            write_parquet(engine, expr, incoming / kind, partition_by=partition_column)
        # A partition with only anonymous events has no partials, so the
        # swap removes its stored ones.
        for kind in outputs:
            for partition in todo:
                name = f"{partition_column}={partition.day}"
                replace_path(
                    incoming / kind / name,
                    state_dir / kind / name,
                    missing_removes_target=True,
                )
    finally:
        remove_path(incoming)

    # Spark returns timestamps without a time zone, in the session's UTC
    last_events = {}
    for row in summary.to_dict("records"):
        day = row[partition_column]
        stamp = row[_PARTITION_LAST_EVENT]
        if pd.isna(stamp):
            last_events[day] = None
            continue
        stamp = pd.Timestamp(stamp)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        last_events[day] = stamp.tz_convert("UTC").isoformat()
    return last_events


def _check_event_types(
    engine: Engine, partitions: list[Partition], unknown: pd.Series
) -> None:
    """Raise if an event of ``partitions`` has a missing or unknown type.

    Parameters
    ----------
    engine : Engine
        Engine that locates the first such event.
    partitions : list of Partition
        Partitions being processed, oldest first.
    unknown : Series
        Events of missing or unknown type in each partition, indexed by
        day. A partition without events may be missing.

    Raises
    ------
    InputError
        Naming the first such event of the oldest partition that has one:
        its file, 1-based row and value, with the number of others.
    """
    total = int(unknown.sum())
    if not total:
        return
    partition = next(p for p in partitions if unknown.get(p.day, 0) > 0)
    table = scan_parquet(
        engine,
        "promoloop_event_type_check",
        partition.files,
        file_column=SOURCE_FILE,
        row_column=SOURCE_ROW,
    )
    first = rules.first_row(engine, rules.unknown_event_type_rows(table))
    value = first[C.event_type]
    raise rules.unknown_event_type_error(
        None if pd.isna(value) else value,
        total,
        file=rules.source_file_path(first[SOURCE_FILE]),
        row=int(first[SOURCE_ROW]) + 1,
        fix="rewrite the partition with every event mapped to one of these "
        "types, or without the events of other kinds. promoloop clean-events "
        "checks the types of a dataset before the daily job reads it",
    )


def _remove_stale_partials(state_dir: Path, partition_column: str, days: set) -> None:
    """Delete partial folders of partitions that are not in ``days``."""
    keep = {f"{partition_column}={day}" for day in days}
    for kind in (BEHAVIOUR_DIR, INTEREST_DIR):
        folder = state_dir / kind
        if not folder.is_dir():
            continue
        for child in folder.iterdir():
            if child.name in keep:
                continue
            logger.info("dropping the partials of %s", child)
            remove_path(child)


# Features as of a date


def behaviour_as_of(
    engine: Engine, state_dir: str | Path, as_of: str | pd.Timestamp | None = None
) -> ibis.Table:
    """Build the behaviour features from the stored partials.

    Parameters
    ----------
    engine : Engine
        Engine that reads the partials.
    state_dir : str or Path
        State folder written by :func:`update`.
    as_of : str or Timestamp, optional
        Observation end, checked by :func:`resolve_as_of`.

    Returns
    -------
    ibis.Table
        The table of :func:`promoloop.engine.behaviour.behaviour_table` over
        the processed partitions, under the condition on ``basket_size``
        stated in :func:`promoloop.engine.behaviour.behaviour_partials`
        (a pair of order and item bought in two partitions).
    """
    state_dir = Path(state_dir)
    as_of = resolve_as_of(_require_manifest(state_dir), as_of)
    return _merged_behaviour(engine, state_dir, as_of)


def interest_as_of(
    engine: Engine,
    state_dir: str | Path,
    items: ibis.Table,
    as_of: str | pd.Timestamp | None = None,
) -> ibis.Table | None:
    """Build the interest scores from the stored partials.

    Parameters
    ----------
    engine : Engine
        Engine that reads the partials.
    state_dir : str or Path
        State folder written by :func:`update`. Its manifest contains the
        event weights and half-life.
    items : ibis.Table
        Canonical items table registered on ``engine``.
    as_of : str or Timestamp, optional
        Observation end, checked by :func:`resolve_as_of`.

    Returns
    -------
    ibis.Table or None
        The table of :func:`promoloop.engine.interest.interest_table` over
        the processed partitions, up to floating-point rounding, when no
        event is later than ``as_of``. None when ``items`` has no category
        or brand column.
    """
    state_dir = Path(state_dir)
    manifest = _require_manifest(state_dir)
    as_of = resolve_as_of(manifest, as_of)
    return _merged_interest(engine, state_dir, manifest, items, as_of)


def _merged_behaviour(
    engine: Engine, state_dir: Path, as_of: pd.Timestamp
) -> ibis.Table:
    partials = _partials_table(
        engine,
        state_dir / BEHAVIOUR_DIR,
        lambda events: behaviour_partials(events, by=[PARTITION_COLUMN]),
    )
    return merge_behaviour(partials, as_of)


def _merged_interest(
    engine: Engine,
    state_dir: Path,
    manifest: dict,
    items: ibis.Table,
    as_of: pd.Timestamp,
) -> ibis.Table | None:
    config = InterestConfig.model_validate(manifest["settings"]["interest"])
    partials = _partials_table(
        engine,
        state_dir / INTEREST_DIR,
        lambda events: interest_partials(events, config, as_of, by=[PARTITION_COLUMN]),
    )
    return merge_interest(partials, items, as_of, config)


def resolve_as_of(manifest: dict, as_of: str | pd.Timestamp | None) -> pd.Timestamp:
    """Return the observation end of features from stored partials.

    Parameters
    ----------
    manifest : dict
        Manifest of the state, from :func:`read_manifest`.
    as_of : str or Timestamp, optional
        A date such as ``"2024-01-31"`` means the end of that day (its last
        microsecond), as in ``promoloop run --as-of``. A timestamp is taken
        as given, and as UTC when it has no time zone. When omitted, the
        end of the newest partition's day.

    Returns
    -------
    Timestamp
        Timezone-aware UTC.

    Raises
    ------
    InputError
        If ``as_of`` is not a date or is before the end of the newest
        processed partition's day, whose events the partials already sum.

    Warns
    -----
    DataQualityWarning
        If a partition contains events later than ``as_of``. They count in the
        features, and their interest weights grow instead of counting at
        age 0.
    """
    newest = max(manifest["partitions"])
    partition_column = manifest["settings"]["partition_column"]
    end_of_newest = _end_of_day(pd.Timestamp(newest, tz="UTC"))
    if as_of is None:
        stamp = end_of_newest
    else:
        stamp = _parse_as_of(as_of)
    if stamp < end_of_newest:
        raise InputError(
            "as_of is before the end of the newest processed partition "
            f"({partition_column}={newest}), whose events the stored partials "
            "already include",
            value=str(as_of),
            fix=f"pass {newest} or a later date, or compute the features of an "
            "earlier date from the events with behaviour_table",
        )
    late = [
        day
        for day, entry in manifest["partitions"].items()
        if entry.get("last_event") and pd.Timestamp(entry["last_event"]) > stamp
    ]
    if late:
        warnings.warn(
            f"partitions {', '.join(late)} contain events later than as_of "
            f"{stamp.isoformat()}. They count in the features, and their "
            "interest weights grow instead of counting at age 0",
            DataQualityWarning,
            stacklevel=2,
        )
    return stamp


def _parse_as_of(as_of: str | pd.Timestamp) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(as_of)
    except ValueError as error:
        raise InputError(
            "invalid as_of",
            value=str(as_of),
            expected="a date such as 2024-01-31",
            fix="pass an ISO date (YYYY-MM-DD) or an ISO timestamp such as "
            "2024-01-31T18:00:00+00:00",
        ) from error
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    if isinstance(as_of, str) and len(as_of) <= 10 and stamp == stamp.normalize():
        stamp = _end_of_day(stamp)
    return stamp.tz_convert("UTC")


def _end_of_day(day: pd.Timestamp) -> pd.Timestamp:
    return day.normalize() + _ONE_DAY - _ONE_MICROSECOND


def _partials_table(
    engine: Engine, folder: Path, build_empty: Callable[[ibis.Table], ibis.Table]
) -> ibis.Table:
    """Register the stored partials, or ``build_empty`` of no events if none."""
    files = parquet_files(folder) if folder.is_dir() else ()
    if files:
        name = f"promoloop_{folder.name}_partials"
        return scan_parquet(engine, name, files, base=folder)
    # Partitions with only anonymous events leave no partials behind.
    empty = INPUT_SCHEMA.empty_table().append_column(
        PARTITION_COLUMN, pa.array([], pa.date32())
    )
    return build_empty(engine.register_frame("promoloop_no_events", empty))


def write_features(
    engine: Engine,
    state_dir: str | Path,
    out_dir: str | Path,
    *,
    as_of: str | pd.Timestamp | None = None,
    items: str | Path | None = None,
) -> FeatureFiles:
    """Write the features as of a date from the stored partials to Parquet.

    Parameters
    ----------
    engine : Engine
        Engine that reads the partials and writes the features.
    state_dir : str or Path
        State folder written by :func:`update`.
    out_dir : str or Path
        Output folder, created when missing. ``behaviour.parquet`` and
        ``interest.parquet`` in it are replaced; an ``interest.parquet``
        is removed when this call writes none. Both are written next to
        their targets first and replace them only when both writes have
        succeeded, so a failed call leaves the old files in place.
    as_of : str or Timestamp, optional
        Observation end, checked by :func:`resolve_as_of`.
    items : str or Path, optional
        Parquet file (or folder) of the canonical items table: ``item_id``
        and ``category``, ``brand`` or both. Rows with the same item id
        must have the same category and brand, as in the items file of
        ``promoloop run``. Exact copies of a row are allowed. Without
        ``items``, no interest file is written.

    Returns
    -------
    FeatureFiles
        ``behaviour.parquet``: ``customer_id`` and the behaviour columns,
        sorted by customer. ``interest.parquet``: the interest columns,
        sorted by customer, dimension, descending score and value.

    Raises
    ------
    InputError
        If the state has no processed partitions, ``as_of`` is invalid, or
        ``items`` is missing, not Parquet, lacks ``item_id`` or both
        ``category`` and ``brand``, or gives an item id two different
        categories or brands. No output is changed.
    OSError
        If a write fails. No output is changed.
    """
    state_dir = Path(state_dir)
    out_dir = Path(out_dir)
    manifest = _require_manifest(state_dir)
    as_of = resolve_as_of(manifest, as_of)

    # Build both outputs before writing, so a missing or invalid items file
    # stops the call before any output changes.
    behaviour = _merged_behaviour(engine, state_dir, as_of).order_by(C.customer_id)
    scores = None
    if items is not None:
        items_table = engine.register_parquet("promoloop_items", items)
        check_items(engine, items_table, items)
        scores = _merged_interest(engine, state_dir, manifest, items_table, as_of)
        scores = ordered_interest(scores)

    behaviour_path = out_dir / "behaviour.parquet"
    interest_path = out_dir / "interest.parquet"
    _write_feature_files(engine, behaviour, behaviour_path, scores, interest_path)
    logger.info("features as of %s written to %s", as_of.isoformat(), out_dir)
    return FeatureFiles(
        as_of=as_of,
        behaviour=behaviour_path,
        interest=None if scores is None else interest_path,
    )


def check_items(engine: Engine, items: ibis.Table, path: str | Path) -> None:
    """Check an items table read from a file for the interest scores.

    :func:`~promoloop.engine.interest.merge_interest` gives an item id with
    several rows the smallest of its values. An items file with such rows is
    rejected here instead, as ``promoloop run`` rejects it.

    Parameters
    ----------
    engine : Engine
        Engine that ``items`` is registered on.
    items : ibis.Table
        The items table.
    path : str or Path
        The file or folder it was read from, for the messages.

    Raises
    ------
    InputError
        If ``items`` lacks ``item_id`` or both ``category`` and ``brand``,
        or if rows with the same item id differ in one of these columns.
        The message names the first such item id and its values.
    """
    dimensions = [name for name in DIMENSIONS if name in items.columns]
    if C.item_id not in items.columns or not dimensions:
        raise InputError(
            "missing columns for the interest scores in the items file, "
            f"whose columns are {', '.join(items.columns)}",
            file=str(path),
            expected="an item_id column and a category or brand column",
            fix="add the missing column to the items file, or leave out the "
            "items (--items) to write the behaviour features only",
        )

    # Rows that differ only in other columns, or not at all, do not conflict.
    variants = items.filter(items[C.item_id].notnull())
    variants = variants.select(C.item_id, *dimensions).distinct()
    per_item = variants.group_by(C.item_id).aggregate(_variants=ibis._.count())
    repeated = per_item.filter(per_item._variants > 1)
    count = int(rules.scalar(engine, repeated.count()))
    if not count:
        return
    first = rules.scalar(engine, repeated[C.item_id].min())
    rows = rules.collect(engine, variants.filter(variants[C.item_id] == first))
    differing = {
        name: sorted({_item_value(v) for v in rows[name]}, key=str)
        for name in dimensions
        if len({_item_value(v) for v in rows[name]}) > 1
    }
    described = "; ".join(f"{name} {values}" for name, values in differing.items())
    others = ""
    if count > 1:
        others = f" ({count - 1} other item id{'s' if count > 2 else ''} too)"
    raise InputError(
        f"item_id {first!r} has several different rows: {described}{others}",
        file=str(path),
        column=next(iter(differing)),
        value=first,
        expected="one row per item_id",
        fix="remove or merge the conflicting rows",
    )


def _item_value(value: object) -> object:
    """Return a collected item attribute, with every kind of missing as None."""
    return None if pd.isna(value) else value


def _write_feature_files(
    engine: Engine,
    behaviour: ibis.Table,
    behaviour_path: Path,
    scores: ibis.Table | None,
    interest_path: Path,
) -> None:
    """Write both feature files to scratch paths, then move both into place.

    Neither file is replaced unless both writes succeed. An interest file
    is removed when ``scores`` is None, because one of an earlier date would
    pass for current. The two moves into place run one after the other, the
    interest file first, so only a failed move of the behaviour file leaves
    files of two dates.
    """
    with replacing(behaviour_path) as behaviour_scratch:
        with replacing(
            interest_path, missing_removes_target=scores is None
        ) as interest_scratch:
            write_parquet(engine, behaviour, behaviour_scratch)
            if scores is not None:
                write_parquet(engine, scores, interest_scratch)


# Partitions, schemas and the manifest


def find_partitions(
    events_dir: Path, partition_column: str = PARTITION_COLUMN
) -> dict[str, Partition]:
    """Return the date partitions of an events folder, oldest first.

    The files of a partition are those of
    :func:`~promoloop.engine.parquet_io.parquet_files`, which skips names
    starting with ``.`` or ``_`` (such as Spark's ``_SUCCESS``). Partition
    folders without such files are skipped.

    Raises
    ------
    InputError
        If the folder is missing or has no partition with Parquet files, or
        if a partition folder is not named by an ISO date. Also if a Parquet
        file that is not hidden lies outside the partition folders, such as
        a late upload next to them, because its events would be missing
        from every feature.
    """
    if not events_dir.is_dir():
        raise InputError(
            "events folder not found",
            file=str(events_dir),
            fix=f"pass the folder that contains the {partition_column}=YYYY-MM-DD "
            "subfolders",
        )
    prefix = f"{partition_column}="
    partitions = {}
    for folder in sorted(events_dir.iterdir()):
        if folder.name.startswith(HIDDEN_PREFIXES):
            continue
        if not folder.is_dir() or not folder.name.startswith(prefix):
            _reject_files_outside_partitions(folder, prefix)
            continue
        day = folder.name.removeprefix(prefix)
        try:
            canonical = date.fromisoformat(day).isoformat() == day
        except ValueError:
            canonical = False
        if not canonical:
            raise InputError(
                "partition folder is not named by a date",
                file=str(folder),
                value=day,
                expected=f"{prefix}YYYY-MM-DD",
                fix=f"rename the folder to {prefix}YYYY-MM-DD with a zero-padded "
                "ISO date, or move it out of the events folder",
            )
        files = parquet_files(folder)
        if files:
            partitions[day] = Partition(day, folder, files)
    if not partitions:
        raise InputError(
            "no date partitions with Parquet files found",
            file=str(events_dir),
            expected=f"subfolders named {prefix}YYYY-MM-DD that contain .parquet files",
            fix="pass the folder of the events partitioned by day, such as the "
            "output of clean_events_parquet, with file names that do not start "
            "with . or _",
        )
    return partitions


def _reject_files_outside_partitions(path: Path, prefix: str) -> None:
    """Raise if ``path``, next to the partition folders, is or contains Parquet."""
    if path.is_dir():
        files = parquet_files(path)
    else:
        files = (path,) if path.name.endswith(".parquet") else ()
    if files:
        raise InputError(
            "Parquet file outside the partition folders of the events folder",
            file=str(files[0]),
            expected=f"a file inside a {prefix}YYYY-MM-DD folder",
            fix="move it into the folder of its day",
        )


def check_schema(files: list[Path], expected: dict | None) -> dict | None:
    """Check the input columns of Parquet files and return their types.

    Parameters
    ----------
    files : list of Path
        Files of new or changed partitions.
    expected : dict of str to str, optional
        Arrow type of each input column in the partitions processed before;
        the first file sets it when omitted.

    Returns
    -------
    dict of str to str or None
        The types of the input columns, ``expected`` when given, None when
        there are neither files nor expected types.

    Raises
    ------
    InputError
        If a file is not a valid Parquet file, lacks a column of
        :data:`INPUT_SCHEMA`, stores it with a type of another kind (text,
        number, timestamp), or with another type than ``expected``. The
        message names the file and the column.
    """
    for path in files:
        schema = read_parquet_schema(path)
        found = {}
        for field in INPUT_SCHEMA:
            if field.name not in schema.names:
                raise InputError(
                    "input column missing in a new partition",
                    file=str(path),
                    column=field.name,
                    fix="write every partition with the canonical events columns",
                )
            column_type = schema.field(field.name).type
            if _type_kind(column_type) != _type_kind(field.type):
                raise InputError(
                    "input column has the wrong type in a new partition",
                    file=str(path),
                    column=field.name,
                    value=str(column_type),
                    expected=f"a {_type_kind(field.type)} type such as {field.type}",
                    fix=f"cast the column to {field.type} before writing the partition",
                )
            found[field.name] = str(column_type)
        expected = expected or found
        for name, column_type in found.items():
            if column_type != expected[name]:
                raise InputError(
                    "input column type differs from the processed partitions",
                    file=str(path),
                    column=name,
                    value=column_type,
                    expected=expected[name],
                    fix="rewrite the partition with the same column types",
                )
    return expected


def _type_kind(column_type: pa.DataType) -> str:
    if pa.types.is_string(column_type) or pa.types.is_large_string(column_type):
        return "text"
    if pa.types.is_integer(column_type) or pa.types.is_floating(column_type):
        return "number"
    if pa.types.is_timestamp(column_type):
        return "timestamp"
    return str(column_type)


def read_manifest(state_dir: str | Path) -> dict:
    """Return the manifest of a state folder, or an empty dict when it has none."""
    path = Path(state_dir) / MANIFEST_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _require_manifest(state_dir: Path) -> dict:
    manifest = read_manifest(state_dir)
    if not manifest.get("partitions"):
        raise InputError(
            "feature state has no processed partitions",
            file=str(state_dir),
            fix="run update (promoloop features) with the events folder first",
        )
    return manifest


def _write_manifest(state_dir: Path, manifest: dict) -> None:
    """Write the manifest through a temporary file, so a crash leaves the old one."""
    state_dir.mkdir(parents=True, exist_ok=True)
    scratch = state_dir / f".{MANIFEST_FILE}.tmp"
    scratch.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(scratch, state_dir / MANIFEST_FILE)
