"""The one Ibis definition of the behaviour features gives one table everywhere.

DuckDB is compared with an independent pandas implementation, and Spark
``local[2]`` with DuckDB, on the profile tests' inputs, on edge cases and on
a generated shop. Sums can be added in a different order on each engine, so
floating columns are compared with a relative and absolute tolerance of
1e-9. Integer and boolean columns, the index and the missing values must
match exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from promoloop.benchmarks.scale_tasks import pandas_behaviour
from promoloop.benchmarks.synthetic_dataset import write_shop
from promoloop.benchmarks.synthetic_events import EventGenerator, shop_for_events
from promoloop.engine import Engine
from promoloop.engine.behaviour import (
    BEHAVIOUR_COLUMNS,
    INPUT_COLUMNS,
    OUTPUT_DTYPES,
    behaviour_table,
    collect_behaviour,
)
from promoloop.errors import InputError
from tests.profiles.conftest import make_events
from tests.profiles.test_behaviour import online_retail_events, purchase

TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
AS_OF = pd.Timestamp("2024-01-31", tz="UTC")


def assert_same_table(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(left, right, check_exact=False, **TOLERANCE)


# Inputs


def tiny_events() -> pd.DataFrame:
    """The hand-computed case of the profile tests, plus a view-only customer."""
    return make_events(
        [
            {
                "customer_id": "A",
                "item_id": "I9",
                "event_type": "view",
                "timestamp": "2024-01-01",
            },
            purchase("A", "o1", "2024-01-11", 10.0, quantity=2, discount=1.0),
            purchase("A", "o1", "2024-01-11", 5.0, quantity=1),
            purchase("A", "o2", "2024-01-21", 20.0, quantity=3),
            {
                "customer_id": "A",
                "item_id": "I1",
                "event_type": "return",
                "timestamp": "2024-01-25",
                "amount": 5.0,
                "order_id": "r1",
            },
            purchase(None, "anon", "2024-01-25", 99.0),
            {
                "customer_id": "V",
                "item_id": "I1",
                "event_type": "view",
                "timestamp": "2024-01-30",
            },
        ]
    )


def edge_events() -> pd.DataFrame:
    """Missing amounts, units, discounts and orders; sub-second times; free items."""
    rows = [
        # customer, item, type, order, timestamp, quantity, amount, discount
        ("E", "I1", "purchase", "x1", "2024-01-10 23:59:59.5", 2.0, np.nan, np.nan),
        ("E", "I2", "purchase", None, "2024-01-11 00:00:00.25", np.nan, 4.0, 1.0),
        ("E", "I1", "return", "x1", "2024-01-12 08:00:00", 1.0, np.nan, 0.0),
        ("Z", "I3", "purchase", "z1", "2024-01-05 10:00:00", 1.0, 0.0, 0.0),
        ("Z", "I3", "purchase", "z1", "2024-01-05 10:00:00", 1.0, 0.0, 0.0),
        ("Z", "I4", "cart", None, "2024-01-04 09:00:00", 1.0, 0.0, 0.0),
        (None, "I1", "purchase", "g1", "2024-01-06 12:00:00", 1.0, 3.0, 0.0),
    ]
    columns = ["customer_id", "item_id", "event_type", "order_id", "timestamp"]
    columns += ["quantity", "amount", "discount"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    return frame


def shop_events(n_events: int = 30_000, seed: int = 7) -> pd.DataFrame:
    """Canonical events of a small generated shop over 60 days."""
    generator = EventGenerator(shop_for_events(n_events, days=60, seed=seed))
    return pa.concat_tables(table for _, table in generator.days()).to_pandas()


SHOP_AS_OF = pd.Timestamp("2024-03-01", tz="UTC")

CASES = {
    "tiny": (tiny_events, AS_OF),
    "edge": (edge_events, AS_OF),
    "shop": (shop_events, SHOP_AS_OF),
}


@pytest.fixture(scope="module")
def duckdb_engine():
    with Engine.duckdb() as engine:
        yield engine


def compute(engine: Engine, events: pd.DataFrame, as_of) -> pd.DataFrame:
    table = engine.register_frame("events", events[INPUT_COLUMNS])
    return collect_behaviour(engine, table, as_of)


# DuckDB


def test_edge_case_hand_computed(duckdb_engine):
    table = compute(duckdb_engine, edge_events(), AS_OF)
    e = table.loc["E"]
    z = table.loc["Z"]

    assert list(table.index) == ["E", "Z"]
    assert e["frequency"] == 1  # the line without an order id is no order
    assert e["gross_spend"] == pytest.approx(4.0)  # missing amount counts 0
    assert e["returns_value"] == 0.0
    assert e["return_rate"] == 0.0
    assert e["units_per_order"] == pytest.approx(2.0 / 1)
    assert e["basket_size"] == pytest.approx(2 / 1)  # (x1, I1) and (none, I2)
    assert e["discount_share"] == pytest.approx(1 / 2)  # missing is not discounted
    assert e["interpurchase_days"] == pytest.approx(1.0)  # Jan 10 and Jan 11
    assert e["recency_days"] == pytest.approx(20 - 0.25 / 86_400, abs=1e-12)
    assert e["tenure_days"] == pytest.approx(20 + 0.5 / 86_400, abs=1e-12)
    assert not e["zero_price_only"]
    assert z["zero_price_only"]
    assert z["avg_order_value"] == 0.0
    assert np.isnan(z["return_rate"])
    assert np.isnan(z["interpurchase_days"])
    assert z["basket_size"] == 1.0  # the same item twice in one order


def test_output_columns_and_dtypes(duckdb_engine):
    table = compute(duckdb_engine, tiny_events(), AS_OF)

    assert list(table.columns) == BEHAVIOUR_COLUMNS
    assert table.dtypes.astype(str).to_dict() == OUTPUT_DTYPES
    assert table.index.name == "customer_id"
    assert table.index.is_monotonic_increasing


def test_naive_as_of_is_utc(duckdb_engine):
    naive = compute(duckdb_engine, tiny_events(), AS_OF.tz_localize(None))
    aware = compute(duckdb_engine, tiny_events(), AS_OF)

    assert_same_table(naive, aware)


@pytest.mark.parametrize("case", sorted(CASES))
def test_duckdb_matches_pandas_baseline(duckdb_engine, case):
    build, as_of = CASES[case]
    events = build()

    assert_same_table(
        compute(duckdb_engine, events, as_of), pandas_behaviour(events, as_of)
    )


def test_duckdb_parquet_matches_frame(duckdb_engine, tmp_path):
    config = shop_for_events(20_000, days=45, seed=11)
    shop = write_shop(config, tmp_path / "shop", chunk_days=10)
    as_of = config.first_day + pd.Timedelta(days=config.days)
    events = pa.concat_tables(t for _, t in EventGenerator(config).days()).to_pandas()

    on_parquet = duckdb_engine.register_parquet("shop_events", shop.events_path)
    from_parquet = collect_behaviour(duckdb_engine, on_parquet, as_of)

    assert "date" in on_parquet.columns
    assert_same_table(from_parquet, compute(duckdb_engine, events, as_of))


def test_register_parquet_missing_path(duckdb_engine, tmp_path):
    with pytest.raises(InputError, match="Parquet dataset not found"):
        duckdb_engine.register_parquet("missing", tmp_path / "nothing")


def test_behaviour_table_is_lazy(duckdb_engine):
    events = duckdb_engine.register_frame("events", tiny_events()[INPUT_COLUMNS])
    expr = behaviour_table(events, AS_OF)

    assert list(expr.columns) == ["customer_id", *BEHAVIOUR_COLUMNS]
    assert str(expr.schema()["frequency"]) == "int64"


# Spark local[2]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_spark_matches_duckdb(duckdb_engine, spark_engine, case):
    build, as_of = CASES[case]
    events = build()

    on_spark = compute(spark_engine, events, as_of)

    assert_same_table(on_spark, compute(duckdb_engine, events, as_of))


@pytest.mark.slow
def test_spark_matches_duckdb_online_retail(duckdb_engine, spark_engine, reference_dir):
    events = online_retail_events(reference_dir)
    as_of = pd.Timestamp("2011-03-31", tz="UTC")

    on_spark = compute(spark_engine, events, as_of)

    assert on_spark.loc["30117", "monetary"] == pytest.approx(28.95)
    assert_same_table(on_spark, compute(duckdb_engine, events, as_of))


@pytest.mark.slow
def test_spark_parquet_matches_duckdb_parquet(duckdb_engine, spark_engine, tmp_path):
    config = shop_for_events(20_000, days=45, seed=12)
    shop = write_shop(config, tmp_path / "shop", chunk_days=10)
    as_of = config.first_day + pd.Timedelta(days=config.days)

    on_spark = collect_behaviour(
        spark_engine, spark_engine.register_parquet("events", shop.events_path), as_of
    )
    on_duckdb = collect_behaviour(
        duckdb_engine,
        duckdb_engine.register_parquet("events_parquet", shop.events_path),
        as_of,
    )

    assert len(on_spark) > 100
    assert_same_table(on_spark, on_duckdb)


def test_event_types_read_case_insensitively(duckdb_engine):
    events = shop_events(n_events=3_000)
    shouting = events.assign(event_type=events["event_type"].str.upper())

    expected = compute(duckdb_engine, events, AS_OF)

    assert expected["frequency"].sum() > 0
    assert_same_table(compute(duckdb_engine, shouting, AS_OF), expected)
