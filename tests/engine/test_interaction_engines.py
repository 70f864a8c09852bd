"""The one Ibis definition of the interaction sums and splits gives one result.

DuckDB is compared with independent pandas computations, and Spark
``local[2]`` with DuckDB, on hand-computed cases, edge cases and a generated
shop. Sums can be added in a different order on each engine, so weights are
compared with a relative and absolute tolerance of 1e-9 after sorting by
key. Keys, dtypes, flags and customer lists must match exactly.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from promoloop.benchmarks.synthetic_events import EventGenerator, shop_for_events
from promoloop.config import RecommendConfig
from promoloop.engine import Engine
from promoloop.engine import splits as engine_splits
from promoloop.engine.interactions import (
    collect_item_popularity,
    collect_pair_weights,
    interaction_events,
)
from promoloop.recommend import (
    global_temporal_split,
    interactions_from_events,
    per_customer_split,
    prepare_interactions,
    run_recommendations,
)
from promoloop.recommend.interactions import (
    ROW,
    check_interactions,
    columns_to_arrow,
)
from promoloop.vocabulary import Columns as C
from promoloop.warnings import ColdStartWarning, LeakageWarning

TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
DAY = pd.Timestamp("2024-01-01", tz="UTC")
WEIGHTS = {"purchase": 1.0, "cart": 0.5, "return": -1.0}
PAIR_DTYPES = {C.customer_id: "str", C.item_id: "str", C.weight: "float64"}
POPULARITY_DTYPES = {C.item_id: "str", "popularity": "float64"}


# Independent pandas computations


def pandas_weights(events: pd.DataFrame, weights: dict) -> pd.DataFrame:
    """Weight each event row by row, keeping the rows with an item id."""
    kept = events[events[C.item_id].notna()]
    weight = [
        weights.get(kind.lower(), 0.0) if isinstance(kind, str) else 0.0
        for kind in kept[C.event_type]
    ]
    return pd.DataFrame(
        {
            C.customer_id: kept[C.customer_id].to_numpy(),
            C.item_id: kept[C.item_id].to_numpy(),
            C.weight: np.asarray(weight, dtype=np.float64),
            C.timestamp: pd.to_datetime(kept[C.timestamp], utc=True).array,
        }
    )


def pandas_pairs(interactions: pd.DataFrame, half_life_days=None) -> pd.DataFrame:
    """Sum each known (customer, item) pair's weights, decayed from the latest row."""
    weight = interactions[C.weight].astype(float)
    if half_life_days is not None:
        stamps = pd.to_datetime(interactions[C.timestamp], utc=True)
        age = (stamps.max() - stamps) / pd.Timedelta(days=1)
        weight = (weight * 0.5 ** (age / half_life_days)).fillna(0.0)
    rows = interactions.assign(**{C.weight: weight})
    rows = rows[rows[C.customer_id].notna()]
    pairs = rows.groupby([C.customer_id, C.item_id], as_index=False)[C.weight].sum()
    return pairs.astype(PAIR_DTYPES)


def pandas_popularity(interactions: pd.DataFrame) -> pd.DataFrame:
    positive = interactions.assign(**{C.weight: interactions[C.weight].clip(lower=0)})
    table = positive.groupby(C.item_id, as_index=False)[C.weight].sum()
    return table.rename(columns={C.weight: "popularity"}).astype(POPULARITY_DTYPES)


def pandas_per_customer_flags(events, test_share, min_interactions) -> np.ndarray:
    """Hold out each customer's latest rows, walking the rows customer by customer."""
    flags = np.zeros(len(events), dtype=bool)
    frame = pd.DataFrame(
        {
            "customer": events[C.customer_id].astype("string").fillna("<missing>"),
            "stamp": pd.to_datetime(events[C.timestamp], utc=True),
            "row": np.arange(len(events)),
        }
    )
    for _, rows in frame.groupby("customer"):
        n = len(rows)
        if n < min_interactions:
            continue
        held_out = min(max(math.floor(test_share * n + 0.5), 1), max(n - 1, 1))
        ordered = rows.sort_values(["stamp", "row"])
        flags[ordered["row"].to_numpy()[n - held_out :]] = True
    return flags


