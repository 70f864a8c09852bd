import resource
import subprocess
import sys
import tracemalloc

import pandas as pd
import pytest

from promoloop.mining import association_rules, bundle_candidates
from promoloop.vocabulary import Columns as C
from promoloop.warnings import TruncationWarning


def basket_events(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": frame["order_id"].astype("str"),
            "item_id": frame["sku"].astype("str"),
            "event_type": "purchase",
        }
    )


@pytest.fixture
def small_baskets(reference_dir):
    frame = pd.read_csv(reference_dir / "13-dense-onehot-memory-blowup" / "baskets.csv")
    return basket_events(frame)


def rule(rules, antecedent, consequent):
    row = rules[
        (rules["antecedents"] == antecedent) & (rules["consequents"] == consequent)
    ]
    return row.iloc[0]


def test_rules_small_baskets_reference(small_baskets):
    rules = association_rules(
        small_baskets, min_support=0.25, min_confidence=0.0, min_count=1
    )
    a_b = rule(rules, "A100", "B200")
    assert a_b["count"] == 2
    assert a_b["support"] == pytest.approx(2 / 4)
    assert a_b["confidence"] == pytest.approx(2 / 3)
    assert a_b["lift"] == pytest.approx((2 / 3) / (3 / 4))
    b_c = rule(rules, "B200", "C300")
    assert b_c["confidence"] == pytest.approx(2 / 3)
    assert b_c["lift"] == pytest.approx((2 / 3) / (2 / 4))
    counts = {
        ("A100", "C300"): 1,
        ("A100", "D400"): 1,
        ("B200", "D400"): 1,
        ("C300", "D400"): 1,
        ("B200", "C300"): 2,
    }
    for (left, right), count in counts.items():
        assert rule(rules, left, right)["count"] == count, (left, right)
    assert rules["lift"].is_monotonic_decreasing


def test_rules_min_count_floor(small_baskets):
    rules = association_rules(
        small_baskets, min_support=0.01, min_confidence=0.0, min_count=2
    )
    pairs = set(zip(rules["antecedents"], rules["consequents"], strict=True))
    assert pairs == {
        ("A100", "B200"),
        ("B200", "A100"),
        ("B200", "C300"),
        ("C300", "B200"),
    }


def test_rules_truncate_with_warning(small_baskets):
    with pytest.warns(TruncationWarning, match="more than max_rules=3"):
        rules = association_rules(
            small_baskets,
            min_support=0.25,
            min_confidence=0.0,
            min_count=1,
            max_rules=3,
        )
    assert len(rules) == 3
    assert rules["lift"].iloc[0] == pytest.approx(4 / 3)


def test_rules_max_len_three(small_baskets):
    rules = association_rules(
        small_baskets, min_support=0.25, min_confidence=0.0, min_count=1, max_len=3
    )
    triple = rule(rules, "A100|B200", "C300")
    assert triple["count"] == 1
    assert triple["confidence"] == pytest.approx(1 / 2)


def test_rules_empty_without_purchases():
    events = pd.DataFrame({"order_id": ["1"], "item_id": ["A"], "event_type": ["view"]})
    rules = association_rules(events)
    assert rules.empty
    assert list(rules.columns) == [
        "antecedents",
        "consequents",
        "support",
        "confidence",
        "lift",
        "count",
    ]


@pytest.mark.parametrize(
    ("arguments", "pattern"),
    [
        ({"min_support": 0}, r"invalid min_support 0; expected a share in \(0, 1\]"),
        ({"min_confidence": 1.5}, r"invalid min_confidence 1\.5"),
        ({"max_len": 1}, r"invalid max_len 1; expected an int >= 2"),
        ({"min_count": 0}, r"invalid min_count 0"),
        ({"max_rules": 0}, r"invalid max_rules 0"),
    ],
)
def test_rules_reject_arguments(small_baskets, arguments, pattern):
    with pytest.raises(ValueError, match=pattern):
        association_rules(small_baskets, **arguments)


def test_rules_reject_dense_blowup(small_baskets, monkeypatch):
    monkeypatch.setattr("promoloop.mining.rules.MAX_DENSE_CELLS", 5)
    with pytest.raises(ValueError, match="raise min_support or min_count"):
        association_rules(small_baskets, min_support=0.25, min_count=1, max_len=3)


def test_pair_rules_need_no_dense_table(small_baskets, monkeypatch):
    # Pairs are counted on the engine, so the one-hot limit does not apply.
    monkeypatch.setattr("promoloop.mining.rules.MAX_DENSE_CELLS", 5)
    rules = association_rules(
        small_baskets, min_support=0.25, min_confidence=0.0, min_count=1
    )
    assert len(rules) == 2 * 6  # every pair of the 4 items, both directions


def test_bundles_top_pairs_with_names(small_baskets):
    rules = association_rules(
        small_baskets, min_support=0.25, min_confidence=0.0, min_count=1
    )
    items = pd.DataFrame({"item_id": ["B200", "C300"], "name": ["Tea", "Mug"]})
    bundles = bundle_candidates(rules, items, n=5)
    assert len(bundles) == 1
    top = bundles.iloc[0]
    assert (top["item_a"], top["item_b"]) == ("B200", "C300")
    assert (top["name_a"], top["name_b"]) == ("Tea", "Mug")
    assert top["confidence"] == pytest.approx(1.0)
    assert top["lift"] == pytest.approx(4 / 3)


def test_bundles_reject_n(small_baskets):
    rules = association_rules(small_baskets, min_support=0.25, min_count=1)
    with pytest.raises(ValueError, match="invalid n 0"):
        bundle_candidates(rules, pd.DataFrame({"item_id": []}), n=0)


@pytest.mark.slow
def test_rules_large_sparse_log_memory(reference_dir, tmp_path):
    script = reference_dir / "13-dense-onehot-memory-blowup" / "make_baskets.py"
    out = tmp_path / "baskets_large.csv"
    subprocess.run(
        [sys.executable, str(script), "300000", "120000", str(out)],
        check=True,
        capture_output=True,
    )
    events = basket_events(pd.read_csv(out))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    rules = association_rules(events, min_support=0.001, min_count=5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_delta_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert not rules.empty
    assert peak < 2 * 2**30
    assert rss_delta_kib < 2 * 2**20


def test_few_multi_item_orders_give_no_rules():
    # Two orders with two items each, and a floor of 5 orders: nothing can be
    # frequent, and the result is empty instead of an error.
    events = pd.DataFrame(
        {
            C.order_id: ["o1", "o1", "o2", "o2", "o3"],
            C.item_id: ["a", "b", "a", "b", "a"],
            C.customer_id: "c",
            C.event_type: "purchase",
        }
    )
    rules = association_rules(events, min_support=0.01, min_count=1)
    assert len(rules) == 1 * 2  # a->b and b->a
    rules = association_rules(events, min_support=0.01, min_count=3)
    assert rules.empty
