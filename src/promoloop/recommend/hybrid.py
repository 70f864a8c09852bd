"""Hybrid recommender: own time-decayed purchases blended with similar customers'.

Each customer is a vector over items: the time-decayed sum of their purchases,
scaled to unit length. A customer's score for an item is

    alpha * own[item] + (1 - alpha) * mean(neighbour[item] for the customer's
    nearest neighbours)

where the neighbours are the customers with the highest cosine similarity of
these vectors. Repeat purchases dominate grocery baskets, so own history
carries most weight. The neighbours add items that similar households buy, and
they also reorder the customer's own items by how widely similar households
repeat them. This is the neighbour blend of temporal-decay kNN recommenders
for next-basket data, written with scipy.sparse here because no maintained
library in the stack provides it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from promoloop.errors import InputError
from promoloop.recommend.base import Recommender, top_k
from promoloop.recommend.interactions import PreparedInteractions, prepare_interactions
from promoloop.recommend.split import global_temporal_split
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

# Rows of the customer-similarity matrix scored at once, which bounds its
# dense blocks to this many rows x customers.
_SIMILARITY_BLOCK_ROWS = 1024


class HybridRecommender(Recommender):
    """Blend of the customer's decayed purchases and their neighbours' mean.

    Parameters
    ----------
    alpha : float, optional
        Weight of the customer's own vector, in [0, 1]. Tuned when None.
    neighbours : int, optional
        Nearest customers averaged. Tuned when None.
    half_life_days : float, optional
        Half-life of a purchase's weight in days. Tuned when None.
    alphas, neighbour_grid, half_lives : sequence
        Candidates tried for the settings left at None. The grid is small
        because every combination is scored on the validation window.
    validation_days : int, default 28
        Length of the inner validation window, the last days of the training
        data, whose Recall@k picks the settings. The blend is fitted on the
        days before it.
    k : int, default 10
        List length whose recall picks the settings.
    default_alpha, default_neighbours, default_half_life : default 0.8, 50, 60
        Settings used when the inner window has no customer active on both
        sides (too little data to tune).
    """

    name = "hybrid"

    def __init__(
        self,
        alpha: float | None = None,
        neighbours: int | None = None,
        half_life_days: float | None = None,
        alphas: Sequence[float] = (0.6, 0.75, 0.9, 1.0),
        neighbour_grid: Sequence[int] = (50,),
        half_lives: Sequence[float] = (30.0, 90.0),
        validation_days: int = 28,
        k: int = 10,
        default_alpha: float = 0.8,
        default_neighbours: int = 50,
        default_half_life: float = 60.0,
    ) -> None:
        weights = list(alphas) + [default_alpha] + _listed(alpha)
        if any(not 0 <= a <= 1 for a in weights):
            raise InputError(
                "invalid value of argument 'alpha' or 'alphas'",
                value=weights,
                expected="weights of the own vector between 0 and 1",
            )
        sizes = list(neighbour_grid) + [default_neighbours] + _listed(neighbours)
        if any(n < 1 for n in sizes):
            raise InputError(
                "invalid number of neighbours",
                value=sizes,
                expected="integers >= 1",
            )
        self.alpha = alpha
        self.neighbours = neighbours
        self.half_life_days = half_life_days
        self.alphas = tuple(sorted(alphas))
        self.neighbour_grid = tuple(sorted(neighbour_grid))
        self.half_lives = tuple(sorted(half_lives))
        self.validation_days = validation_days
        self.k = k
        self.default_alpha = default_alpha
        self.default_neighbours = default_neighbours
        self.default_half_life = default_half_life

    def _fit(self, data, items):
        # Settings: given ones are kept, the others tuned on the inner window.
        grid = (
            _listed(self.half_life_days) or self.half_lives,
            _listed(self.neighbours) or self.neighbour_grid,
            _listed(self.alpha) or self.alphas,
        )
        if all(len(values) == 1 for values in grid):
            chosen = tuple(values[0] for values in grid)
        else:
            chosen = self._tune(data, *grid)
        self.half_life_days_, self.neighbours_, self.alpha_ = chosen

        # Components on the whole training table.
        self.vectors_ = unit_rows(data.decayed_matrix(self.half_life_days_))
        self.weights_ = neighbour_weights(self.vectors_, self.neighbours_)

    def tuned_copy(self) -> HybridRecommender:
        """Return an unfitted copy that uses this fit's chosen settings.

        Refitting the copy on more data skips the search, which takes most
        of the fit time on a large shop.
        """
        return HybridRecommender(
            alpha=self.alpha_,
            neighbours=self.neighbours_,
            half_life_days=self.half_life_days_,
            validation_days=self.validation_days,
            k=self.k,
        )

    def _score(self, rows):
        return blend_scores(self.vectors_, self.weights_, rows, self.alpha_).toarray()

    def _tune(self, data: PreparedInteractions, half_lives, sizes, alphas):
        """Pick (half-life, neighbours, alpha) by Recall@k on the inner window."""
        defaults = (
            self.default_half_life,
            self.default_neighbours,
            self.default_alpha,
        )
        split = global_temporal_split(
            data.table, test_days=self.validation_days, engine=data.engine
        )
        train = split.train[split.train[C.weight] > 0]
        test = split.test[
            (split.test[C.weight] > 0) & split.test[C.customer_id].notna()
        ]
        if train.empty or test.empty:
            logger.info("too little data to tune the hybrid; using %s", defaults)
            return defaults
        inner = prepare_interactions(train, engine=data.engine)
        customers = inner.interactions.customers
        test_rows = customers._index.get_indexer(test[C.customer_id])
        test = test[test_rows >= 0]
        if test.empty:
            logger.info(
                "no customer active before and after %s; hybrid settings %s",
                split.cutoff,
                defaults,
            )
            return defaults

        # Relevant items: distinct test items of the customers active on both
        # sides; items new in the test window count in the denominator only.
        truth = test[[C.customer_id, C.item_id]].drop_duplicates()
        rows = customers._index.get_indexer(truth[C.customer_id])
        cols = inner.interactions.items._index.get_indexer(truth[C.item_id])
        active, local = np.unique(rows, return_inverse=True)
        relevant = np.bincount(local, minlength=len(active))
        n_items = len(inner.interactions.items)
        known = cols >= 0
        truth_keys = local[known].astype(np.int64) * n_items + cols[known]

        recalls = {}
        for half_life in half_lives:
            vectors = unit_rows(inner.decayed_matrix(half_life))
            for size in sizes:
                weights = neighbour_weights(vectors, size, rows=active)
                candidates = _candidates(vectors[active], weights @ vectors, self.k)
                for alpha in alphas:
                    cand_rows, cand_cols = _top_candidates(candidates, alpha, self.k)
                    keys = cand_rows * n_items + cand_cols
                    hits = np.bincount(
                        cand_rows[np.isin(keys, truth_keys)], minlength=len(active)
                    )
                    recall = (hits / np.minimum(self.k, relevant)).mean()
                    recalls[(half_life, size, alpha)] = float(recall)

        # Ties go to the first setting in grid order (shorter half-life, fewer
        # neighbours, smaller alpha).
        best = max(recalls, key=recalls.get)
        self.validation_recalls_ = recalls
        logger.info(
            "hybrid settings (half-life, neighbours, alpha) %s chosen on %d "
            "customers after %s: recall@%d %.4f",
            best,
            len(active),
            split.cutoff,
            self.k,
            recalls[best],
        )
        return best


def unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Return ``matrix`` as float64 with every non-empty row scaled to unit L2 norm."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    counts = np.diff(matrix.indptr)
    matrix.data /= np.repeat(np.where(norms > 0, norms, 1.0), counts)
    return matrix


def neighbour_weights(
    vectors: sp.csr_matrix, neighbours: int, rows: np.ndarray | None = None
) -> sp.csr_matrix:
    """Return the weights that average each customer's nearest neighbours.

    Parameters
    ----------
    vectors : csr_matrix
        Customers x items, rows of unit length, so the dot product of two rows
        is their cosine similarity.
    neighbours : int
        Neighbours kept per customer: the most similar other customers with a
        positive similarity, ties broken by lower row.
    rows : ndarray of int, optional
        Customers whose weights are wanted; all when not given.

    Returns
    -------
    csr_matrix
        Shape (len(rows), customers); row i contains 1 / m for each of customer
        i's m neighbours (m <= ``neighbours``), so ``weights @ vectors`` is the
        neighbours' mean vector. A customer without neighbours has an empty
        row.
    """
    rows = np.arange(vectors.shape[0]) if rows is None else np.asarray(rows)
    parts = []
    for start in range(0, len(rows), _SIMILARITY_BLOCK_ROWS):
        block = rows[start : start + _SIMILARITY_BLOCK_ROWS]
        similarity = (vectors[block] @ vectors.T).toarray()
        similarity[np.arange(len(block)), block] = 0.0
        similarity[similarity <= 0] = -np.inf
        r, c = top_k(similarity, neighbours)
        counts = np.bincount(r, minlength=len(block))
        values = 1.0 / counts[r]
        parts.append(
            sp.csr_matrix((values, (r, c)), shape=(len(block), vectors.shape[0]))
        )
    if not parts:
        return sp.csr_matrix((0, vectors.shape[0]))
    return sp.vstack(parts, format="csr")


def blend_scores(
    vectors: sp.csr_matrix, weights: sp.csr_matrix, rows: np.ndarray, alpha: float
) -> sp.csr_matrix:
    """Return ``alpha * own + (1 - alpha) * neighbours' mean`` for ``rows``."""
    own = vectors[rows]
    if alpha == 1:
        return own
    return alpha * own + (1.0 - alpha) * (weights[rows] @ vectors)


