"""Train/test splits for offline evaluation.

The default split is global: one cutoff time for everyone, so no training
event comes after any test event. A per-customer split lets other customers'
later events leak into training and is offered only as an opt-in.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.warnings import LeakageWarning

logger = logging.getLogger(__name__)


@dataclass
class Split:
    """A train/test split with what it left out.

    Attributes
    ----------
    train, test : DataFrame
        The rows of each side, in input order.
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
    events: pd.DataFrame, cutoff=None, test_days: int = 28
) -> Split:
    """Split at one cutoff: train is before it, test is at or after it.

    Parameters
    ----------
    events : DataFrame
        Events or interactions with customer_id and timestamp.
    cutoff : str or Timestamp, optional
        Start of the test window (UTC when naive). Defaults to the latest
        timestamp minus ``test_days``.
    test_days : int, default 28
        Length of the test window when ``cutoff`` is not given.

    Returns
    -------
    Split

    Raises
    ------
    InputError
        If the timestamp column is missing or has missing values, or
        ``test_days`` is not positive.
    """
    stamps = _timestamps(events)
    if test_days <= 0:
        raise InputError(
            "invalid value of argument 'test_days'",
            value=test_days,
            expected="a positive number of days",
        )
    if cutoff is None:
        cutoff = stamps.max() - pd.Timedelta(days=test_days)
    else:
        cutoff = pd.Timestamp(cutoff)
        cutoff = cutoff.tz_localize("UTC") if cutoff.tz is None else cutoff
    in_test = (stamps >= cutoff).to_numpy()
    train, test = events[~in_test], events[in_test]
    check_temporal_split(train, test)

    split = Split(train, test, cutoff)
    _report_customers(split)
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
    events: pd.DataFrame, test_share: float = 0.25, min_interactions: int = 2
) -> Split:
    """Hold out each customer's latest rows; opt-in, because it leaks.

    Each customer's last ``round(test_share * n)`` rows (at least 1 and at
    most n - 1) go to test, in timestamp order, or in row order without a
    timestamp column. Customers with fewer than ``min_interactions`` rows go
    wholly to train and are counted in the notes.

    Parameters
    ----------
    events : DataFrame
        Events or interactions with customer_id.
    test_share : float, default 0.25
        Share of each customer's rows held out, in (0, 1).
    min_interactions : int, default 2
        Customers with fewer rows are not split.

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

    # Position of each row within its customer's history, oldest first.
    order = np.arange(len(events))
    if C.timestamp in events:
        order = np.lexsort((order, _timestamps(events).to_numpy()))
    ordered = events.iloc[order]
    customer = ordered[C.customer_id].astype("string")
    position = customer.groupby(customer, dropna=False).cumcount().to_numpy()
    size = customer.groupby(customer, dropna=False).transform("size").to_numpy()

    held_out = np.clip(
        np.floor(test_share * size + 0.5).astype(np.int64), 1, np.maximum(size - 1, 1)
    )
    is_test = (size >= min_interactions) & (position >= size - held_out)
    train = ordered[~is_test].sort_index()
    test = ordered[is_test].sort_index()

    split = Split(train, test, None)
    short = customer[size < min_interactions].nunique()
    split.notes.append(
        f"{short} customers with < {min_interactions} interactions kept in train only"
    )
    _report_customers(split)
    return split


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


def _report_customers(split: Split) -> None:
    train_ids = set(split.train[C.customer_id].dropna().unique().astype(str))
    test_ids = set(split.test[C.customer_id].dropna().unique().astype(str))
    split.customers_without_test = sorted(train_ids - test_ids)
    split.cold_customers = sorted(test_ids - train_ids)
    split.notes.append(
        f"{len(split.customers_without_test)} customers without test events"
    )
    split.notes.append(f"{len(split.cold_customers)} customers in test without train")
