"""Recommendations for millions of customers, batch by batch, into Parquet.

:func:`recommend_batches` reads the requested customer ids a batch at a time
from a Parquet file, an Arrow dataset or an in-memory sequence. It yields one
recommendation frame per batch, so memory grows with the batch size and not
with the number of customers. :func:`write_recommendations` streams the
frames into one Parquet file.

By default each batch is scored by :meth:`Recommender.recommend
<promoloop.recommend.Recommender.recommend>`, so the rows are the same as
one call for all customers. A :class:`FaissItemIndex` built on a factor
model (ALS) retrieves the personalized lists approximately instead, with an
inverted-file index of the item factors (faiss ``IndexIVFFlat``).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from promoloop.data.batches import (
    TableSource,
    WriteSummary,
    check_batch_size,
    id_batches,
    write_parquet_batches,
)
from promoloop.errors import InputError
from promoloop.recommend.base import Recommender
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import RecommendationStrategy
from promoloop.warnings import ColdStartWarning

logger = logging.getLogger(__name__)

#: Column names and types of the written recommendations.
RECOMMENDATION_SCHEMA = pa.schema(
    [
        (C.customer_id, pa.string()),
        (C.item_id, pa.string()),
        (C.rank, pa.int64()),
        (C.score, pa.float64()),
        (C.strategy, pa.string()),
    ]
)

DEFAULT_BATCH_SIZE = 20_000


class FaissItemIndex:
    """Approximate top-k items by inner product with the customer's factors.

    An inverted-file index (faiss ``IndexIVFFlat``, inner-product metric)
    over a factor model's item factors: training clusters the items into
    ``nlist`` lists, and a search scans the items of the ``nprobe`` lists
    whose centroids score highest. With ``nprobe`` equal to ``nlist`` every
    item is scanned, so the lists are exact up to float32 rounding. implicit
    0.7's ``FaissAlternatingLeastSquares`` builds an ``IndexIVFFlat`` too.
    Needs the ``faiss-cpu`` package.

    Parameters
    ----------
    nlist : int, optional
        Lists (clusters) of items. Defaults to the rounded square root of
        the number of items, at least 1.
    nprobe : int, default 8
        Lists scanned per query; capped at ``nlist``.
    num_threads : int, default 1
        OpenMP threads of a search (faiss's setting is process-wide).

    Attributes
    ----------
    index_ : faiss.IndexIVFFlat
        The trained index holding every item.
    n_items_, n_factors_ : int
        Shape of the item factors the index was built on.
    item_ids_ : pyarrow.Array
        Item id of each indexed position.
    """

    def __init__(
        self, nlist: int | None = None, nprobe: int = 8, num_threads: int = 1
    ) -> None:
        self.nlist = nlist
        self.nprobe = nprobe
        self.num_threads = num_threads

    def fit(self, model: Recommender) -> FaissItemIndex:
        """Build the index on a fitted factor model's item factors.

        Parameters
        ----------
        model : Recommender
            A fitted model with ``item_factors_`` and ``customer_factors_``
            (e.g. :class:`~promoloop.recommend.ALSRecommender`).

        Returns
        -------
        self

        Raises
        ------
        InputError
            If the model has no factors, or ``nlist``/``nprobe`` is not a
            positive integer.
        ModuleNotFoundError
            If faiss is not installed.
        """
        faiss = _import_faiss()
        items = np.ascontiguousarray(_factors(model, "item_factors_"), np.float32)
        for name in ("nlist", "nprobe", "num_threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InputError(
                    f"invalid value of argument {name!r}",
                    value=value,
                    expected="an integer >= 1",
                )
        n_items, n_factors = items.shape
        nlist = self.nlist or max(1, round(math.sqrt(n_items)))
        nlist = min(nlist, max(1, n_items))

        # The coarse quantizer scores centroids by inner product too, so the
        # probed lists are those whose centroids score highest.
        quantizer = faiss.IndexFlatIP(n_factors)
        index = faiss.IndexIVFFlat(
            quantizer, n_factors, nlist, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.min_points_per_centroid = 1
        index.train(items)
        index.add(items)
        index.nprobe = min(self.nprobe, nlist)
        self._quantizer = quantizer
        self.item_ids_ = pa.array(model.items_.ids, pa.string())
        self.index_ = index
        self.n_items_, self.n_factors_ = n_items, n_factors
        logger.info(
            "built a faiss IVF index of %d items in %d lists (nprobe %d)",
            n_items,
            nlist,
            index.nprobe,
        )
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the approximate top ``k`` items of each query row.

        Parameters
        ----------
        queries : ndarray of shape (n, n_factors)
            Customer factors.
        k : int
            Items per row.

        Returns
        -------
        scores : ndarray of float32, shape (n, k)
            Inner products, highest first.
        columns : ndarray of int64, shape (n, k)
            Item positions; -1 where the probed lists held fewer than ``k``
            items.
        """
        faiss = _import_faiss()
        index = getattr(self, "index_", None)
        if index is None:
            raise InputError(
                "FaissItemIndex is not built",
                fix="call fit(model) before searching",
            )
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        faiss.omp_set_num_threads(self.num_threads)
        scores, columns = index.search(queries, k)
        return scores, columns.astype(np.int64)


def recommend_batches(
    model: Recommender,
    customer_ids: TableSource | pd.DataFrame | Iterable,
    k: int = 10,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    exclude_seen: bool = False,
    customer_features: pd.DataFrame | None = None,
    column: str = C.customer_id,
    index: FaissItemIndex | None = None,
) -> Iterator[pd.DataFrame]:
    """Recommend the top ``k`` items per customer, one frame per batch of ids.

    Parameters
    ----------
    model : Recommender
        A fitted recommender.
    customer_ids : path, Dataset, Table, RecordBatchReader, DataFrame or iterable
        The requested customers. A Parquet file or folder, an Arrow dataset
        or table, or a DataFrame has the ids in ``column`` and is read one
        record batch at a time. An array, Series, list or iterator of ids
        is read ``batch_size`` ids at a time.
    k : int, default 10
        Items per customer.
    batch_size : int, default 20,000
        Ids per batch. A frame has up to ``batch_size * k`` rows.
    exclude_seen, customer_features
        As in :meth:`Recommender.recommend
        <promoloop.recommend.Recommender.recommend>`. The whole
        ``customer_features`` table is read again for every batch.
    column : str, default "customer_id"
        Column of the ids in a tabular ``customer_ids``.
    index : FaissItemIndex, optional
        Fitted on ``model``: personalized lists come from its approximate
        search, while the other customers get ``model.recommend``'s
        fallback lists. Without it every list comes from
        ``model.recommend``.

    Yields
    ------
    DataFrame
        Columns customer_id, item_id, rank, score, strategy, for the
        customers of one batch in request order. Without ``index``,
        concatenating the frames gives the rows of one
        ``model.recommend`` call on all ids, provided no id occurs in two
        batches.

    Raises
    ------
    InputError
        If ``k`` or ``batch_size`` is not a positive integer, the ids cannot
        be read, or ``index`` does not match the model's factors.
    NotFittedError
        If the model is not fitted.

    Warns
    -----
    ColdStartWarning
        Once, after the last batch, with the number of customers who got a
        fallback list.

    Notes
    -----
    Duplicate ids are dropped within a batch only: remembering every id
    already served would need memory that grows with the number of
    customers, so an id repeated in another batch is recommended again.
    """
    _check_k(k)
    batch_size = check_batch_size(batch_size)
    customers = model.customers_  # raises NotFittedError before any id is read
    logger.debug(
        "recommending for batches of %d among %d customers", batch_size, len(customers)
    )
    if index is not None:
        _check_index(model, index)
    batches = id_batches(customer_ids, batch_size, column)
    return _recommend_each(model, batches, k, exclude_seen, customer_features, index)


def write_recommendations(
    model: Recommender,
    customer_ids: TableSource | pd.DataFrame | Iterable,
    path: str | os.PathLike,
    k: int = 10,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    exclude_seen: bool = False,
    customer_features: pd.DataFrame | None = None,
    column: str = C.customer_id,
    index: FaissItemIndex | None = None,
) -> WriteSummary:
    """Write the top ``k`` items per customer to one Parquet file, batch by batch.

    Each batch of :func:`recommend_batches` becomes one row group, written
    before the next batch is scored. The file has the columns and types of
    :data:`RECOMMENDATION_SCHEMA`; with no customers it has no rows.

    Parameters
    ----------
    model, customer_ids, k, batch_size, exclude_seen, customer_features, column, index
        As in :func:`recommend_batches`.
    path : str or path-like
        Output Parquet file. It appears only once complete.

    Returns
    -------
    WriteSummary
        Path, rows, batches and seconds.

    Raises
    ------
    InputError
        As :func:`recommend_batches`.
    """
    frames = recommend_batches(
        model,
        customer_ids,
        k,
        batch_size=batch_size,
        exclude_seen=exclude_seen,
        customer_features=customer_features,
        column=column,
        index=index,
    )
    return write_parquet_batches(frames, path, RECOMMENDATION_SCHEMA)


@dataclass
class _ColdCount:
    """Customers who got a fallback list, summed over batches."""

    requested: int = 0
    unknown: int = 0
    without_signal: int = 0

    def warn(self) -> None:
        if self.unknown or self.without_signal:
            warnings.warn(
                f"{self.unknown} unknown customer(s) and {self.without_signal} "
                f"customer(s) without training signal out of {self.requested} got "
                "a fallback list (popularity, or similar customers' items when "
                "features are given)",
                ColdStartWarning,
                stacklevel=3,
            )


@dataclass
class _Request:
    """One batch's distinct canonical ids with their matrix rows."""

    ids: np.ndarray
    rows: np.ndarray
    signal: np.ndarray


def _recommend_each(
    model, batches, k, exclude_seen, customer_features, index
) -> Iterator[pd.DataFrame]:
    cold = _ColdCount()
    for number, batch in enumerate(batches, start=1):
        request = _request(model, batch)
        cold.requested += len(request.ids)
        cold.unknown += int((request.rows < 0).sum())
        cold.without_signal += int(((request.rows >= 0) & ~request.signal).sum())
        if index is None:
            frame = _recommend_quietly(model, batch, k, exclude_seen, customer_features)
        else:
            frame = _recommend_approximate(
                model, index, request, k, exclude_seen, customer_features
            )
        logger.debug(
            "batch %d: %d customers, %d rows", number, len(request.ids), len(frame)
        )
        yield frame
    cold.warn()


def _request(model: Recommender, ids: pd.Series) -> _Request:
    # The same id handling as Recommender.recommend: canonical strings,
    # missing values and duplicates dropped, request order kept.
    customers = model.customers_
    requested = pd.unique(pd.Series(customers.canonical(ids)).dropna())
    requested = np.asarray(requested, dtype=object)
    rows = customers.positions(requested, missing="mark")
    signal = np.zeros(len(rows), dtype=bool)
    known = rows >= 0
    counts = np.diff(model.interactions_.matrix.indptr)
    signal[known] = counts[rows[known]] > 0
    return _Request(requested, rows, signal)


def _recommend_quietly(model, ids, k, exclude_seen, customer_features) -> pd.DataFrame:
    # The per-batch cold-start warnings are summed into one at the end.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        return model.recommend(
            ids, k, exclude_seen=exclude_seen, customer_features=customer_features
        )


