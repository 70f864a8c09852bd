"""Association rules between items bought in the same order.

The basket tables are Ibis expressions (:mod:`promoloop.engine.baskets`), so
they run on the engine given, in-process DuckDB by default, or Spark. An
item bought in fewer than ``floor = max(min_count, ceil(min_support *
n_orders))`` orders cannot be in a frequent itemset, so only items above the
floor are counted further:

- with ``max_len=2``, the pairs are counted and the rules scored on the
  engine, and only the strongest ``max_rules + 1`` rules leave it;
- with a larger ``max_len``, FP-growth finds the frequent itemsets in the
  orders with at least 2 items above the floor: mlxtend in this process on
  DuckDB, Spark ML on Spark (:mod:`promoloop.mining.itemsets`). mlxtend then
  scores the rules of those itemsets.

Every support, confidence and lift is relative to all purchase orders, and
single-item supports come from the full item counts.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from mlxtend.frequent_patterns import association_rules as mlxtend_rules

from promoloop.engine import SPARK, Engine, engine_or_default
from promoloop.engine.baskets import (
    INPUT_COLUMNS,
    RULE_COLUMNS,
    RULE_DTYPES,
    basket_lines,
    collect_frequent_items,
    collect_itemset_lines,
    collect_order_count,
    collect_pair_rules,
    itemset_lines,
    sort_rules,
)
from promoloop.mining.itemsets import mlxtend_itemsets, spark_itemsets
from promoloop.warnings import TruncationWarning

logger = logging.getLogger(__name__)

__all__ = [
    "ITEM_SEPARATOR",
    "MAX_DENSE_CELLS",
    "RULE_COLUMNS",
    "association_rules",
    "rules_from_itemsets",
]

ITEM_SEPARATOR = "|"
# mlxtend 0.25 sums the one-hot table with DataFrame.values, which is dense
# even for a sparse frame: rows x items bytes. Larger inputs are rejected.
MAX_DENSE_CELLS = 500_000_000


def _check_arguments(min_support, min_confidence, max_len, min_count, max_rules):
    checks = [
        ("min_support", min_support, 0 < min_support <= 1, "a share in (0, 1]"),
        (
            "min_confidence",
            min_confidence,
            0 <= min_confidence <= 1,
            "a share in [0, 1]",
        ),
        ("max_len", max_len, isinstance(max_len, int) and max_len >= 2, "an int >= 2"),
        (
            "min_count",
            min_count,
            isinstance(min_count, int) and min_count >= 1,
            "an int >= 1",
        ),
        (
            "max_rules",
            max_rules,
            isinstance(max_rules, int) and max_rules >= 1,
            "an int >= 1",
        ),
    ]
    for name, value, ok, expected in checks:
        if not ok:
            raise ValueError(
                f"invalid {name} {value!r}; expected {expected}. "
                f"Fix: pass a valid {name}"
            )


def _empty_rules() -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(dtype=dtype) for name, dtype in RULE_DTYPES.items()}
    )


def association_rules(
    events: pd.DataFrame,
    min_support: float = 0.01,
    min_confidence: float = 0.1,
    max_len: int = 2,
    min_count: int = 5,
    max_rules: int = 10_000,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Mine rules "bought A, also bought B" from purchase orders.

    Parameters
    ----------
    events : DataFrame
        Canonical events; purchase lines are grouped into baskets by
        ``order_id`` (anonymous lines included).
    min_support : float, default 0.01
        Smallest share of orders that must contain the whole itemset.
    min_confidence : float, default 0.1
        Smallest ``P(consequents | antecedents)``.
    max_len : int, default 2
        Largest itemset size; 2 gives single-item rules. Each step up can
        multiply the number of itemsets, so keep it at 2 or 3.
    min_count : int, default 5
        Smallest number of orders that must contain the itemset, whatever
        ``min_support`` allows.
    max_rules : int, default 10_000
        Largest number of rules returned; beyond it the rules with the
        highest lift are kept and a :class:`~promoloop.warnings.TruncationWarning`
        is issued.
    engine : Engine, optional
        Engine of the basket tables, e.g. ``Engine.spark()``; left open.
        On Spark, itemsets of 3 or more items come from Spark ML's
        FP-growth. Default: a new in-process DuckDB engine, closed
        afterwards.

    Returns
    -------
    DataFrame
        Columns ``antecedents`` and ``consequents`` (item ids joined by
        ``"|"`` in sorted order), ``support``, ``confidence``, ``lift`` and
        ``count`` (orders with all the rule's items), sorted by descending
        lift, then confidence, then the item ids.

    Raises
    ------
    ValueError
        If an argument is out of range, or, with ``max_len`` of 3 or more
        on DuckDB, the cut-down basket table still exceeds
        :data:`MAX_DENSE_CELLS` cells.

    Warns
    -----
    TruncationWarning
        When more than ``max_rules`` rules were found.
    """
    _check_arguments(min_support, min_confidence, max_len, min_count, max_rules)
    if engine is None:
        with engine_or_default() as default:
            rules, n_rules = _mine(
                default,
                events,
                min_support,
                min_confidence,
                max_len,
                min_count,
                max_rules,
            )
    else:
        rules, n_rules = _mine(
            engine, events, min_support, min_confidence, max_len, min_count, max_rules
        )
    if n_rules > max_rules:
        warnings.warn(
            f"{n_rules} rules found, more than max_rules={max_rules}; the "
            f"{max_rules} with the highest lift are kept. Raise min_support or "
            "min_confidence to get fewer rules",
            TruncationWarning,
            stacklevel=2,
        )
        rules = rules.head(max_rules)
    return rules


