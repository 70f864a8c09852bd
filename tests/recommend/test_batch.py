"""Batch recommendations: the same rows as one recommend call, in bounded pieces."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from promoloop.errors import InputError
from promoloop.recommend import (
    ALSRecommender,
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RepeatPurchaseRecommender,
)
from promoloop.recommend.batch import (
    RECOMMENDATION_SCHEMA,
    FaissItemIndex,
    recommend_batches,
    write_recommendations,
)
from promoloop.vocabulary import Columns as C
from promoloop.warnings import ColdStartWarning

START = pd.Timestamp("2024-01-01", tz="UTC")
N_CUSTOMERS = 40
N_ITEMS = 25

FACTORIES = {
    "popularity": PopularityRecommender,
    "repeat": RepeatPurchaseRecommender,
    "item_knn": lambda: ItemKNNRecommender(neighbours=10),
    "als": lambda: ALSRecommender(factors=8, iterations=10, random_state=1),
    "hybrid": lambda: HybridRecommender(neighbours=10, validation_days=14, k=3),
}


def random_shop(seed: int = 0) -> pd.DataFrame:
    """Return interactions of 40 customers with 25 items (c38 and c39 weigh 0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(N_CUSTOMERS):
        for _ in range(rng.integers(1, 9)):
            item = min(int(rng.zipf(1.5)), N_ITEMS) - 1
            weight = 0.0 if c >= N_CUSTOMERS - 2 else 1.0
            day = int(rng.integers(0, 90))
            rows.append(
                (f"c{c}", f"i{item:02d}", weight, START + pd.Timedelta(days=day))
            )
    return pd.DataFrame(rows, columns=[C.customer_id, C.item_id, C.weight, C.timestamp])


# Known customers in shuffled order (c38 and c39 without signal), three
# unknown ids and two repeats: 43 distinct ids, a prime, so no batch size
# between 2 and 42 divides the count.
REQUEST = [f"c{c}" for c in np.random.default_rng(1).permutation(N_CUSTOMERS)]
REQUEST = REQUEST[:20] + ["new-1"] + REQUEST[20:] + ["new-2", "c17", "new-3", "c5"]
DISTINCT = len(dict.fromkeys(REQUEST))


@pytest.fixture(scope="module")
def interactions() -> pd.DataFrame:
    return random_shop()


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def fitted(request, interactions):
    return FACTORIES[request.param]().fit(interactions)


@pytest.fixture(scope="module")
def als(interactions):
    return FACTORIES["als"]().fit(interactions)


def one_shot(model, ids, **options) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        return model.recommend(ids, **options)


def batched(model, ids, **options) -> list[pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        return list(recommend_batches(model, ids, **options))


def unique_request() -> list[str]:
    return list(dict.fromkeys(REQUEST))


# Equality with one recommend call


@pytest.mark.parametrize("batch_size", [1, 3, 7, DISTINCT, 1000])
@pytest.mark.parametrize("exclude_seen", [False, True])
def test_batches_equal_one_call(fitted, batch_size, exclude_seen):
    ids = unique_request()
    expected = one_shot(fitted, ids, k=5, exclude_seen=exclude_seen)
    frames = batched(fitted, ids, k=5, batch_size=batch_size, exclude_seen=exclude_seen)
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), expected)


