"""Train/test splits for offline evaluation.

The default split is global: one cutoff time for everyone, so no training
event comes after any test event. A per-customer split lets other customers'
later events leak into training and is offered only as an opt-in.

Which rows go to test is defined once, as Ibis expressions in
:mod:`promoloop.engine.splits`. The functions here validate the input, run
those expressions on the engine passed in (a new in-process DuckDB engine by
default) and select the rows of the pandas table.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd

from promoloop.engine import Engine
from promoloop.engine import splits as engine_splits
from promoloop.errors import InputError
from promoloop.recommend.interactions import ROW, columns_to_arrow, engine_or_duckdb
from promoloop.vocabulary import Columns as C
from promoloop.warnings import LeakageWarning

logger = logging.getLogger(__name__)


@dataclass
class Split:
    """A train/test split with what it left out.

    Attributes
    ----------
    train, test : DataFrame
        The rows of each side: in input order for a temporal split, in index
        order for a per-customer split (the same for a sorted index).
    cutoff : Timestamp or None
        Start of the test window (None for a per-customer split).
    customers_without_test : list of str
        Customers with training rows and no test row.
    cold_customers : list of str
        Customers with test rows and no training row.
    notes : list of str
        Sentences for the run report.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: pd.Timestamp | None
    customers_without_test: list[str] = field(default_factory=list)
    cold_customers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """Return a JSON-ready summary for the manifest and the report."""
        return {
            "cutoff": None if self.cutoff is None else self.cutoff.isoformat(),
            "train_rows": len(self.train),
            "test_rows": len(self.test),
            "customers_without_test": len(self.customers_without_test),
            "cold_customers": len(self.cold_customers),
            "notes": list(self.notes),
        }


def global_temporal_split(
    events: pd.DataFrame,
    cutoff=None,
    test_days: int = 28,
    engine: Engine | None = None,
) -> Split:
    """Split at one cutoff: train is before it, test is at or after it.

    Runs :func:`promoloop.engine.splits.temporal_split` on ``engine``.

    Parameters
    ----------
    events : DataFrame
        Events or interactions with customer_id and timestamp.
    cutoff : str or Timestamp, optional
        Start of the test window (UTC when naive). Defaults to the latest
        timestamp minus ``test_days``.
    test_days : int, default 28
        Length of the test window when ``cutoff`` is not given.
    engine : Engine, optional
        Engine to run on, left open. Default: a new in-process DuckDB engine,
        closed afterwards.

    Returns
    -------
    Split

    Raises
    ------
    InputError
        If the timestamp column is missing or has missing values, or
        ``test_days`` is not positive.

    Notes
    -----
    The engine compares timestamps to the microsecond, so two times less
    than a microsecond apart count as equal.
    """
    stamps = _timestamps(events)
    if test_days <= 0:
        raise InputError(
            "invalid value of argument 'test_days'",
            value=test_days,
            expected="a positive number of days",
        )
    with engine_or_duckdb(engine) as active:
        table = _register_split_input(active, events, stamps)
        if cutoff is None:
            latest = engine_splits.collect_latest_timestamp(active, table)
            cutoff = latest - pd.Timedelta(days=test_days)
        else:
            cutoff = pd.Timestamp(cutoff)
            cutoff = cutoff.tz_localize("UTC") if cutoff.tz is None else cutoff
        flagged = engine_splits.temporal_split(table, cutoff)
        in_test = engine_splits.collect_test_flags(active, flagged)
        customers = engine_splits.collect_split_customers(active, flagged)

    train, test = events[~in_test], events[in_test]
    check_temporal_split(train, test)
    split = Split(train, test, cutoff)
    _report_customers(split, customers)
    logger.info(
        "temporal split at %s: %d train rows, %d test rows",
        cutoff,
        len(train),
        len(test),
    )
    return split


def check_temporal_split(train: pd.DataFrame, test: pd.DataFrame) -> None:
    """Raise unless every training event is earlier than every test event.

    Raises
    ------
    InputError
        If ``max(train.timestamp) >= min(test.timestamp)``; the message gives
        both times.
    """
    if len(train) == 0 or len(test) == 0:
        return
    last_train = _timestamps(train).max()
    first_test = _timestamps(test).min()
    if last_train >= first_test:
        raise InputError(
            f"training data ends at {last_train}, not before the first test event "
            f"at {first_test}, so later events leak into training",
            column=C.timestamp,
            expected="every training timestamp earlier than every test timestamp",
            fix="use global_temporal_split",
        )


