"""The one Ibis definition of the cleaning rules gives one result everywhere.

DuckDB is compared with hand-computed results and with independent pandas
computations (``DataFrame.duplicated``, a stable ``sort_values``, numpy
arithmetic, :func:`promoloop.data.ids.canonical_id`), and Spark ``local[2]``
with DuckDB. The Parquet-to-Parquet path is checked for its report counts,
the partitions it writes and the rows it names in errors. Prices are
compared with a tolerance of 1e-9; rows, ids, counts and messages exactly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from promoloop.data import cleaning
from promoloop.data.ids import canonical_id as pandas_canonical_id
from promoloop.data.report import CleaningReport
from promoloop.engine import Engine
from promoloop.engine import cleaning as rules
from promoloop.engine.clean_events import REPORT_FILE, clean_events_parquet
from promoloop.engine.cleaning import COUNTED, EVENT_SORT_ORDER, SOURCE_ROW
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}

TRICKY_IDS = [
    "17850",
    "17850.0",
    "17850.000",
    "-3.0",
    "-0.00",
    " 42 ",
    "\t42.0\n",
    "\u00a0x\u2003",
    "\u3000 7.00\u2003",
    "\u0663.0",  # Arabic-Indic digit three
    "1.5",
    "1.50",
    "x.0",
    "12.",
    ".0",
    "1e5",
    "C-0042",
    "a b",
    "",
    "   ",
    None,
]


@pytest.fixture(scope="module")
def duckdb_engine():
    with Engine.duckdb() as engine:
        yield engine


def register(engine: Engine, frame: pd.DataFrame):
    """Register ``frame`` with its row positions, as the pandas functions do."""
    return cleaning._register(engine, frame, list(frame.columns))


def positions(rows: pd.DataFrame) -> list[int]:
    return sorted(rows[SOURCE_ROW].astype("int64").tolist())


# Generated inputs


def messy_lines(n_rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Raw lines with repeated rows, blanks, padded ids and tied contents."""
    rng = np.random.default_rng(seed)
    customers = np.array(["17850.0", "17850", " 42 ", "", "C-7", "9.00"], dtype=object)
    customers[3] = None
    frame = pd.DataFrame(
        {
            "customer": rng.choice(customers, n_rows),
            "item": rng.choice(["A", "B", "C", "b", "10"], n_rows),
            "order": rng.choice([f"o{i}" for i in range(40)], n_rows),
            "quantity": rng.choice([0.0, 1.0, 2.0, np.nan], n_rows),
            "price": rng.choice([0.5, 1.25, np.nan], n_rows),
        }
    )
    frame["customer"] = frame["customer"].astype("string")
    repeated = frame.sample(n_rows // 5, replace=True, random_state=seed)
    return pd.concat([frame, repeated], ignore_index=True)


def messy_events(n_rows: int = 2000, seed: int = 1) -> pd.DataFrame:
    """Canonical events over three days with repeated rows and dirty values.

    Discounts are stored as negative numbers, some ids are padded or written
    as floats, and some money values are infinite.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC")
    seconds = rng.integers(0, 3 * 86_400, n_rows)
    frame = pd.DataFrame(
        {
            C.event_id: [f"e{i}" for i in range(n_rows)],
            C.customer_id: rng.choice(["17850.0", " 42 ", "C-7", "9"], n_rows),
            C.item_id: rng.choice(["A", "B", "10.0"], n_rows),
            C.event_type: rng.choice(["purchase", "return", "view"], n_rows),
            C.quantity: rng.choice([1.0, 2.0, np.inf], n_rows, p=[0.5, 0.49, 0.01]),
            C.amount: rng.choice(
                [0.0, 3.5, np.nan, np.inf], n_rows, p=[0.2, 0.7, 0.05, 0.05]
            ),
            C.discount: rng.choice([0.0, -0.5, -1.0], n_rows),
            C.timestamp: (start + pd.to_timedelta(seconds, unit="s")).as_unit("us"),
            C.order_id: rng.choice([f"o{i}" for i in range(300)], n_rows),
        }
    )
    repeated = frame.sample(50, random_state=seed)
    return pd.concat([frame, repeated], ignore_index=True)


def write_partitioned(events: pd.DataFrame, folder: Path) -> list[pd.DataFrame]:
    """Write events hive style by UTC date; return the parts in file order."""
    parts = []
    for day, part in events.groupby(events[C.timestamp].dt.date, sort=True):
        path = folder / f"date={day}"
        path.mkdir(parents=True)
        part.to_parquet(path / "part-0.parquet", index=False)
        parts.append(part)
    return parts


# Canonical ids


def test_canonical_id_matches_pandas(duckdb_engine):
    ids = pd.Series(TRICKY_IDS, dtype="string")
    table = duckdb_engine.register_frame("ids", pd.DataFrame({"id": ids}))
    on_duckdb = rules.collect(
        duckdb_engine, table.select(id=rules.canonical_id(table.id))
    )["id"]
    expected = pandas_canonical_id(ids)
    assert [None if pd.isna(v) else v for v in on_duckdb] == [
        None if pd.isna(v) else v for v in expected
    ]


def test_canonical_ids_count_changed_values(duckdb_engine):
    ids = pd.Series(TRICKY_IDS, dtype="string")
    rule = rules.canonicalize_id(
        register(duckdb_engine, pd.DataFrame({"id": ids})), "id"
    )
    changed = rules.collect(duckdb_engine, rule.changed)
    expected = pandas_canonical_id(ids)
    differs = ~(ids.isna() & expected.isna()) & (ids != expected).fillna(True)
    assert positions(changed) == np.flatnonzero(differs.to_numpy()).tolist()
    counted = (differs & ids.notna() & expected.notna()).sum()
    assert int(changed[COUNTED].sum()) == counted
    assert rules.scalar(duckdb_engine, rule.count) == counted


# Exact duplicates


def test_exact_duplicates_match_pandas(duckdb_engine):
    lines = messy_lines()
    rule = rules.drop_exact_duplicates(register(duckdb_engine, lines))
    duplicated = lines.duplicated(keep="first").to_numpy()
    dropped = rules.collect(duckdb_engine, rule.changed)
    kept = rules.collect(duckdb_engine, rule.table.select(SOURCE_ROW))
    assert positions(dropped) == np.flatnonzero(duplicated).tolist()
    assert positions(kept) == np.flatnonzero(~duplicated).tolist()
    assert rules.scalar(duckdb_engine, rule.count) == duplicated.sum()


def test_exact_duplicates_none_found(duckdb_engine):
    frame = pd.DataFrame({"a": ["x", "y", None], "b": [1.0, np.nan, np.nan]})
    rule = rules.drop_exact_duplicates(register(duckdb_engine, frame))
    assert rules.scalar(duckdb_engine, rule.count) == 0
    assert len(rules.collect(duckdb_engine, rule.changed)) == 0


# Discount signs


def test_discount_sign_counts_and_flip(duckdb_engine):
    frame = pd.DataFrame(
        {"d": [0.0, -0.5, -0.0, np.nan, -2.0], "e": [1.0, 0.0, 2.0, 0.0, 0.0]}
    )
    table = register(duckdb_engine, frame)
    counts = rules.collect(duckdb_engine, rules.discount_sign_counts(table, ["d", "e"]))
    assert counts.iloc[0].to_dict() == {
        "negative:d": 2,
        "positive:d": 0,
        "negative:e": 0,
        "positive:e": 2,
    }
    rule = rules.flip_discount_signs(table, ["d"])
    flipped = rules.collect(duckdb_engine, rule.table.order_by(SOURCE_ROW))["d"]
    np.testing.assert_array_equal(flipped.to_numpy(), np.abs(frame["d"].to_numpy()))
    assert not np.signbit(flipped.dropna().to_numpy()).any()
    assert rules.scalar(duckdb_engine, rule.count) == 2


def test_minority_sign_rows_in_source_order(duckdb_engine):
    frame = pd.DataFrame({"d": [-0.5, 0.3, -0.2, 0.7, 0.1]})
    table = register(duckdb_engine, frame)
    rows = rules.collect(duckdb_engine, rules.minority_sign_rows(table, "d", True))
    assert rows[SOURCE_ROW].tolist() == [0, 2]
    assert rows["d"].tolist() == [-0.5, -0.2]


# Prices and line numbers


def test_line_prices_match_numpy(duckdb_engine):
    rng = np.random.default_rng(3)
    n_rows = 500
    lines = pd.DataFrame(
        {
            "quantity": rng.choice([0.0, 1.0, 3.0, np.nan], n_rows),
            "sales_value": rng.choice([0.0, 1.99, 5.25], n_rows),
            "retail_disc": rng.choice([0.0, 0.5], n_rows),
            "coupon_disc": rng.choice([0.0, 0.25], n_rows),
            "coupon_match_disc": rng.choice([0.0, 0.1], n_rows),
        }
    )
    prices = rules.collect(
        duckdb_engine, rules.line_prices(register(duckdb_engine, lines))
    )
    prices = prices.sort_values(SOURCE_ROW).reset_index(drop=True)

    quantity = lines["quantity"].to_numpy()
    divisor = np.where(quantity == 0, np.nan, quantity)
    sales = lines["sales_value"].to_numpy()
    regular = (sales + lines["retail_disc"] + lines["coupon_match_disc"]) / divisor
    loyalty = (sales + lines["coupon_match_disc"]) / divisor
    coupon = (sales - lines["coupon_disc"]) / divisor
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100 * (regular - loyalty) / np.where(regular == 0, np.nan, regular)
    expected = pd.DataFrame(
        {
            "regular_price": regular,
            "loyalty_price": loyalty,
            "coupon_price": coupon,
            "loyalty_discount_pct": pct,
        }
    ).astype("float64")
    pd.testing.assert_frame_equal(
        prices[rules.LINE_PRICE_COLUMNS], expected, check_exact=False, **TOLERANCE
    )


def test_line_numbers_match_stable_sort(duckdb_engine):
    lines = messy_lines(n_rows=800, seed=5)
    by = ["item", "quantity", "price"]
    ordered = lines.sort_values(["order", *by], kind="stable", na_position="last")
    expected = (ordered.groupby("order", sort=False).cumcount() + 1).sort_index()
    numbers = cleaning.number_lines(lines, "order", by, engine=duckdb_engine)
    pd.testing.assert_series_equal(numbers, expected.astype("int64"))


def test_line_numbers_order_nanoseconds(duckdb_engine):
    stamps = pd.to_datetime(
        ["2024-01-01 00:00:00.000000002", "2024-01-01 00:00:00.000000001"], utc=True
    ).as_unit("ns")
    frame = pd.DataFrame({"order": ["o", "o"], C.timestamp: stamps})
    numbers = cleaning.number_lines(frame, "order", [C.timestamp], engine=duckdb_engine)
    assert numbers.tolist() == [2, 1]


# Events checks and order


def test_infinite_values_made_missing(duckdb_engine):
    events = messy_events()
    rule = rules.make_infinite_missing(
        register(duckdb_engine, events[rules.MONEY_COLUMNS])
    )
    infinite = np.isinf(events[rules.MONEY_COLUMNS].to_numpy()).any(axis=1)
    changed = rules.collect(duckdb_engine, rule.changed)
    assert positions(changed) == np.flatnonzero(infinite).tolist()
    assert rules.scalar(duckdb_engine, rule.count) == infinite.sum()
    repaired = rules.collect(duckdb_engine, rule.table.order_by(SOURCE_ROW))
    expected = events[rules.MONEY_COLUMNS].replace([np.inf, -np.inf], np.nan)
    pd.testing.assert_frame_equal(repaired[rules.MONEY_COLUMNS], expected)


def test_sort_events_matches_stable_sort(duckdb_engine):
    events = messy_events().drop_duplicates(C.event_id)
    events.loc[events.index[:5], C.order_id] = None
    table = cleaning._register(duckdb_engine, events, EVENT_SORT_ORDER)
    order = rules.collect(duckdb_engine, rules.sort_events(table))[SOURCE_ROW]
    expected = events.reset_index(drop=True).sort_values(
        EVENT_SORT_ORDER, kind="stable", na_position="last"
    )
    assert order.tolist() == expected.index.tolist()


def test_repeated_event_ids_in_order_of_first_row(duckdb_engine):
    ids = ["a", "b", "c", "b", "d", "a", "e", "c", "c"]
    table = register(duckdb_engine, pd.DataFrame({C.event_id: ids}))
    assert rules.scalar(duckdb_engine, rules.repeated_event_id_count(table)) == 3
    first = rules.collect(duckdb_engine, rules.repeated_event_ids(table))
    frame = pd.Series(ids)
    expected = frame[frame.duplicated(keep=False)].unique().tolist()
    assert first[C.event_id].tolist() == expected
    assert first[SOURCE_ROW].tolist() == [0, 1, 2]


# The pandas functions on DuckDB


def clean_with(engine: Engine | None) -> tuple[pd.DataFrame, CleaningReport]:
    """Run every pandas cleaning function, as a loader does, on ``engine``."""
    report = CleaningReport(source="generated")
    events = messy_events()
    events.index = pd.RangeIndex(1, len(events) + 1, name="row")
    events = cleaning.drop_exact_duplicates(events, report, engine=engine)
    events = cleaning.normalize_discount_signs(
        events, [C.discount], report, file="generated", engine=engine
    )
    ids = [C.customer_id, C.item_id, C.order_id, C.event_id]
    events = cleaning.canonicalize_ids(events, ids, report, engine=engine)
    events["line"] = cleaning.number_lines(
        events, C.order_id, [C.item_id, C.timestamp], engine=engine
    )
    return cleaning.finish_events(
        events, report, source="generated", engine=engine
    ), report


def test_pandas_functions_match_pandas_steps():
    cleaned, report = clean_with(None)
    events = messy_events().drop_duplicates()
    events[C.discount] = events[C.discount].abs()
    for column in (C.customer_id, C.item_id, C.order_id, C.event_id):
        events[column] = pandas_canonical_id(events[column])
    money = rules.MONEY_COLUMNS
    events[money] = events[money].replace([np.inf, -np.inf], np.nan)
    expected = events.sort_values(EVENT_SORT_ORDER, kind="stable", na_position="last")
    for column in money:
        np.testing.assert_array_equal(
            cleaned[column].to_numpy(), expected[column].to_numpy()
        )
    assert cleaned[C.event_id].tolist() == expected[C.event_id].tolist()
    assert cleaned[C.customer_id].tolist() == expected[C.customer_id].tolist()
    assert report.count("exact_duplicates") == messy_events().duplicated().sum()
    assert (
        report.count("non_finite_amount")
        == np.isinf(messy_events().drop_duplicates()[money].to_numpy())
        .any(axis=1)
        .sum()
    )


# The Parquet-to-Parquet path


def known_events() -> pd.DataFrame:
    """Five events with one of each problem the cleaning repairs."""
    return pd.DataFrame(
        {
            C.event_id: ["e1", "e2", "e3", "e4", "e1"],
            C.customer_id: ["17850.0", " 42 ", None, "", "17850.0"],
            C.item_id: ["A", "B", "C", "D", "A"],
            C.event_type: ["purchase"] * 5,
            C.quantity: [1.0, 2.0, np.inf, 1.0, 1.0],
            C.amount: [3.0, 4.0, 5.0, np.nan, 3.0],
            C.discount: [0.0, -1.0, -0.5, 0.0, 0.0],
            C.timestamp: pd.to_datetime(
                [
                    "2024-01-02 10:00",
                    "2024-01-01 09:00",
                    "2024-01-01 08:00",
                    "2024-01-02 07:00",
                    "2024-01-02 10:00",
                ],
                utc=True,
            ).as_unit("us"),
            C.order_id: ["o1", "o2", "o2", "o3", "o1"],
        }
    )


def test_parquet_report_known_counts(tmp_path):
    write_partitioned(known_events(), tmp_path / "in")
    report = clean_events_parquet(tmp_path / "in", tmp_path / "out")
    counts = report.to_frame().set_index("rule")["rows"].to_dict()
    assert report.rows_read == {"events": 5}
    assert counts["exact_duplicates"] == 1
    assert counts["discount_sign_flipped:discount"] == 2
    assert counts["id_made_canonical:customer_id"] == 2
    assert counts["id_made_canonical:event_id"] == 0
    assert counts["non_finite_amount"] == 1
    saved = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert saved == report.to_dict()


def test_parquet_partitions_written(tmp_path):
    write_partitioned(known_events(), tmp_path / "in")
    clean_events_parquet(tmp_path / "in", tmp_path / "out")
    folders = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir())
    assert folders == ["date=2024-01-01", "date=2024-01-02"]
    for folder in folders:
        day = pd.Timestamp(folder.removeprefix("date="), tz="UTC")
        part = pd.read_parquet(tmp_path / "out" / folder)
        assert (part[C.timestamp].dt.floor("D") == day).all()
    events = pd.read_parquet(tmp_path / "out")
    assert events[C.event_id].tolist() == ["e3", "e2", "e4", "e1"]
    assert events.loc[events[C.event_id] == "e1", C.customer_id].item() == "17850"
    assert events.loc[events[C.event_id] == "e2", C.customer_id].item() == "42"
    assert events[C.customer_id].isna().sum() == 2
    assert events[C.discount].tolist() == [0.5, 1.0, 0.0, 0.0]
    assert events[C.quantity].isna().tolist() == [True, False, False, False]


def test_parquet_matches_pandas_steps(tmp_path):
    events = messy_events()
    parts = write_partitioned(events, tmp_path / "in")
    report = clean_events_parquet(tmp_path / "in", tmp_path / "out")

    # Source order is file order, then row order within each file.
    expected = pd.concat(parts, ignore_index=True).drop_duplicates()
    expected[C.discount] = expected[C.discount].abs()
    for column in (C.customer_id, C.item_id, C.order_id, C.event_id):
        expected[column] = pandas_canonical_id(expected[column])
    money = rules.MONEY_COLUMNS
    expected[money] = expected[money].replace([np.inf, -np.inf], np.nan)
    expected = expected.sort_values(EVENT_SORT_ORDER, kind="stable")

    written = pd.read_parquet(tmp_path / "out")
    assert written[C.event_id].tolist() == expected[C.event_id].tolist()
    assert written[C.customer_id].tolist() == expected[C.customer_id].tolist()
    for column in money:
        np.testing.assert_array_equal(
            written[column].to_numpy(), expected[column].to_numpy()
        )
    assert report.count("exact_duplicates") == events.duplicated().sum()
    assert (
        report.count("discount_sign_flipped:discount")
        == (events.drop_duplicates()[C.discount] < 0).sum()
    )


def test_parquet_rows_sorted_within_each_file(tmp_path):
    write_partitioned(messy_events(n_rows=5000, seed=2), tmp_path / "in")
    clean_events_parquet(tmp_path / "in", tmp_path / "out")
    for path in sorted((tmp_path / "out").rglob("*.parquet")):
        part = pd.read_parquet(path)
        expected = part.sort_values(EVENT_SORT_ORDER, kind="stable")
        assert part[C.event_id].tolist() == expected[C.event_id].tolist(), path


def test_parquet_single_file_integer_ids(tmp_path):
    events = known_events().drop(index=4)
    events[C.customer_id] = [17850, 42, 7, 9]
    events.to_parquet(tmp_path / "events.parquet", index=False)
    clean_events_parquet(tmp_path / "events.parquet", tmp_path / "out")
    written = pd.read_parquet(tmp_path / "out")
    assert sorted(written[C.customer_id]) == ["17850", "42", "7", "9"]
    assert written[C.channel].isna().all()


def bad_events(column: str, value, row: int) -> pd.DataFrame:
    events = known_events().drop(index=4)
    events[C.discount] = 0.0
    events[C.quantity] = 1.0
    events.loc[row, column] = value
    return events


def test_parquet_negative_amount_names_file_row(tmp_path):
    # The 2024-01-02 file contains e1, then e4 (input rows 0 and 3).
    write_partitioned(bad_events(C.amount, -2.5, row=3), tmp_path / "in")
    with pytest.raises(InputError) as raised:
        clean_events_parquet(tmp_path / "in", tmp_path / "out")
    error = raised.value
    assert Path(error.file) == tmp_path / "in" / "date=2024-01-02" / "part-0.parquet"
    assert error.row == 2
    assert error.column == C.amount
    assert error.value == -2.5


def test_parquet_event_without_timestamp_names_file_row(tmp_path):
    # Days are the output's partitions, so an undated event cannot be placed.
    events = bad_events(C.timestamp, pd.NaT, row=2)
    events.to_parquet(tmp_path / "events.parquet", index=False)
    with pytest.raises(InputError) as raised:
        clean_events_parquet(tmp_path / "events.parquet", tmp_path / "out")
    error = raised.value
    assert Path(error.file) == tmp_path / "events.parquet"
    assert error.row == 3
    assert error.column == C.timestamp
    assert not (tmp_path / "out").exists()


def test_parquet_mixed_discount_signs_name_rows(tmp_path):
    # e2 is the first row of the 2024-01-01 file, and the only positive one.
    events = bad_events(C.discount, 0.5, row=1)
    events.loc[[0, 2], C.discount] = -1.0
    write_partitioned(events, tmp_path / "in")
    with pytest.raises(
        InputError, match=r"rows \['date=2024-01-01/part-0.parquet:1'\]"
    ):
        clean_events_parquet(tmp_path / "in", tmp_path / "out")


def test_parquet_repeated_event_ids_name_first_row(tmp_path):
    # e4 becomes a second e2; the first e2 is row 1 of the 2024-01-01 file.
    events = bad_events(C.event_id, "e2", row=3)
    write_partitioned(events, tmp_path / "in")
    with pytest.raises(
        InputError, match=r"event ids are not unique: \['e2'\]"
    ) as raised:
        clean_events_parquet(tmp_path / "in", tmp_path / "out")
    assert raised.value.file.endswith("date=2024-01-01/part-0.parquet")
    assert raised.value.row == 1


PARQUET_ERRORS = [
    ("missing column", r"missing required column\(s\) \['amount'\]"),
    ("text timestamp", r"timestamp column is not a Parquet timestamp"),
    ("destination not empty", r"destination folder is not empty"),
    ("destination inside source", r"destination overlaps the source"),
    ("no Parquet files", r"no Parquet files found in the folder"),
]


@pytest.mark.parametrize(("case", "message"), PARQUET_ERRORS)
def test_parquet_invalid_input_raises(tmp_path, case, message):
    events = known_events()
    destination = tmp_path / "out"
    if case == "missing column":
        events = events.drop(columns=C.amount)
    if case == "text timestamp":
        events[C.timestamp] = events[C.timestamp].astype(str)
    if case == "destination not empty":
        destination.mkdir()
        (destination / "old.txt").write_text("x")
    if case == "destination inside source":
        destination = tmp_path / "in" / "out"
    (tmp_path / "in").mkdir()
    if case != "no Parquet files":
        events.to_parquet(tmp_path / "in" / "events.parquet", index=False)
    with pytest.raises(InputError, match=message):
        clean_events_parquet(tmp_path / "in", destination)


def test_parquet_empty_dataset_writes_report(tmp_path):
    known_events().head(0).to_parquet(tmp_path / "events.parquet", index=False)
    report = clean_events_parquet(tmp_path / "events.parquet", tmp_path / "out")
    assert report.rows_read == {"events": 0}
    assert report.to_frame()["rows"].sum() == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == [REPORT_FILE]


def test_parquet_overwrite_replaces_destination(tmp_path):
    write_partitioned(known_events(), tmp_path / "in")
    (tmp_path / "out" / "date=1999-01-01").mkdir(parents=True)
    clean_events_parquet(tmp_path / "in", tmp_path / "out", overwrite=True)
    folders = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir())
    assert folders == ["date=2024-01-01", "date=2024-01-02"]


# Spark


@pytest.mark.slow
def test_spark_canonical_id_matches_duckdb(duckdb_engine, spark_engine):
    ids = pd.Series(TRICKY_IDS, dtype="string")
    results = []
    for engine in (duckdb_engine, spark_engine):
        rule = rules.canonicalize_id(register(engine, pd.DataFrame({"id": ids})), "id")
        table = rules.collect(engine, rule.table.order_by(SOURCE_ROW))["id"]
        changed = rules.collect(engine, rule.changed).sort_values(SOURCE_ROW)
        results.append(
            (
                [None if pd.isna(v) else v for v in table],
                positions(changed),
                int(changed[COUNTED].sum()),
                int(rules.scalar(engine, rule.count)),
            )
        )
    assert results[0] == results[1]


@pytest.mark.slow
def test_spark_pandas_functions_match_duckdb(spark_engine):
    on_duckdb, duckdb_report = clean_with(None)
    on_spark, spark_report = clean_with(spark_engine)
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=True)
    assert spark_report.to_dict() == duckdb_report.to_dict()


@pytest.mark.slow
def test_spark_line_prices_match_duckdb(spark_engine, reference_dir):
    lines = pd.read_csv(
        reference_dir / "18-negative-discount-fields" / "transactions.csv"
    )
    lines = cleaning.normalize_discount_signs(
        lines, cleaning.DISCOUNT_COLUMNS, CleaningReport(source="t")
    )
    reports = [CleaningReport(source="t"), CleaningReport(source="t")]
    on_duckdb = cleaning.line_prices(lines, reports[0])
    on_spark = cleaning.line_prices(lines, reports[1], engine=spark_engine)
    pd.testing.assert_frame_equal(on_spark, on_duckdb, check_exact=False, **TOLERANCE)
    assert reports[0].to_dict() == reports[1].to_dict()


SPARK_ERRORS = [
    ({C.amount: [-3.0] + [4.0] * 49}, "negative amount"),
    ({C.discount: [0.5] + [-0.5] * 49}, "both positive and negative"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("changes", "message"), SPARK_ERRORS)
def test_spark_errors_match_duckdb(spark_engine, changes, message):
    errors = []
    for engine in (None, spark_engine):
        events = messy_events(n_rows=50).head(50).reset_index(drop=True)
        for column, values in changes.items():
            events[column] = values
        events[C.quantity] = 1.0
        events.index = pd.RangeIndex(1, 51, name="row")
        report = CleaningReport(source="t")
        with pytest.raises(InputError, match=message) as raised:
            events = cleaning.normalize_discount_signs(
                events, [C.discount], report, file="f", engine=engine
            )
            cleaning.finish_events(events, report, source="f", engine=engine)
        errors.append(str(raised.value))
    assert errors[0] == errors[1]


@pytest.mark.slow
def test_spark_parquet_matches_duckdb(spark_engine, tmp_path):
    write_partitioned(messy_events(), tmp_path / "in")
    duckdb_report = clean_events_parquet(tmp_path / "in", tmp_path / "duckdb")
    spark_report = clean_events_parquet(
        tmp_path / "in", tmp_path / "spark", engine=spark_engine
    )
    assert spark_report.to_dict() == duckdb_report.to_dict()
    on_duckdb = pd.read_parquet(tmp_path / "duckdb")
    on_spark = pd.read_parquet(tmp_path / "spark")
    on_duckdb["date"] = on_duckdb["date"].astype(str)
    on_spark["date"] = on_spark["date"].astype(str)
    pd.testing.assert_frame_equal(
        on_spark.reset_index(drop=True), on_duckdb.reset_index(drop=True)
    )


@pytest.mark.slow
def test_spark_parquet_error_names_file_row(spark_engine, tmp_path):
    write_partitioned(bad_events(C.amount, -2.5, row=3), tmp_path / "in")
    with pytest.raises(InputError) as raised:
        clean_events_parquet(tmp_path / "in", tmp_path / "out", engine=spark_engine)
    error = raised.value
    assert Path(error.file) == tmp_path / "in" / "date=2024-01-02" / "part-0.parquet"
    assert error.row == 2
    assert error.value == -2.5
    assert re.search(r"column 'amount'", str(error))


# Safe writes and exact inputs of the Parquet path


def test_parquet_failed_overwrite_keeps_destination(
    duckdb_engine, tmp_path, monkeypatch
):
    write_partitioned(known_events(), tmp_path / "in")
    clean_events_parquet(tmp_path / "in", tmp_path / "out", engine=duckdb_engine)
    before = pd.read_parquet(tmp_path / "out")
    listing = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    def write_part_then_fail(expr, path, **options):
        (Path(path) / "date=2024-01-01").mkdir(parents=True)
        (Path(path) / "date=2024-01-01" / "data_0.parquet").write_bytes(b"PAR1")
        raise OSError("No space left on device")

    monkeypatch.setattr(duckdb_engine.backend, "to_parquet", write_part_then_fail)
    with pytest.raises(OSError, match="No space left"):
        clean_events_parquet(
            tmp_path / "in", tmp_path / "out", engine=duckdb_engine, overwrite=True
        )

    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == listing
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out"), before)


def test_parquet_hidden_files_not_read(tmp_path):
    write_partitioned(known_events(), tmp_path / "in")
    stray = known_events().head(1).assign(**{C.event_id: "stray"})
    for name in ("_stray.parquet", ".stray.parquet", "_temporary/part-0.parquet"):
        path = tmp_path / "in" / "date=2024-01-02" / name
        path.parent.mkdir(exist_ok=True)
        stray.to_parquet(path, index=False)

    report = clean_events_parquet(tmp_path / "in", tmp_path / "out")

    assert report.rows_read == {"events": 5}
    assert "stray" not in set(pd.read_parquet(tmp_path / "out")[C.event_id])


def test_parquet_garbage_file_names_file(tmp_path):
    write_partitioned(known_events(), tmp_path / "in")
    path = tmp_path / "in" / "date=2024-01-02" / "part-1.parquet"
    path.write_text("event_id,customer_id\ne9,42\n")

    with pytest.raises(InputError, match="not a valid Parquet file") as raised:
        clean_events_parquet(tmp_path / "in", tmp_path / "out")

    assert str(path) in str(raised.value)
    assert raised.value.file == str(path)
    assert raised.value.expected
    assert raised.value.fix
    assert not (tmp_path / "out").exists()


# Event types


def test_parquet_event_types_lower_cased(tmp_path):
    events = known_events()
    events[C.event_type] = ["PURCHASE", "Return", "view", None, "PURCHASE"]
    events.loc[3, C.event_type] = "cart"
    write_partitioned(events, tmp_path / "in")

    report = clean_events_parquet(tmp_path / "in", tmp_path / "out")

    written = pd.read_parquet(tmp_path / "out").set_index(C.event_id)
    assert written[C.event_type].to_dict() == {
        "e3": "view",
        "e2": "return",
        "e4": "cart",
        "e1": "purchase",
    }
    # The copy of e1 is an exact duplicate, dropped before the types.
    assert report.count("event_type_lower_cased") == 2
    entry = report.to_frame().set_index("rule").loc["event_type_lower_cased"]
    assert entry["action"] == "repaired"


def test_parquet_lower_case_rule_counted_at_zero(tmp_path):
    write_partitioned(known_events(), tmp_path / "in")

    report = clean_events_parquet(tmp_path / "in", tmp_path / "out")

    rules_recorded = report.to_frame()["rule"].tolist()
    assert "event_type_lower_cased" in rules_recorded
    assert report.count("event_type_lower_cased") == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [("order", "unknown event type"), (None, "missing event type")],
    ids=["unknown", "missing"],
)
def test_parquet_bad_event_type_names_file_row(tmp_path, value, message):
    # The 2024-01-02 file contains e1, then e4 (input rows 0 and 3).
    events = bad_events(C.event_type, value, row=3)
    write_partitioned(events, tmp_path / "in")

    with pytest.raises(InputError, match=message) as raised:
        clean_events_parquet(tmp_path / "in", tmp_path / "out")

    error = raised.value
    assert Path(error.file) == tmp_path / "in" / "date=2024-01-02" / "part-0.parquet"
    assert error.row == 2
    assert error.column == C.event_type
    assert error.value == value
    assert "purchase" in error.expected
    assert error.fix
    assert not (tmp_path / "out").exists()


def test_parquet_unknown_types_counted_in_error(tmp_path):
    events = known_events().drop(index=4)
    events[C.event_type] = ["Order", "purchase", "order", "refund"]
    events.to_parquet(tmp_path / "events.parquet", index=False)

    with pytest.raises(InputError, match=r"2 other rows too") as raised:
        clean_events_parquet(tmp_path / "events.parquet", tmp_path / "out")

    # The error shows the value as the file stores it.
    assert raised.value.row == 1
    assert raised.value.value == "Order"


@pytest.mark.slow
def test_spark_event_types_match_duckdb(spark_engine, tmp_path):
    events = known_events()
    events[C.event_type] = ["PURCHASE", "Return", "view", "cart", "PURCHASE"]
    write_partitioned(events, tmp_path / "in")
    duckdb_report = clean_events_parquet(tmp_path / "in", tmp_path / "duckdb")
    spark_report = clean_events_parquet(
        tmp_path / "in", tmp_path / "spark", engine=spark_engine
    )
    assert spark_report.count("event_type_lower_cased") == 2
    assert spark_report.to_dict() == duckdb_report.to_dict()

    write_partitioned(bad_events(C.event_type, "Order", row=3), tmp_path / "bad")
    with pytest.raises(InputError, match="unknown event type") as raised:
        clean_events_parquet(tmp_path / "bad", tmp_path / "out", engine=spark_engine)
    error = raised.value
    assert Path(error.file) == tmp_path / "bad" / "date=2024-01-02" / "part-0.parquet"
    assert error.row == 2
    assert error.value == "Order"