def test_batches_equal_one_call_with_features(als):
    features = pd.DataFrame(
        {
            C.customer_id: [f"c{c}" for c in range(N_CUSTOMERS)] + ["new-1"],
            "segment": ["x", "y"] * (N_CUSTOMERS // 2) + ["y"],
        }
    )
    ids = unique_request()
    expected = one_shot(als, ids, k=4, customer_features=features)
    frames = batched(als, ids, k=4, batch_size=6, customer_features=features)
    got = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    assert (got[C.strategy] == "features_only").any()


def test_duplicates_dropped_within_batch_only(als):
    ids = ["c1", "c1", "c2", "c1"]
    frames = batched(als, ids, k=2, batch_size=3)
    assert frames[0][C.customer_id].tolist() == ["c1", "c1", "c2", "c2"]
    # The id repeated in the next batch is served again, as documented.
    pd.testing.assert_frame_equal(
        frames[1], one_shot(als, ["c1"], k=2), check_index_type=False
    )


# Sources of ids


def write_ids(path, ids, row_group_size):
    table = pa.table({C.customer_id: pa.array(ids, pa.string())})
    pq.write_table(table, path, row_group_size=row_group_size)


@pytest.mark.parametrize(
    "source",
    ["list", "generator", "series", "arrow", "table", "frame", "file", "folder"],
)
def test_id_sources_give_same_rows(als, tmp_path, source):
    ids = unique_request()
    if source == "file":
        ids_in = tmp_path / "ids.parquet"
        write_ids(ids_in, ids, row_group_size=5)
    elif source == "folder":
        # Three files, read in path order. Their row groups do not line up
        # with the batches.
        ids_in = tmp_path / "ids"
        ids_in.mkdir()
        for part, start in enumerate(range(0, len(ids), 17)):
            write_ids(ids_in / f"part-{part}.parquet", ids[start : start + 17], 4)
    else:
        ids_in = {
            "list": ids,
            "generator": (x for x in ids),
            "series": pd.Series(ids, index=range(100, 100 + len(ids))),
            "arrow": pa.array(ids),
            "table": pa.table({C.customer_id: ids, "other": range(len(ids))}),
            "frame": pd.DataFrame({"other": range(len(ids)), C.customer_id: ids}),
        }[source]
    frames = batched(als, ids_in, k=3, batch_size=6)
    expected = one_shot(als, ids, k=3)
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), expected)


def test_numeric_ids_are_canonical(interactions):
    table = interactions.assign(**{C.customer_id: interactions[C.customer_id].str[1:]})
    model = PopularityRecommender().fit(table)
    frames = batched(model, np.array([3, 5, 7]), k=2, batch_size=2)
    got = pd.concat(frames, ignore_index=True)
    assert got[C.customer_id].tolist() == ["3", "3", "5", "5", "7", "7"]


# Bounded memory


def test_frames_hold_one_batch_of_customers(als):
    ids = unique_request()
    frames = batched(als, ids, k=3, batch_size=6)
    sizes = [f[C.customer_id].nunique() for f in frames]
    assert DISTINCT == 43
    assert sizes == [6] * 7 + [1]
    assert all(len(f) == 3 * n for f, n in zip(frames, sizes, strict=True))


def test_ids_are_read_one_batch_at_a_time(als):
    consumed = []

    def ids():
        for customer in unique_request():
            consumed.append(customer)
            yield customer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        frames = recommend_batches(als, ids(), k=3, batch_size=5)
        assert consumed == []
        next(frames)
        assert len(consumed) == 5
        next(frames)
        assert len(consumed) == 10


def test_parquet_ids_read_lazily(als, tmp_path):
    path = tmp_path / "ids.parquet"
    ids = [f"c{c % N_CUSTOMERS}" for c in range(5000)]
    write_ids(path, ids, row_group_size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        frames = recommend_batches(als, path, k=2, batch_size=250)
        first = next(frames)
    assert first[C.customer_id].nunique() == N_CUSTOMERS
    assert len(first) == 2 * N_CUSTOMERS


def test_written_file_has_one_row_group_per_batch(als, tmp_path):
    ids = unique_request()
    path = tmp_path / "out" / "recommendations.parquet"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        summary = write_recommendations(als, ids, path, k=3, batch_size=6)
    file = pq.ParquetFile(path)
    assert file.schema_arrow == RECOMMENDATION_SCHEMA
    assert file.num_row_groups == 8
    assert summary.batches == 8
    assert summary.rows == 3 * DISTINCT
    assert max(file.metadata.row_group(i).num_rows for i in range(8)) == 18
    written = pd.read_parquet(path, dtype_backend="numpy_nullable")
    expected = one_shot(als, ids, k=3)
    pd.testing.assert_frame_equal(
        written.astype({C.rank: np.int64, C.score: np.float64}), expected
    )
    assert not list(path.parent.glob("*.partial"))


# Empty input and invalid arguments


@pytest.mark.parametrize("empty", [[], pd.Series([], dtype="string"), [None, ""]])
def test_empty_input_yields_no_rows(als, tmp_path, empty):
    frames = batched(als, empty, k=3, batch_size=4)
    assert sum(len(f) for f in frames) == 0
    path = tmp_path / "empty.parquet"
    summary = write_recommendations(als, empty, path, k=3)
    assert summary.rows == 0
    assert pq.read_table(path).schema == RECOMMENDATION_SCHEMA
    assert pq.read_table(path).num_rows == 0


@pytest.mark.parametrize(
    ("argument", "value", "pattern"),
    [
        ("batch_size", 0, "invalid value of argument 'batch_size'; value 0"),
        ("batch_size", -5, "invalid value of argument 'batch_size'; value -5"),
        ("batch_size", 2.5, "invalid value of argument 'batch_size'; value 2.5"),
        ("batch_size", True, "invalid value of argument 'batch_size'; value True"),
        ("batch_size", "100", "invalid value of argument 'batch_size'; value '100'"),
        ("k", 0, "invalid value of argument 'k'; value 0"),
    ],
)
def test_invalid_arguments_raise_at_call(als, argument, value, pattern):
    options = {"k": 3, "batch_size": 10, argument: value}
    k = options.pop("k")
    with pytest.raises(InputError, match=pattern):
        recommend_batches(als, ["c1"], k, **options)
    with pytest.raises(InputError, match=pattern):
        write_recommendations(als, ["c1"], "unused.parquet", k, **options)


def test_missing_input_raises(als, tmp_path):
    with pytest.raises(InputError, match="Parquet input not found"):
        recommend_batches(als, tmp_path / "nothing.parquet")
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"customer": ["c1"]}), path)
    with pytest.raises(InputError, match=r"missing column\(s\) \['customer_id'\]"):
        recommend_batches(als, path)
    assert not (tmp_path / "never.parquet").exists()


