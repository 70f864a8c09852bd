"""Temporal and per-customer splits, and the ranking metrics."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from promoloop.errors import InputError
from promoloop.recommend import (
    PopularityRecommender,
    catalog_coverage,
    check_temporal_split,
    global_temporal_split,
    per_customer_metrics,
    per_customer_split,
)
from promoloop.vocabulary import Columns as C
from promoloop.warnings import LeakageWarning


@pytest.fixture
def leaky_events(reference_dir):
    path = reference_dir / "17-per-user-chrono-split-leakage" / "events.csv"
    raw = pd.read_csv(path)
    return pd.DataFrame(
        {
            C.customer_id: raw["user_id"],
            C.item_id: raw["item_id"],
            C.weight: 1.0,
            C.timestamp: pd.to_datetime(raw["ts"], utc=True),
        }
    )


def test_global_split_at_cutoff(leaky_events):
    split = global_temporal_split(leaky_events, cutoff="2023-03-09")
    assert len(split.train) == 8
    assert len(split.test) == 4
    assert split.train[C.timestamp].max() == pd.Timestamp("2023-03-08", tz="UTC")
    test = split.test.groupby(C.customer_id)[C.item_id].agg(list)
    assert test["UB"] == ["P2"]
    assert test["UC"] == ["P3", "P9", "P4"]
    assert split.customers_without_test == ["UA"]
    assert "1 customers without test events" in split.notes


def test_global_split_gives_no_hit_for_customer_without_test(leaky_events):
    split = global_temporal_split(leaky_events, cutoff="2023-03-09")
    model = PopularityRecommender().fit(split.train)
    lists = model.recommend(["UA"], k=1)
    scores = per_customer_metrics(lists, split.test, k=1)
    assert "UA" not in scores.index


def test_global_split_default_cutoff(leaky_events):
    split = global_temporal_split(leaky_events, test_days=11)
    assert split.cutoff == pd.Timestamp("2023-03-09", tz="UTC")
    assert split.summary()["test_rows"] == 4


def test_per_customer_split_leaks(leaky_events):
    with pytest.warns(LeakageWarning):
        split = per_customer_split(leaky_events)
    with pytest.raises(InputError, match="leak into training"):
        check_temporal_split(split.train, split.test)


def test_per_customer_split_single_interaction(reference_dir):
    path = reference_dir / "03-semicolon-decimal-comma-single-interaction"
    raw = pd.read_csv(
        path / "purchases_eu.csv", sep=";", decimal=",", thousands="."
    ).rename(columns={"user_id": C.customer_id})
    with pytest.warns(LeakageWarning):
        split = per_customer_split(raw, min_interactions=2)
    train = split.train.groupby(C.customer_id).size()
    test = split.test.groupby(C.customer_id).size()
    assert train[102] == 1
    assert train[104] == 1
    assert set(test.index) == {101, 103}
    assert "2 customers with < 2 interactions kept in train only" in split.notes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_share": 1.0}, "test_share"),
        ({"min_interactions": 1}, "min_interactions"),
    ],
)
def test_per_customer_split_rejects(leaky_events, kwargs, message):
    with pytest.raises(InputError, match=message):
        per_customer_split(leaky_events, **kwargs)


def test_global_split_rejects_missing_timestamp(leaky_events):
    broken = leaky_events.assign(
        **{C.timestamp: leaky_events[C.timestamp].where(leaky_events.index != 3)}
    )
    with pytest.raises(InputError, match="row 4"):
        global_temporal_split(broken)
    with pytest.raises(InputError, match="test_days"):
        global_temporal_split(leaky_events, test_days=0)
    with pytest.raises(InputError, match="timestamp"):
        global_temporal_split(leaky_events.drop(columns=C.timestamp))


def test_metrics_hand_computed():
    recs = pd.DataFrame(
        {
            C.customer_id: ["a"] * 3 + ["b"] * 3,
            C.item_id: list("xyzxyz"),
            C.rank: [1, 2, 3] * 2,
        }
    )
    relevant = pd.DataFrame(
        {
            C.customer_id: ["a", "a", "b", "b", "b", "b", "c"],
            C.item_id: ["y", "q", "x", "z", "q", "x", "x"],
        }
    )
    scores = per_customer_metrics(recs, relevant, k=3)
    # a: one hit (rank 2) of 2 relevant; b: hits at ranks 1 and 3 of 3 relevant
    # (x counted once); c: no list.
    assert scores.loc["a", "recall"] == pytest.approx(1 / 2)
    assert scores.loc["b", "recall"] == pytest.approx(2 / 3)
    assert scores.loc["c", "recall"] == 0
    assert scores.loc["a", "ndcg"] == pytest.approx(
        (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    )
    assert scores.loc["b", "ndcg"] == pytest.approx(
        (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    )
    # With k = 1 only rank 1 counts and recall divides by min(1, relevant).
    top1 = per_customer_metrics(recs, relevant, k=1)
    assert top1.loc["b", "recall"] == 1.0
    assert top1.loc["a", "recall"] == 0.0
    assert catalog_coverage(recs, 6) == pytest.approx(3 / 6)


def test_metrics_reject_bad_arguments():
    recs = pd.DataFrame({C.customer_id: ["a"], C.item_id: ["x"], C.rank: [1]})
    with pytest.raises(InputError, match="argument 'k'"):
        per_customer_metrics(recs, recs, k=0)
    with pytest.raises(InputError, match="rank"):
        per_customer_metrics(recs.drop(columns=C.rank), recs, k=1)
    with pytest.raises(InputError, match="catalog_size"):
        catalog_coverage(recs, 0)
