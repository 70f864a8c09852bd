"""Daily runs from stored partials give the features of a full computation.

Events are written as a Parquet dataset partitioned by day. After each
:func:`update`, the features merged from the stored partials are compared
with independent pandas implementations over all the events so far, with a
relative and absolute tolerance of 1e-9. The behaviour baseline is
:func:`pandas_behaviour`, and the interest baseline is the event-by-event
sum of the interest engine tests.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from promoloop.benchmarks.scale_tasks import pandas_behaviour
from promoloop.benchmarks.synthetic_events import (
    EventGenerator,
    generate_items,
    shop_for_events,
)
from promoloop.cli import app
from promoloop.config import InterestConfig
from promoloop.engine import Engine
from promoloop.engine.behaviour import OUTPUT_DTYPES
from promoloop.engine.incremental import (
    INPUT_SCHEMA,
    behaviour_as_of,
    interest_as_of,
    read_manifest,
    update,
    write_features,
)
from promoloop.errors import InputError
from promoloop.profiles.interest import interest_scores
from promoloop.warnings import DataQualityWarning
from tests.engine.test_interest_engines import pandas_interest

TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
INTEREST = InterestConfig(
    event_weights={"view": 0.5, "cart": 1.0, "purchase": 3.0, "return": -1.0},
    half_life_days=7.0,
)
KEYS = ["customer_id", "dimension", "value"]


# Inputs


def shop_days(n_events: int = 6_000, days: int = 8, seed: int = 5):
    """Events of a small generated shop, one Arrow table per day, and its items."""
    config = shop_for_events(n_events, days=days, seed=seed)
    tables = {
        day.strftime("%Y-%m-%d"): table for day, table in EventGenerator(config).days()
    }
    return tables, generate_items(config)


def write_day(events_dir: Path, day: str, table: pa.Table) -> Path:
    """Write one day's events as a partition folder of one file."""
    folder = events_dir / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-0.parquet"
    pq.write_table(table, path)
    return path


def frame_table(rows: list[dict]) -> pa.Table:
    """Build an events table of :data:`INPUT_SCHEMA` from rows of some columns."""
    frame = pd.DataFrame(rows).reindex(columns=INPUT_SCHEMA.names)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return pa.Table.from_pandas(frame, schema=INPUT_SCHEMA, preserve_index=False)


def end_of_day(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1, microseconds=-1)


@pytest.fixture(scope="module")
def duckdb_engine():
    with Engine.duckdb() as engine:
        yield engine


# Expected results, computed from the events in pandas


def expected_behaviour(tables: list[pa.Table], as_of) -> pd.DataFrame:
    return pandas_behaviour(pa.concat_tables(tables).to_pandas(), as_of)


def expected_interest(tables: list[pa.Table], items, as_of) -> pd.DataFrame:
    events = pa.concat_tables(tables).to_pandas()
    return pandas_interest(events, items, as_of, INTEREST)


def stored_behaviour(engine: Engine, state: Path, as_of=None) -> pd.DataFrame:
    table = engine.to_pandas(behaviour_as_of(engine, state, as_of))
    table = table.set_index("customer_id").sort_index()
    return table.astype(OUTPUT_DTYPES)[list(OUTPUT_DTYPES)]


def stored_interest(engine: Engine, state: Path, items, as_of=None) -> pd.DataFrame:
    items_table = engine.register_frame(
        "items", items[["item_id", "category", "brand"]]
    )
    scores = engine.to_pandas(interest_as_of(engine, state, items_table, as_of))
    return scores.astype({"score": "float64"})


def assert_same_behaviour(left: pd.DataFrame, right: pd.DataFrame) -> None:
    columns = list(OUTPUT_DTYPES)
    pd.testing.assert_frame_equal(
        left[columns], right[columns], check_exact=False, **TOLERANCE
    )


def assert_same_scores(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        left.sort_values(KEYS, ignore_index=True)[[*KEYS, "score"]],
        right.sort_values(KEYS, ignore_index=True)[[*KEYS, "score"]],
        check_exact=False,
        check_dtype=False,
        **TOLERANCE,
    )


def partial_files(state: Path) -> dict[Path, int]:
    """Return the modification time of every stored partial file."""
    return {
        path: path.stat().st_mtime_ns
        for path in state.rglob("*.parquet")
        if "date=" in path.as_posix()
    }


# Daily runs on DuckDB


def test_daily_updates_match_full(duckdb_engine, tmp_path):
    tables, items = shop_days()
    events_dir, state = tmp_path / "events", tmp_path / "state"
    days = sorted(tables)

    for count, day in enumerate(days, start=1):
        write_day(events_dir, day, tables[day])
        before = partial_files(state)

        summary = update(duckdb_engine, events_dir, state, interest=INTEREST)

        assert summary.counts() == {
            "new": 1,
            "changed": 0,
            "unchanged": count - 1,
            "removed": 0,
        }
        assert summary.new == (day,)
        assert summary.newest == day
        after = partial_files(state)
        earlier = {path: mtime for path, mtime in after.items() if day not in str(path)}
        assert earlier == before  # earlier partials were not rewritten
        so_far = [tables[d] for d in days[:count]]
        as_of = end_of_day(day)
        assert_same_behaviour(
            stored_behaviour(duckdb_engine, state), expected_behaviour(so_far, as_of)
        )
        assert_same_scores(
            stored_interest(duckdb_engine, state, items),
            expected_interest(so_far, items, as_of),
        )


