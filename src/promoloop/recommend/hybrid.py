"""Hybrid recommender: time-decayed repeat purchases blended with item kNN."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from promoloop.recommend.base import Recommender
from promoloop.recommend.interactions import build_matrix
from promoloop.recommend.metrics import per_customer_metrics
from promoloop.recommend.models import decayed_weights, item_similarity
from promoloop.recommend.split import global_temporal_split
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)


class HybridRecommender(Recommender):
    """Blend of the customer's decayed repeat score and item-kNN score.

    ``score = repeat / max(repeat) + alpha * knn / max(knn)`` with both maxima
    taken over the customer's row, where repeat is the time-decayed weight of
    the customer's own items and knn is the decayed history times the
    item-item cosine similarity, so recently bought items pull their
    neighbours up.

    Parameters
    ----------
    alpha : float, optional
        Weight of the kNN part. When None, ``fit`` picks it from ``alphas`` by
        Recall@k on the last ``validation_days`` of the training data, with
        the blend fitted on the days before; the smallest alpha wins a tie.
    alphas : sequence of float, default (0, 0.02, 0.05, 0.1, 0.2, 0.5)
        Candidates for alpha; tried in increasing order.
    half_life_days : float, default 120
        Half-life of the repeat and kNN history weights.
    neighbours : int, default 100
        Similar items kept per item.
    validation_days : int, default 28
        Length of the inner validation window used to pick alpha.
    k : int, default 10
        List length whose recall picks alpha.
    default_alpha : float, default 0.1
        Alpha used when the inner window has no customer active on both
        sides (too little data).
    num_threads : int, default 1
        Threads of the similarity computation.
    """

    name = "hybrid"

    def __init__(
        self,
        alpha: float | None = None,
        alphas: Sequence[float] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5),
        half_life_days: float = 120.0,
        neighbours: int = 100,
        validation_days: int = 28,
        k: int = 10,
        default_alpha: float = 0.1,
        num_threads: int = 1,
    ) -> None:
        self.alpha = alpha
        self.alphas = tuple(sorted(alphas))
        self.half_life_days = half_life_days
        self.neighbours = neighbours
        self.validation_days = validation_days
        self.k = k
        self.default_alpha = default_alpha
        self.num_threads = num_threads

    def _fit(self, table, items):
        self.alpha_ = (
            self.alpha if self.alpha is not None else self._choose_alpha(table)
        )

        # Components on the whole training table.
        decayed = build_matrix(
            table,
            self.customers_,
            self.items_,
            values=decayed_weights(table, self.half_life_days),
        ).matrix
        self.decayed_ = decayed.astype(np.float64)
        self.similarity_ = item_similarity(
            self.interactions_.matrix, self.neighbours, num_threads=self.num_threads
        )

    def _score(self, rows):
        history = self.decayed_[rows]
        repeat = _row_normalised(history.toarray())
        if self.alpha_ == 0:
            return repeat
        neighbours = _row_normalised((history @ self.similarity_).toarray())
        return repeat + self.alpha_ * neighbours

    def _choose_alpha(self, table: pd.DataFrame) -> float:
        """Pick alpha by Recall@k on the last ``validation_days`` of ``table``."""
        split = global_temporal_split(table, test_days=self.validation_days)
        train = split.train[split.train[C.weight] > 0]
        test = split.test[split.test[C.weight] > 0]
        active = np.intersect1d(
            train[C.customer_id].dropna().unique(),
            test[C.customer_id].dropna().unique(),
        )
        if len(active) == 0:
            logger.info(
                "no customer active before and after %s; hybrid alpha set to %s",
                split.cutoff,
                self.default_alpha,
            )
            return self.default_alpha

        inner = HybridRecommender(
            alpha=0.0,
            half_life_days=self.half_life_days,
            neighbours=self.neighbours,
            num_threads=self.num_threads,
        ).fit(split.train)
        relevant = test[test[C.customer_id].isin(active)]
        recalls = []
        for alpha in self.alphas:
            inner.alpha_ = alpha
            lists = inner.recommend(active, k=self.k)
            recalls.append(per_customer_metrics(lists, relevant, self.k).recall.mean())
        best = self.alphas[int(np.argmax(recalls))]
        logger.info(
            "hybrid alpha %s chosen on %d customers after %s (recall@%d by alpha: %s)",
            best,
            len(active),
            split.cutoff,
            self.k,
            dict(zip(self.alphas, np.round(recalls, 4), strict=True)),
        )
        self.validation_recalls_ = dict(zip(self.alphas, recalls, strict=True))
        return best


def _row_normalised(scores: np.ndarray) -> np.ndarray:
    top = scores.max(axis=1, keepdims=True)
    top[top <= 0] = 1.0
    return scores / top
