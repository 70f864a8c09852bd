"""The recommender contract shared by every model, with the popularity fallback."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from promoloop.errors import InputError
from promoloop.recommend.interactions import (
    IdMap,
    InteractionMatrix,
    PreparedInteractions,
    prepare_interactions,
)
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import RecommendationStrategy
from promoloop.warnings import ColdStartWarning

logger = logging.getLogger(__name__)

RECOMMENDATION_COLUMNS = [C.customer_id, C.item_id, C.rank, C.score, C.strategy]

# Scores are scored in blocks of about this many cells (customers x items), so a
# block of float64 scores takes about 64 MB whatever the catalog size.
_BLOCK_CELLS = 8_000_000

# Scores are rounded to this many decimals before ranking, so that scores equal
# up to the rounding of a matrix product rank the same in any batch.
_KEY_DECIMALS = 9


class Recommender:
    """Base class of the recommenders: fit on interactions, recommend top-k.

    Subclasses implement ``_fit`` and ``_score``. The base class builds the
    customers x items matrix and the id maps, computes item popularity and
    handles the fallback, exclusion of seen items, ranking and id mapping.

    Customers who are unknown, or known but without positive training weight,
    get the most popular items with strategy ``fallback_popular``, or, when
    ``customer_features`` describes them, the items popular among trained
    customers who share their feature values, with strategy
    ``features_only``. Known customers get the model's scores with strategy
    ``personalized``.
    """

    #: Name used in metrics tables and logs.
    name = "recommender"
    #: False for models whose list is the popularity list for every customer.
    personalized = True
    #: True when items the model gives no positive score are ranked after the
    #: scored items by popularity, so a list is never shorter than k.
    fill_with_popularity = True

    def fit(
        self,
        interactions: pd.DataFrame | PreparedInteractions,
        items: pd.DataFrame | None = None,
    ):
        """Fit the model.

        Parameters
        ----------
        interactions : DataFrame or PreparedInteractions
            Columns customer_id, item_id, weight and, for models that use
            recency, timestamp; one row per event (see
            :func:`promoloop.recommend.interactions_from_events`). Rows without
            a customer id count for item popularity only. Pass the result of
            :func:`promoloop.recommend.prepare_interactions` to share the
            matrix among models fitted on one table, or to sum the weights
            on another engine than a new in-process DuckDB one.
        items : DataFrame, optional
            Canonical items table; used by models with item attributes.

        Returns
        -------
        self

        Raises
        ------
        InputError
            If a required column is missing.
        """
        data = interactions
        if not isinstance(data, PreparedInteractions):
            data = prepare_interactions(interactions)
        self.interactions_ = data.interactions
        self.popularity_ = data.popularity
        self._fit(data, items)
        return self

    @property
    def customers_(self) -> IdMap:
        return self._fitted().customers

    @property
    def items_(self) -> IdMap:
        return self._fitted().items

    def _fitted(self) -> InteractionMatrix:
        fitted = getattr(self, "interactions_", None)
        if fitted is None:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted; call fit(interactions) first"
            )
        return fitted

    def _fit(self, data: PreparedInteractions, items: pd.DataFrame | None) -> None:
        """Fit the model-specific part (the matrix and popularity are ready)."""

    def _score(self, rows: np.ndarray) -> np.ndarray:
        """Return a new (len(rows), n_items) float array of scores for matrix rows.

        The caller modifies the array in place, so it must not be shared.
        """
        raise NotImplementedError

    def recommend(
        self,
        customer_ids: Iterable,
        k: int = 10,
        exclude_seen: bool = False,
        customer_features: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Recommend the top ``k`` items for each customer.

        Parameters
        ----------
        customer_ids : iterable
            Customer ids (strings or numbers); duplicates and missing values
            are dropped. Unknown ids get the popularity fallback.
        k : int, default 10
            Items per customer.
        exclude_seen : bool, default False
            Leave out items the customer interacted with in training.
        customer_features : DataFrame, optional
            A customer_id column and categorical feature columns (segment,
            country, ...), for trained and new customers alike. A customer
            without training signal who has a feature row gets the mean over
            features of the item popularity among trained customers with the
            same value (each scaled to a maximum of 1), with strategy
            ``features_only``. The scores depend only on the customer's own
            features, never on the other customers in the request.

        Returns
        -------
        DataFrame
            Columns customer_id, item_id, rank (1..k), score, strategy, in
            request order and rank order. Lists are shorter than ``k`` only
            when the catalog (minus seen items) is.

        Raises
        ------
        InputError
            If ``k`` is not a positive integer.
        NotFittedError
            If the model is not fitted.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InputError(
                "invalid value of argument 'k'", value=k, expected="an integer >= 1"
            )
        fitted = self._fitted()
        requested = pd.unique(
            pd.Series(fitted.customers.canonical(customer_ids)).dropna()
        )
        rows = fitted.customers.positions(requested, missing="mark")
        signal = np.zeros(len(rows), dtype=bool)
        known = rows >= 0
        signal[known] = np.diff(fitted.matrix.indptr)[rows[known]] > 0
        personal = signal & self.personalized
        self._warn_cold(requested, known, signal)

        # Score the personalized customers block by block. A model without
        # personalization ranks by popularity but still honours exclude_seen.
        parts = []
        block = max(1, _BLOCK_CELLS // max(1, len(fitted.items)))
        own_list = np.flatnonzero(personal | (signal & exclude_seen))
        for start in range(0, len(own_list), block):
            at = own_list[start : start + block]
            parts.append(self._recommend_block(at, rows[at], k, exclude_seen))

        # Customers without positive weight have nothing to exclude: those
        # with known features get the lists of similar customers, the others
        # share one popularity list.
        shared = np.flatnonzero(~(personal | (signal & exclude_seen)))
        if len(shared) and customer_features is not None:
            described = self._recommend_features(
                shared, requested, customer_features, k
            )
            if described is not None:
                parts.append(described)
                shared = np.setdiff1d(shared, described[0])
        if len(shared):
            parts.append(self._recommend_fallback(shared, k))

        if not parts:
            return _empty_recommendations()
        order, cols, scores, strategy = (
            np.concatenate(x) for x in zip(*parts, strict=True)
        )
        ranks = _ranks_within(order)
        out = pd.DataFrame(
            {
                C.customer_id: pd.array(requested[order], dtype="string"),
                C.item_id: pd.array(fitted.items.to_ids(cols), dtype="string"),
                C.rank: ranks,
                C.score: scores.astype(np.float64),
                C.strategy: pd.array(strategy, dtype="string"),
            }
        )
        sort = np.lexsort((ranks, order))
        return out.iloc[sort].reset_index(drop=True)

    def _warn_cold(self, requested, known, signal) -> None:
        unknown = int((~known).sum())
        silent = int((known & ~signal).sum())
        if unknown or silent:
            warnings.warn(
                f"{unknown} unknown customer(s) and {silent} customer(s) without "
                f"training signal out of {len(requested)} got a fallback list "
                "(popularity, or similar customers' items when features are given)",
                ColdStartWarning,
                stacklevel=3,
            )

    def _recommend_block(self, at, rows, k, exclude_seen):
        if self.personalized:
            scores = np.asarray(self._score(rows), dtype=np.float64)
            strategy = RecommendationStrategy.PERSONALIZED
        else:
            scores = np.tile(self.popularity_, (len(rows), 1))
            strategy = RecommendationStrategy.FALLBACK_POPULAR

        # The model returned a fresh block, so rounding and exclusion work in
        # place; only the popularity fill needs a second array. Most blocks
        # are all finite, and checking that is several times cheaper than
        # nan_to_num's pass over the block.
        if not np.isfinite(scores).all():
            np.nan_to_num(scores, copy=False, nan=-np.inf)
        np.round(scores, _KEY_DECIMALS, out=scores)
        key = scores
        if self.personalized and self.fill_with_popularity:
            fill = np.round(
                -1.0 + self.popularity_ / (self.popularity_.max() + 1.0), _KEY_DECIMALS
            )
            key = np.where(scores > 0, scores, fill[None, :])
        if exclude_seen:
            # Excluded cells are never selected, so marking them in the scores
            # themselves loses no reported value.
            r, c = self._fitted().matrix[rows].nonzero()
            key[r, c] = -np.inf
        r, c = top_k(key, k)
        return at[r], c, scores[r, c], np.full(len(r), str(strategy))

    def _recommend_features(self, at, requested, customer_features, k):
        """Score customers without training signal from their feature values."""
        fitted = self._fitted()
        features = customer_features.copy()
        features[C.customer_id] = fitted.customers.canonical(features[C.customer_id])
        features = features.drop_duplicates(C.customer_id).set_index(C.customer_id)
        columns = [c for c in features.columns if c != C.customer_id]
        wanted = pd.Index(requested[at])
        rows_known = fitted.customers.positions(features.index, missing="mark")
        trained = features[rows_known >= 0]
        trained_rows = rows_known[rows_known >= 0]

        # Per feature value: item popularity among trained customers with it.
        scores = np.zeros((len(at), len(fitted.items)))
        matched = np.zeros(len(at), dtype=bool)
        for column in columns:
            values = features[column].reindex(wanted).to_numpy(dtype=object)
            for value in pd.unique(values[pd.notna(values)]):
                members = trained_rows[(trained[column] == value).to_numpy()]
                if not len(members):
                    continue
                counts = np.asarray(fitted.matrix[members].sum(axis=0)).ravel()
                if counts.max() <= 0:
                    continue
                mine = values == value
                scores[mine] += counts / counts.max()
                matched |= mine
        if not matched.any():
            return None
        scores = scores[matched] / len(columns)
        at = at[matched]
        np.round(scores, _KEY_DECIMALS, out=scores)
        fill = np.round(
            -1.0 + self.popularity_ / (self.popularity_.max() + 1.0), _KEY_DECIMALS
        )
        key = np.where(scores > 0, scores, fill[None, :])
        r, c = top_k(key, k)
        strategy = str(RecommendationStrategy.FEATURES_ONLY)
        return at[r], c, scores[r, c], np.full(len(r), strategy)

    def _recommend_fallback(self, at, k):
        key = np.round(self.popularity_[None, :], _KEY_DECIMALS)
        _, c = top_k(key, k)
        strategy = str(RecommendationStrategy.FALLBACK_POPULAR)
        return (
            np.repeat(at, len(c)),
            np.tile(c, len(at)),
            np.tile(self.popularity_[c], len(at)),
            np.full(len(c) * len(at), strategy),
        )


def top_k(key: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Select the ``k`` highest keys of each row, ties broken by lower column.

    Parameters
    ----------
    key : ndarray of shape (rows, columns)
        Ranking keys; ``-inf`` marks excluded cells, which are never returned.
    k : int
        Cells per row.

    Returns
    -------
    row, column : ndarray of int64
        Selected cells, grouped by row and sorted by rank within a row.
    """
    n_rows, n_cols = key.shape
    k_eff = min(k, n_cols)
    if n_rows == 0 or k_eff == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty

    # The k-th largest key of each row bounds the candidates: every cell at or
    # above it, which is k cells per row unless there are ties at the bound.
    kth = np.partition(key, n_cols - k_eff, axis=1)[:, n_cols - k_eff]
    rows, cols = np.nonzero((key >= kth[:, None]) & (key > -np.inf))
    values = key[rows, cols]

    # Order the candidates by row, key (descending) and column, and keep the
    # first k of each row.
    order = np.lexsort((cols, -values, rows))
    rows, cols = rows[order], cols[order]
    keep = _ranks_within(rows) <= k_eff
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def _ranks_within(groups: np.ndarray) -> np.ndarray:
    # Rows of one group arrive contiguous and in rank order.
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    lengths = np.diff(np.r_[starts, len(groups)])
    return (np.arange(len(groups)) - np.repeat(starts, lengths) + 1).astype(np.int64)


def _empty_recommendations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.customer_id: pd.array([], dtype="string"),
            C.item_id: pd.array([], dtype="string"),
            C.rank: np.zeros(0, dtype=np.int64),
            C.score: np.zeros(0, dtype=np.float64),
            C.strategy: pd.array([], dtype="string"),
        }
    )
