"""Collaborative recommenders: popularity, repeat purchase, item kNN and ALS."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.nearest_neighbours import (
    BM25Recommender,
    CosineRecommender,
    TFIDFRecommender,
    bm25_weight,
)
from implicit.utils import ParameterWarning
from threadpoolctl import threadpool_limits

from promoloop.errors import InputError
from promoloop.recommend.base import Recommender

logger = logging.getLogger(__name__)


class PopularityRecommender(Recommender):
    """Rank items by summed positive weight in the training window.

    With the default weights (purchases count 1) this is the purchase count.
    Ties are broken by item id. Every list has strategy ``fallback_popular``,
    because it is the same popularity list for every customer.
    """

    name = "popularity"
    personalized = False


class RepeatPurchaseRecommender(Recommender):
    """Rank the customer's own past items by (optionally time-decayed) weight.

    Items the customer never bought come after, by popularity, so a list has
    ``k`` items whenever the catalog does.

    Parameters
    ----------
    half_life_days : float or None, default None
        Half-life of an event's weight in days, measured back from the last
        training timestamp; None ranks by plain counts. The decayed sums run
        on the engine of the prepared interactions (see
        :meth:`PreparedInteractions.decayed_matrix
        <promoloop.recommend.interactions.PreparedInteractions.decayed_matrix>`).
    """

    name = "repeat"

    def __init__(self, half_life_days: float | None = None) -> None:
        self.half_life_days = half_life_days

    def _fit(self, data, items):
        self.scores_ = data.decayed_matrix(self.half_life_days)

    def _score(self, rows):
        return self.scores_[rows].toarray()


_SIMILARITIES = {
    "cosine": CosineRecommender,
    "bm25": BM25Recommender,
    "tfidf": TFIDFRecommender,
}


def item_similarity(
    matrix: sp.csr_matrix,
    neighbours: int = 100,
    similarity: str = "cosine",
    num_threads: int = 1,
) -> sp.csr_matrix:
    """Return the items x items similarity of a customers x items matrix.

    Each row keeps the ``neighbours`` largest similarities, as computed by
    ``implicit.nearest_neighbours``; a customer's scores are then
    ``history @ similarity``.
    """
    model = _SIMILARITIES[similarity](K=neighbours, num_threads=num_threads)
    with warnings.catch_warnings():
        # implicit's own normalisation hands its kNN routine a COO matrix and
        # then warns about converting it.
        warnings.simplefilter("ignore", ParameterWarning)
        # implicit 0.7.3's bm25_weight averages the row sums with numpy, which
        # warns on a matrix without rows; the weights are not used then.
        warnings.filterwarnings(
            "ignore", "Mean of empty slice", RuntimeWarning, module="numpy"
        )
        model.fit(matrix, show_progress=False)
    return model.similarity.tocsr().astype(np.float64)


class ItemKNNRecommender(Recommender):
    """Item-item nearest neighbours from ``implicit.nearest_neighbours``.

    A customer's score for an item is the sum, over the items in their
    history, of history weight x similarity, keeping each item's
    ``neighbours`` most similar items.

    Parameters
    ----------
    neighbours : int, default 100
        Similar items kept per item (implicit's ``K``).
    similarity : {"cosine", "bm25", "tfidf"}, default "cosine"
        Item similarity.
    num_threads : int, default 1
        Threads of the similarity computation (0 = all cores).
    """

    name = "item_knn"

    def __init__(
        self, neighbours: int = 100, similarity: str = "cosine", num_threads: int = 1
    ) -> None:
        if similarity not in _SIMILARITIES:
            raise InputError(
                "invalid value of argument 'similarity'",
                value=similarity,
                expected=f"one of {sorted(_SIMILARITIES)}",
            )
        self.neighbours = neighbours
        self.similarity = similarity
        self.num_threads = num_threads

    def _fit(self, data, items):
        self.similarity_ = item_similarity(
            self.interactions_.matrix,
            self.neighbours,
            self.similarity,
            self.num_threads,
        )

    def _score(self, rows):
        return (self.interactions_.matrix[rows] @ self.similarity_).toarray()


class ALSRecommender(Recommender):
    """Implicit-feedback matrix factorization with ``implicit``'s CPU ALS.

    Parameters left at None take implicit 0.7's defaults (factors=100,
    regularization=0.01, alpha=1.0, iterations=15), which is what the
    evaluation calls untuned ALS.

    Parameters
    ----------
    factors, iterations : int, optional
        Latent factors and ALS sweeps.
    regularization, alpha : float, optional
        L2 penalty, and the confidence given to positive entries.
    weighting : {None, "bm25"}, default None
        Reweight the matrix with BM25 (items as documents) before fitting.
    num_threads : int, default 1
        Solver threads (0 = all cores).
    random_state : int, default 0
        Seed of the factor initialisation.
    """

    name = "als"
    fill_with_popularity = False

    def __init__(
        self,
        factors: int | None = None,
        regularization: float | None = None,
        alpha: float | None = None,
        iterations: int | None = None,
        weighting: str | None = None,
        num_threads: int = 1,
        random_state: int = 0,
    ) -> None:
        if weighting not in (None, "bm25"):
            raise InputError(
                "invalid value of argument 'weighting'",
                value=weighting,
                expected='None or "bm25"',
            )
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.num_threads = num_threads
        self.random_state = random_state

    def _fit(self, data, items):
        settings = {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
        }
        matrix = self.interactions_.matrix
        if self.weighting == "bm25":
            with warnings.catch_warnings():
                # bm25_weight warns "Mean of empty slice" on a matrix without
                # items (implicit 0.7.3); the weights are empty then anyway.
                warnings.filterwarnings(
                    "ignore", "Mean of empty slice", RuntimeWarning, module="numpy"
                )
                weighted = bm25_weight(matrix.T).T
            matrix = sp.csr_matrix(weighted, dtype=np.float32)

        # implicit warns when BLAS runs its own threads next to the solver's.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                **{key: value for key, value in settings.items() if value is not None},
                num_threads=self.num_threads,
                random_state=self.random_state,
            )
            model.fit(matrix, show_progress=False)
        self.customer_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)

    def _score(self, rows):
        return self.customer_factors_[rows] @ self.item_factors_.T
