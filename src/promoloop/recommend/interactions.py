"""Interaction tables, id maps and the customers x items matrix.

Customer and item ids are opaque strings. The recommenders work on contiguous
integer positions, so every model keeps an :class:`IdMap` per axis and turns
positions back into the original ids before returning anything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from promoloop.data.ids import canonical_id
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)

# Purchases are the training signal by default, so a customer who only viewed
# items has no signal and gets the popularity fallback.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {EventType.PURCHASE: 1.0}

INTERACTION_COLUMNS = [C.customer_id, C.item_id, C.weight, C.timestamp]


class IdMap:
    """Bijection between opaque string ids and contiguous positions 0..n-1.

    Ids are sorted, so position order is id order and a tie in score broken by
    position is a tie broken by id.

    Parameters
    ----------
    ids : iterable
        Ids of one axis; duplicates and missing values are dropped, and numbers
        become canonical strings (``17`` and ``"17"`` are one id).
    name : str, default "id"
        Name of the axis used in error messages, e.g. ``"customer_id"``.
    """

    def __init__(self, ids: Iterable, name: str = "id") -> None:
        values = canonical_id(_as_series(ids)).dropna().unique()
        self.ids = np.sort(np.asarray(values, dtype=object))
        self.name = name
        self._index = pd.Index(self.ids, dtype="string")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, value: object) -> bool:
        return self.canonical([value])[0] in self._index

    def canonical(self, values: Iterable) -> np.ndarray:
        """Return ``values`` as canonical string ids (None for missing)."""
        series = canonical_id(_as_series(values))
        return series.to_numpy(dtype=object, na_value=None)

    def positions(self, values: Iterable, *, missing: str = "raise") -> np.ndarray:
        """Map ids to positions.

        Parameters
        ----------
        values : iterable
            Ids to look up (strings or numbers).
        missing : {"raise", "mark"}, default "raise"
            ``"raise"`` raises on an unknown id; ``"mark"`` returns -1 for it.

        Returns
        -------
        ndarray of int64
            One position per input id.

        Raises
        ------
        InputError
            If an id is not in the map and ``missing="raise"``, or ``missing``
            has another value.
        """
        if missing not in ("raise", "mark"):
            raise InputError(
                "invalid value of argument 'missing'",
                value=missing,
                expected='"raise" or "mark"',
            )
        canonical = canonical_id(_as_series(values))
        found = self._index.get_indexer(canonical).astype(np.int64)
        if missing == "raise" and (found < 0).any():
            unknown = canonical.iloc[np.flatnonzero(found < 0)[0]]
            raise InputError(
                f"unknown {self.name} {unknown!r}: not among the {len(self)} ids "
                "the model was fitted on",
                column=self.name,
                value=unknown,
                expected=f"one of the {len(self)} fitted ids",
                fix="refit the model on data that contains the id, or request "
                "recommendations, which fall back to popularity for unknown ids",
            )
        return found

    def to_ids(self, positions: np.ndarray) -> np.ndarray:
        """Map positions back to the original string ids."""
        return self.ids[np.asarray(positions, dtype=np.int64)]


def _as_series(values: Iterable) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    return pd.Series(list(values), dtype="object")


@dataclass
class InteractionMatrix:
    """Customers x items matrix of summed interaction weights with its id maps.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Shape (customers, items), float32, only positive entries stored.
    customers : IdMap
        Row ids.
    items : IdMap
        Column ids.
    """

    matrix: sp.csr_matrix
    customers: IdMap
    items: IdMap


def interactions_from_events(
    events: pd.DataFrame, event_weights: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Build the interaction table the recommenders fit on.

    Parameters
    ----------
    events : DataFrame
        Canonical events table (customer_id may be missing for anonymous lines).
    event_weights : mapping of str to float, optional
        Weight of one event of each type. Types not listed get weight 0, so
        their customers and items stay known but carry no signal. Defaults to
        purchases only (:data:`DEFAULT_EVENT_WEIGHTS`).

    Returns
    -------
    DataFrame
        Columns customer_id, item_id, weight, timestamp; one row per event.
        Anonymous rows are kept, because they count for item popularity.

    Raises
    ------
    InputError
        If a required column is missing.
    """
    weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
    required = [C.customer_id, C.item_id, C.event_type, C.timestamp]
    missing = [c for c in required if c not in events.columns]
    if missing:
        raise InputError(
            f"missing column(s) {missing} in the events table",
            expected=f"columns {required}",
            fix="pass the canonical events table",
        )

    event_type = events[C.event_type].astype("string").str.lower()
    weight = event_type.map(weights).astype("float64").fillna(0.0)
    out = pd.DataFrame(
        {
            C.customer_id: canonical_id(events[C.customer_id]),
            C.item_id: canonical_id(events[C.item_id]),
            C.weight: weight.to_numpy(),
            C.timestamp: pd.to_datetime(events[C.timestamp], utc=True),
        }
    )
    return out[out[C.item_id].notna()].reset_index(drop=True)


