"""Basket tables for association rules as Ibis expressions, for any engine.

This is the one definition of the tables that rule mining reads:

- :func:`basket_lines`: the distinct (order, item) purchase lines;
- :func:`item_order_counts`: the number of orders that contain each item;
- :func:`itemset_lines`: the lines an itemset miner needs, cut down to the
  items bought in at least ``floor`` orders and to the orders with at least
  two such items;
- :func:`order_items`: those lines as one list of items per order, the
  input of Spark ML's FP-growth;
- :func:`pair_rules_table`: for rules between single items, the pair
  counts with their support, confidence and lift.

The ``collect_*`` functions run them on an :class:`Engine` and return pandas
objects. :func:`promoloop.mining.rules.association_rules` is the pandas
entry point.
"""

from __future__ import annotations

import ibis
import pandas as pd

from promoloop.engine.backends import Engine
from promoloop.engine.events import is_event
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

# Columns of the events table that the basket tables read.
INPUT_COLUMNS = [C.event_type, C.order_id, C.item_id]

RULE_COLUMNS = ["antecedents", "consequents", "support", "confidence", "lift", "count"]

# pandas dtypes of collected rules, whatever the engine returns.
RULE_DTYPES = {
    "antecedents": "str",
    "consequents": "str",
    "support": "float64",
    "confidence": "float64",
    "lift": "float64",
    "count": "int64",
}

# Column of item_order_counts: orders that contain the item.
ORDERS = "orders"

# Order of the rules: strongest lift first, ties broken by confidence, then ids.
RULE_ORDER = ["lift", "confidence", "antecedents", "consequents"]
RULE_ASCENDING = [False, False, True, True]


def basket_lines(events: ibis.Table) -> ibis.Table:
    """Build the expression of the distinct (order, item) purchase lines.

    Parameters
    ----------
    events : ibis.Table
        Canonical events table (at least :data:`INPUT_COLUMNS`).

    Returns
    -------
    ibis.Table
        Columns ``order_id`` and ``item_id`` (cast to a string), one row per
        order and item bought in it. Lines without an order id or an item
        id are left out. Anonymous lines (no customer id) are kept, and an
        item bought twice in one order gives one row.
    """
    purchases = events.filter(
        is_event(events, EventType.PURCHASE)
        & events[C.order_id].notnull()
        & events[C.item_id].notnull()
    )
    return purchases.select(
        C.order_id, **{C.item_id: purchases[C.item_id].cast("string")}
    ).distinct()


def item_order_counts(lines: ibis.Table) -> ibis.Table:
    """Build the expression of the number of orders that contain each item.

    Parameters
    ----------
    lines : ibis.Table
        Output of :func:`basket_lines`.

    Returns
    -------
    ibis.Table
        Columns ``item_id`` and :data:`ORDERS` (int64), one row per item.
    """
    return lines.group_by(C.item_id).aggregate(**{ORDERS: ibis._.count()})


def _frequent_items(lines: ibis.Table, floor: int) -> ibis.Table:
    """Keep the rows of :func:`item_order_counts` with ``floor`` orders or more."""
    counts = item_order_counts(lines)
    return counts.filter(counts[ORDERS] >= floor)


def itemset_lines(lines: ibis.Table, floor: int) -> ibis.Table:
    """Build the expression of the lines that can be in a frequent itemset.

    An item bought in fewer than ``floor`` orders cannot be in an itemset
    with a count of ``floor`` or more. Only an order with at least two of
    the remaining items can contain an itemset of two or more items.

    Parameters
    ----------
    lines : ibis.Table
        Output of :func:`basket_lines`.
    floor : int
        Smallest number of orders of a frequent itemset.

    Returns
    -------
    ibis.Table
        The rows of ``lines`` of items in at least ``floor`` orders, in the
        orders with at least two such items.
    """
    frequent_lines = lines.semi_join(_frequent_items(lines, floor), C.item_id)
    sizes = frequent_lines.group_by(C.order_id).aggregate(size=ibis._.count())
    multi_item = sizes.filter(sizes["size"] >= 2)
    return frequent_lines.semi_join(multi_item, C.order_id)


def order_items(lines: ibis.Table) -> ibis.Table:
    """Build the expression of each order's items as one array.

    Parameters
    ----------
    lines : ibis.Table
        Output of :func:`basket_lines` or :func:`itemset_lines`.

    Returns
    -------
    ibis.Table
        Columns ``order_id`` and ``items`` (array of distinct item ids, in
        no particular order), one row per order.
    """
    return lines.group_by(C.order_id).aggregate(items=lines[C.item_id].collect())


