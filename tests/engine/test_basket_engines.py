"""The one Ibis definition of the basket tables gives the same rules everywhere.

DuckDB is compared with hand-computed results and with an independent count:
every itemset of each order's item set, counted by brute force, and rules
scored from those counts. Spark ``local[2]`` is compared with DuckDB: the
basket tables, the pair rules, and Spark ML's FP-growth against mlxtend's.
Supports, confidences and lifts are compared with a relative and absolute
tolerance of 1e-9. Item ids and counts must match exactly, and Spark must
give the rules in DuckDB's order.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pandas as pd
import pyarrow as pa
import pytest

from promoloop.benchmarks.synthetic_events import EventGenerator, shop_for_events
from promoloop.engine import Engine
from promoloop.engine.baskets import (
    INPUT_COLUMNS,
    RULE_COLUMNS,
    RULE_DTYPES,
    basket_lines,
    collect_frequent_items,
    collect_itemset_lines,
    collect_order_count,
    item_order_counts,
    itemset_lines,
)
from promoloop.mining import association_rules
from promoloop.mining.itemsets import spark_itemsets
from promoloop.mining.rules import rules_from_itemsets
from promoloop.warnings import TruncationWarning

TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}


def assert_same_rules(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same rules in the same order; floats to the tolerance."""
    pd.testing.assert_frame_equal(left, right, check_exact=False, **TOLERANCE)