def test_later_as_of_decays_stored_scores(duckdb_engine, tmp_path):
    tables, items = shop_days(days=4)
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)
    update(duckdb_engine, tmp_path / "events", tmp_path / "state", interest=INTEREST)
    as_of = pd.Timestamp("2024-03-01 12:00", tz="UTC")

    scores = stored_interest(duckdb_engine, tmp_path / "state", items, as_of)
    behaviour = stored_behaviour(duckdb_engine, tmp_path / "state", as_of)

    assert_same_scores(scores, expected_interest(list(tables.values()), items, as_of))
    assert_same_behaviour(behaviour, expected_behaviour(list(tables.values()), as_of))


def test_repeated_item_id_frame_takes_smallest(duckdb_engine, tmp_path):
    # Items passed as a table keep the engine rule: a repeated item id takes
    # its smallest values, as the run's interest scores on a DataFrame do.
    tables, items = shop_days(days=2)
    events = pa.concat_tables(list(tables.values())).to_pandas()
    popular = items[items["item_id"] == events["item_id"].mode()[0]]
    repeat = popular.assign(category="0 first category", brand="0 first brand")
    items = pd.concat([items, repeat], ignore_index=True)
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)
    update(duckdb_engine, tmp_path / "events", tmp_path / "state", interest=INTEREST)
    as_of = end_of_day(max(tables))

    stored = stored_interest(duckdb_engine, tmp_path / "state", items)
    in_run = interest_scores(events, items, as_of, INTEREST)

    assert "0 first category" in set(stored["value"])
    assert_same_scores(stored, in_run)


def test_unchanged_partitions_processed_once(duckdb_engine, tmp_path):
    tables, _ = shop_days(days=3)
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)

    first = update(duckdb_engine, tmp_path / "events", tmp_path / "state")
    second = update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    assert first.counts() == {"new": 3, "changed": 0, "unchanged": 0, "removed": 0}
    assert second.counts() == {"new": 0, "changed": 0, "unchanged": 3, "removed": 0}
    assert second.processed == ()


def test_rewritten_partition_is_recomputed(duckdb_engine, tmp_path):
    tables, items = shop_days(days=4)
    events_dir, state = tmp_path / "events", tmp_path / "state"
    for day, table in tables.items():
        write_day(events_dir, day, table)
    update(duckdb_engine, events_dir, state, interest=INTEREST)
    day = sorted(tables)[1]
    before = partial_files(state)

    tables[day] = tables[day].slice(0, tables[day].num_rows // 2)
    write_day(events_dir, day, tables[day])
    summary = update(duckdb_engine, events_dir, state, interest=INTEREST)

    assert summary.changed == (day,)
    assert summary.counts() == {"new": 0, "changed": 1, "unchanged": 3, "removed": 0}
    after = partial_files(state)
    assert all(before[path] == after[path] for path in after if day not in str(path))
    recomputed = {path: mtime for path, mtime in after.items() if day in str(path)}
    assert recomputed
    assert all(before.get(path) != mtime for path, mtime in recomputed.items())
    as_of = end_of_day(max(tables))
    assert_same_behaviour(
        stored_behaviour(duckdb_engine, state),
        expected_behaviour(list(tables.values()), as_of),
    )
    assert_same_scores(
        stored_interest(duckdb_engine, state, items),
        expected_interest(list(tables.values()), items, as_of),
    )


def test_removed_partition_is_dropped(duckdb_engine, tmp_path):
    tables, items = shop_days(days=4)
    events_dir, state = tmp_path / "events", tmp_path / "state"
    for day, table in tables.items():
        write_day(events_dir, day, table)
    update(duckdb_engine, events_dir, state, interest=INTEREST)
    day = sorted(tables)[2]

    shutil.rmtree(events_dir / f"date={day}")
    del tables[day]
    summary = update(duckdb_engine, events_dir, state, interest=INTEREST)

    assert summary.removed == (day,)
    assert summary.counts() == {"new": 0, "changed": 0, "unchanged": 3, "removed": 1}
    assert not (state / "behaviour" / f"date={day}").exists()
    assert not (state / "interest" / f"date={day}").exists()
    assert day not in read_manifest(state)["partitions"]
    as_of = end_of_day(max(tables))
    assert_same_behaviour(
        stored_behaviour(duckdb_engine, state),
        expected_behaviour(list(tables.values()), as_of),
    )
    assert_same_scores(
        stored_interest(duckdb_engine, state, items),
        expected_interest(list(tables.values()), items, as_of),
    )


def test_changed_interest_settings_recompute_all(duckdb_engine, tmp_path):
    tables, items = shop_days(days=3)
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)
    update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    summary = update(
        duckdb_engine, tmp_path / "events", tmp_path / "state", interest=INTEREST
    )

    assert summary.counts() == {"new": 0, "changed": 3, "unchanged": 0, "removed": 0}
    as_of = end_of_day(max(tables))
    assert_same_scores(
        stored_interest(duckdb_engine, tmp_path / "state", items),
        expected_interest(list(tables.values()), items, as_of),
    )