def pair_rules_table(
    lines: ibis.Table, n_orders: int, floor: int, min_confidence: float
) -> ibis.Table:
    """Build the expression of the rules between two single items.

    Parameters
    ----------
    lines : ibis.Table
        Output of :func:`basket_lines`.
    n_orders : int
        Number of distinct orders in ``lines``.
    floor : int
        Smallest number of orders that must contain both items.
    min_confidence : float
        Smallest confidence of a rule.

    Returns
    -------
    ibis.Table
        Columns :data:`RULE_COLUMNS`, two rows (A -> B and B -> A) per pair
        of items bought together in at least ``floor`` orders, in no
        particular order.

    Notes
    -----
    With ``n`` the pair's order count, ``n_A`` and ``n_B`` the item counts
    and ``N`` the number of orders: support is ``n / N``, confidence of
    A -> B is ``n / n_A`` and lift is ``n * N / (n_A * n_B)``, computed in
    float64 from the integer counts with one division each. Lift is
    computed once per pair, so A -> B and B -> A have the same lift to the
    bit.
    """
    # Pairs of frequent items in the same order, each unordered pair once
    frequent = _frequent_items(lines, floor)
    frequent_lines = lines.semi_join(frequent, C.item_id)
    left = frequent_lines.select(C.order_id, item_a=frequent_lines[C.item_id])
    right = frequent_lines.select(C.order_id, item_b=frequent_lines[C.item_id])
    together = left.join(
        right,
        [left[C.order_id] == right[C.order_id], left["item_a"] < right["item_b"]],
    )
    pairs = together.group_by("item_a", "item_b").aggregate(**{ORDERS: ibis._.count()})
    pairs = pairs.filter(pairs[ORDERS] >= floor)

    # Support and lift of each pair from its count and its items' counts
    orders_a = frequent.select(item_a=frequent[C.item_id], orders_a=frequent[ORDERS])
    orders_b = frequent.select(item_b=frequent[C.item_id], orders_b=frequent[ORDERS])
    pairs = pairs.join(orders_a, "item_a").join(orders_b, "item_b")
    total = ibis.literal(n_orders, type="int64").cast("float64")
    both = pairs[ORDERS].cast("float64")
    pairs = pairs.mutate(
        support=both / total,
        lift=both
        * total
        / (pairs["orders_a"].cast("float64") * pairs["orders_b"].cast("float64")),
    )

    # Both directions of each pair, then the confidence threshold
    directions = [
        _direction(pairs, "item_a", "item_b", "orders_a"),
        _direction(pairs, "item_b", "item_a", "orders_b"),
    ]
    rules = ibis.union(*directions)
    return rules.filter(
        rules["confidence"] >= ibis.literal(min_confidence, type="float64")
    )


def _direction(
    pairs: ibis.Table, antecedent: str, consequent: str, antecedent_orders: str
) -> ibis.Table:
    both = pairs[ORDERS]
    return pairs.select(
        antecedents=pairs[antecedent],
        consequents=pairs[consequent],
        support=pairs["support"],
        confidence=both.cast("float64") / pairs[antecedent_orders].cast("float64"),
        lift=pairs["lift"],
        count=both.cast("int64"),
    )


def collect_order_count(engine: Engine, lines: ibis.Table) -> int:
    """Return the number of distinct orders in ``lines``.

    Parameters
    ----------
    engine : Engine
        Engine on which ``lines`` is defined.
    lines : ibis.Table
        Output of :func:`basket_lines` or :func:`itemset_lines`.

    Returns
    -------
    int
    """
    table = engine.to_pandas(lines.aggregate(n=lines[C.order_id].nunique()))
    return int(table["n"].iloc[0]) if len(table) else 0


def collect_frequent_items(engine: Engine, lines: ibis.Table, floor: int) -> pd.Series:
    """Run :func:`item_order_counts` and keep the items in ``floor`` orders or more.

    Parameters
    ----------
    engine : Engine
        Engine on which ``lines`` is defined.
    lines : ibis.Table
        Output of :func:`basket_lines`.
    floor : int
        Smallest number of orders.

    Returns
    -------
    Series
        Order counts (int64), indexed by item id in ascending order.
    """
    table = engine.to_pandas(_frequent_items(lines, floor))
    series = table.set_index(C.item_id)[ORDERS].astype("int64").sort_index()
    series.index = series.index.astype("str")
    return series


def collect_itemset_lines(
    engine: Engine, lines: ibis.Table, floor: int
) -> pd.DataFrame:
    """Run :func:`itemset_lines` and return its rows.

    Parameters
    ----------
    engine : Engine
        Engine on which ``lines`` is defined.
    lines : ibis.Table
        Output of :func:`basket_lines`.
    floor : int
        Smallest number of orders of a frequent itemset.

    Returns
    -------
    DataFrame
        Columns ``order_id`` and ``item_id``, in no particular order.
    """
    return engine.to_pandas(itemset_lines(lines, floor))


def collect_pair_rules(
    engine: Engine,
    lines: ibis.Table,
    n_orders: int,
    floor: int,
    min_confidence: float,
    max_rules: int,
) -> tuple[pd.DataFrame, int]:
    """Run :func:`pair_rules_table` and return the strongest rules.

    Only the first ``max_rules + 1`` rules in :data:`RULE_ORDER` leave the
    engine. The rules are counted in a second query only when there are
    more.

    Parameters
    ----------
    engine : Engine
        Engine on which ``lines`` is defined.
    lines : ibis.Table
        Output of :func:`basket_lines`.
    n_orders : int
        Number of distinct orders in ``lines``.
    floor : int
        Smallest number of orders that must contain both items.
    min_confidence : float
        Smallest confidence of a rule.
    max_rules : int
        Number of rules to return at most.

    Returns
    -------
    rules : DataFrame
        At most ``max_rules + 1`` rules, columns :data:`RULE_COLUMNS` typed as
        :data:`RULE_DTYPES`, sorted by :data:`RULE_ORDER`, with a default index.
    n_rules : int
        Number of rules found in all.
    """
    rules = pair_rules_table(lines, n_orders, floor, min_confidence)
    keys = [
        ibis.desc(key) if not ascending else ibis.asc(key)
        for key, ascending in zip(RULE_ORDER, RULE_ASCENDING, strict=True)
    ]
    top = engine.to_pandas(rules.order_by(keys).limit(max_rules + 1))
    top = sort_rules(top[RULE_COLUMNS].astype(RULE_DTYPES))
    if len(top) <= max_rules:
        return top, len(top)
    counted = engine.to_pandas(rules.aggregate(n=ibis._.count()))
    return top, int(counted["n"].iloc[0])


def sort_rules(rules: pd.DataFrame) -> pd.DataFrame:
    """Sort rules by :data:`RULE_ORDER` with a default index."""
    return rules.sort_values(RULE_ORDER, ascending=RULE_ASCENDING, ignore_index=True)