def assert_same_rule_set(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same rules, compared in item id order (lift ties may order differently)."""
    keys = ["antecedents", "consequents"]
    assert_same_rules(
        left.sort_values(keys, ignore_index=True),
        right.sort_values(keys, ignore_index=True),
    )


# Inputs


def make_events(rows: list[tuple]) -> pd.DataFrame:
    """Events from (customer, order, item, event type) rows."""
    columns = ["customer_id", "order_id", "item_id", "event_type"]
    return pd.DataFrame(rows, columns=columns, dtype="str")


def tiny_events() -> pd.DataFrame:
    """Four orders, with every kind of line that is not a basket line."""
    return make_events(
        [
            ("X", "o1", "a", "purchase"),
            ("X", "o1", "b", "purchase"),
            ("X", "o1", "c", "purchase"),
            ("X", "o2", "a", "purchase"),
            ("X", "o2", "b", "purchase"),
            ("X", "o2", "b", "purchase"),  # the same item twice in one order
            ("Y", "o3", "a", "purchase"),
            ("Y", "o3", "d", "purchase"),
            (None, "g1", "b", "purchase"),  # an anonymous order
            (None, "g1", "c", "purchase"),
            ("Y", None, "a", "purchase"),  # a line without an order id
            ("X", "o3", None, "purchase"),  # a line without an item id
            ("X", "o3", "c", "view"),
            ("X", "o1", "a", "return"),
            ("Z", "o9", "d", "cart"),
        ]
    )


def edge_events() -> pd.DataFrame:
    """Anonymous orders only, repeated lines, and ids that sort as strings."""
    rows = []
    for order, items in {
        "g1": ["10", "9", "9", "x"],
        "g2": ["10", "9"],
        "g3": ["10", "9", "x", "x"],
        "g4": ["9", "x"],
        "g5": ["10"],
    }.items():
        rows += [(None, order, item, "purchase") for item in items]
    rows += [(None, "g5", "x", "return"), (None, None, "9", "purchase")]
    return make_events(rows)


def shop_events() -> pd.DataFrame:
    """Canonical events of a small generated shop over 60 days."""
    generator = EventGenerator(shop_for_events(30_000, days=60, seed=7))
    return pa.concat_tables(table for _, table in generator.days()).to_pandas()


def empty_events() -> pd.DataFrame:
    return make_events([])


def views_only() -> pd.DataFrame:
    return make_events([("X", "o1", "a", "view"), ("X", "o1", "b", "view")])


# Settings: (min_support, min_confidence, min_count). 0.0613 is no ratio of
# two order counts below 10,000, so no rule of the shop sits on the threshold.
SETTINGS = {
    "tiny": (0.01, 0.0, 1),
    "edge": (0.01, 0.0, 1),
    "shop": (0.001, 0.0613, 2),
    "empty": (0.01, 0.0, 1),
    "views_only": (0.01, 0.0, 1),
}
CASES = {
    "tiny": tiny_events,
    "edge": edge_events,
    "shop": shop_events,
    "empty": empty_events,
    "views_only": views_only,
}


def mine(events: pd.DataFrame, case: str, max_len: int, engine: Engine, **kw):
    min_support, min_confidence, min_count = SETTINGS[case]
    return association_rules(
        events,
        min_support=min_support,
        min_confidence=min_confidence,
        min_count=min_count,
        max_len=max_len,
        engine=engine,
        **kw,
    )


# An independent computation


def brute_force_rules(
    events: pd.DataFrame,
    min_support: float,
    min_confidence: float,
    min_count: int,
    max_len: int,
) -> pd.DataFrame:
    """Count every itemset of every order, then score every split of each."""
    purchases = events[events["event_type"] == "purchase"]
    purchases = purchases.dropna(subset=["order_id", "item_id"])
    baskets = purchases.groupby("order_id")["item_id"].agg(lambda s: set(map(str, s)))
    n_orders = len(baskets)
    floor = max(min_count, math.ceil(min_support * n_orders - 1e-9))
    counts: Counter = Counter()
    for basket in baskets:
        for size in range(1, max_len + 1):
            counts.update(itertools.combinations(sorted(basket), size))

    rows = []
    for itemset, count in counts.items():
        if len(itemset) < 2 or count < floor:
            continue
        for size in range(1, len(itemset)):
            for antecedent in itertools.combinations(itemset, size):
                consequent = tuple(i for i in itemset if i not in antecedent)
                confidence = count / counts[antecedent]
                if confidence < min_confidence:
                    continue
                lift = count * n_orders / (counts[antecedent] * counts[consequent])
                rows.append(
                    ("|".join(antecedent), "|".join(consequent), count, confidence)
                    + (lift, count / n_orders)
                )
    frame = pd.DataFrame(
        rows,
        columns=[
            "antecedents",
            "consequents",
            "count",
            "confidence",
            "lift",
            "support",
        ],
    )
    return frame[RULE_COLUMNS].astype(RULE_DTYPES)


@pytest.fixture(scope="module")
def duckdb_engine():
    with Engine.duckdb() as engine:
        yield engine


def register_lines(engine: Engine, events: pd.DataFrame, name: str = "basket_test"):
    return basket_lines(engine.register_frame(name, events[INPUT_COLUMNS]))


def sorted_lines(lines: pd.DataFrame) -> pd.DataFrame:
    return lines.sort_values(["order_id", "item_id"], ignore_index=True)


# DuckDB


def test_basket_tables_hand_computed(duckdb_engine):
    lines = register_lines(duckdb_engine, tiny_events())

    distinct = duckdb_engine.to_pandas(lines).sort_values(["order_id", "item_id"])
    counts = duckdb_engine.to_pandas(item_order_counts(lines)).set_index("item_id")
    frequent = collect_frequent_items(duckdb_engine, lines, floor=2)
    itemset_rows = collect_itemset_lines(duckdb_engine, lines, floor=2)

    assert list(map(tuple, distinct.to_numpy())) == [
        ("g1", "b"),
        ("g1", "c"),
        ("o1", "a"),
        ("o1", "b"),
        ("o1", "c"),
        ("o2", "a"),
        ("o2", "b"),
        ("o3", "a"),
        ("o3", "d"),
    ]
    assert counts["orders"].sort_index().to_dict() == {"a": 3, "b": 3, "c": 2, "d": 1}
    assert collect_order_count(duckdb_engine, lines) == 4
    assert frequent.to_dict() == {"a": 3, "b": 3, "c": 2}
    # o3 keeps only a (d is in 1 order), so it cannot contain a frequent pair
    assert sorted(itemset_rows["order_id"].unique()) == ["g1", "o1", "o2"]
    assert len(itemset_rows) == 7


def test_pair_rules_hand_computed(duckdb_engine):
    rules = association_rules(
        tiny_events(),
        min_support=0.01,
        min_confidence=0.0,
        min_count=2,
        engine=duckdb_engine,
    )

    # 4 orders; a in 3, b in 3, c in 2; {a, b} in 2 and {b, c} in 2
    expected = pd.DataFrame(
        {
            "antecedents": ["c", "b", "a", "b"],
            "consequents": ["b", "c", "b", "a"],
            "support": [2 / 4] * 4,
            "confidence": [2 / 2, 2 / 3, 2 / 3, 2 / 3],
            "lift": [2 * 4 / (2 * 3)] * 2 + [2 * 4 / (3 * 3)] * 2,
            "count": [2, 2, 2, 2],
        }
    ).astype(RULE_DTYPES)
    assert_same_rules(rules, expected)


def test_triple_rules_hand_computed(duckdb_engine):
    rules = association_rules(
        tiny_events(),
        min_support=0.01,
        min_confidence=0.0,
        min_count=1,
        max_len=3,
        engine=duckdb_engine,
    )
    rule = rules.set_index(["antecedents", "consequents"])

    # {a, b, c} is in o1 only; {a, b} is in 2 orders and c in 2 of 4
    assert rule.loc[("a|b", "c"), "count"] == 1
    assert rule.loc[("a|b", "c"), "confidence"] == pytest.approx(1 / 2)
    assert rule.loc[("a|b", "c"), "lift"] == pytest.approx(1 * 4 / (2 * 2))
    assert rule.loc[("c", "a|b"), "confidence"] == pytest.approx(1 / 2)
    assert rule.loc[("a", "d"), "lift"] == pytest.approx(1 * 4 / (3 * 1))
    # 4 pairs bought together, in both directions, and 6 splits of {a, b, c}
    assert len(rules) == 4 * 2 + 6


@pytest.mark.parametrize("max_len", [2, 3])
@pytest.mark.parametrize("case", sorted(CASES))
def test_duckdb_matches_brute_force(duckdb_engine, case, max_len):
    events = CASES[case]()

    rules = mine(events, case, max_len, duckdb_engine)

    assert_same_rule_set(rules, brute_force_rules(events, *SETTINGS[case], max_len))
    assert rules["lift"].is_monotonic_decreasing
    assert list(rules.columns) == RULE_COLUMNS
    assert rules.dtypes.astype(str).to_dict() == RULE_DTYPES


def test_shop_has_rules_of_every_size(duckdb_engine):
    rules = mine(shop_events(), "shop", 3, duckdb_engine)
    sizes = rules["antecedents"].str.count(r"\|") + rules["consequents"].str.count(
        r"\|"
    )

    assert (sizes == 0).sum() > 50  # pairs
    assert (sizes == 1).sum() > 50  # triples


def test_pair_rules_sorted_by_lift_then_confidence(duckdb_engine):
    rules = mine(shop_events(), "shop", 2, duckdb_engine)
    expected = brute_force_rules(shop_events(), *SETTINGS["shop"], 2)
    expected = expected.sort_values(
        ["lift", "confidence", "antecedents", "consequents"],
        ascending=[False, False, True, True],
        ignore_index=True,
    )

    # Both directions of a pair have bit-equal lift, so the order is exact.
    assert_same_rules(rules, expected)


def test_pair_rules_truncated_to_strongest(duckdb_engine):
    events = shop_events()
    everything = mine(events, "shop", 2, duckdb_engine)

    with pytest.warns(TruncationWarning, match=f"{len(everything)} rules found"):
        top = mine(events, "shop", 2, duckdb_engine, max_rules=25)

    assert_same_rules(top, everything.head(25))


def test_default_engine_is_duckdb(duckdb_engine):
    events = tiny_events()

    assert_same_rules(
        association_rules(events, min_count=1), mine(events, "tiny", 2, duckdb_engine)
    )


def test_given_engine_left_open(duckdb_engine):
    mine(tiny_events(), "tiny", 2, duckdb_engine)

    assert (
        collect_order_count(duckdb_engine, register_lines(duckdb_engine, tiny_events()))
        == 4
    )


# Spark local[2]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["tiny", "edge", "shop"])
def test_spark_basket_tables_match_duckdb(duckdb_engine, spark_engine, case):
    events = CASES[case]()
    on_spark = register_lines(spark_engine, events)
    on_duckdb = register_lines(duckdb_engine, events)

    for floor in (1, 2):
        spark_items = collect_frequent_items(spark_engine, on_spark, floor)
        duckdb_items = collect_frequent_items(duckdb_engine, on_duckdb, floor)
        pd.testing.assert_series_equal(spark_items, duckdb_items)
        pd.testing.assert_frame_equal(
            sorted_lines(collect_itemset_lines(spark_engine, on_spark, floor)),
            sorted_lines(collect_itemset_lines(duckdb_engine, on_duckdb, floor)),
        )
    assert collect_order_count(spark_engine, on_spark) == collect_order_count(
        duckdb_engine, on_duckdb
    )


@pytest.mark.slow
@pytest.mark.parametrize("max_len", [2, 3])
@pytest.mark.parametrize("case", sorted(CASES))
def test_spark_matches_duckdb(duckdb_engine, spark_engine, case, max_len):
    events = CASES[case]()

    on_spark = mine(events, case, max_len, spark_engine)

    assert_same_rules(on_spark, mine(events, case, max_len, duckdb_engine))


@pytest.mark.slow
def test_spark_fpgrowth_pairs_match_pair_table(duckdb_engine, spark_engine):
    events = shop_events()
    min_support, min_confidence, min_count = SETTINGS["shop"]
    lines = register_lines(spark_engine, events)
    n_orders = collect_order_count(spark_engine, lines)
    floor = max(min_count, math.ceil(min_support * n_orders - 1e-9))

    itemsets = spark_itemsets(spark_engine, itemset_lines(lines, floor), floor, 2)
    items = collect_frequent_items(spark_engine, lines, floor)
    from_fpgrowth = rules_from_itemsets(itemsets, items, n_orders, min_confidence)

    assert len(itemsets) > 50
    assert itemsets["itemsets"].map(len).eq(2).all()
    assert_same_rule_set(from_fpgrowth, mine(events, "shop", 2, duckdb_engine))


@pytest.mark.slow
def test_spark_truncation_matches_duckdb(duckdb_engine, spark_engine):
    events = shop_events()

    for max_len in (2, 3):
        with pytest.warns(TruncationWarning, match="more than max_rules=25"):
            on_spark = mine(events, "shop", max_len, spark_engine, max_rules=25)
        with pytest.warns(TruncationWarning, match="more than max_rules=25"):
            on_duckdb = mine(events, "shop", max_len, duckdb_engine, max_rules=25)
        assert_same_rules(on_spark, on_duckdb)