def test_state_folder_per_partition(duckdb_engine, tmp_path):
    tables, _ = shop_days(days=2)
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)

    update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    for kind in ("behaviour", "interest"):
        folders = sorted(path.name for path in (tmp_path / "state" / kind).iterdir())
        assert folders == [f"date={day}" for day in sorted(tables)]
    assert not (tmp_path / "state" / "_incoming").exists()
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path / "state"))


# The merge condition of basket_size, and anonymous partitions


def order_across_two_days(second_item: str) -> dict[str, pa.Table]:
    """Order o1 of customer A: item I1 on Jan 1, ``second_item`` on Jan 2."""

    def line(item, timestamp, amount):
        return {
            "customer_id": "A",
            "item_id": item,
            "event_type": "purchase",
            "order_id": "o1",
            "timestamp": timestamp,
            "quantity": 1.0,
            "amount": amount,
            "discount": 0.0,
        }

    return {
        "2024-01-01": frame_table(
            [line("I1", "2024-01-01 23:50", 5.0), line("I2", "2024-01-01 23:55", 3.0)]
        ),
        "2024-01-02": frame_table([line(second_item, "2024-01-02 00:05", 4.0)]),
    }


def test_order_in_two_partitions_exact(duckdb_engine, tmp_path):
    tables = order_across_two_days("I3")
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)
    update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    stored = stored_behaviour(duckdb_engine, tmp_path / "state")

    assert stored.loc["A", "frequency"] == 1
    assert stored.loc["A", "basket_size"] == 3.0  # I1, I2 and I3
    assert stored.loc["A", "interpurchase_days"] == 1.0
    assert_same_behaviour(
        stored, expected_behaviour(list(tables.values()), end_of_day("2024-01-02"))
    )


def test_basket_item_in_two_partitions(duckdb_engine, tmp_path):
    tables = order_across_two_days("I1")
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)
    update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    stored = stored_behaviour(duckdb_engine, tmp_path / "state")
    full = expected_behaviour(list(tables.values()), end_of_day("2024-01-02"))

    # The documented exception: (o1, I1) is in two partitions
    assert full.loc["A", "basket_size"] == 2.0
    assert stored.loc["A", "basket_size"] == 3.0
    assert stored.loc["A", "frequency"] == full.loc["A", "frequency"] == 1
    other = [name for name in OUTPUT_DTYPES if name != "basket_size"]
    pd.testing.assert_frame_equal(
        stored[other], full[other], check_exact=False, **TOLERANCE
    )


def test_anonymous_partition_empty_features(duckdb_engine, tmp_path):
    row = {"item_id": "I1", "event_type": "view", "timestamp": "2024-01-01 10:00"}
    write_day(tmp_path / "events", "2024-01-01", frame_table([row]))
    items = pd.DataFrame({"item_id": ["I1"], "category": ["tea"], "brand": ["B"]})

    update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    assert stored_behaviour(duckdb_engine, tmp_path / "state").empty
    assert stored_interest(duckdb_engine, tmp_path / "state", items).empty


def test_late_event_warns(duckdb_engine, tmp_path):
    row = {
        "customer_id": "A",
        "item_id": "I1",
        "event_type": "view",
        "timestamp": "2024-01-03 10:00",  # filed under Jan 1
    }
    write_day(tmp_path / "events", "2024-01-01", frame_table([row]))
    update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    with pytest.warns(DataQualityWarning, match="2024-01-01 contain events later"):
        behaviour_as_of(duckdb_engine, tmp_path / "state", "2024-01-02")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        behaviour_as_of(duckdb_engine, tmp_path / "state", "2024-01-03")


# Errors


def test_missing_events_folder(duckdb_engine, tmp_path):
    with pytest.raises(InputError, match="events folder not found"):
        update(duckdb_engine, tmp_path / "nothing", tmp_path / "state")


def test_folder_without_partitions(duckdb_engine, tmp_path):
    (tmp_path / "events" / "year=2024").mkdir(parents=True)
    (tmp_path / "events" / "date=2024-01-01").mkdir()  # no Parquet files

    with pytest.raises(InputError, match="no date partitions with Parquet files"):
        update(duckdb_engine, tmp_path / "events", tmp_path / "state")


