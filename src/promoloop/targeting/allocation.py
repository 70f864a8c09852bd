"""Budgeted allocation: which (customer, promotion) pairs to send.

The problem is the integer program

    maximize    sum_j score_j x_j
    subject to  sum_{j of customer i} x_j <= max_per_customer   for each customer
                sum_{j of campaign k} cost_j x_j <= budget_k     for each campaign
                x_j in {0, 1}

over the pairs with a positive score (a pair with score <= 0 never adds to the
objective). The exact method hands it to HiGHS through
:func:`scipy.optimize.milp` and solves the LP relaxation with
:func:`scipy.optimize.linprog` for an upper bound. The Lagrangian method moves
the budget constraints into the objective with one price per campaign,
bisects each price until the campaign fits its budget, then repairs and fills
greedily, so large instances are solved in linear time per evaluation.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, sparse

from promoloop.errors import ConfigError, InputError
from promoloop.vocabulary import Columns as C
from promoloop.warnings import ConvergenceWarning

logger = logging.getLogger(__name__)

EXPECTED_COST = "expected_cost"
METHODS = ("auto", "exact", "lagrangian")
_BISECTION_STEPS = 40
_LAGRANGIAN_ROUNDS = 5


@dataclass
class Allocation:
    """The chosen pairs and how good the choice is.

    Attributes
    ----------
    selected : DataFrame
        The chosen rows of the scores table, with its index.
    objective : float
        Sum of the chosen pairs' scores.
    lp_bound : float
        Upper bound on the best objective: the LP relaxation (exact method)
        or the best Lagrangian dual value, which is never below the LP bound.
    gap : float
        ``(lp_bound - objective) / lp_bound``, 0 when the bound is 0.
    method : str
        ``exact`` or ``lagrangian``.
    budget_used : dict of str to float
        Expected cost of the chosen pairs per campaign.
    status : str
        Solver status, e.g. ``optimal`` or ``time limit``.
    """

    selected: pd.DataFrame
    objective: float
    lp_bound: float
    gap: float
    method: str
    budget_used: dict[str, float] = field(default_factory=dict)
    status: str = "optimal"

    def summary(self) -> dict:
        """Return the JSON-ready figures, without the selected rows."""
        return {
            "pairs_selected": int(len(self.selected)),
            "objective": float(self.objective),
            "lp_bound": float(self.lp_bound),
            "gap": float(self.gap),
            "method": self.method,
            "budget_used": {k: float(v) for k, v in self.budget_used.items()},
            "status": self.status,
        }


@dataclass
class _Problem:
    """Candidate pairs as arrays, sorted by customer."""

    rows: np.ndarray  # positions in the scores table
    score: np.ndarray
    cost: np.ndarray
    customer: np.ndarray  # customer code, non-decreasing
    campaign: np.ndarray  # campaign code
    budget: np.ndarray  # per campaign code
    campaigns: list[str]
    n_customers: int
    max_per_customer: int


def allocate(
    scores: pd.DataFrame,
    budgets: dict[str, float],
    max_per_customer: int = 1,
    method: str = "auto",
    time_limit: float = 60,
    exact_max_variables: int = 200_000,
) -> Allocation:
    """Choose the pairs with the largest total score within every budget.

    Parameters
    ----------
    scores : DataFrame
        One row per (customer, promotion) pair with ``customer_id``,
        ``campaign_id``, ``score`` and ``expected_cost`` (>= 0).
    budgets : dict of str to float
        Budget per campaign id; every campaign of ``scores`` needs one.
    max_per_customer : int, default 1
        Most promotions one customer receives.
    method : {"auto", "exact", "lagrangian"}, default "auto"
        ``auto`` is exact up to ``exact_max_variables`` candidate pairs.
    time_limit : float, default 60
        Seconds HiGHS may spend on the integer program.
    exact_max_variables : int, default 200_000
        Largest number of candidate pairs that ``auto`` solves exactly.

    Returns
    -------
    Allocation
        The chosen pairs, objective, bound, gap, budget used and status.

    Raises
    ------
    ConfigError
        If ``method`` is unknown, ``max_per_customer`` < 1, or a budget is
        missing or negative.
    InputError
        If a required column is missing or a score or cost is not a finite
        number, or a cost is negative.
    """
    problem = _build_problem(scores, budgets, max_per_customer, method)
    if method == "auto":
        method = "exact" if len(problem.rows) <= exact_max_variables else "lagrangian"
    logger.info(
        "allocating %d candidate pairs over %d campaign(s) with the %s method",
        len(problem.rows),
        len(problem.campaigns),
        method,
    )

    # Solve.
    if len(problem.rows) == 0:
        chosen, lp_bound, status = np.zeros(0, dtype=bool), 0.0, "optimal"
    elif method == "exact":
        chosen, lp_bound, status = _solve_exact(problem, time_limit)
        if chosen is None:
            warnings.warn(
                f"HiGHS found no integer solution ({status}) within "
                f"{time_limit} s; used the Lagrangian method instead. Raise "
                "time_limit to solve exactly",
                ConvergenceWarning,
                stacklevel=2,
            )
            chosen, _, status = _solve_lagrangian(problem)
            method = "lagrangian"
    else:
        chosen, lp_bound, status = _solve_lagrangian(problem)

    # Make sure no budget is exceeded, even by solver tolerance.
    chosen = _repair(problem, chosen)
    return _result(scores, problem, chosen, lp_bound, method, status)


def _build_problem(scores, budgets, max_per_customer, method) -> _Problem:
    if method not in METHODS:
        raise ConfigError(
            f"allocation method {method!r} is unknown; expected one of {METHODS}"
        )
    if int(max_per_customer) < 1:
        raise ConfigError(
            f"max_per_customer is {max_per_customer!r}; expected an integer >= 1. "
            "Fix: set targeting.max_promotions_per_customer to 1 or more"
        )
    for column in (C.customer_id, C.campaign_id, C.score, EXPECTED_COST):
        if column not in scores.columns:
            raise InputError(
                "missing column in the scores table",
                column=column,
                expected=f"columns {[C.customer_id, C.campaign_id, C.score]} "
                f"and {EXPECTED_COST!r}",
                fix="score the pairs with promoloop.targeting.scoring.score_pairs",
            )
    score = scores[C.score].to_numpy(dtype=float)
    cost = scores[EXPECTED_COST].to_numpy(dtype=float)
    for column, values in ((C.score, score), (EXPECTED_COST, cost)):
        bad = ~np.isfinite(values) | ((values < 0) & (column == EXPECTED_COST))
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise InputError(
                "invalid value in the scores table",
                row=position + 1,
                column=column,
                value=float(values[position]),
                expected="a finite number (a cost >= 0)",
                fix="fill or drop the pair before allocating",
            )
    campaigns = sorted(scores[C.campaign_id].dropna().unique().tolist())
    for campaign in campaigns:
        budget = budgets.get(campaign)
        if budget is None or not budget >= 0:
            raise ConfigError(
                f"campaign {campaign!r} has budget {budget!r}; expected a number "
                ">= 0. Fix: set the campaign's budget in the promotions file"
            )

    # Keep the pairs worth choosing and sort them by customer.
    keep = np.flatnonzero((score > 0) & scores[C.campaign_id].notna().to_numpy())
    customer_codes, _ = pd.factorize(scores[C.customer_id].to_numpy()[keep])
    order = np.argsort(customer_codes, kind="stable")
    rows = keep[order]
    campaign_code = pd.Index(campaigns).get_indexer(
        scores[C.campaign_id].to_numpy()[rows]
    )
    return _Problem(
        rows=rows,
        score=score[rows],
        cost=cost[rows],
        customer=customer_codes[order],
        campaign=campaign_code,
        budget=np.array([float(budgets[c]) for c in campaigns]),
        campaigns=campaigns,
        n_customers=int(customer_codes.max()) + 1 if len(keep) else 0,
        max_per_customer=int(max_per_customer),
    )


def _constraints(problem: _Problem):
    n = len(problem.rows)
    columns = np.arange(n)
    per_customer = sparse.csr_array(
        (np.ones(n), (problem.customer, columns)), shape=(problem.n_customers, n)
    )
    per_campaign = sparse.csr_array(
        (problem.cost, (problem.campaign, columns)),
        shape=(len(problem.campaigns), n),
    )
    matrix = sparse.vstack([per_customer, per_campaign], format="csr")
    upper = np.concatenate(
        [np.full(problem.n_customers, float(problem.max_per_customer)), problem.budget]
    )
    return matrix, upper


def _solve_exact(problem: _Problem, time_limit: float):
    matrix, upper = _constraints(problem)
    n = len(problem.rows)

    # LP relaxation: the upper bound.
    relaxed = optimize.linprog(
        -problem.score, A_ub=matrix, b_ub=upper, bounds=(0, 1), method="highs"
    )
    lp_bound = (
        -float(relaxed.fun) if relaxed.status == 0 else float(problem.score.sum())
    )

    # Integer program.
    result = optimize.milp(
        -problem.score,
        constraints=optimize.LinearConstraint(matrix, -np.inf, upper),
        integrality=np.ones(n),
        bounds=optimize.Bounds(0, 1),
        options={"time_limit": float(time_limit), "disp": False},
    )
    status = {0: "optimal", 1: "time limit"}.get(result.status, result.message)
    if result.x is None:
        return None, lp_bound, status
    return result.x > 0.5, lp_bound, status


def _choose(problem: _Problem, prices: np.ndarray):
    """Return the chosen mask and the Lagrangian dual value at these prices."""
    adjusted = problem.score - prices[problem.campaign] * problem.cost
    positive = adjusted > 0
    if problem.max_per_customer == 1:
        # Best pair per customer: the arrays are sorted by customer, so a
        # segmented maximum finds it without sorting again.
        starts = np.flatnonzero(np.r_[True, np.diff(problem.customer) != 0])
        best = np.maximum.reduceat(np.where(positive, adjusted, 0.0), starts)
        is_best = positive & (adjusted == best[_group_index(problem.customer)])
        candidates = np.flatnonzero(is_best)
        first = np.r_[True, np.diff(problem.customer[candidates]) != 0]
        chosen = np.zeros(len(adjusted), dtype=bool)
        chosen[candidates[first]] = True
    else:
        order = np.lexsort((-adjusted, problem.customer))
        grouped = problem.customer[order]
        starts = np.flatnonzero(np.r_[True, np.diff(grouped) != 0])
        start_of = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        rank = np.arange(len(order)) - start_of
        chosen = np.zeros(len(adjusted), dtype=bool)
        chosen[order[rank < problem.max_per_customer]] = True
        chosen &= positive
    dual = float(adjusted[chosen].sum() + prices @ problem.budget)
    return chosen, dual


def _group_index(customer: np.ndarray) -> np.ndarray:
    return np.cumsum(np.r_[0, np.diff(customer) != 0])


def _spend(problem: _Problem, chosen: np.ndarray) -> np.ndarray:
    return np.bincount(
        problem.campaign[chosen],
        weights=problem.cost[chosen],
        minlength=len(problem.campaigns),
    )


def _solve_lagrangian(problem: _Problem):
    prices = np.zeros(len(problem.campaigns))
    chosen, best_dual = _choose(problem, prices)

    # Coordinate bisection: for each campaign in turn, the smallest price at
    # which its spend fits the budget, given the other campaigns' prices.
    for _ in range(_LAGRANGIAN_ROUNDS):
        changed = False
        for k in range(len(problem.campaigns)):
            in_k = problem.campaign == k
            trial = prices.copy()
            trial[k] = 0.0
            chosen, dual = _choose(problem, trial)
            best_dual = min(best_dual, dual)
            if _spend(problem, chosen)[k] <= problem.budget[k]:
                new_price = 0.0
            else:
                with np.errstate(divide="ignore"):
                    ratios = problem.score[in_k] / problem.cost[in_k]
                low, high = 0.0, float(np.max(ratios[np.isfinite(ratios)], initial=0))
                for _ in range(_BISECTION_STEPS):
                    middle = (low + high) / 2
                    trial[k] = middle
                    chosen, dual = _choose(problem, trial)
                    best_dual = min(best_dual, dual)
                    if _spend(problem, chosen)[k] <= problem.budget[k]:
                        high = middle
                    else:
                        low = middle
                new_price = high
            changed |= not np.isclose(new_price, prices[k])
            prices[k] = new_price
        if not changed:
            break
    chosen, dual = _choose(problem, prices)
    best_dual = min(best_dual, dual)

    # Greedy repair and fill with what the prices left out.
    chosen = _repair(problem, chosen)
    chosen = _fill(problem, chosen)
    logger.debug("Lagrangian prices per campaign: %s", prices)
    return chosen, best_dual, "optimal within gap"


def _repair(problem: _Problem, chosen: np.ndarray) -> np.ndarray:
    """Drop the chosen pairs with the lowest score per cost until budgets hold."""
    chosen = chosen.copy()
    spend = _spend(problem, chosen)
    for k in np.flatnonzero(spend > problem.budget):
        members = np.flatnonzero(chosen & (problem.campaign == k))
        ratio = problem.score[members] / np.maximum(problem.cost[members], 1e-12)
        worst_first = members[np.argsort(ratio, kind="stable")]
        released = np.cumsum(problem.cost[worst_first])
        excess = spend[k] - problem.budget[k]
        drop = int(np.searchsorted(released, excess, side="left")) + 1
        chosen[worst_first[:drop]] = False
    return chosen


def _fill(problem: _Problem, chosen: np.ndarray) -> np.ndarray:
    """Add the best remaining pairs by score per cost while budgets allow."""
    chosen = chosen.copy()
    for _ in range(problem.max_per_customer):
        for k in range(len(problem.campaigns)):
            offers_per_customer = np.bincount(
                problem.customer[chosen], minlength=problem.n_customers
            )
            has_room = offers_per_customer[problem.customer] < problem.max_per_customer
            room = problem.budget[k] - _spend(problem, chosen)[k]
            open_pairs = np.flatnonzero(
                ~chosen & has_room & (problem.campaign == k) & (problem.cost <= room)
            )
            if len(open_pairs) == 0:
                continue
            ratio = problem.score[open_pairs] / np.maximum(
                problem.cost[open_pairs], 1e-12
            )
            order = open_pairs[np.argsort(-ratio, kind="stable")]

            # One pair per customer in this pass, best ratio first, and the
            # longest prefix that fits the room left.
            _, first = np.unique(problem.customer[order], return_index=True)
            order = order[np.sort(first)]
            fits = np.cumsum(problem.cost[order]) <= room
            chosen[order[fits]] = True
    return chosen


def _result(scores, problem, chosen, lp_bound, method, status) -> Allocation:
    selected = scores.iloc[problem.rows[chosen]]
    objective = float(problem.score[chosen].sum())
    lp_bound = max(float(lp_bound), objective)
    gap = (lp_bound - objective) / lp_bound if lp_bound > 0 else 0.0
    spend = _spend(problem, chosen)
    logger.info(
        "allocation: %d pairs, objective %.2f, bound %.2f, gap %.4f",
        len(selected),
        objective,
        lp_bound,
        gap,
    )
    return Allocation(
        selected=selected,
        objective=objective,
        lp_bound=lp_bound,
        gap=gap,
        method=method,
        budget_used=dict(zip(problem.campaigns, spend.tolist(), strict=True)),
        status=status,
    )