def per_customer_split(
    events: pd.DataFrame,
    test_share: float = 0.25,
    min_interactions: int = 2,
    engine: Engine | None = None,
) -> Split:
    """Hold out each customer's latest rows; opt-in, because it leaks.

    Each customer's last ``round(test_share * n)`` rows (at least 1 and at
    most n - 1, halves rounded up) go to test, in timestamp order, or in row
    order without a timestamp column. Rows with equal timestamps are ordered
    by input position, so the later row is held out first. Customers with
    fewer than ``min_interactions`` rows go wholly to train and are counted
    in the notes. Runs :func:`promoloop.engine.splits.per_customer_split` on
    ``engine``; customer ids are compared as strings.

    Parameters
    ----------
    events : DataFrame
        Events or interactions with customer_id.
    test_share : float, default 0.25
        Share of each customer's rows held out, in (0, 1).
    min_interactions : int, default 2
        Customers with fewer rows are not split.
    engine : Engine, optional
        Engine to run on, left open. Default: a new in-process DuckDB engine,
        closed afterwards.

    Returns
    -------
    Split
        With ``cutoff=None``.

    Raises
    ------
    InputError
        If ``test_share`` is outside (0, 1) or ``min_interactions < 2``.

    Warns
    -----
    LeakageWarning
        Always: training rows of one customer may be later than test rows
        of another.
    """
    if not 0 < test_share < 1:
        raise InputError(
            "invalid value of argument 'test_share'",
            value=test_share,
            expected="a share strictly between 0 and 1",
        )
    if min_interactions < 2:
        raise InputError(
            "invalid value of argument 'min_interactions'",
            value=min_interactions,
            expected="an integer >= 2, since a split customer needs a train and "
            "a test row",
        )
    warnings.warn(
        "a per-customer split lets training use events later than other "
        "customers' test events, so metrics are optimistic; use "
        "global_temporal_split for model selection",
        LeakageWarning,
        stacklevel=2,
    )

    stamps = _timestamps(events) if C.timestamp in events else None
    with engine_or_duckdb(engine) as active:
        table = _register_split_input(active, events, stamps)
        flagged = engine_splits.per_customer_split(table, test_share, min_interactions)
        is_test = engine_splits.collect_test_flags(active, flagged)
        customers = engine_splits.collect_split_customers(active, flagged)

    train = events[~is_test].sort_index(kind="stable")
    test = events[is_test].sort_index(kind="stable")
    split = Split(train, test, None)
    short = int((customers["rows"] < min_interactions).sum())
    split.notes.append(
        f"{short} customers with < {min_interactions} interactions kept in train only"
    )
    _report_customers(split, customers)
    return split


def _register_split_input(
    engine: Engine, events: pd.DataFrame, stamps: pd.Series | None
) -> ibis.Table:
    """Register customer ids as strings, the timestamps and the row numbers."""
    columns = {
        C.customer_id: events[C.customer_id].astype("string"),
        ROW: pd.Series(np.arange(len(events), dtype=np.int64)),
    }
    if stamps is not None:
        columns[C.timestamp] = stamps
    return engine.register_frame("recommend_split", columns_to_arrow(columns))


def _timestamps(events: pd.DataFrame) -> pd.Series:
    if C.timestamp not in events:
        raise InputError(
            "missing column 'timestamp' needed for a temporal split",
            column=C.timestamp,
            fix="pass the canonical events table",
        )
    stamps = pd.to_datetime(events[C.timestamp], utc=True)
    if stamps.isna().any():
        position = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise InputError(
            "missing timestamp; a temporal split cannot place the event",
            row=position + 1,
            column=C.timestamp,
            fix="drop or repair events without a timestamp",
        )
    return stamps


def _report_customers(split: Split, customers: pd.DataFrame) -> None:
    """Record the customers on one side only, from the engine's summary."""
    ids = customers[C.customer_id]
    has_train = customers["has_train"].to_numpy(dtype=bool)
    has_test = customers["has_test"].to_numpy(dtype=bool)
    split.customers_without_test = sorted(ids[has_train & ~has_test].tolist())
    split.cold_customers = sorted(ids[has_test & ~has_train].tolist())
    split.notes.append(
        f"{len(split.customers_without_test)} customers without test events"
    )
    split.notes.append(f"{len(split.cold_customers)} customers in test without train")
