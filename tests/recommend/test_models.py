"""Model-specific behaviour: fallback, batching, decay, content score."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from promoloop.errors import InputError
from promoloop.recommend import (
    ALSRecommender,
    ContentRecommender,
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RepeatPurchaseRecommender,
    interactions_from_events,
)
from promoloop.recommend.base import top_k
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import RecommendationStrategy as S
from promoloop.warnings import ColdStartWarning

from .test_contract import FACTORIES


@pytest.fixture
def views_only_events(reference_dir):
    raw = pd.read_csv(reference_dir / "09-user-without-positive-history" / "events.csv")
    return pd.DataFrame(
        {
            C.customer_id: raw["user_id"],
            C.item_id: raw["item_id"],
            C.event_type: raw["event"],
            C.timestamp: pd.to_datetime(raw["ts"], utc=True),
        }
    )


def test_fallback_for_customers_without_purchases(views_only_events):
    model = RepeatPurchaseRecommender().fit(interactions_from_events(views_only_events))
    with pytest.warns(ColdStartWarning, match="2 unknown.*1 customer"):
        out = model.recommend(["u1", "u2", "u3", "u4", "u5", "u99"], k=3)
    lists = out.groupby(C.customer_id)[C.item_id].agg(list)
    strategy = out.groupby(C.customer_id)[C.strategy].first()
    for customer in ("u3", "u5", "u99"):
        assert lists[customer] == ["i1", "i3", "i2"], customer
        assert strategy[customer] == S.FALLBACK_POPULAR, customer
    for customer in ("u1", "u2", "u4"):
        assert strategy[customer] == S.PERSONALIZED, customer


def test_popularity_counts_purchases(views_only_events):
    model = PopularityRecommender().fit(interactions_from_events(views_only_events))
    counts = dict(zip(model.items_.ids, model.popularity_, strict=True))
    assert counts == {"i1": 3.0, "i2": 1.0, "i3": 2.0, "i4": 0.0}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_batch_does_not_change_scores(reference_dir, name):
    path = reference_dir / "11-unseen-user-and-batch-index-ids" / "interactions.csv"
    raw = pd.read_csv(path).rename(columns={"user_id": C.customer_id})
    raw[C.timestamp] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.arange(len(raw)), unit="D"
    )
    items = pd.DataFrame(
        {
            C.item_id: [f"SKU-{i}" for i in range(1, 6)],
            C.category: list("aabbc"),
            C.brand: list("xyxyx"),
        }
    )
    model = FACTORIES[name]().fit(raw, items)
    single = model.recommend(["107"], k=5)
    batch = model.recommend(["102", "107"], k=5)
    part = batch[batch[C.customer_id] == "107"].reset_index(drop=True)
    pd.testing.assert_frame_equal(single, part, check_exact=False, rtol=1e-9)


def test_repeat_ranks_by_count_and_decay():
    day = pd.Timestamp("2024-03-01", tz="UTC")
    table = pd.DataFrame(
        {
            C.customer_id: ["c"] * 3,
            C.item_id: ["old", "old", "new"],
            C.weight: 1.0,
            C.timestamp: [day - pd.Timedelta(days=60)] * 2 + [day],
        }
    )
    counts = RepeatPurchaseRecommender().fit(table).recommend(["c"], k=2)
    assert counts[C.item_id].tolist() == ["old", "new"]
    decayed = RepeatPurchaseRecommender(half_life_days=30).fit(table)
    out = decayed.recommend(["c"], k=2)
    assert out[C.item_id].tolist() == ["new", "old"]
    assert out[C.score].tolist() == pytest.approx([1.0, 2 * 0.5**2])


def test_repeat_decay_needs_timestamp():
    table = pd.DataFrame({C.customer_id: ["c"], C.item_id: ["x"], C.weight: [1.0]})
    with pytest.raises(InputError, match="timestamp"):
        RepeatPurchaseRecommender(half_life_days=30).fit(table)


def test_repeat_rejects_nonpositive_half_life(groups):
    interactions, _ = groups
    with pytest.raises(InputError, match="half_life_days"):
        RepeatPurchaseRecommender(half_life_days=0).fit(interactions)


def test_content_score_weighted_sum():
    # Shares of customer c's purchases: category X 7/10, brand Y 9/10, size Z 6/10.
    history = ["h1"] * 6 + ["h2"] + ["h3"] * 2 + ["h4"]
    table = pd.DataFrame(
        {C.customer_id: "c", C.item_id: history + ["t"], C.weight: [1.0] * 10 + [0.0]}
    )
    items = pd.DataFrame(
        {
            C.item_id: ["h1", "h2", "h3", "h4", "t"],
            C.category: ["X", "X", "V", "V", "X"],
            C.brand: ["Y", "Y", "Y", "U", "Y"],
            "size": ["Z", "W", "W", "W", "Z"],
            "category_strength": [1, 1, 1, 1, 0.8],
            "brand_strength": [1, 1, 1, 1, 0.9],
            "size_strength": [1, 1, 1, 1, 0.6],
        }
    )
    model = ContentRecommender(
        features=[C.category, C.brand, "size"],
        weights={C.category: 0.5, C.brand: 0.3, "size": 0.2},
    ).fit(table, items)
    out = model.recommend(["c"], k=5).set_index(C.item_id)
    assert out.loc["t", C.score] == pytest.approx(
        0.5 * (0.7 * 0.8) + 0.3 * (0.9 * 0.9) + 0.2 * (0.6 * 0.6)
    )
    assert 0.5 * 0.56 + 0.3 * 0.81 + 0.2 * 0.36 == pytest.approx(0.595)


@pytest.mark.parametrize(
    ("items", "model", "message"),
    [
        (None, ContentRecommender(), "needs the items table"),
        (pd.DataFrame({C.item_id: ["A0"]}), ContentRecommender(), "not in the items"),
        (
            pd.DataFrame({C.item_id: ["A0"], C.category: ["a"], C.brand: ["x"]}),
            ContentRecommender(weights={C.category: -1.0}),
            "invalid feature weights",
        ),
    ],
)
def test_content_rejects_bad_input(groups, items, model, message):
    interactions, _ = groups
    with pytest.raises(InputError, match=message):
        model.fit(interactions, items)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ItemKNNRecommender(similarity="jaccard"), "similarity"),
        (lambda: ALSRecommender(weighting="tfidf"), "weighting"),
    ],
)
def test_invalid_model_settings(factory, message):
    with pytest.raises(InputError, match=message):
        factory()


def toy_three_customers() -> pd.DataFrame:
    """Return a buys i0 and i1, b buys i0, c buys i2, all on one day."""
    return pd.DataFrame(
        {
            C.customer_id: ["a", "a", "b", "c"],
            C.item_id: ["i0", "i1", "i0", "i2"],
            C.weight: 1.0,
            C.timestamp: pd.Timestamp("2024-01-01", tz="UTC"),
        }
    )


def test_hybrid_blend_hand_computed():
    model = HybridRecommender(alpha=0.5, neighbours=1, half_life_days=30)
    model.fit(toy_three_customers())
    out = model.recommend(["a", "b", "c"], k=3)
    score = out.set_index([C.customer_id, C.item_id])[C.score]
    # Unit vectors a = (1, 1, 0) / sqrt(2), b = (1, 0, 0), c = (0, 0, 1); the
    # only positive cosine is cos(a, b) = 1 / sqrt(2), so a and b are each
    # other's neighbour and c has none.
    half = 0.5 / np.sqrt(2)
    assert score["a", "i0"] == pytest.approx(0.5 * 1 / np.sqrt(2) + 0.5 * 1)
    assert score["a", "i1"] == pytest.approx(half)
    assert score["b", "i0"] == pytest.approx(0.5 * 1 + half)
    assert score["b", "i1"] == pytest.approx(half)
    assert score["c", "i2"] == pytest.approx(0.5)
    assert score["a", "i2"] == 0.0
    top = out[out[C.rank] == 1].set_index(C.customer_id)[C.item_id]
    assert top.to_dict() == {"a": "i0", "b": "i0", "c": "i2"}


def test_hybrid_neighbour_weights_average():
    from promoloop.recommend.hybrid import neighbour_weights, unit_rows

    matrix = sp.csr_matrix(
        np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 2.0, 0.0]])
    )
    weights = neighbour_weights(unit_rows(matrix), 2).toarray()
    # Every pair has a positive cosine, so each customer averages the other two.
    expected = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(weights, expected)
    # With one neighbour, b's nearest is a: cos(b, a) = 1 / sqrt(2) beats
    # cos(b, c) = 1 / sqrt(5).
    nearest = neighbour_weights(unit_rows(matrix), 1).toarray()
    assert nearest[1].tolist() == [1.0, 0.0, 0.0]


def test_hybrid_tunes_on_grid(groups):
    interactions, _ = groups
    model = HybridRecommender(
        alphas=(0.5, 1.0),
        neighbour_grid=(2, 4),
        half_lives=(10.0,),
        validation_days=14,
        k=3,
    )
    model.fit(interactions)
    assert set(model.validation_recalls_) == {
        (10.0, 2, 0.5),
        (10.0, 2, 1.0),
        (10.0, 4, 0.5),
        (10.0, 4, 1.0),
    }
    best = max(model.validation_recalls_, key=model.validation_recalls_.get)
    assert (model.half_life_days_, model.neighbours_, model.alpha_) == best


def test_hybrid_defaults_without_validation_customers():
    table = pd.DataFrame(
        {
            C.customer_id: ["c", "d"],
            C.item_id: ["x", "y"],
            C.weight: 1.0,
            C.timestamp: pd.to_datetime(["2024-01-01", "2024-03-01"], utc=True),
        }
    )
    model = HybridRecommender(
        default_alpha=0.3, default_neighbours=7, default_half_life=20.0
    ).fit(table)
    assert (model.half_life_days_, model.neighbours_, model.alpha_) == (20.0, 7, 0.3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 1.5}, "alpha"),
        ({"alphas": (-0.1,)}, "alpha"),
        ({"neighbours": 0}, "neighbours"),
    ],
)
def test_hybrid_rejects_bad_settings(kwargs, message):
    with pytest.raises(InputError, match=message):
        HybridRecommender(**kwargs)


def test_item_knn_tiny_data_no_runtime_warning(groups):
    interactions, _ = groups
    small = interactions[interactions[C.customer_id].isin(["a0", "a1", "a2"])]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ItemKNNRecommender(neighbours=3, similarity="bm25").fit(small)
        ALSRecommender(factors=2, weighting="bm25").fit(small)


def test_top_k_breaks_ties_by_column():
    key = np.array([[1.0, 2.0, 2.0, 2.0, -np.inf], [0.0, -np.inf, -np.inf, 5, 5]])
    rows, cols = top_k(key, 3)
    assert rows.tolist() == [0, 0, 0, 1, 1, 1]
    assert cols.tolist() == [1, 2, 3, 3, 4, 0]
    rows, cols = top_k(key[1:], 5)
    assert cols.tolist() == [3, 4, 0]


def reference_features_model(reference_dir):
    folder = reference_dir / "11-unseen-user-and-batch-index-ids"
    raw = pd.read_csv(folder / "interactions.csv", dtype=str)
    raw = raw.rename(columns={"user_id": C.customer_id})
    raw[C.weight] = 1.0
    raw[C.timestamp] = pd.Timestamp("2024-01-01", tz="UTC")
    features = pd.read_csv(folder / "user_features.csv", dtype=str)
    features = features.rename(columns={"user_id": C.customer_id})
    return RepeatPurchaseRecommender().fit(raw), features


def test_new_customer_scored_from_features(reference_dir):
    model, features = reference_features_model(reference_dir)
    with pytest.warns(ColdStartWarning):
        lists = model.recommend(["108"], k=5, customer_features=features)
    assert set(lists[C.strategy]) == {S.FEATURES_ONLY.value}
    scores = lists.set_index(C.item_id)[C.score]
    # Students 101 and 103 bought SKU-1 and SKU-2 (2 each, scaled to 1);
    # in DE, 101, 102 and 107 bought SKU-2 twice and the others once (scaled
    # by 2); the score is the mean of the two features.
    assert scores["SKU-2"] == pytest.approx((1.0 + 2 / 2) / 2)
    assert scores["SKU-1"] == pytest.approx((1.0 + 1 / 2) / 2)
    assert scores["SKU-3"] == pytest.approx((0.0 + 1 / 2) / 2)
    assert lists[C.item_id].tolist()[:2] == ["SKU-2", "SKU-1"]


def test_new_customers_with_other_features_differ(reference_dir):
    model, features = reference_features_model(reference_dir)
    family_fr = pd.DataFrame(
        {C.customer_id: ["200"], "segment": ["family"], "country": ["FR"]}
    )
    features = pd.concat([features, family_fr], ignore_index=True)
    with pytest.warns(ColdStartWarning):
        lists = model.recommend(["108", "200"], k=2, customer_features=features)
    top = lists.groupby(C.customer_id)[C.item_id].agg(list)
    assert top["108"] == ["SKU-2", "SKU-1"]
    assert top["200"] == ["SKU-3", "SKU-4"]


def test_new_customer_without_features_gets_popularity(reference_dir):
    model, features = reference_features_model(reference_dir)
    with pytest.warns(ColdStartWarning):
        lists = model.recommend(["999"], k=3, customer_features=features)
    assert set(lists[C.strategy]) == {S.FALLBACK_POPULAR.value}


def test_features_score_same_alone_and_in_batch(reference_dir):
    model, features = reference_features_model(reference_dir)
    with pytest.warns(ColdStartWarning):
        alone = model.recommend(["108"], k=5, customer_features=features)
        batch = model.recommend(["101", "108"], k=5, customer_features=features)
    part = batch[batch[C.customer_id] == "108"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, part)


@pytest.mark.parametrize("fill", [True, False])
def test_missing_scores_rank_last(views_only_events, fill):
    model = RepeatPurchaseRecommender().fit(interactions_from_events(views_only_events))
    model.fill_with_popularity = fill
    items = list(model.items_.ids)
    block = np.arange(len(items), dtype=np.float64) + 1.0
    block[-1] = np.nan  # the best-scored item has no score at all
    model._score = lambda rows: np.tile(block, (len(rows), 1))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        out = model.recommend(["u1"], k=len(items))

        best = model.recommend(["u1"], k=1)

    # Without the popularity fill, an item without a score is left out.
    expected = sorted(block[:-1].tolist(), reverse=True)
    assert out[C.score].tolist()[: len(expected)] == expected
    assert (items[-1] in out[C.item_id].tolist()) == fill
    assert best[C.item_id].tolist() == [items[-2]]
