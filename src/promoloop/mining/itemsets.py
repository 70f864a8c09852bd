"""Frequent itemsets of two or more items, by FP-growth on one machine or on Spark.

Both miners read the lines of :func:`promoloop.engine.baskets.itemset_lines`:
the items bought in at least ``floor`` orders, in the orders with at least
two of them. Both return each itemset of 2 to ``max_len`` items that at
least ``floor`` of those orders contain, with its order count. FP-growth
finds every such itemset, so the two miners return the same itemsets and
counts.

- :func:`mlxtend_itemsets` runs mlxtend's FP-growth in this process, on a
  sparse one-hot table. A dense orders x items table takes n_orders *
  n_items bytes (33.5 GiB for 300,000 orders and 120,000 items), while a
  log has a few lines per order.
- :func:`spark_itemsets` runs Spark ML's FP-growth
  (:class:`pyspark.ml.fpm.FPGrowth`) on the engine's Spark session.
"""

from __future__ import annotations

import logging

import ibis
import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlxtend.frequent_patterns import fpgrowth

from promoloop.engine.backends import Engine, library_deprecations_hidden
from promoloop.engine.baskets import order_items
from promoloop.errors import ConfigError
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

ITEMSET_COLUMNS = ["itemsets", "count"]


def empty_itemsets() -> pd.DataFrame:
    """Return an itemset table without rows."""
    return pd.DataFrame(
        {
            "itemsets": pd.Series(dtype="object"),
            "count": pd.Series(dtype="int64"),
        }
    )


def mlxtend_itemsets(
    lines: pd.DataFrame,
    items: pd.Index,
    floor: int,
    max_len: int,
    max_cells: int,
) -> pd.DataFrame:
    """Find the frequent itemsets with mlxtend's FP-growth.

    Parameters
    ----------
    lines : DataFrame
        Columns ``order_id`` and ``item_id``: the collected rows of
        :func:`promoloop.engine.baskets.itemset_lines`.
    items : Index
        Item ids bought in at least ``floor`` orders; the columns of the
        one-hot table.
    floor : int
        Smallest order count of an itemset.
    max_len : int
        Largest itemset size.
    max_cells : int
        Largest orders x items size of the one-hot table.

    Returns
    -------
    DataFrame
        Columns :data:`ITEMSET_COLUMNS`: ``itemsets`` (frozenset of item
        ids) and ``count`` (int64).

    Raises
    ------
    ConfigError
        If the one-hot table has more than ``max_cells`` cells.
    """
    rows = pd.Categorical(lines[C.order_id])
    columns = pd.Categorical(lines[C.item_id], categories=items)
    n_rows = len(rows.categories)
    if n_rows == 0 or floor > n_rows:
        # Fewer multi-item orders than the floor: no itemset can be frequent,
        # and mlxtend rejects a relative support above 1.
        return empty_itemsets()
    if n_rows * len(items) > max_cells:
        raise ConfigError(
            f"the basket table after filtering has {n_rows} orders x "
            f"{len(items)} items, above the limit of {max_cells} cells "
            "that mlxtend densifies; expected fewer frequent items. Fix: raise "
            "min_support or min_count"
        )
    logger.info(
        "FP-growth (mlxtend) on %d orders x %d items (%d lines)",
        n_rows,
        len(items),
        len(lines),
    )

    # Sparse one-hot table, and FP-growth with the floor as a share of its rows
    matrix = sp.csr_matrix(
        (np.ones(len(lines), dtype=bool), (rows.codes, columns.codes)),
        shape=(n_rows, len(items)),
    )
    onehot = pd.DataFrame.sparse.from_spmatrix(matrix, columns=items)
    found = fpgrowth(
        onehot, min_support=floor / n_rows, use_colnames=True, max_len=max_len
    )
    found = found[found["itemsets"].map(len) >= 2]
    return pd.DataFrame(
        {
            "itemsets": found["itemsets"].to_list(),
            "count": np.rint(found["support"].to_numpy() * n_rows).astype("int64"),
        }
    )


def spark_itemsets(
    engine: Engine, lines: ibis.Table, floor: int, max_len: int
) -> pd.DataFrame:
    """Find the frequent itemsets with Spark ML's FP-growth.

    Parameters
    ----------
    engine : Engine
        Spark engine on which ``lines`` is defined.
    lines : ibis.Table
        Output of :func:`promoloop.engine.baskets.itemset_lines`.
    floor : int
        Smallest order count of an itemset.
    max_len : int
        Largest itemset size.

    Returns
    -------
    DataFrame
        Columns :data:`ITEMSET_COLUMNS`: ``itemsets`` (frozenset of item
        ids) and ``count`` (int64).

    Notes
    -----
    Spark ML's FP-growth (Spark 4.0) has no largest itemset size, so it
    finds the frequent itemsets of every size, and the larger ones are
    dropped afterwards. Its own rules are not used, because they have a
    single consequent item.
    """
    from pyspark.ml.fpm import FPGrowth
    from pyspark.sql import functions as F

    with library_deprecations_hidden():
        transactions = engine.backend.raw_sql(
            engine.backend.compile(order_items(lines))
        )
        transactions = transactions.select("items").cache()
        try:
            n_rows = transactions.count()
            if n_rows == 0 or floor > n_rows:
                return empty_itemsets()
            logger.info("FP-growth (Spark ML) on %d orders", n_rows)

            # Spark keeps the itemsets with a count of at least
            # ceil(minSupport * rows). Half an order below the floor gives a
            # bound equal to the floor even when the product is rounded up.
            model = FPGrowth(itemsCol="items", minSupport=(floor - 0.5) / n_rows)
            itemsets = model.fit(transactions).freqItemsets

            # NOTE: every frequent itemset is mined, however large, because
            # Spark ML's FP-growth takes no largest itemset size.
            size = F.size("items")
            found = itemsets.filter(
                (size >= 2) & (size <= max_len) & (F.col("freq") >= floor)
            ).toPandas()
        finally:
            transactions.unpersist()
    return pd.DataFrame(
        {
            "itemsets": [frozenset(items) for items in found["items"]],
            "count": found["freq"].to_numpy(dtype="int64"),
        },
        columns=ITEMSET_COLUMNS,
    )
