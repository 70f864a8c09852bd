"""Spark ML's ALS behind the recommender contract (Spark local[2])."""

from __future__ import annotations

import pandas as pd
import pytest

from promoloop.config import RecommendConfig
from promoloop.engine import Engine
from promoloop.errors import ConfigError, InputError
from promoloop.recommend import (
    PopularityRecommender,
    SparkALSRecommender,
    default_models,
    run_recommendations,
)
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import RecommendationStrategy as S
from promoloop.warnings import ColdStartWarning

from .conftest import taste_groups
from .test_evaluate import repeat_buyers

CUSTOMERS = [f"{group}{c}" for group in "ab" for c in range(6)]


def own_group(customer: str) -> set[str]:
    return {f"{customer[0].upper()}{i}" for i in range(5)}


@pytest.fixture(scope="module")
def fitted(spark_engine):
    interactions, _ = taste_groups()
    model = SparkALSRecommender(rank=4, max_iter=15, seed=3, engine=spark_engine)
    return model.fit(interactions)


# Planted structure


@pytest.mark.slow
def test_ranks_own_group_items_first(fitted):
    out = fitted.recommend(CUSTOMERS, k=10)

    for customer, rows in out.groupby(C.customer_id):
        ranked = rows.sort_values(C.rank)[C.item_id].tolist()
        assert set(ranked[:5]) == own_group(customer), customer
        assert rows[C.strategy].eq(S.PERSONALIZED).all(), customer


@pytest.mark.slow
def test_exclude_seen_gives_missing_item_first(fitted):
    interactions, _ = taste_groups()

    out = fitted.recommend(CUSTOMERS, k=5, exclude_seen=True)

    seen = set(zip(interactions[C.customer_id], interactions[C.item_id], strict=True))
    pairs = set(zip(out[C.customer_id], out[C.item_id], strict=True))
    assert not pairs & seen
    assert (out.groupby(C.customer_id).size() == 5).all()
    top = out[out[C.rank] == 1].set_index(C.customer_id)[C.item_id]
    # Each customer cN left out item N % 5 of their own group.
    for customer in CUSTOMERS:
        expected = f"{customer[0].upper()}{int(customer[1:]) % 5}"
        assert top[customer] == expected, customer


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 3, 10, 50])
def test_k_bounds_list_length(fitted, k):
    out = fitted.recommend(["a0", "b1"], k=k)

    for customer, rows in out.groupby(C.customer_id):
        expected = min(k, 10)
        assert rows[C.rank].tolist() == list(range(1, expected + 1)), customer
        assert rows[C.item_id].is_unique, customer
        assert rows[C.score].is_monotonic_decreasing, customer


@pytest.mark.slow
def test_unknown_customer_gets_popularity(fitted):
    interactions, _ = taste_groups()
    with pytest.warns(ColdStartWarning):
        popular = PopularityRecommender().fit(interactions).recommend(["zz"], k=3)

    with pytest.warns(ColdStartWarning, match="1 unknown customer"):
        out = fitted.recommend(["zz", "a0"], k=3)

    unknown = out[out[C.customer_id] == "zz"].reset_index(drop=True)
    pd.testing.assert_frame_equal(unknown, popular)
    assert unknown[C.strategy].eq(S.FALLBACK_POPULAR).all()


@pytest.mark.slow
def test_customer_without_signal_gets_fallback(spark_engine):
    interactions, _ = taste_groups()
    silent = pd.DataFrame(
        {
            C.customer_id: ["quiet"],
            C.item_id: ["A0"],
            C.weight: [0.0],
            C.timestamp: [interactions[C.timestamp].max()],
        }
    )
    table = pd.concat([interactions, silent], ignore_index=True)
    model = SparkALSRecommender(rank=4, seed=3, engine=spark_engine).fit(table)

    with pytest.warns(ColdStartWarning, match="1 customer"):
        out = model.recommend(["quiet"], k=3)

    assert out[C.strategy].eq(S.FALLBACK_POPULAR).all()
    assert len(out) == 3
    # Spark fits no factors for a customer without a positive entry.
    row = model.customers_.positions(["quiet"])[0]
    assert not model.customer_factors_[row].any()


@pytest.mark.slow
def test_same_seed_same_lists(fitted, spark_engine):
    interactions, _ = taste_groups()
    again = SparkALSRecommender(rank=4, max_iter=15, seed=3, engine=spark_engine)

    first = fitted.recommend(CUSTOMERS, k=5)
    second = again.fit(interactions).recommend(CUSTOMERS, k=5)

    pd.testing.assert_frame_equal(first, second, check_exact=False, rtol=1e-6)


@pytest.mark.slow
def test_fit_without_engine_joins_running_session(spark_engine):
    interactions, _ = taste_groups()

    model = SparkALSRecommender(rank=2, max_iter=2).fit(interactions)
    still_running = spark_engine.to_pandas(
        spark_engine.register_frame("probe", pd.DataFrame({"x": [1]}))
    )

    assert model.item_factors_.shape == (10, 2)
    assert still_running["x"].tolist() == [1]


# Model choice in the recommendation stage


@pytest.mark.slow
def test_stage_compares_spark_als_by_name(spark_engine):
    config = RecommendConfig(
        k=2, validation_days=14, spark_als=True, als_factors=2, als_iterations=3
    )
    models = default_models(config, engine=spark_engine)

    with pytest.warns(ColdStartWarning):
        result = run_recommendations(
            repeat_buyers(),
            None,
            config,
            show_progress=False,
            models={name: models[name] for name in ("repeat", "als_spark")},
            engine=spark_engine,
        )

    assert list(models)[-1] == "als_spark"
    assert result.metrics["model"].tolist() == ["repeat", "als_spark"]
    assert result.metrics["customers_evaluated"].tolist() == [4, 4]


def test_spark_als_not_in_defaults():
    default = default_models(RecommendConfig())

    assert "als_spark" not in default
    assert "als_untuned" in default


def test_spark_als_option_rejects_default_engine():
    config = RecommendConfig(spark_als=True)

    with pytest.raises(ConfigError, match="engine is duckdb.*--engine spark"):
        default_models(config)


def test_spark_als_option_rejects_duckdb_engine():
    config = RecommendConfig(spark_als=True)

    with Engine.duckdb() as duckdb:
        with pytest.raises(ConfigError, match="engine is duckdb.*--engine spark"):
            default_models(config, engine=duckdb)


# Bad arguments, rejected before Spark starts


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rank": 0}, "argument 'rank'"),
        ({"rank": 2.5}, "argument 'rank'"),
        ({"max_iter": True}, "argument 'max_iter'"),
        ({"reg_param": -0.1}, "argument 'reg_param'"),
        ({"alpha": -1.0}, "argument 'alpha'"),
    ],
)
def test_invalid_parameters_rejected(kwargs, message):
    interactions, _ = taste_groups()
    with pytest.raises(InputError, match=message):
        SparkALSRecommender(**kwargs).fit(interactions)


def test_duckdb_engine_rejected():
    interactions, _ = taste_groups()
    with Engine.duckdb() as duckdb:
        model = SparkALSRecommender(engine=duckdb)
        with pytest.raises(InputError, match="argument 'engine'"):
            model.fit(interactions)