def _recommend_approximate(
    model, index, request, k, exclude_seen, customer_features
) -> pd.DataFrame:
    personal = request.signal & model.personalized
    at = np.flatnonzero(personal)
    parts = [_search_lists(model, index, request.rows[at], at, k, exclude_seen)]

    # Customers without personalized lists get the model's own fallback.
    others = np.flatnonzero(~personal)
    if len(others):
        frame = _recommend_quietly(
            model, request.ids[others], k, exclude_seen, customer_features
        )
        order = pd.Index(request.ids).get_indexer(frame[C.customer_id])
        parts.append((order, frame))

    # Rows in request order, then rank order, as Recommender.recommend gives.
    order = np.concatenate([o for o, _ in parts])
    frame = pd.concat([f for _, f in parts], ignore_index=True)
    sort = np.lexsort((frame[C.rank].to_numpy(), order))
    out = frame.iloc[sort].reset_index(drop=True)
    ids = pa.array(request.ids, pa.string()).take(order[sort])
    out[C.customer_id] = pd.arrays.ArrowStringArray(ids)
    return out


def _search_lists(model, index, rows, at, k, exclude_seen):
    if not len(rows):
        return at, _empty_frame()
    seen = model.interactions_.matrix[rows] if exclude_seen else None
    extra = int(np.diff(seen.indptr).max()) if seen is not None else 0
    fetch = min(k + extra, index.n_items_)
    scores, cols = index.search(_factors(model, "customer_factors_")[rows], fetch)

    # Drop empty slots and seen items, then keep the first k of each row.
    keep = cols >= 0
    if seen is not None and seen.nnz:
        r, c = seen.nonzero()
        seen_keys = r.astype(np.int64) * index.n_items_ + c
        keys = np.arange(len(rows))[:, None] * index.n_items_ + cols
        keep &= ~np.isin(keys, seen_keys)
    ranks = np.cumsum(keep, axis=1)
    keep &= ranks <= k
    r, c = np.nonzero(keep)

    # The customer ids are filled in by the caller.
    item_ids = index.item_ids_.take(cols[r, c])
    strategy = pa.repeat(pa.scalar(str(RecommendationStrategy.PERSONALIZED)), len(r))
    frame = pd.DataFrame(
        {
            C.customer_id: pd.arrays.ArrowStringArray(pa.nulls(len(r), pa.string())),
            C.item_id: pd.arrays.ArrowStringArray(item_ids),
            C.rank: ranks[r, c].astype(np.int64),
            C.score: scores[r, c].astype(np.float64),
            C.strategy: pd.arrays.ArrowStringArray(strategy),
        }
    )
    return at[r], frame