def test_partition_not_named_by_date(duckdb_engine, tmp_path):
    tables, _ = shop_days(days=1)
    write_day(tmp_path / "events", "2024-1-5", next(iter(tables.values())))

    with pytest.raises(InputError, match="not named by a date.*'2024-1-5'"):
        update(duckdb_engine, tmp_path / "events", tmp_path / "state")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["amount"]), "input column missing"),
        (
            lambda t: t.set_column(
                t.schema.get_field_index("amount"),
                "amount",
                t.column("amount").cast(pa.string()),
            ),
            "wrong type",
        ),
        (
            lambda t: t.set_column(
                t.schema.get_field_index("quantity"),
                "quantity",
                t.column("quantity").cast(pa.float32()),
            ),
            "type differs from the processed partitions",
        ),
    ],
    ids=["missing", "wrong_kind", "other_type"],
)
def test_schema_mismatch_names_file_and_column(
    duckdb_engine, tmp_path, change, message
):
    tables, _ = shop_days(days=2)
    first, second = sorted(tables)
    write_day(tmp_path / "events", first, tables[first])
    update(duckdb_engine, tmp_path / "events", tmp_path / "state")
    path = write_day(tmp_path / "events", second, change(tables[second]))
    column = "quantity" if "differs" in message else "amount"

    with pytest.raises(InputError, match=message) as raised:
        update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    assert str(path) in str(raised.value)
    assert f"column {column!r}" in str(raised.value)
    assert second not in read_manifest(tmp_path / "state")["partitions"]


def test_as_of_before_newest_partition(duckdb_engine, tmp_path):
    tables, _ = shop_days(days=3)
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)
    update(duckdb_engine, tmp_path / "events", tmp_path / "state")
    newest = max(tables)
    within_newest_day = f"{newest} 12:00"

    for as_of in (min(tables), within_newest_day):
        with pytest.raises(InputError, match=f"newest processed partition.*{newest}"):
            behaviour_as_of(duckdb_engine, tmp_path / "state", as_of)


def test_features_before_any_update(duckdb_engine, tmp_path):
    with pytest.raises(InputError, match="no processed partitions"):
        write_features(duckdb_engine, tmp_path / "state", tmp_path / "out")


# Command line


def test_cli_features_end_to_end(tmp_path):
    tables, items = shop_days(days=3)
    items_path = tmp_path / "items.parquet"
    items.to_parquet(items_path, index=False)
    days = sorted(tables)
    for day in days[:2]:
        write_day(tmp_path / "events", day, tables[day])
    config = tmp_path / "settings.yaml"
    config.write_text(
        "interest:\n  half_life_days: 7.0\n  event_weights:\n"
        "    view: 0.5\n    cart: 1.0\n    purchase: 3.0\n    return: -1.0\n"
    )
    arguments = [
        "features",
        "--events",
        str(tmp_path / "events"),
        "--state",
        str(tmp_path / "state"),
        "--out",
        str(tmp_path / "out"),
        "--items",
        str(items_path),
        "--config",
        str(config),
    ]
    runner = CliRunner()

    first = runner.invoke(app, arguments)
    write_day(tmp_path / "events", days[2], tables[days[2]])
    second = runner.invoke(app, arguments)

    assert first.exit_code == 0, first.output
    assert "processed 2 of 2 partitions (2 new, 0 changed; 0 unchanged" in first.output
    assert second.exit_code == 0, second.output
    assert "processed 1 of 3 partitions (1 new, 0 changed; 2 unchanged" in second.output
    as_of = end_of_day(days[2])
    assert as_of.isoformat() in second.output
    behaviour = pd.read_parquet(tmp_path / "out" / "behaviour.parquet")
    assert behaviour["customer_id"].is_monotonic_increasing
    assert_same_behaviour(
        behaviour.set_index("customer_id").astype(OUTPUT_DTYPES),
        expected_behaviour(list(tables.values()), as_of),
    )
    scores = pd.read_parquet(tmp_path / "out" / "interest.parquet")
    assert_same_scores(scores, expected_interest(list(tables.values()), items, as_of))


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        (lambda root: None, [], "events folder not found"),
        (lambda root: (root / "events").mkdir(), [], "no date partitions"),
        (None, ["--as-of", "2024-01-01"], "before the end of the newest"),
        (None, ["--engine", "flink"], "engine.name"),
    ],
    ids=["missing", "empty", "as_of", "engine"],
)
def test_cli_features_errors(tmp_path, setup, extra, message):
    if setup is None:
        tables, _ = shop_days(days=2)
        for day, table in tables.items():
            write_day(tmp_path / "events", day, table)
    else:
        setup(tmp_path)
    arguments = ["features", "--events", str(tmp_path / "events")]
    arguments += ["--state", str(tmp_path / "state"), "--out", str(tmp_path / "out")]

    result = CliRunner().invoke(app, arguments + extra)

    assert result.exit_code == 2
    assert message in result.output


# Spark local[2]