def test_cold_start_warned_once_with_totals(als):
    with pytest.warns(ColdStartWarning) as caught:
        list(recommend_batches(als, unique_request(), k=2, batch_size=3))
    cold = [w for w in caught if issubclass(w.category, ColdStartWarning)]
    assert len(cold) == 1
    assert str(cold[0].message).startswith(
        f"3 unknown customer(s) and 2 customer(s) without training signal out of "
        f"{DISTINCT}"
    )


# Approximate retrieval with faiss


@pytest.fixture(scope="module")
def faiss_ready():
    return pytest.importorskip("faiss")


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_exhaustive_index_matches_exact(faiss_ready, als, exclude_seen):
    # Probing every list scans every item, so only float32 rounding differs.
    index = FaissItemIndex(nlist=4, nprobe=4).fit(als)
    ids = unique_request()
    exact = one_shot(als, ids, k=5, exclude_seen=exclude_seen)
    frames = batched(
        als, ids, k=5, batch_size=7, exclude_seen=exclude_seen, index=index
    )
    got = pd.concat(frames, ignore_index=True)
    for column in (C.customer_id, C.item_id, C.rank, C.strategy):
        pd.testing.assert_series_equal(got[column], exact[column])
    np.testing.assert_allclose(got[C.score], exact[C.score], rtol=0, atol=1e-5)


def test_probing_one_list_scans_fewer_items(faiss_ready, als):
    n_items = len(als.items_)
    index = FaissItemIndex(nlist=5, nprobe=1).fit(als)
    _, columns = index.search(als.customer_factors_[:10], n_items)
    # With one of five lists probed, the slots past that list's items are
    # empty (-1). An exhaustive search fills every slot.
    assert (columns == -1).any()
    _, all_columns = (
        FaissItemIndex(nlist=5, nprobe=5)
        .fit(als)
        .search(als.customer_factors_[:10], n_items)
    )
    assert (all_columns >= 0).all()


def test_index_of_another_model_raises(faiss_ready, als, interactions):
    other = ALSRecommender(factors=3, iterations=2).fit(interactions)
    index = FaissItemIndex().fit(other)
    with pytest.raises(InputError, match="not built on this model's item factors"):
        recommend_batches(als, ["c1"], index=index)
    with pytest.raises(InputError, match="not built on this model's item factors"):
        recommend_batches(als, ["c1"], index=FaissItemIndex())


def test_index_needs_factor_model(faiss_ready, interactions):
    model = RepeatPurchaseRecommender().fit(interactions)
    with pytest.raises(InputError, match="has no item_factors_"):
        FaissItemIndex().fit(model)


@pytest.mark.parametrize("setting", ["nlist", "nprobe", "num_threads"])
def test_index_settings_must_be_positive(faiss_ready, als, setting):
    with pytest.raises(InputError, match=f"invalid value of argument '{setting}'"):
        FaissItemIndex(**{setting: 0}).fit(als)
