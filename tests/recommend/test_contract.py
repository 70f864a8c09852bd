"""Contract every recommender keeps, checked on two disjoint taste groups."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from promoloop.recommend import (
    ALSRecommender,
    ContentRecommender,
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RepeatPurchaseRecommender,
)
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import RecommendationStrategy as S
from promoloop.warnings import ColdStartWarning

FACTORIES = {
    "popularity": PopularityRecommender,
    "repeat": RepeatPurchaseRecommender,
    "repeat_decay": lambda: RepeatPurchaseRecommender(half_life_days=30),
    "item_knn": lambda: ItemKNNRecommender(neighbours=10),
    "item_knn_bm25": lambda: ItemKNNRecommender(neighbours=10, similarity="bm25"),
    "als": lambda: ALSRecommender(factors=4, iterations=30, random_state=3),
    "als_bm25": lambda: ALSRecommender(factors=4, weighting="bm25", random_state=3),
    "content": ContentRecommender,
    "hybrid": lambda: HybridRecommender(neighbours=10, validation_days=14, k=3),
}
CUSTOMERS = ["a0", "a3", "b1", "b4"]


@pytest.fixture(params=sorted(FACTORIES))
def fitted(request, groups):
    interactions, items = groups
    return FACTORIES[request.param]().fit(interactions, items)


def test_output_columns_and_dtypes(fitted):
    out = fitted.recommend(CUSTOMERS, k=3)
    assert list(out.columns) == [C.customer_id, C.item_id, C.rank, C.score, C.strategy]
    assert out[C.customer_id].dtype == "string"
    assert out[C.item_id].dtype == "string"
    assert out[C.rank].dtype == np.int64
    assert out[C.score].dtype == np.float64
    assert out[C.strategy].dtype == "string"


@pytest.mark.parametrize("k", [1, 3, 7])
def test_ranks_contiguous_and_k_respected(fitted, k):
    out = fitted.recommend(CUSTOMERS, k=k)
    for customer, rows in out.groupby(C.customer_id):
        assert rows[C.rank].tolist() == list(range(1, k + 1)), customer
        assert rows[C.item_id].is_unique, customer
        assert rows[C.score].is_monotonic_decreasing, customer


def test_k_larger_than_catalog_returns_catalog(fitted):
    out = fitted.recommend(["a0"], k=50)
    assert len(out) == 10


def test_exclude_seen_leaves_out_training_items(fitted, groups):
    interactions, _ = groups
    out = fitted.recommend(CUSTOMERS, k=5, exclude_seen=True)
    seen = set(zip(interactions[C.customer_id], interactions[C.item_id], strict=True))
    pairs = set(zip(out[C.customer_id], out[C.item_id], strict=True))
    assert not pairs & seen
    assert (out.groupby(C.customer_id).size() == 5).all()


def test_batch_equals_single(fitted):
    batch = fitted.recommend(["b1", "a3", "a0"], k=4)
    for customer in ("a0", "a3", "b1"):
        single = fitted.recommend([customer], k=4).reset_index(drop=True)
        part = batch[batch[C.customer_id] == customer].reset_index(drop=True)
        pd.testing.assert_frame_equal(single, part, check_exact=False, rtol=1e-9)


def test_unknown_customer_gets_fallback(fitted):
    with pytest.warns(ColdStartWarning, match="1 unknown customer"):
        out = fitted.recommend(["zz", "a0"], k=3)
    unknown = out[out[C.customer_id] == "zz"]
    assert unknown[C.strategy].eq(S.FALLBACK_POPULAR).all()
    assert len(unknown) == 3


def test_known_customer_strategy(fitted):
    out = fitted.recommend(["a0"], k=3)
    expected = S.FALLBACK_POPULAR if not fitted.personalized else S.PERSONALIZED
    assert out[C.strategy].eq(expected).all()


def test_deterministic_for_seed(groups):
    interactions, items = groups
    for name, factory in FACTORIES.items():
        first = factory().fit(interactions, items).recommend(CUSTOMERS, k=5)
        second = factory().fit(interactions, items).recommend(CUSTOMERS, k=5)
        pd.testing.assert_frame_equal(first, second, obj=name)


def test_only_known_item_ids(fitted, groups):
    interactions, _ = groups
    with pytest.warns(ColdStartWarning):
        out = fitted.recommend(CUSTOMERS + ["new"], k=10)
    assert set(out[C.item_id]) <= set(interactions[C.item_id])


@pytest.mark.parametrize("name", ["item_knn", "item_knn_bm25", "als", "content"])
def test_recommends_within_taste_group(groups, name):
    interactions, items = groups
    model = FACTORIES[name]().fit(interactions, items)
    out = model.recommend(CUSTOMERS, k=3, exclude_seen=True)
    top = out[out[C.rank] == 1].set_index(C.customer_id)[C.item_id]
    # Each customer left out exactly one item of their own group.
    assert top["a0"] == "A0"
    assert top["a3"] == "A3"
    assert top["b1"] == "B1"
    assert top["b4"] == "B4"


def test_numeric_and_string_ids_are_one_customer(groups):
    interactions, _ = groups
    numeric = interactions.assign(
        **{
            C.customer_id: interactions[C.customer_id].map(
                {f"a{c}": 100 + c for c in range(6)}
                | {f"b{c}": 200 + c for c in range(6)}
            )
        }
    )
    model = RepeatPurchaseRecommender().fit(numeric)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ColdStartWarning)
        as_int = model.recommend([100], k=3)
        as_text = model.recommend(["100", "100.0"], k=3)
    pd.testing.assert_frame_equal(as_int, as_text)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_invalid_k_rejected(groups, k):
    interactions, _ = groups
    model = PopularityRecommender().fit(interactions)
    with pytest.raises(ValueError, match="argument 'k'"):
        model.recommend(["a0"], k=k)


def test_recommend_before_fit_raises():
    with pytest.raises(Exception, match="not fitted"):
        RepeatPurchaseRecommender().recommend(["a0"])