@pytest.mark.slow
def test_spark_daily_updates_match_full(spark_engine, duckdb_engine, tmp_path):
    tables, items = shop_days(days=4)
    events_dir, state = tmp_path / "events", tmp_path / "state"
    days = sorted(tables)
    # The first days are processed on DuckDB, the others on Spark: the
    # partials of the two engines share one state.
    for day in days[:2]:
        write_day(events_dir, day, tables[day])
    update(duckdb_engine, events_dir, state, interest=INTEREST)

    for count, day in enumerate(days[2:], start=3):
        write_day(events_dir, day, tables[day])
        summary = update(spark_engine, events_dir, state, interest=INTEREST)

        assert summary.counts() == {
            "new": 1,
            "changed": 0,
            "unchanged": count - 1,
            "removed": 0,
        }
        so_far = [tables[d] for d in days[:count]]
        as_of = end_of_day(day)
        for engine in (spark_engine, duckdb_engine):
            assert_same_behaviour(
                stored_behaviour(engine, state), expected_behaviour(so_far, as_of)
            )
            assert_same_scores(
                stored_interest(engine, state, items),
                expected_interest(so_far, items, as_of),
            )


# Safe writes, exact inputs and errors


def test_partition_folder_above_events(duckdb_engine, tmp_path):
    # A key=value folder above the events folder must not set the day.
    tables, items = shop_days(days=2)
    events_dir = tmp_path / "date=1999-12-31" / "events"
    for day, table in tables.items():
        write_day(events_dir, day, table)
    state = tmp_path / "state"
    update(duckdb_engine, events_dir, state, interest=INTEREST)

    files = write_features(duckdb_engine, state, tmp_path / "out")

    as_of = end_of_day(max(tables))
    expected = expected_behaviour(list(tables.values()), as_of)
    written = pd.read_parquet(files.behaviour).set_index("customer_id")
    assert len(written) == len(expected)
    assert_same_behaviour(stored_behaviour(duckdb_engine, state), expected)
    assert_same_scores(
        stored_interest(duckdb_engine, state, items),
        expected_interest(list(tables.values()), items, as_of),
    )


def fail_on_call(number: int, write):
    """Return a ``to_parquet`` whose call ``number`` writes part of an output and fails.

    Other calls go to ``write``, the engine's own.
    """
    calls = []

    def to_parquet(expr, path, **options):
        calls.append(path)
        if len(calls) != number:
            return write(expr, path, **options)
        path = Path(path)
        if options.get("partition_by"):
            (path / "date=2024-01-01").mkdir(parents=True)
            (path / "date=2024-01-01" / "data_0.parquet").write_bytes(b"PAR1")
        else:
            path.write_bytes(b"PAR1")
        raise OSError("No space left on device")

    return to_parquet


def feature_files_of_two_dates(engine: Engine, tmp_path: Path):
    """Write the features of two days, then add a third day to the state.

    Returns the items file, the output folder and its files as read. A
    later write that mixed the two dates would change one file only.
    """
    tables, items = shop_days(days=3)
    items_path = tmp_path / "items.parquet"
    items.to_parquet(items_path, index=False)
    events_dir, state = tmp_path / "events", tmp_path / "state"
    days = sorted(tables)
    for day in days[:2]:
        write_day(events_dir, day, tables[day])
    update(engine, events_dir, state, interest=INTEREST)
    out = tmp_path / "out"
    files = write_features(engine, state, out, items=items_path)
    before = {path: pd.read_parquet(path) for path in (files.behaviour, files.interest)}
    write_day(events_dir, days[2], tables[days[2]])
    update(engine, events_dir, state, interest=INTEREST)
    return items_path, out, before


def assert_outputs_unchanged(out: Path, before: dict[Path, pd.DataFrame]) -> None:
    for path, frame in before.items():
        pd.testing.assert_frame_equal(pd.read_parquet(path), frame)
    assert sorted(os.listdir(out)) == ["behaviour.parquet", "interest.parquet"]


@pytest.mark.parametrize("failing_call", [1, 2], ids=["behaviour", "interest"])
def test_failed_feature_write_keeps_old_output(
    duckdb_engine, tmp_path, monkeypatch, failing_call
):
    items_path, out, before = feature_files_of_two_dates(duckdb_engine, tmp_path)
    state = tmp_path / "state"

    # Call 1 writes the behaviour file, call 2 the interest file.
    write = fail_on_call(failing_call, duckdb_engine.backend.to_parquet)
    with monkeypatch.context() as patch:
        patch.setattr(duckdb_engine.backend, "to_parquet", write)
        with pytest.raises(OSError, match="No space left"):
            write_features(
                duckdb_engine, state, out, as_of="2024-03-01", items=items_path
            )

    assert_outputs_unchanged(out, before)
    files = write_features(duckdb_engine, state, out, items=items_path)
    assert not pd.read_parquet(files.behaviour).equals(before[files.behaviour])