def _mine(
    engine: Engine,
    events: pd.DataFrame,
    min_support: float,
    min_confidence: float,
    max_len: int,
    min_count: int,
    max_rules: int,
) -> tuple[pd.DataFrame, int]:
    """Return the rules sorted (at least the first ``max_rules``) and their number."""
    events_table = engine.register_frame("basket_events", _engine_input(events))
    with _kept_on_spark(engine, basket_lines(events_table)) as lines:
        return _mine_lines(
            engine, lines, min_support, min_confidence, max_len, min_count, max_rules
        )


@contextlib.contextmanager
def _kept_on_spark(engine: Engine, lines: ibis.Table) -> Iterator[ibis.Table]:
    """Keep the basket lines in Spark's cache while the queries read them.

    The mining queries read the distinct lines several times (orders per
    item, itemset lines, pair counts); Spark would recompute the distinct
    step for each. DuckDB scans the registered Arrow data in place, so its
    lines are not cached.
    """
    if engine.name != SPARK:
        yield lines
        return
    cached = lines.cache()
    try:
        yield cached
    finally:
        cached.release()


def _mine_lines(
    engine: Engine,
    lines: ibis.Table,
    min_support: float,
    min_confidence: float,
    max_len: int,
    min_count: int,
    max_rules: int,
) -> tuple[pd.DataFrame, int]:
    n_orders = collect_order_count(engine, lines)
    if n_orders == 0:
        return _empty_rules(), 0
    floor = max(min_count, math.ceil(min_support * n_orders - 1e-9))

    # Single-item rules: pairs counted and scored on the engine
    if max_len == 2:
        rules, n_rules = collect_pair_rules(
            engine, lines, n_orders, floor, min_confidence, max_rules
        )
        logger.info("%d rules between item pairs on %s", n_rules, engine.name)
        return rules, n_rules

    # Larger itemsets: FP-growth on the orders with 2 or more frequent items
    items = collect_frequent_items(engine, lines, floor)
    if engine.name == SPARK:
        itemsets = spark_itemsets(engine, itemset_lines(lines, floor), floor, max_len)
    else:
        itemsets = mlxtend_itemsets(
            collect_itemset_lines(engine, lines, floor),
            items.index,
            floor,
            max_len,
            MAX_DENSE_CELLS,
        )
    rules = rules_from_itemsets(itemsets, items, n_orders, min_confidence)
    return rules, len(rules)


def rules_from_itemsets(
    itemsets: pd.DataFrame,
    items: pd.Series,
    n_orders: int,
    min_confidence: float,
) -> pd.DataFrame:
    """Score the rules of frequent itemsets with mlxtend.

    Parameters
    ----------
    itemsets : DataFrame
        Itemsets of 2 or more items: ``itemsets`` (frozensets) and ``count``,
        as :mod:`promoloop.mining.itemsets` returns them.
    items : Series
        Order count of every item in those itemsets, indexed by item id.
    n_orders : int
        Number of purchase orders.
    min_confidence : float
        Smallest confidence of a rule.

    Returns
    -------
    DataFrame
        Every split of each itemset into antecedents and consequents with a
        confidence of at least ``min_confidence``: columns
        :data:`RULE_COLUMNS`, sorted by descending lift, then confidence,
        then the item ids.
    """
    if itemsets.empty:
        return _empty_rules()

    # Supports relative to all orders; single items from the full counts
    singles = pd.DataFrame(
        {
            "support": items.to_numpy() / n_orders,
            "itemsets": [frozenset([item]) for item in items.index],
        }
    )
    larger = pd.DataFrame(
        {
            "support": itemsets["count"].to_numpy() / n_orders,
            "itemsets": itemsets["itemsets"].to_list(),
        }
    )
    all_itemsets = pd.concat([singles, larger], ignore_index=True)
    rules = mlxtend_rules(
        all_itemsets,
        num_itemsets=n_orders,
        metric="confidence",
        min_threshold=min_confidence,
    )
    if rules.empty:
        return _empty_rules()

    # Plain columns in a deterministic order
    out = pd.DataFrame(
        {
            "antecedents": rules["antecedents"].map(_join),
            "consequents": rules["consequents"].map(_join),
            "support": rules["support"].to_numpy(),
            "confidence": rules["confidence"].to_numpy(),
            "lift": rules["lift"].to_numpy(),
            "count": np.rint(rules["support"].to_numpy() * n_orders).astype("int64"),
        }
    )
    return sort_rules(out[RULE_COLUMNS].astype(RULE_DTYPES))


def _engine_input(events: pd.DataFrame) -> pa.Table:
    """Convert the columns the basket tables read to Arrow, typing empty columns."""
    table = pa.Table.from_pandas(events[INPUT_COLUMNS], preserve_index=False)
    for index, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            column = table.column(index).cast(pa.string())
            table = table.set_column(index, field.name, column)
    return table


def _join(items: frozenset) -> str:
    return ITEM_SEPARATOR.join(sorted(str(item) for item in items))
