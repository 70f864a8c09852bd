"""Budgeted allocation: exact (HiGHS) and Lagrangian methods."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from promoloop.errors import ConfigError, InputError
from promoloop.targeting.allocation import allocate
from promoloop.warnings import ConvergenceWarning

METHODS = ["exact", "lagrangian"]


def pairs(rows) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=[
            "customer_id",
            "campaign_id",
            "promotion_id",
            "score",
            "expected_cost",
        ],
    )


def random_instance(seed: int, customers: int = 120, promotions: int = 4):
    rng = np.random.default_rng(seed)
    n = customers * promotions
    scores = pd.DataFrame(
        {
            "customer_id": np.repeat([f"c{i}" for i in range(customers)], promotions),
            "campaign_id": np.tile([f"k{j % 2}" for j in range(promotions)], customers),
            "promotion_id": np.tile([f"p{j}" for j in range(promotions)], customers),
            "score": rng.normal(0.3, 1.0, n),
            "expected_cost": rng.uniform(0.05, 3.0, n),
        }
    )
    budgets = {"k0": float(rng.uniform(20, 200)), "k1": float(rng.uniform(20, 200))}
    return scores, budgets


@pytest.mark.parametrize("method", METHODS)
def test_knapsack_known_optimum(method):
    # Budget 5: b and c (5 + 4, cost 3 + 2) beat a alone (6, cost 4).
    scores = pairs(
        [
            ("a", "k", "p", 6.0, 4.0),
            ("b", "k", "p", 5.0, 3.0),
            ("c", "k", "p", 4.0, 2.0),
            ("d", "k", "p", -1.0, 0.5),
        ]
    )
    result = allocate(scores, {"k": 5.0}, method=method)
    assert sorted(result.selected["customer_id"]) == ["b", "c"]
    assert result.objective == pytest.approx(5.0 + 4.0)
    assert result.budget_used["k"] == pytest.approx(3.0 + 2.0)
    assert result.method == method


def test_exact_lp_bound_of_fractional_knapsack():
    # By score per cost (c 2, b 1.67, a 1.5) the LP takes c, b and a quarter of a.
    scores = pairs(
        [
            ("a", "k", "p", 6.0, 4.0),
            ("b", "k", "p", 5.0, 3.0),
            ("c", "k", "p", 4.0, 2.0),
        ]
    )
    result = allocate(scores, {"k": 6.0}, method="exact")
    assert result.objective == pytest.approx(10.0)  # a and c, cost 6
    assert result.lp_bound == pytest.approx(4.0 + 5.0 + 6.0 * 1 / 4)
    assert result.gap == pytest.approx((10.5 - 10.0) / 10.5)


@pytest.mark.parametrize("method", METHODS)
def test_one_promotion_per_customer(method):
    scores = pairs([("a", "k", "p1", 3.0, 1.0), ("a", "k", "p2", 2.0, 1.0)])
    result = allocate(scores, {"k": 10.0}, method=method)
    assert result.selected["promotion_id"].tolist() == ["p1"]


@pytest.mark.parametrize("method", METHODS)
def test_two_promotions_per_customer(method):
    scores = pairs(
        [
            ("a", "k", "p1", 3.0, 1.0),
            ("a", "k", "p2", 2.0, 1.0),
            ("a", "k", "p3", 1.0, 1.0),
        ]
    )
    result = allocate(scores, {"k": 10.0}, max_per_customer=2, method=method)
    assert sorted(result.selected["promotion_id"]) == ["p1", "p2"]
    assert result.objective == pytest.approx(3.0 + 2.0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(12))
def test_spend_never_exceeds_budget(method, seed):
    scores, budgets = random_instance(seed)
    for per_customer in (1, 2):
        result = allocate(scores, budgets, max_per_customer=per_customer, method=method)
        for campaign, budget in budgets.items():
            used = result.selected.loc[
                result.selected["campaign_id"] == campaign, "expected_cost"
            ].sum()
            assert used <= budget + 1e-9
            assert result.budget_used[campaign] == pytest.approx(used)
        counts = result.selected.groupby("customer_id").size()
        assert counts.max() <= per_customer
        assert (result.selected["score"] > 0).all()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(5))
def test_larger_budget_never_lowers_objective(method, seed):
    scores, budgets = random_instance(seed)
    small = allocate(scores, budgets, method="exact")
    large = allocate(scores, {k: 2 * v for k, v in budgets.items()}, method="exact")
    assert large.objective >= small.objective - 1e-9
    if method == "lagrangian":
        # The heuristic need not be monotone, but both stay within their gap
        # of the exact optimum.
        heuristic = allocate(scores, budgets, method=method)
        assert heuristic.objective >= small.objective * (1 - heuristic.gap) - 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_exact_and_lagrangian_agree_within_gap(seed):
    scores, budgets = random_instance(seed, customers=200)
    exact = allocate(scores, budgets, method="exact")
    heuristic = allocate(scores, budgets, method="lagrangian")
    assert heuristic.objective <= exact.objective + 1e-6
    assert exact.objective <= heuristic.lp_bound + 1e-6
    assert heuristic.lp_bound >= exact.lp_bound - 1e-6
    assert (
        exact.objective - heuristic.objective
        <= heuristic.gap * heuristic.lp_bound + 1e-6
    )
    assert heuristic.gap < 0.02


def test_auto_switches_to_lagrangian():
    scores, budgets = random_instance(0, customers=50)
    assert allocate(scores, budgets, exact_max_variables=10).method == "lagrangian"
    assert allocate(scores, budgets).method == "exact"


def test_exact_2500_customers_8_promotions_in_seconds():
    scores, _ = random_instance(1, customers=2500, promotions=8)
    started = time.perf_counter()
    result = allocate(scores, {"k0": 500.0, "k1": 800.0}, method="exact")
    elapsed = time.perf_counter() - started
    assert result.status == "optimal"
    assert result.gap < 1e-3
    assert elapsed < 15


def test_no_positive_pair_selects_nothing():
    scores = pairs([("a", "k", "p", -1.0, 1.0), ("b", "k", "p", 0.0, 1.0)])
    result = allocate(scores, {"k": 10.0})
    assert result.selected.empty
    assert result.objective == 0.0
    assert result.gap == 0.0


def test_time_limit_without_solution_falls_back(monkeypatch):
    from promoloop.targeting import allocation

    monkeypatch.setattr(
        allocation, "_solve_exact", lambda p, t: (None, 1.0, "time limit")
    )
    scores = pairs([("a", "k", "p", 2.0, 1.0)])
    with pytest.warns(ConvergenceWarning, match="no integer solution"):
        result = allocate(scores, {"k": 5.0}, method="exact")
    assert result.method == "lagrangian"
    assert result.objective == pytest.approx(2.0)


BAD_INPUTS = [
    (dict(method="greedy"), ConfigError, r"method 'greedy' is unknown"),
    (dict(max_per_customer=0), ConfigError, r"max_per_customer is 0"),
    (dict(budgets={}), ConfigError, r"campaign 'k' has budget None"),
    (dict(budgets={"k": -1.0}), ConfigError, r"campaign 'k' has budget -1.0"),
    (dict(drop="expected_cost"), InputError, r"missing column.*'expected_cost'"),
    (dict(cost=np.nan), InputError, r"column 'expected_cost'.*value nan"),
    (dict(cost=-1.0), InputError, r"column 'expected_cost'.*value -1.0"),
    (dict(score=np.inf), InputError, r"column 'score'.*value inf"),
]


@pytest.mark.parametrize(("case", "error", "pattern"), BAD_INPUTS)
def test_bad_input_raises(case, error, pattern):
    scores = pairs([("a", "k", "p", 1.0, 1.0)])
    if "drop" in case:
        scores = scores.drop(columns=case["drop"])
    if "cost" in case:
        scores["expected_cost"] = case["cost"]
    if "score" in case:
        scores["score"] = case["score"]
    with pytest.raises(error, match=pattern):
        allocate(
            scores,
            case.get("budgets", {"k": 1.0}),
            max_per_customer=case.get("max_per_customer", 1),
            method=case.get("method", "auto"),
        )
