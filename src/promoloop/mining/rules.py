"""Association rules between items bought in the same order, by FP-growth.

Orders x items as a dense table needs n_orders * n_items bytes (300,000 orders
and 120,000 items already take 33.5 GiB), while the log has a few lines per
order. So the basket matrix is built sparse and cut down before mlxtend gets
it:

1. items bought in fewer than ``max(min_count, ceil(min_support * n_orders))``
   orders cannot be in a frequent itemset and are dropped;
2. only orders with at least 2 remaining items can hold a frequent pair or
   larger itemset, so only those rows go to FP-growth.

Single-item supports are then taken from the full counts, so every support,
confidence and lift is relative to all purchase orders.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlxtend.frequent_patterns import association_rules as mlxtend_rules
from mlxtend.frequent_patterns import fpgrowth

from promoloop.errors import ConfigError
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType
from promoloop.warnings import TruncationWarning

logger = logging.getLogger(__name__)

RULE_COLUMNS = ["antecedents", "consequents", "support", "confidence", "lift", "count"]
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
        {
            "antecedents": pd.Series(dtype="str"),
            "consequents": pd.Series(dtype="str"),
            "support": pd.Series(dtype="float64"),
            "confidence": pd.Series(dtype="float64"),
            "lift": pd.Series(dtype="float64"),
            "count": pd.Series(dtype="int64"),
        }
    )


def _baskets(events: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (order, item) of the purchase lines."""
    purchases = events.loc[
        events[C.event_type] == EventType.PURCHASE, [C.order_id, C.item_id]
    ]
    return purchases.dropna().drop_duplicates()


def association_rules(
    events: pd.DataFrame,
    min_support: float = 0.01,
    min_confidence: float = 0.1,
    max_len: int = 2,
    min_count: int = 5,
    max_rules: int = 10_000,
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
        If an argument is out of range, or the cut-down basket table still
        exceeds :data:`MAX_DENSE_CELLS` cells.

    Warns
    -----
    TruncationWarning
        When more than ``max_rules`` rules were found.
    """
    _check_arguments(min_support, min_confidence, max_len, min_count, max_rules)
    baskets = _baskets(events)
    n_orders = baskets[C.order_id].nunique()
    if n_orders == 0:
        return _empty_rules()

    # Keep items that are bought often enough to be in a frequent itemset
    floor = max(min_count, math.ceil(min_support * n_orders - 1e-9))
    item_counts = baskets[C.item_id].value_counts()
    frequent = item_counts[item_counts >= floor].sort_index()
    kept = baskets[baskets[C.item_id].isin(frequent.index)]

    # Keep orders with at least two frequent items
    order_sizes = kept[C.order_id].value_counts()
    kept = kept[kept[C.order_id].isin(order_sizes.index[order_sizes >= 2])]
    if kept.empty:
        return _empty_rules()
    rows = pd.Categorical(kept[C.order_id])
    columns = pd.Categorical(kept[C.item_id], categories=frequent.index)
    n_rows = len(rows.categories)
    if floor > n_rows:
        # Fewer multi-item orders than the support floor: no pair can be
        # frequent, and mlxtend rejects a relative support above 1.
        return _empty_rules()
    if n_rows * len(frequent) > MAX_DENSE_CELLS:
        raise ConfigError(
            f"the basket table after filtering has {n_rows} orders x "
            f"{len(frequent)} items, above the limit of {MAX_DENSE_CELLS} cells "
            "that mlxtend densifies; expected fewer frequent items. Fix: raise "
            "min_support or min_count"
        )
    logger.info(
        "FP-growth on %d orders x %d items (%d lines; %d orders in total)",
        n_rows,
        len(frequent),
        len(kept),
        n_orders,
    )

    # Sparse one-hot and FP-growth on the multi-item orders
    matrix = sp.csr_matrix(
        (np.ones(len(kept), dtype=bool), (rows.codes, columns.codes)),
        shape=(n_rows, len(frequent)),
    )
    onehot = pd.DataFrame.sparse.from_spmatrix(matrix, columns=frequent.index)
    itemsets = fpgrowth(
        onehot, min_support=floor / n_rows, use_colnames=True, max_len=max_len
    )
    itemsets = itemsets[itemsets["itemsets"].map(len) >= 2]
    if itemsets.empty:
        return _empty_rules()

    # Supports relative to all orders; single items from the full counts
    counts = np.rint(itemsets["support"].to_numpy() * n_rows)
    itemsets = itemsets.assign(support=counts / n_orders)
    singles = pd.DataFrame(
        {
            "support": frequent.to_numpy() / n_orders,
            "itemsets": [frozenset([item]) for item in frequent.index],
        }
    )
    all_itemsets = pd.concat([singles, itemsets], ignore_index=True)
    rules = mlxtend_rules(
        all_itemsets,
        num_itemsets=n_orders,
        metric="confidence",
        min_threshold=min_confidence,
    )
    if rules.empty:
        return _empty_rules()

    # Plain columns, deterministic order, capped size
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
    out = out.sort_values(
        ["lift", "confidence", "antecedents", "consequents"],
        ascending=[False, False, True, True],
        ignore_index=True,
    )
    if len(out) > max_rules:
        warnings.warn(
            f"{len(out)} rules found, more than max_rules={max_rules}; the "
            f"{max_rules} with the highest lift are kept. Raise min_support or "
            "min_confidence to get fewer rules",
            TruncationWarning,
            stacklevel=2,
        )
        out = out.head(max_rules)
    return out[RULE_COLUMNS]


def _join(items: frozenset) -> str:
    return ITEM_SEPARATOR.join(sorted(str(item) for item in items))