def test_missing_items_keep_old_output(duckdb_engine, tmp_path):
    _, out, before = feature_files_of_two_dates(duckdb_engine, tmp_path)
    missing = tmp_path / "missing.parquet"

    with pytest.raises(InputError, match="not found") as raised:
        write_features(
            duckdb_engine, tmp_path / "state", out, as_of="2024-03-01", items=missing
        )

    assert raised.value.file == str(missing)
    assert_outputs_unchanged(out, before)


def test_features_without_items_remove_old_interest(duckdb_engine, tmp_path):
    tables, items = shop_days(days=2)
    items_path = tmp_path / "items.parquet"
    items.to_parquet(items_path, index=False)
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)
    update(duckdb_engine, tmp_path / "events", tmp_path / "state", interest=INTEREST)
    out = tmp_path / "out"
    write_features(duckdb_engine, tmp_path / "state", out, items=items_path)

    files = write_features(duckdb_engine, tmp_path / "state", out)

    assert files.interest is None
    assert sorted(os.listdir(out)) == ["behaviour.parquet"]


@pytest.mark.parametrize("failing_call", [1, 2], ids=["behaviour", "interest"])
def test_failed_partial_write_keeps_state(
    duckdb_engine, tmp_path, monkeypatch, failing_call
):
    tables, items = shop_days(days=3)
    events_dir, state = tmp_path / "events", tmp_path / "state"
    days = sorted(tables)
    for day in days[:2]:
        write_day(events_dir, day, tables[day])
    update(duckdb_engine, events_dir, state, interest=INTEREST)
    before = partial_files(state)
    manifest = read_manifest(state)
    tables[days[1]] = tables[days[1]].slice(0, tables[days[1]].num_rows // 2)
    write_day(events_dir, days[1], tables[days[1]])
    write_day(events_dir, days[2], tables[days[2]])

    write = fail_on_call(failing_call, duckdb_engine.backend.to_parquet)
    with monkeypatch.context() as patch:
        patch.setattr(duckdb_engine.backend, "to_parquet", write)
        with pytest.raises(OSError, match="No space left"):
            update(duckdb_engine, events_dir, state, interest=INTEREST)

    assert partial_files(state) == before
    assert read_manifest(state) == manifest
    assert sorted(os.listdir(state)) == ["behaviour", "interest", "manifest.json"]
    summary = update(duckdb_engine, events_dir, state, interest=INTEREST)
    assert summary.new == (days[2],)
    assert summary.changed == (days[1],)
    as_of = end_of_day(days[2])
    assert_same_behaviour(
        stored_behaviour(duckdb_engine, state),
        expected_behaviour(list(tables.values()), as_of),
    )
    assert_same_scores(
        stored_interest(duckdb_engine, state, items),
        expected_interest(list(tables.values()), items, as_of),
    )


@pytest.mark.parametrize(
    "stray",
    ["_stray.parquet", ".stray.parquet", "_temporary/0/part-0.parquet"],
    ids=["underscore_file", "dot_file", "underscore_folder"],
)
def test_hidden_files_in_partition_not_read(duckdb_engine, tmp_path, stray):
    tables, items = shop_days(days=2)
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)
    day = max(tables)
    purchase = {
        "customer_id": "STRAY",
        "item_id": items["item_id"].iloc[0],
        "event_type": "purchase",
        "order_id": "stray-order",
        "timestamp": f"{day} 12:00",
        "quantity": 1.0,
        "amount": 9.0,
        "discount": 0.0,
    }
    path = tmp_path / "events" / f"date={day}" / stray
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(frame_table([purchase]), path)

    update(duckdb_engine, tmp_path / "events", tmp_path / "state", interest=INTEREST)

    behaviour = stored_behaviour(duckdb_engine, tmp_path / "state")
    scores = stored_interest(duckdb_engine, tmp_path / "state", items)
    assert "STRAY" not in behaviour.index
    assert "STRAY" not in set(scores["customer_id"])
    as_of = end_of_day(day)
    assert_same_behaviour(behaviour, expected_behaviour(list(tables.values()), as_of))
    assert_same_scores(scores, expected_interest(list(tables.values()), items, as_of))


def test_garbage_parquet_file_names_file(duckdb_engine, tmp_path):
    tables, _ = shop_days(days=2)
    first, second = sorted(tables)
    write_day(tmp_path / "events", first, tables[first])
    path = tmp_path / "events" / f"date={second}" / "part-0.parquet"
    path.parent.mkdir()
    path.write_text("customer_id,item_id\nA,I1\n")

    with pytest.raises(InputError, match="not a valid Parquet file") as raised:
        update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    assert str(path) in str(raised.value)
    assert raised.value.file == str(path)
    assert raised.value.expected
    assert raised.value.fix
    assert not (tmp_path / "state" / "manifest.json").exists()


INPUT_ERROR_CASES = [
    "events folder missing",
    "no partitions",
    "partition not a date",
    "column missing",
    "column of wrong kind",
    "column type differs",
    "as_of before newest",
    "as_of not a date",
    "no processed partitions",
]


