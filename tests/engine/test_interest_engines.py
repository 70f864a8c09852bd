"""The one Ibis definition of the interest scores gives one table everywhere.

DuckDB is compared with an independent pandas implementation, and Spark
``local[2]`` with DuckDB, on a hand-computed case, on edge cases and on a
generated shop. Sums can be added in a different order on each engine, so
scores are compared with a relative and absolute tolerance of 1e-9, after
sorting by customer, dimension and value. The keys, the dtypes and the
set of rows must match exactly.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from promoloop.benchmarks.synthetic_dataset import write_shop
from promoloop.benchmarks.synthetic_events import (
    EventGenerator,
    generate_items,
    shop_for_events,
)
from promoloop.config import InterestConfig
from promoloop.engine import Engine
from promoloop.engine.interest import (
    INPUT_COLUMNS,
    INTEREST_COLUMNS,
    OUTPUT_DTYPES,
    collect_interest,
    interest_table,
)
from promoloop.profiles.interest import event_weights, interest_scores
from tests.profiles.conftest import make_events

TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
AS_OF = pd.Timestamp("2024-01-31", tz="UTC")
KEYS = ["customer_id", "dimension", "value"]
CONFIG = InterestConfig(
    event_weights={"view": 0.5, "cart": 1.0, "purchase": 3.0, "return": -1.0},
    half_life_days=10.0,
)


def by_key(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(KEYS, ignore_index=True)


def assert_same_scores(left: pd.DataFrame, right: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        by_key(left), by_key(right), check_exact=False, **TOLERANCE
    )


def pandas_interest(
    events: pd.DataFrame, items: pd.DataFrame, as_of: pd.Timestamp, config
) -> pd.DataFrame:
    """Compute the scores event by event in pandas, in no particular order."""
    known = events[events["customer_id"].notna() & events["item_id"].notna()]
    weight = known["event_type"].map(config.event_weights).astype(float).fillna(0.0)
    if config.half_life_days is not None:
        age = ((as_of - known["timestamp"]) / pd.Timedelta(days=1)).clip(lower=0)
        weight = (weight * 0.5 ** (age / config.half_life_days)).fillna(0.0)
    # A repeated item id takes each dimension's smallest value
    catalogue = items.groupby("item_id")[["category", "brand"]].min()
    parts = []
    for dimension in ("category", "brand"):
        value = known["item_id"].map(catalogue[dimension])
        rows = pd.DataFrame(
            {"customer_id": known["customer_id"], "value": value, "score": weight}
        ).dropna(subset=["value"])
        scores = rows.groupby(["customer_id", "value"], as_index=False)["score"].sum()
        parts.append(scores.assign(dimension=dimension))
    table = pd.concat(parts, ignore_index=True)[INTEREST_COLUMNS]
    return table.astype(OUTPUT_DTYPES)


# Inputs


def tiny_items() -> pd.DataFrame:
    """Two teas of two brands, a mug without a brand, and a repeated id.

    The repeated row of T1 sorts after its first row in both dimensions.
    """
    return pd.DataFrame(
        {
            "item_id": ["T1", "T2", "M1", "T1"],
            "category": ["tea", "tea", "mugs", "tisane"],
            "brand": ["Acme", "Brew", None, "Zen"],
        }
    )


def tiny_events() -> pd.DataFrame:
    """The hand-computed case: decay, a future event, unknown ids and types."""

    def event(customer, item, kind, day):
        return {
            "customer_id": customer,
            "item_id": item,
            "event_type": kind,
            "timestamp": day,
        }

    frame = make_events(
        [
            event("A", "T1", "purchase", "2024-01-21 00:00"),  # 10 days: 3 * 0.5
            event("A", "T2", "view", "2024-01-31 00:00"),  # 0 days: 0.5
            event("A", "M1", "cart", "2024-01-11 00:00"),  # 20 days: 1 * 0.25
            event("A", "T1", "return", "2024-02-10 00:00"),  # after as_of: -1
            event("A", "X9", "purchase", "2024-01-31 00:00"),  # unknown item
            event("A", "T2", "review", "2024-01-31 00:00"),  # unweighted type
            event("B", "T1", "view", "2024-01-21 12:00"),  # 9.5 days
            event(None, "T1", "purchase", "2024-01-31 00:00"),  # anonymous
        ]
    )
    # make_events writes missing ids as the string "None"
    frame.loc[frame["customer_id"] == "None", "customer_id"] = None
    return frame


def shop(n_events: int = 30_000, seed: int = 7):
    """Canonical events and items of a small generated shop over 60 days."""
    config = shop_for_events(n_events, days=60, seed=seed)
    generator = EventGenerator(config)
    events = pa.concat_tables(table for _, table in generator.days()).to_pandas()
    return events, generate_items(config)


SHOP_AS_OF = pd.Timestamp("2024-03-01", tz="UTC")

CASES = {
    "tiny": (lambda: (tiny_events(), tiny_items()), AS_OF, CONFIG),
    "tiny_no_decay": (
        lambda: (tiny_events(), tiny_items()),
        AS_OF,
        InterestConfig(event_weights={"view": 1.0}, half_life_days=None),
    ),
    "shop": (shop, SHOP_AS_OF, InterestConfig()),
}


@pytest.fixture(scope="module")
def duckdb_engine():
    with Engine.duckdb() as engine:
        yield engine


def compute(engine: Engine, events, items, as_of, config) -> pd.DataFrame:
    events_table = engine.register_frame("events", events[INPUT_COLUMNS])
    items_table = engine.register_frame(
        "items", items[["item_id", "category", "brand"]]
    )
    return collect_interest(engine, events_table, items_table, as_of, config)


# DuckDB


def test_tiny_case_hand_computed():
    scores = interest_scores(tiny_events(), tiny_items(), AS_OF, CONFIG)
    score = scores.set_index(KEYS)["score"]
    b_view = 0.5 * 0.5 ** (9.5 / 10)

    assert score[("A", "category", "tea")] == pytest.approx(3 * 0.5 + 0.5 - 1)
    assert score[("A", "category", "mugs")] == pytest.approx(1 * 0.25)
    assert score[("A", "brand", "Acme")] == pytest.approx(3 * 0.5 - 1)
    assert score[("A", "brand", "Brew")] == pytest.approx(0.5)
    assert score[("B", "category", "tea")] == pytest.approx(b_view)
    assert score[("B", "brand", "Acme")] == pytest.approx(b_view)
    # T1's smallest values count and M1 has no brand. X9 and the anonymous
    # event are left out.
    assert len(scores) == 6


def test_output_columns_dtypes_and_order():
    scores = interest_scores(tiny_events(), tiny_items(), AS_OF, CONFIG)

    assert list(scores.columns) == INTEREST_COLUMNS
    assert scores.dtypes.astype(str).to_dict() == OUTPUT_DTYPES
    assert list(scores.index) == list(range(len(scores)))
    assert list(scores["customer_id"]) == ["A"] * 4 + ["B"] * 2
    dimensions = ["brand", "brand", "category", "category", "brand", "category"]
    assert list(scores["dimension"]) == dimensions
    assert list(scores["value"]) == ["Acme", "Brew", "tea", "mugs", "Acme", "tea"]


def test_score_ties_sort_by_value():
    events = make_events(
        [
            {"customer_id": "A", "item_id": item, "event_type": "view", "timestamp": t}
            for item, t in (("T2", "2024-01-30"), ("T1", "2024-01-30"))
        ]
    )
    config = InterestConfig(event_weights={"view": 1.0}, half_life_days=None)

    scores = interest_scores(events, tiny_items(), AS_OF, config)
    brands = scores[scores["dimension"] == "brand"]

    assert list(brands["value"]) == ["Acme", "Brew"]
    assert list(brands["score"]) == [1.0, 1.0]


def test_items_without_dimensions_give_empty_table():
    items = pd.DataFrame({"item_id": ["T1"], "price": [2.0]})

    scores = interest_scores(tiny_events(), items, AS_OF, CONFIG)

    assert scores.empty
    assert list(scores.columns) == INTEREST_COLUMNS
    assert scores.dtypes.astype(str).to_dict() == OUTPUT_DTYPES


def test_one_dimension_only():
    items = tiny_items()[["item_id", "brand"]]

    scores = interest_scores(tiny_events(), items, AS_OF, CONFIG)

    assert set(scores["dimension"]) == {"brand"}
    assert len(scores) == 3


def test_missing_timestamp_weighs_zero_with_decay():
    events = tiny_events()
    events.loc[0, "timestamp"] = pd.NaT

    weights = event_weights(events, AS_OF, CONFIG)
    no_decay = InterestConfig(event_weights=CONFIG.event_weights, half_life_days=None)

    assert weights[0] == 0.0
    assert weights[1] == pytest.approx(0.5)
    assert weights[2] == pytest.approx(0.25)
    assert weights[3] == pytest.approx(-1.0)
    assert weights[5] == 0.0
    assert event_weights(events, AS_OF, no_decay)[0] == 3.0


def test_naive_as_of_is_utc():
    naive = interest_scores(
        tiny_events(), tiny_items(), AS_OF.tz_localize(None), CONFIG
    )
    aware = interest_scores(tiny_events(), tiny_items(), AS_OF, CONFIG)

    pd.testing.assert_frame_equal(naive, aware)


@pytest.mark.parametrize("case", sorted(CASES))
def test_duckdb_matches_pandas_baseline(duckdb_engine, case):
    build, as_of, config = CASES[case]
    events, items = build()

    on_duckdb = compute(duckdb_engine, events, items, as_of, config)

    assert len(on_duckdb) > 0
    assert_same_scores(on_duckdb, pandas_interest(events, items, as_of, config))


def test_interest_table_is_lazy(duckdb_engine):
    events = duckdb_engine.register_frame("events", tiny_events()[INPUT_COLUMNS])
    items = duckdb_engine.register_frame("items", tiny_items())
    expr = interest_table(events, items, AS_OF, CONFIG)

    assert list(expr.columns) == INTEREST_COLUMNS
    assert str(expr.schema()["score"]) == "float64"


def test_no_known_customers_give_empty_table():
    events = tiny_events()
    events["customer_id"] = None

    scores = interest_scores(events, tiny_items(), AS_OF, CONFIG)

    assert scores.empty
    assert scores.dtypes.astype(str).to_dict() == OUTPUT_DTYPES


def repeated_tea() -> pd.DataFrame:
    """T1 listed first as tea by Other, then as coffee by Acme."""
    return pd.DataFrame(
        {
            "item_id": ["T1", "T2", "T1"],
            "category": ["tea", "tea", "coffee"],
            "brand": ["Other", "Brew", "Acme"],
        }
    )


def test_repeated_item_takes_smallest_value(duckdb_engine):
    events = duckdb_engine.register_frame("events", tiny_events()[INPUT_COLUMNS])
    items = duckdb_engine.register_frame("items", repeated_tea())

    on_engine = collect_interest(duckdb_engine, events, items, AS_OF, CONFIG)
    from_frames = interest_scores(tiny_events(), repeated_tea(), AS_OF, CONFIG)

    # B viewed only T1. Its smallest category is coffee and its smallest
    # brand Acme, although neither is on T1's first row.
    for scores in (on_engine, from_frames):
        assert set(scores[scores["customer_id"] == "B"]["value"]) == {"coffee", "Acme"}
    pd.testing.assert_frame_equal(on_engine, from_frames)


# Spark local[2]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_spark_matches_duckdb(duckdb_engine, spark_engine, case):
    build, as_of, config = CASES[case]
    events, items = build()

    on_spark = compute(spark_engine, events, items, as_of, config)

    assert_same_scores(on_spark, compute(duckdb_engine, events, items, as_of, config))


@pytest.mark.slow
def test_spark_parquet_matches_duckdb_parquet(duckdb_engine, spark_engine, tmp_path):
    config = shop_for_events(20_000, days=45, seed=12)
    shop_data = write_shop(config, tmp_path / "shop", chunk_days=10)
    as_of = config.first_day + pd.Timedelta(days=config.days)
    interest = InterestConfig()

    results = []
    for engine in (spark_engine, duckdb_engine):
        events = engine.register_parquet("events_parquet", shop_data.events_path)
        items = engine.register_parquet("items_parquet", shop_data.items_path)
        results.append(collect_interest(engine, events, items, as_of, interest))
    on_spark, on_duckdb = results

    assert len(on_spark) > 100
    assert_same_scores(on_spark, on_duckdb)


def test_event_types_match_case_insensitively():
    lower = tiny_events()
    upper = lower.assign(event_type=lower["event_type"].str.upper())
    config = InterestConfig(
        event_weights={"View": 0.5, "CART": 1.0, "purchase": 3.0, "return": -1.0},
        half_life_days=10.0,
    )

    pd.testing.assert_frame_equal(
        interest_scores(upper, tiny_items(), AS_OF, config),
        interest_scores(lower, tiny_items(), AS_OF, CONFIG),
    )