def check_interactions(interactions: pd.DataFrame) -> pd.DataFrame:
    """Validate an interaction table and return it with canonical ids.

    Raises
    ------
    InputError
        If a column of customer_id, item_id, weight is missing.
    """
    missing = [c for c in (C.customer_id, C.item_id, C.weight) if c not in interactions]
    if missing:
        raise InputError(
            f"missing column(s) {missing} in the interaction table",
            expected=f"columns {INTERACTION_COLUMNS}",
            fix="build the table with interactions_from_events(events, weights)",
        )
    out = interactions.copy()
    out[C.customer_id] = canonical_id(out[C.customer_id])
    out[C.item_id] = canonical_id(out[C.item_id])
    out[C.weight] = pd.to_numeric(out[C.weight], errors="raise").astype("float64")
    return out[out[C.item_id].notna()]


def build_matrix(
    interactions: pd.DataFrame,
    customers: IdMap | None = None,
    items: IdMap | None = None,
    values: np.ndarray | None = None,
) -> InteractionMatrix:
    """Sum interaction weights into a customers x items CSR matrix.

    Rows with a missing customer id are left out. Negative sums (more returns
    than purchases) are clipped to 0 and not stored.

    Parameters
    ----------
    interactions : DataFrame
        Checked interaction table (see :func:`check_interactions`).
    customers, items : IdMap, optional
        Id maps to use; built from the table when not given. Rows whose id is
        not in a given map are left out.
    values : ndarray, optional
        Per-row values to sum in place of the weight column (e.g. time-decayed
        weights).

    Returns
    -------
    InteractionMatrix

    Raises
    ------
    InputError
        If the matrix shape does not match (len(customers), len(items)), which
        means the axes were swapped.
    """
    has_customer = interactions[C.customer_id].notna().to_numpy()
    known = interactions[has_customer]
    summed = interactions[C.weight] if values is None else values
    data = np.asarray(summed, dtype=np.float64)[has_customer]
    if customers is None:
        customers = IdMap(known[C.customer_id], name=C.customer_id)
    if items is None:
        items = IdMap(interactions[C.item_id], name=C.item_id)

    rows = customers.positions(known[C.customer_id], missing="mark")
    cols = items.positions(known[C.item_id], missing="mark")
    matrix = sum_matrix(rows, cols, data, (len(customers), len(items)))
    check_orientation(matrix, customers, items)
    logger.debug(
        "built a %d x %d interaction matrix with %d non-zeros",
        matrix.shape[0],
        matrix.shape[1],
        matrix.nnz,
    )
    return InteractionMatrix(matrix, customers, items)


