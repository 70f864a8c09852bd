"""Interaction tables, id maps and the customers x items matrix.

Customer and item ids are opaque strings. The recommenders work on contiguous
integer positions, so every model keeps an :class:`IdMap` per axis and turns
positions back into the original ids before returning anything.

The event weights and the sums per (customer, item) pair are defined once,
as Ibis expressions in :mod:`promoloop.engine.interactions`. The functions
here run them on the engine passed in, a new in-process DuckDB engine by
default, and place the sums in a scipy.sparse matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from promoloop.data.ids import canonical_id
from promoloop.engine import Engine, engine_or_default
from promoloop.engine.interactions import (
    POPULARITY,
    collect_item_popularity,
    collect_pair_weights,
    interaction_events,
)
from promoloop.engine.splits import ROW
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)

# Purchases are the training signal by default, so a customer who only viewed
# items has no signal and gets the popularity fallback.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {EventType.PURCHASE: 1.0}

INTERACTION_COLUMNS = [C.customer_id, C.item_id, C.weight, C.timestamp]

# Arrow types of the registered columns, also for columns without a value.
_ARROW_TYPES = {
    C.customer_id: pa.string(),
    C.item_id: pa.string(),
    C.event_type: pa.string(),
    C.timestamp: pa.timestamp("us", tz="UTC"),
}


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
    events: pd.DataFrame,
    event_weights: Mapping[str, float] | None = None,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Build the interaction table the recommenders fit on.

    Runs :func:`promoloop.engine.interactions.interaction_events` on
    ``engine``.

    Parameters
    ----------
    events : DataFrame
        Canonical events table (customer_id may be missing for anonymous lines).
    event_weights : mapping of str to float, optional
        Weight of one event of each lower-case type. Types not listed get
        weight 0, so their customers and items stay known but carry no
        signal. Defaults to purchases only (:data:`DEFAULT_EVENT_WEIGHTS`).
    engine : Engine, optional
        Engine to run on, left open. Default: a new in-process DuckDB engine,
        closed afterwards.

    Returns
    -------
    DataFrame
        Columns customer_id, item_id, weight, timestamp; one row per event
        with an item id, in input order, with a default index. Anonymous rows
        are kept, because they count for item popularity.

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

    customer_ids = canonical_id(events[C.customer_id])
    item_ids = canonical_id(events[C.item_id])
    frame = columns_to_arrow(
        {
            C.item_id: item_ids,
            C.event_type: events[C.event_type].astype("string"),
            ROW: pd.Series(np.arange(len(events), dtype=np.int64)),
        }
    )
    with engine_or_duckdb(engine) as active:
        table = active.register_frame("recommend_events", frame)
        expr = interaction_events(table, weights).select(ROW, C.weight).order_by(ROW)
        weighted = active.to_pandas(expr)

    with_item = weighted[ROW].to_numpy(dtype=np.int64)
    stamps = pd.to_datetime(events[C.timestamp], utc=True)
    return pd.DataFrame(
        {
            C.customer_id: customer_ids.iloc[with_item].reset_index(drop=True),
            C.item_id: item_ids.iloc[with_item].reset_index(drop=True),
            C.weight: weighted[C.weight].to_numpy(dtype=np.float64),
            C.timestamp: stamps.iloc[with_item].reset_index(drop=True),
        }
    )


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
    engine: Engine | None = None,
) -> InteractionMatrix:
    """Sum interaction weights into a customers x items CSR matrix.

    Rows with a missing customer id are left out. Negative sums (more returns
    than purchases) are clipped to 0 and not stored. The sums run on
    ``engine`` (see :func:`sum_pair_weights`).

    Parameters
    ----------
    interactions : DataFrame
        Checked interaction table (see :func:`check_interactions`).
    customers, items : IdMap, optional
        Id maps to use; built from the table when not given. Rows whose id is
        not in a given map are left out.
    values : ndarray, optional
        Per-row values to sum in place of the weight column.
    engine : Engine, optional
        Engine to run on, left open. Default: a new in-process DuckDB engine,
        closed afterwards.

    Returns
    -------
    InteractionMatrix

    Raises
    ------
    InputError
        If the matrix shape does not match (len(customers), len(items)), which
        means the axes were swapped.
    """
    if customers is None:
        known = interactions[C.customer_id].dropna()
        customers = IdMap(known, name=C.customer_id)
    if items is None:
        items = IdMap(interactions[C.item_id], name=C.item_id)
    rows = customers.positions(interactions[C.customer_id], missing="mark")
    cols = items.positions(interactions[C.item_id], missing="mark")
    summed = interactions[C.weight] if values is None else values
    matrix = sum_pair_weights(
        rows, cols, summed, (len(customers), len(items)), engine=engine
    )
    check_orientation(matrix, customers, items)
    logger.debug(
        "built a %d x %d interaction matrix with %d non-zeros",
        matrix.shape[0],
        matrix.shape[1],
        matrix.nnz,
    )
    return InteractionMatrix(matrix, customers, items)


def sum_pair_weights(
    rows: np.ndarray,
    cols: np.ndarray,
    values: Iterable[float],
    shape: tuple[int, int],
    *,
    timestamps: pd.Series | None = None,
    half_life_days: float | None = None,
    engine: Engine | None = None,
) -> sp.csr_matrix:
    """Sum per-row values into a float32 CSR matrix on an engine.

    Runs :func:`promoloop.engine.interactions.pair_weights` over the matrix
    positions of the rows.

    Parameters
    ----------
    rows, cols : ndarray of int
        Matrix row and column of each table row; -1 for a missing or unknown
        id, whose row is left out of the sums.
    values : array-like of float
        Value of each table row.
    shape : (int, int)
        Shape of the matrix.
    timestamps : Series, optional
        UTC time of each table row; needed for decay.
    half_life_days : float, optional
        Half-life of the decay in days (see
        :func:`promoloop.engine.interactions.pair_weights`); None sums the
        values as they are.
    engine : Engine, optional
        Engine to run on, left open. Default: a new in-process DuckDB engine,
        closed afterwards.

    Returns
    -------
    csr_matrix
        Only positive sums are stored; negative sums are clipped to 0.
    """
    with engine_or_duckdb(engine) as active:
        source = register_positions(active, rows, cols, values, timestamps)
        pairs = collect_pair_weights(active, source, half_life_days)
    return _pairs_to_matrix(pairs, shape)


def _pairs_to_matrix(pairs: pd.DataFrame, shape: tuple[int, int]) -> sp.csr_matrix:
    return sum_matrix(
        pairs[C.customer_id].to_numpy(dtype=np.int64),
        pairs[C.item_id].to_numpy(dtype=np.int64),
        pairs[C.weight].to_numpy(dtype=np.float64),
        shape,
    )


def sum_matrix(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Place values in a float32 CSR matrix, clipping negative sums to 0.

    Values of one cell are added. Entries whose row or column is negative
    (an unknown id) are left out, and only positive sums are stored.
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
    engine : Engine or None
        Engine of the sums of :meth:`matrix_of` and :meth:`decayed_matrix`;
        None runs each on a new in-process DuckDB engine.
    """

    table: pd.DataFrame
    interactions: InteractionMatrix
    rows: np.ndarray
    cols: np.ndarray
    popularity: np.ndarray
    engine: Engine | None = None
    _decayed: dict = field(default_factory=dict, repr=False)

    def matrix_of(self, values: np.ndarray) -> sp.csr_matrix:
        """Sum per-row ``values`` into a matrix shaped like the interactions."""
        shape = self.interactions.matrix.shape
        return sum_pair_weights(self.rows, self.cols, values, shape, engine=self.engine)

    def decayed_matrix(self, half_life_days: float | None) -> sp.csr_matrix:
        """Return the matrix of time-decayed weights, cached per half-life.

        Each row's weight is multiplied by ``0.5 ** (age_days /
        half_life_days)``, with the age measured from the latest timestamp of
        the table, anonymous rows included (see
        :func:`promoloop.engine.interactions.pair_weights`).
        ``half_life_days=None`` returns the matrix of plain sums.

        Raises
        ------
        InputError
            If the half-life is not positive, or the table has no timestamp
            column.
        """
        if half_life_days is None:
            return self.interactions.matrix
        check_half_life(self.table, half_life_days)
        if half_life_days not in self._decayed:
            self._decayed[half_life_days] = sum_pair_weights(
                self.rows,
                self.cols,
                self.table[C.weight],
                self.interactions.matrix.shape,
                timestamps=pd.to_datetime(self.table[C.timestamp], utc=True),
                half_life_days=half_life_days,
                engine=self.engine,
            )
        return self._decayed[half_life_days]