def by_key(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return table.sort_values(keys, ignore_index=True)


def assert_same_table(left: pd.DataFrame, right: pd.DataFrame, keys) -> None:
    pd.testing.assert_frame_equal(
        by_key(left, keys), by_key(right, keys), check_exact=False, **TOLERANCE
    )


# Inputs


def tiny_events() -> pd.DataFrame:
    """The hand-computed case: decay, a return, anonymous and unweighted rows."""
    rows = [
        ("A", "X", "purchase", 0),  # 20 days before the latest row
        ("A", "X", "purchase", 10),  # 10 days
        ("A", "Y", "cart", 20),  # latest row of the table
        ("A", "Y", "RETURN", 20),  # types are lower-cased
        ("B", "X", "view", 5),  # unweighted type: weight 0
        ("B", "Z", "return", 15),  # negative sum
        (None, "Z", "purchase", 20),  # anonymous: popularity only
        ("C", None, "purchase", 20),  # no item: left out
    ]
    frame = pd.DataFrame(rows, columns=[C.customer_id, C.item_id, C.event_type, "day"])
    frame[C.timestamp] = DAY + pd.to_timedelta(frame.pop("day"), unit="D")
    return frame


def shop_events(n_events: int = 20_000, seed: int = 7) -> pd.DataFrame:
    """Canonical events of a small generated shop over 60 days."""
    config = shop_for_events(n_events, days=60, seed=seed)
    tables = (table for _, table in EventGenerator(config).days())
    return pa.concat_tables(tables).to_pandas()


CASES = {"tiny": tiny_events, "shop": shop_events}


@pytest.fixture(scope="module")
def duckdb_engine():
    with Engine.duckdb() as engine:
        yield engine


@pytest.fixture(scope="module")
def shop():
    return shop_events()


def register_by_id(engine: Engine, table: pd.DataFrame):
    """Register an interaction table keyed by its string ids."""
    columns = {name: table[name] for name in (C.customer_id, C.item_id, C.weight)}
    columns[C.timestamp] = pd.to_datetime(table[C.timestamp], utc=True)
    return engine.register_frame("by_id", columns_to_arrow(columns))


def compute_interactions(engine: Engine, events: pd.DataFrame, half_life_days):
    """Run the three interaction expressions on an engine, keyed by string ids."""
    table = interactions_from_events(events, WEIGHTS, engine)
    source = register_by_id(engine, check_interactions(table))
    pairs = collect_pair_weights(engine, source, half_life_days)
    popularity = collect_item_popularity(engine, source)
    return table, pairs.astype(PAIR_DTYPES), popularity.astype(POPULARITY_DTYPES)


# Hand-computed


def test_tiny_pairs_hand_computed(duckdb_engine):
    table, pairs, popularity = compute_interactions(duckdb_engine, tiny_events(), 10.0)
    weight = pairs.set_index([C.customer_id, C.item_id])[C.weight]
    plain = collect_pair_weights(
        duckdb_engine, register_by_id(duckdb_engine, check_interactions(table))
    ).set_index([C.customer_id, C.item_id])[C.weight]
    popular = popularity.set_index(C.item_id)["popularity"]

    assert len(table) == 7
    assert weight[("A", "X")] == pytest.approx(0.5**2 + 0.5**1)
    assert weight[("A", "Y")] == pytest.approx(0.5 - 1.0)
    assert weight[("B", "X")] == 0.0
    assert weight[("B", "Z")] == pytest.approx(-(0.5**0.5))
    assert len(weight) == 4
    assert plain[("A", "X")] == 2.0
    assert plain[("A", "Y")] == -0.5
    assert popular.to_dict() == {"X": 2.0, "Y": 0.5, "Z": 1.0}


def test_interaction_rows_keep_input_order():
    events = tiny_events().iloc[::-1].reset_index(drop=True)

    table = interactions_from_events(events, WEIGHTS)

    expected = pandas_weights(events, WEIGHTS)
    assert table[C.item_id].tolist() == expected[C.item_id].tolist()
    assert table[C.weight].tolist() == expected[C.weight].tolist()
    assert table[C.timestamp].tolist() == expected[C.timestamp].tolist()


def test_decay_without_timestamp_weighs_zero(duckdb_engine):
    table = pd.DataFrame(
        {
            C.customer_id: ["A", "A"],
            C.item_id: ["X", "Y"],
            C.weight: [1.0, 1.0],
            C.timestamp: [DAY, pd.NaT],
        }
    )
    source = register_by_id(duckdb_engine, table)

    pairs = collect_pair_weights(duckdb_engine, source, 30.0)
    weight = pairs.set_index(C.item_id)[C.weight]

    assert weight["X"] == 1.0
    assert weight["Y"] == 0.0


def test_interaction_events_is_lazy(duckdb_engine):
    events = duckdb_engine.register_frame("events", tiny_events())

    expr = interaction_events(events, WEIGHTS)

    assert C.weight in expr.columns
    assert str(expr.schema()[C.weight]) == "float64"


def test_prepared_matrix_matches_pandas_sums(shop):
    table = interactions_from_events(shop, WEIGHTS)
    prepared = prepare_interactions(table)
    fitted = prepared.interactions

    expected = pandas_pairs(table)
    rows = fitted.customers.positions(expected[C.customer_id])
    cols = fitted.items.positions(expected[C.item_id])
    clipped = np.clip(expected[C.weight].to_numpy(), 0.0, None).astype(np.float32)
    dense = fitted.matrix.toarray()
    popularity = pandas_popularity(table).set_index(C.item_id)["popularity"]

    assert fitted.matrix.dtype == np.float32
    assert np.array_equal(dense[rows, cols], clipped)
    assert fitted.matrix.nnz == int((clipped > 0).sum())
    assert list(fitted.items.ids) == sorted(table[C.item_id].unique())
    assert np.allclose(
        prepared.popularity, popularity[fitted.items.ids].to_numpy(), **TOLERANCE
    )


# DuckDB against pandas


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("half_life_days", [None, 14.0])
def test_duckdb_matches_pandas_baseline(duckdb_engine, case, half_life_days):
    events = CASES[case]()

    table, pairs, popularity = compute_interactions(
        duckdb_engine, events, half_life_days
    )

    assert len(pairs) > 0
    weights = pandas_weights(events, WEIGHTS)
    assert table[C.item_id].tolist() == weights[C.item_id].tolist()
    assert table[C.weight].tolist() == weights[C.weight].tolist()
    assert_same_table(
        pairs, pandas_pairs(weights, half_life_days), [C.customer_id, C.item_id]
    )
    assert_same_table(popularity, pandas_popularity(weights), [C.item_id])


def test_temporal_split_matches_pandas(shop):
    cutoff = pd.Timestamp("2024-02-10 12:00", tz="UTC")

    split = global_temporal_split(shop, cutoff=cutoff)

    in_test = shop[C.timestamp] >= cutoff
    pd.testing.assert_frame_equal(split.train, shop[~in_test])
    pd.testing.assert_frame_equal(split.test, shop[in_test])
    train_ids = set(shop.loc[~in_test, C.customer_id].dropna())
    test_ids = set(shop.loc[in_test, C.customer_id].dropna())
    assert split.customers_without_test == sorted(train_ids - test_ids)
    assert split.cold_customers == sorted(test_ids - train_ids)


def test_temporal_split_default_cutoff_and_tie(duckdb_engine):
    events = tiny_events()

    split = global_temporal_split(events, test_days=5, engine=duckdb_engine)

    # The latest row is on day 20, so the cutoff is day 15 and the row
    # stamped exactly at day 15 is a test row.
    assert split.cutoff == DAY + pd.Timedelta(days=15)
    assert split.test.index.tolist() == [2, 3, 5, 6, 7]
    assert split.train.index.tolist() == [0, 1, 4]


@pytest.mark.parametrize(("test_share", "min_interactions"), [(0.25, 2), (0.5, 4)])
def test_per_customer_split_matches_pandas(shop, test_share, min_interactions):
    with pytest.warns(LeakageWarning):
        split = per_customer_split(shop, test_share, min_interactions)

    flags = pandas_per_customer_flags(shop, test_share, min_interactions)
    pd.testing.assert_frame_equal(split.test, shop[flags])
    pd.testing.assert_frame_equal(split.train, shop[~flags])
    sizes = shop[C.customer_id].value_counts()
    short = f"{int((sizes < min_interactions).sum())} customers with < "
    assert split.notes[0].startswith(short)


def test_per_customer_split_ties_by_input_order(duckdb_engine):
    events = pd.DataFrame(
        {
            C.customer_id: ["A"] * 4,
            C.item_id: ["w", "x", "y", "z"],
            C.timestamp: [DAY, DAY + pd.Timedelta(days=1), DAY, DAY],
        }
    )

    with pytest.warns(LeakageWarning):
        split = per_customer_split(events, test_share=0.5, engine=duckdb_engine)

    # Order: w, y, z (equal times, input order), then x; the last two are held out.
    assert split.test[C.item_id].tolist() == ["x", "z"]
    assert split.train[C.item_id].tolist() == ["w", "y"]


def test_per_customer_split_without_timestamp_uses_row_order(duckdb_engine):
    events = pd.DataFrame({C.customer_id: ["A", "B", "A", "A", "B"], "n": range(5)})
    flagged = engine_splits.per_customer_split(
        duckdb_engine.register_frame(
            "no_time",
            columns_to_arrow(
                {
                    C.customer_id: events[C.customer_id],
                    ROW: pd.Series(np.arange(5, dtype=np.int64)),
                }
            ),
        ),
        test_share=0.4,
        min_interactions=2,
    )

    flags = engine_splits.collect_test_flags(duckdb_engine, flagged)

    # A has 3 rows: round(1.2) = 1 held out; B has 2: round(0.8) = 1.
    assert flags.tolist() == [False, False, False, True, True]


# Spark local[2]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("half_life_days", [None, 14.0])
def test_spark_matches_duckdb(duckdb_engine, spark_engine, case, half_life_days):
    events = CASES[case]()

    on_spark = compute_interactions(spark_engine, events, half_life_days)
    on_duckdb = compute_interactions(duckdb_engine, events, half_life_days)

    pd.testing.assert_frame_equal(on_spark[0], on_duckdb[0])
    assert_same_table(on_spark[1], on_duckdb[1], [C.customer_id, C.item_id])
    assert_same_table(on_spark[2], on_duckdb[2], [C.item_id])


@pytest.mark.slow
def test_spark_prepared_matrix_matches_duckdb(duckdb_engine, spark_engine, shop):
    table = interactions_from_events(shop, WEIGHTS, duckdb_engine)
    results = [
        prepare_interactions(table, engine) for engine in (spark_engine, duckdb_engine)
    ]
    on_spark, on_duckdb = results

    assert list(on_spark.interactions.customers.ids) == list(
        on_duckdb.interactions.customers.ids
    )
    assert list(on_spark.interactions.items.ids) == list(
        on_duckdb.interactions.items.ids
    )
    difference = on_spark.interactions.matrix - on_duckdb.interactions.matrix
    assert abs(difference).max() <= 1e-6
    assert on_spark.interactions.matrix.nnz == on_duckdb.interactions.matrix.nnz
    assert np.allclose(on_spark.popularity, on_duckdb.popularity, **TOLERANCE)
    decayed = on_spark.decayed_matrix(30.0) - on_duckdb.decayed_matrix(30.0)
    assert abs(decayed).max() <= 1e-6


@pytest.mark.slow
def test_spark_splits_match_duckdb(duckdb_engine, spark_engine, shop):
    temporal = [
        global_temporal_split(shop, test_days=10, engine=engine)
        for engine in (spark_engine, duckdb_engine)
    ]
    with pytest.warns(LeakageWarning):
        per_customer = [
            per_customer_split(shop, 0.3, 3, engine=engine)
            for engine in (spark_engine, duckdb_engine)
        ]

    for on_spark, on_duckdb in (temporal, per_customer):
        assert on_spark.cutoff == on_duckdb.cutoff
        pd.testing.assert_frame_equal(on_spark.train, on_duckdb.train)
        pd.testing.assert_frame_equal(on_spark.test, on_duckdb.test)
        assert on_spark.customers_without_test == on_duckdb.customers_without_test
        assert on_spark.cold_customers == on_duckdb.cold_customers
        assert on_spark.notes == on_duckdb.notes


@pytest.mark.slow
def test_spark_recommendation_stage_matches_duckdb(spark_engine, shop):
    config = RecommendConfig(validation_days=14, event_weights=WEIGHTS)
    results = []
    for engine in (spark_engine, None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ColdStartWarning)
            results.append(
                run_recommendations(
                    shop, None, config, show_progress=False, engine=engine
                )
            )
    on_spark, on_duckdb = results

    assert on_spark.metrics["customers_evaluated"].min() > 0
    assert on_spark.chosen_model == on_duckdb.chosen_model
    pd.testing.assert_frame_equal(on_spark.recommendations, on_duckdb.recommendations)
    columns = [name for name in on_spark.metrics.columns if name != "fit_seconds"]
    pd.testing.assert_frame_equal(on_spark.metrics[columns], on_duckdb.metrics[columns])
    assert on_spark.split == on_duckdb.split