@pytest.mark.parametrize("case", INPUT_ERROR_CASES)
def test_input_errors_give_fix(duckdb_engine, tmp_path, case):
    events_dir, state = tmp_path / "events", tmp_path / "state"
    tables, _ = shop_days(days=2)
    first, second = sorted(tables)
    if case not in ("events folder missing", "no partitions"):
        write_day(events_dir, first, tables[first])
        update(duckdb_engine, events_dir, state)
    if case == "no partitions":
        events_dir.mkdir()
    if case == "partition not a date":
        write_day(events_dir, "2024-1-5", tables[second])
    amount = tables[second].schema.get_field_index("amount")
    quantity = tables[second].schema.get_field_index("quantity")
    if case == "column missing":
        write_day(events_dir, second, tables[second].drop_columns(["amount"]))
    if case == "column of wrong kind":
        text = tables[second].column("amount").cast(pa.string())
        write_day(events_dir, second, tables[second].set_column(amount, "amount", text))
    if case == "column type differs":
        narrow = tables[second].column("quantity").cast(pa.float32())
        changed = tables[second].set_column(quantity, "quantity", narrow)
        write_day(events_dir, second, changed)

    with pytest.raises(InputError) as raised:
        if case == "as_of before newest":
            behaviour_as_of(duckdb_engine, state, "2000-01-01")
        elif case == "as_of not a date":
            behaviour_as_of(duckdb_engine, state, "soon")
        elif case == "no processed partitions":
            write_features(duckdb_engine, tmp_path / "empty", tmp_path / "out")
        else:
            update(duckdb_engine, events_dir, state)

    assert raised.value.fix


# Event types of new and changed partitions


def typed_events(day: str, types: list) -> pa.Table:
    """Build one purchase-shaped event of customer A per type, on ``day``."""
    rows = [
        {
            "customer_id": "A",
            "item_id": f"I{number}",
            "event_type": kind,
            "order_id": f"{day}-o1",
            "timestamp": f"{day} 10:{number:02d}",
            "quantity": 1.0,
            "amount": 2.0,
            "discount": 0.0,
        }
        for number, kind in enumerate(types)
    ]
    return frame_table(rows)


@pytest.mark.parametrize("kind", ["new", "changed"])
def test_unknown_event_type_names_row(duckdb_engine, tmp_path, kind):
    events_dir, state = tmp_path / "events", tmp_path / "state"
    write_day(events_dir, "2024-01-01", typed_events("2024-01-01", ["purchase"]))
    day = "2024-01-02" if kind == "new" else "2024-01-01"
    if kind == "new":
        update(duckdb_engine, events_dir, state)
    manifest = read_manifest(state)

    types = ["view", "order", "purchase", "order"]
    path = write_day(events_dir, day, typed_events(day, types))
    with pytest.raises(InputError, match="unknown event type") as raised:
        update(duckdb_engine, events_dir, state)

    error = raised.value
    assert error.file == str(path)
    assert error.row == 2
    assert error.column == "event_type"
    assert error.value == "order"
    assert "purchase" in error.expected
    assert "review" in error.expected
    assert error.fix
    assert "1 other row too" in str(error)
    assert read_manifest(state) == manifest


def test_missing_event_type_rejected(duckdb_engine, tmp_path):
    path = write_day(
        tmp_path / "events", "2024-01-01", typed_events("2024-01-01", ["view", None])
    )

    with pytest.raises(InputError, match="missing event type") as raised:
        update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    assert raised.value.file == str(path)
    assert raised.value.row == 2
    assert raised.value.column == "event_type"
    assert not (tmp_path / "state" / "manifest.json").exists()


def test_event_types_match_in_any_case(duckdb_engine, tmp_path):
    lower = ["view", "cart", "purchase", "return"]
    upper = ["VIEW", "Cart", "PURCHASE", "Return"]
    for name, types in (("lower", lower), ("upper", upper)):
        write_day(tmp_path / name, "2024-01-01", typed_events("2024-01-01", types))
        update(duckdb_engine, tmp_path / name, tmp_path / f"state-{name}")

    written = stored_behaviour(duckdb_engine, tmp_path / "state-upper")
    expected = stored_behaviour(duckdb_engine, tmp_path / "state-lower")

    assert written.loc["A", "frequency"] == 1
    assert_same_behaviour(written, expected)


def test_cli_features_unknown_event_type(tmp_path):
    write_day(tmp_path / "events", "2024-01-01", typed_events("2024-01-01", ["order"]))
    arguments = ["features", "--events", str(tmp_path / "events")]
    arguments += ["--state", str(tmp_path / "state"), "--out", str(tmp_path / "out")]

    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 2
    assert "unknown event type" in result.output
    assert not (tmp_path / "out").exists()


# Files outside the partition folders