def _candidates(own: sp.csr_matrix, mean: sp.csr_matrix, k: int):
    """Return the cells that can enter a top-k list for any alpha in [0, 1].

    Items outside the customer's history score (1 - alpha) * mean, so their
    order does not depend on alpha and only their k best can enter the list.
    Own items are all candidates.
    """
    # Mean of each own cell: adding the all-ones own pattern gives a matrix
    # with exactly own's sorted structure, holding 1 + mean.
    pattern = own.astype(bool).astype(np.float64)
    pattern.sort_indices()
    at_own = mean.multiply(pattern)
    shifted = (pattern + at_own).tocsr()
    shifted.sort_indices()
    own_coo = pattern.tocoo()
    own_values = own.tocsr()
    own_values.sort_indices()
    own_mean = shifted.data - 1.0

    # Best k other items per row, scored in dense blocks. Cells without a
    # positive mean get distinct negative keys, because np.partition ran about
    # ten times slower on rows full of equal values (numpy 2.4, measured on
    # The Complete Journey).
    others = (mean - at_own).tocsr()
    other_rows, other_cols, other_mean = [], [], []
    n_cols = others.shape[1]
    filler = -1.0 - np.arange(n_cols) / max(1, n_cols)
    block = max(1, 4_000_000 // max(1, n_cols))
    for start in range(0, others.shape[0], block):
        dense = others[start : start + block].toarray()
        unscored = dense <= 0
        dense[unscored] = np.broadcast_to(filler, dense.shape)[unscored]
        r, c = top_k(dense, k)
        values = dense[r, c]
        scored = values > 0
        other_rows.append(r[scored] + start)
        other_cols.append(c[scored])
        other_mean.append(values[scored])
    return (
        np.concatenate([own_coo.row] + other_rows).astype(np.int64),
        np.concatenate([own_coo.col] + other_cols).astype(np.int64),
        np.concatenate([own_values.data] + [np.zeros(len(r)) for r in other_rows]),
        np.concatenate([own_mean] + other_mean),
    )


def _top_candidates(candidates, alpha: float, k: int):
    # NOTE: tuning ranks only positively scored items, without the popularity
    # fill of short lists, which changes the recall of customers with fewer
    # than k scored items only.
    rows, cols, own, mean = candidates
    scores = alpha * own + (1.0 - alpha) * mean
    positive = scores > 0
    rows, cols, scores = rows[positive], cols[positive], scores[positive]
    order = np.lexsort((cols, -scores, rows))
    rows, cols = rows[order], cols[order]
    starts = np.r_[0, np.flatnonzero(np.diff(rows)) + 1]
    rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    keep = rank < k
    return rows[keep], cols[keep]


def _listed(value) -> list:
    return [] if value is None else [value]