def _empty_frame() -> pd.DataFrame:
    return RECOMMENDATION_SCHEMA.empty_table().to_pandas(types_mapper=_string_types)


def _string_types(arrow_type: pa.DataType):
    return pd.StringDtype() if arrow_type == pa.string() else None


def _check_k(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InputError(
            "invalid value of argument 'k'", value=k, expected="an integer >= 1"
        )


def _check_index(model: Recommender, index: FaissItemIndex) -> None:
    items = _factors(model, "item_factors_")
    _factors(model, "customer_factors_")
    built = getattr(index, "index_", None)
    same_items = built is not None and index.item_ids_.equals(
        pa.array(model.items_.ids, pa.string())
    )
    if not same_items or (index.n_items_, index.n_factors_) != items.shape:
        raise InputError(
            "the FaissItemIndex was not built on this model's item factors",
            value=None if built is None else (index.n_items_, index.n_factors_),
            expected=f"an index of {items.shape[0]} items x {items.shape[1]} factors",
            fix="call index.fit(model) on the model you recommend with",
        )


def _factors(model: Recommender, name: str) -> np.ndarray:
    factors = getattr(model, name, None)
    if factors is None:
        raise InputError(
            f"{type(model).__name__} has no {name}; approximate retrieval needs a "
            "fitted factor model",
            expected="a fitted ALSRecommender (or another model with customer "
            "and item factors)",
            fix="recommend without index, or fit a factor model",
        )
    return factors


def _import_faiss():
    try:
        import faiss
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "approximate retrieval needs faiss; install it with "
            "pip install faiss-cpu (or the 'ann' extra of promoloop)"
        ) from error
    return faiss