@pytest.mark.parametrize(
    "stray",
    ["late.parquet", "uploads/late.parquet", "region=eu/date=2024-01-02/p.parquet"],
    ids=["next_to_partitions", "other_folder", "nested_partition"],
)
def test_file_outside_partitions_rejected(duckdb_engine, tmp_path, stray):
    write_day(tmp_path / "events", "2024-01-01", typed_events("2024-01-01", ["view"]))
    path = tmp_path / "events" / stray
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(typed_events("2024-01-02", ["purchase"]), path)

    with pytest.raises(InputError, match="outside the partition folders") as raised:
        update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    assert raised.value.file == str(path)
    assert raised.value.expected == "a file inside a date=YYYY-MM-DD folder"
    assert raised.value.fix == "move it into the folder of its day"
    assert not (tmp_path / "state" / "manifest.json").exists()


@pytest.mark.parametrize(
    "hidden",
    ["_late.parquet", ".late.parquet", "_temporary/0/part-0.parquet"],
    ids=["underscore_file", "dot_file", "underscore_folder"],
)
def test_hidden_file_next_to_partitions_skipped(duckdb_engine, tmp_path, hidden):
    write_day(tmp_path / "events", "2024-01-01", typed_events("2024-01-01", ["view"]))
    path = tmp_path / "events" / hidden
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(typed_events("2024-01-02", ["purchase"]), path)
    (tmp_path / "events" / "notes.txt").write_text("not events")

    summary = update(duckdb_engine, tmp_path / "events", tmp_path / "state")

    assert summary.new == ("2024-01-01",)


# Items files


def conflicting_items(items: pd.DataFrame) -> pd.DataFrame:
    """Give the first item a second row with another category."""
    second = items.iloc[[0]].assign(category="other category")
    return pd.concat([items, second], ignore_index=True)


def test_items_file_repeated_item_rejected(duckdb_engine, tmp_path):
    items_path, out, before = feature_files_of_two_dates(duckdb_engine, tmp_path)
    items = pd.read_parquet(items_path)
    first = items["item_id"].iloc[0]
    conflicting = tmp_path / "conflicting.parquet"
    conflicting_items(items).to_parquet(conflicting, index=False)

    with pytest.raises(InputError, match="has several different rows") as raised:
        write_features(duckdb_engine, tmp_path / "state", out, items=conflicting)

    error = raised.value
    assert error.file == str(conflicting)
    assert error.value == first
    assert error.column == "category"
    assert items["category"].iloc[0] in str(error)
    assert "other category" in str(error)
    assert error.expected == "one row per item_id"
    assert error.fix == "remove or merge the conflicting rows"
    assert_outputs_unchanged(out, before)


def test_items_file_copies_allowed(duckdb_engine, tmp_path):
    tables, items = shop_days(days=2)
    for day, table in tables.items():
        write_day(tmp_path / "events", day, table)
    update(duckdb_engine, tmp_path / "events", tmp_path / "state", interest=INTEREST)
    # An exact copy, and a row that differs only in a column the scores do
    # not read.
    copies = pd.concat(
        [items, items.iloc[[0]], items.iloc[[1]].assign(price=99.0)],
        ignore_index=True,
    )
    copies_path = tmp_path / "copies.parquet"
    copies.to_parquet(copies_path, index=False)

    files = write_features(
        duckdb_engine, tmp_path / "state", tmp_path / "out", items=copies_path
    )

    as_of = end_of_day(max(tables))
    expected = expected_interest(list(tables.values()), items, as_of)
    assert_same_scores(pd.read_parquet(files.interest), expected)


@pytest.mark.parametrize(
    "columns",
    [["item_id", "price"], ["category", "brand"]],
    ids=["no_dimension", "no_id"],
)
def test_items_file_without_columns_rejected(duckdb_engine, tmp_path, columns):
    items_path, out, before = feature_files_of_two_dates(duckdb_engine, tmp_path)
    partial = tmp_path / "partial.parquet"
    pd.read_parquet(items_path)[columns].to_parquet(partial, index=False)

    with pytest.raises(
        InputError, match="missing columns for the interest scores"
    ) as raised:
        write_features(duckdb_engine, tmp_path / "state", out, items=partial)

    assert raised.value.file == str(partial)
    assert raised.value.expected == "an item_id column and a category or brand column"
    assert raised.value.fix
    assert_outputs_unchanged(out, before)


@pytest.mark.slow
def test_spark_unknown_event_type_names_row(spark_engine, tmp_path):
    write_day(tmp_path / "events", "2024-01-01", typed_events("2024-01-01", ["VIEW"]))
    types = ["purchase", "Order"]
    path = write_day(
        tmp_path / "events", "2024-01-02", typed_events("2024-01-02", types)
    )

    with pytest.raises(InputError, match="unknown event type") as raised:
        update(spark_engine, tmp_path / "events", tmp_path / "state")

    assert raised.value.file == str(path)
    assert raised.value.row == 2
    assert raised.value.value == "Order"
    assert not (tmp_path / "state" / "manifest.json").exists()
