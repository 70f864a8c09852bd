"""Train/test splits of an event table as Ibis expressions, for any engine.

This is the one definition of the evaluation splits. Each split adds a
boolean ``in_test`` column to the table, so the rows stay where they are and
a caller can keep either side:

* :func:`temporal_split` puts every row at or after one cutoff in test,
* :func:`per_customer_split` puts each customer's latest rows in test.

:func:`split_customers` summarises which customers appear on which side.
The ``collect_*`` functions run these on an :class:`Engine`.
:mod:`promoloop.recommend.split` builds its pandas splits from them.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from promoloop.engine.ages import utc, utc_literal
from promoloop.engine.backends import Engine
from promoloop.vocabulary import Columns as C

IN_TEST = "in_test"
ROW = "_row"
CUSTOMER_COLUMNS = [C.customer_id, "rows", "has_train", "has_test"]

# pandas dtypes of the collected customer table, whatever the engine returns.
CUSTOMER_DTYPES = {
    C.customer_id: "str",
    "rows": "int64",
    "has_train": "bool",
    "has_test": "bool",
}


def latest_timestamp(events: ibis.Table) -> ibis.Scalar:
    """Build the expression of the latest timestamp of ``events``."""
    return events[C.timestamp].max()


def temporal_split(events: ibis.Table, cutoff: pd.Timestamp) -> ibis.Table:
    """Flag the rows at or after ``cutoff`` as test rows.

    Parameters
    ----------
    events : ibis.Table
        Table with a ``timestamp`` column.
    cutoff : Timestamp
        Start of the test window. A timezone-naive value is taken as UTC.
        NaT (the default cutoff of a table without rows) puts every row in
        train.

    Returns
    -------
    ibis.Table
        ``events`` with the boolean column ``in_test``. A row stamped exactly
        at the cutoff is a test row, and a row without a timestamp is a
        training row.
    """
    if pd.isna(cutoff):
        return events.mutate(**{IN_TEST: ibis.literal(False)})
    cutoff_value = utc_literal(cutoff)
    in_test = (events[C.timestamp] >= cutoff_value).fill_null(False)
    return events.mutate(**{IN_TEST: in_test})


def per_customer_split(
    events: ibis.Table, test_share: float, min_interactions: int
) -> ibis.Table:
    """Flag each customer's latest rows as test rows.

    A customer with ``n >= min_interactions`` rows has the last
    ``round(test_share * n)`` of them in test, at least 1 and at most
    ``n - 1``, where ``round`` rounds halves up. The rows of a customer are
    ordered by timestamp when the table has one, and ties (or every row,
    without a timestamp) by the ``_row`` column, so an earlier input row
    counts as older. Rows without a customer id form one group of their own.

    Parameters
    ----------
    events : ibis.Table
        Table with ``customer_id``, an integer ``_row`` column that numbers
        the rows in input order and, optionally, ``timestamp``.
    test_share : float
        Share of each customer's rows held out, in (0, 1).
    min_interactions : int
        Customers with fewer rows are wholly training rows.

    Returns
    -------
    ibis.Table
        ``events`` with the boolean column ``in_test``.
    """
    customer = events[C.customer_id]
    order = [events[ROW]]
    if C.timestamp in events.columns:
        order = [events[C.timestamp], events[ROW]]
    position = ibis.row_number().over(ibis.window(group_by=customer, order_by=order))
    size = events[ROW].count().over(ibis.window(group_by=customer))

    rounded = (test_share * size + 0.5).floor()
    held_out = ibis.least(ibis.greatest(rounded, 1), ibis.greatest(size - 1, 1))
    in_test = (size >= min_interactions) & (position >= size - held_out)
    return events.mutate(**{IN_TEST: in_test})


def split_customers(flagged: ibis.Table) -> ibis.Table:
    """Summarise on which side of a split each customer has rows.

    Parameters
    ----------
    flagged : ibis.Table
        Output of :func:`temporal_split` or :func:`per_customer_split`.

    Returns
    -------
    ibis.Table
        Columns :data:`CUSTOMER_COLUMNS`, one row per customer id (rows
        without one are left out), in no particular order: the customer's
        number of rows, and whether any of them is a training or a test row.
    """
    known = flagged.filter(flagged[C.customer_id].notnull())
    return known.group_by(C.customer_id).aggregate(
        rows=known.count(),
        has_train=(~known[IN_TEST]).any(),
        has_test=known[IN_TEST].any(),
    )


def collect_latest_timestamp(engine: Engine, events: ibis.Table) -> pd.Timestamp:
    """Run :func:`latest_timestamp` on an engine; NaT for a table without rows.

    Returns
    -------
    Timestamp
        Timezone-aware UTC.
    """
    table = engine.to_pandas(events.aggregate(latest=latest_timestamp(events)))
    latest = pd.Timestamp(table["latest"].iloc[0])
    if latest is pd.NaT:
        return latest
    return utc(latest)


def collect_test_flags(engine: Engine, flagged: ibis.Table) -> np.ndarray:
    """Run a split on an engine and return its ``in_test`` column in row order.

    Parameters
    ----------
    engine : Engine
        Engine on which ``flagged`` runs.
    flagged : ibis.Table
        Output of :func:`temporal_split` or :func:`per_customer_split` over a
        table whose ``_row`` column numbers the rows 0..n-1.

    Returns
    -------
    ndarray of bool
        One flag per row, in ``_row`` order.
    """
    table = engine.to_pandas(flagged.select(ROW, IN_TEST).order_by(ROW))
    return table[IN_TEST].to_numpy(dtype=bool)


def collect_split_customers(engine: Engine, flagged: ibis.Table) -> pd.DataFrame:
    """Run :func:`split_customers` on an engine and return a pandas table.

    Returns
    -------
    DataFrame
        Columns :data:`CUSTOMER_COLUMNS` typed as :data:`CUSTOMER_DTYPES`,
        sorted by customer id, with a default index.
    """
    table = engine.to_pandas(split_customers(flagged))
    table = table[CUSTOMER_COLUMNS].astype(CUSTOMER_DTYPES)
    return table.sort_values(C.customer_id, ignore_index=True)