def sum_matrix(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Sum ``values`` into a float32 CSR matrix, clipping negative sums to 0.

    Entries whose row or column is negative (an unknown id) are left out, and
    only positive sums are stored.
    """
    keep = (rows >= 0) & (cols >= 0)
    matrix = sp.coo_matrix(
        (np.asarray(values, dtype=np.float64)[keep], (rows[keep], cols[keep])),
        shape=shape,
    ).tocsr()
    matrix.sum_duplicates()
    matrix.data = np.clip(matrix.data, 0.0, None)
    matrix.eliminate_zeros()
    return matrix.astype(np.float32)


@dataclass
class PreparedInteractions:
    """A checked interaction table with its matrix, built once for many models.

    Every model fitted on one split needs the same id maps, matrix and
    popularity; :func:`prepare_interactions` builds them once, and
    :meth:`Recommender.fit <promoloop.recommend.Recommender.fit>` accepts the
    result in place of a table.

    Attributes
    ----------
    table : DataFrame
        The checked table (canonical ids, float weights).
    interactions : InteractionMatrix
        Summed weights with the id maps.
    rows, cols : ndarray of int64
        Matrix row and column of each table row; -1 for a missing customer.
    popularity : ndarray of float64
        Summed positive weight per item, anonymous rows included.
    """

    table: pd.DataFrame
    interactions: InteractionMatrix
    rows: np.ndarray
    cols: np.ndarray
    popularity: np.ndarray
    _decayed: dict = field(default_factory=dict, repr=False)

    def matrix_of(self, values: np.ndarray) -> sp.csr_matrix:
        """Sum per-row ``values`` (e.g. decayed weights) into a matrix."""
        return sum_matrix(self.rows, self.cols, values, self.interactions.matrix.shape)

    def decayed_matrix(self, half_life_days: float | None) -> sp.csr_matrix:
        """Return the matrix of time-decayed weights, cached per half-life.

        Raises
        ------
        InputError
            As :func:`promoloop.recommend.models.decayed_weights`.
        """
        # Imported here because models imports this module.
        from promoloop.recommend.models import decayed_weights

        if half_life_days not in self._decayed:
            values = decayed_weights(self.table, half_life_days)
            self._decayed[half_life_days] = self.matrix_of(values)
        return self._decayed[half_life_days]


def prepare_interactions(interactions: pd.DataFrame) -> PreparedInteractions:
    """Check an interaction table and build its matrix, id maps and popularity.

    Parameters
    ----------
    interactions : DataFrame
        Columns customer_id, item_id, weight and optionally timestamp (see
        :func:`interactions_from_events`).

    Returns
    -------
    PreparedInteractions

    Raises
    ------
    InputError
        If a column of customer_id, item_id, weight is missing.
    """
    table = check_interactions(interactions)
    customer_ids = table[C.customer_id]
    customers = IdMap(customer_ids.dropna(), name=C.customer_id)
    items = IdMap(table[C.item_id], name=C.item_id)

    # The table's ids are canonical already, so look them up directly.
    rows = customers._index.get_indexer(customer_ids).astype(np.int64)
    cols = items._index.get_indexer(table[C.item_id]).astype(np.int64)
    weights = table[C.weight].to_numpy(np.float64)
    matrix = sum_matrix(rows, cols, weights, (len(customers), len(items)))
    popularity = np.bincount(
        cols, weights=np.clip(weights, 0.0, None), minlength=len(items)
    )
    return PreparedInteractions(
        table, InteractionMatrix(matrix, customers, items), rows, cols, popularity
    )


def check_orientation(matrix: sp.spmatrix, customers: IdMap, items: IdMap) -> None:
    """Raise unless ``matrix`` is customers x items, as implicit >= 0.5 expects.

    Raises
    ------
    InputError
        If ``matrix.shape != (len(customers), len(items))``; the message gives
        both shapes.
    """
    expected = (len(customers), len(items))
    if tuple(matrix.shape) != expected:
        raise InputError(
            f"interaction matrix has shape {tuple(matrix.shape)} but the id maps "
            f"give {expected} (customers x items)",
            value=tuple(matrix.shape),
            expected=f"shape {expected}: one row per customer, one column per item",
            fix="pass the customers x items matrix; transpose it if the axes are "
            "swapped",
        )