def prepare_interactions(
    interactions: pd.DataFrame, engine: Engine | None = None
) -> PreparedInteractions:
    """Check an interaction table and build its matrix, id maps and popularity.

    Runs :func:`promoloop.engine.interactions.pair_weights` and
    :func:`~promoloop.engine.interactions.item_popularity` on ``engine``.

    Parameters
    ----------
    interactions : DataFrame
        Columns customer_id, item_id, weight and optionally timestamp (see
        :func:`interactions_from_events`).
    engine : Engine, optional
        Engine to run on, kept in the result for the time-decayed matrices
        and left open. Default: a new in-process DuckDB engine per
        computation, closed afterwards.

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
    with engine_or_duckdb(engine) as active:
        source = register_positions(active, rows, cols, table[C.weight])
        pairs = collect_pair_weights(active, source)
        popular = collect_item_popularity(active, source)

    matrix = _pairs_to_matrix(pairs, (len(customers), len(items)))
    popularity = np.zeros(len(items), dtype=np.float64)
    popularity[popular[C.item_id].to_numpy(dtype=np.int64)] = popular[POPULARITY]
    return PreparedInteractions(
        table,
        InteractionMatrix(matrix, customers, items),
        rows,
        cols,
        popularity,
        engine,
    )


def check_half_life(table: pd.DataFrame, half_life_days: float) -> None:
    """Raise unless ``table`` can be decayed with ``half_life_days``.

    Raises
    ------
    InputError
        If the half-life is not positive, or the table has no timestamp
        column.
    """
    if half_life_days <= 0:
        raise InputError(
            "invalid value of argument 'half_life_days'",
            value=half_life_days,
            expected="a positive number of days, or None for no decay",
        )
    if C.timestamp not in table:
        raise InputError(
            "time decay needs the timestamp column of the interaction table",
            column=C.timestamp,
            fix="build the table with interactions_from_events, or set "
            "half_life_days=None",
        )


@contextmanager
def engine_or_duckdb(engine: Engine | None) -> Iterator[Engine]:
    """Yield ``engine``, the active engine, or a new DuckDB engine closed on exit."""
    with engine_or_default(engine) as chosen:
        yield chosen


def register_positions(
    engine: Engine,
    rows: np.ndarray,
    cols: np.ndarray,
    values: Iterable[float],
    timestamps: pd.Series | None = None,
) -> ibis.Table:
    """Register an interaction table keyed by matrix positions.

    The table is registered as ``recommend_interactions``, replacing an
    earlier one, so run the expressions over it before registering another.

    Parameters
    ----------
    engine : Engine
        Engine to register on.
    rows, cols : ndarray of int
        Matrix row and column of each table row, registered as the integer
        columns customer_id and item_id; -1 becomes null.
    values : array-like of float
        Registered as the weight column.
    timestamps : Series, optional
        Registered as the timestamp column; time decay needs it.

    Returns
    -------
    ibis.Table
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    columns = {
        C.customer_id: pa.array(rows, mask=rows < 0),
        C.item_id: pa.array(cols, mask=cols < 0),
        C.weight: pa.array(np.asarray(values, dtype=np.float64)),
    }
    if timestamps is not None:
        columns[C.timestamp] = pa.array(timestamps.reset_index(drop=True))
    return engine.register_frame("recommend_interactions", pa.table(columns))


def columns_to_arrow(columns: dict[str, pd.Series]) -> pa.Table:
    """Convert columns to Arrow, typing the columns that contain no value."""
    arrays = {}
    for name, values in columns.items():
        array = pa.array(values.reset_index(drop=True), from_pandas=True)
        if pa.types.is_null(array.type):
            array = array.cast(_ARROW_TYPES[name])
        arrays[name] = array
    return pa.table(arrays)


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
