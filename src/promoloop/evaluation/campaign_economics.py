"""Promotion cost and ROI of a campaign, with bootstrap intervals."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from promoloop.errors import InputError
from promoloop.evaluation.campaign_stats import (
    BOOTSTRAP,
    Effect,
    group_size_reason,
    undefined_effect,
)
from promoloop.vocabulary import Columns as C

PER_EXPOSURE = "cost_per_exposure"
PER_REDEMPTION = "cost_per_redemption"

CostTable = pd.DataFrame | Mapping[str, Mapping[str, float]]


def cost_table(promotion_costs: CostTable | None) -> pd.DataFrame | None:
    """Read promotion costs into a frame indexed by promotion_id.

    Accepts a DataFrame with ``promotion_id`` and one or both of
    ``cost_per_exposure`` and ``cost_per_redemption`` (a missing one is 0),
    or a mapping ``{promotion_id: {"cost_per_exposure": ..., ...}}``.

    Raises
    ------
    InputError
        When neither cost column is present or a cost is negative or missing.
    """
    if promotion_costs is None:
        return None
    if isinstance(promotion_costs, Mapping):
        frame = pd.DataFrame.from_dict(dict(promotion_costs), orient="index")
        frame = frame.rename_axis(C.promotion_id).reset_index()
    else:
        frame = promotion_costs
    if C.promotion_id not in frame.columns:
        raise InputError(
            "missing required column 'promotion_id' in promotion_costs",
            column=C.promotion_id,
            fix="give one row per promotion with its id",
        )
    if PER_EXPOSURE not in frame.columns and PER_REDEMPTION not in frame.columns:
        raise InputError(
            "promotion_costs has no cost column",
            expected=f"{PER_EXPOSURE!r} and/or {PER_REDEMPTION!r}",
            fix="add the cost of each exposure or of each redemption",
        )
    costs = pd.DataFrame(index=frame[C.promotion_id].astype("string"))
    for column in (PER_EXPOSURE, PER_REDEMPTION):
        values = (
            frame[column]
            if column in frame.columns
            else pd.Series(0.0, index=frame.index)
        )
        values = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        if np.isnan(values).any() or (values < 0).any():
            raise InputError(
                "invalid promotion cost",
                column=column,
                value=values[np.isnan(values) | (values < 0)][0],
                expected="a number >= 0",
                fix="give every promotion a non-negative cost",
            )
        costs[column] = values
    return costs


def customer_costs(
    promotions: pd.Series, redemptions: pd.Series, costs: pd.DataFrame
) -> np.ndarray:
    """Return each treated customer's cost: per-exposure cost + redemptions x cost."""
    per_exposure = promotions.map(costs[PER_EXPOSURE]).astype("float64").fillna(0.0)
    per_redemption = promotions.map(costs[PER_REDEMPTION]).astype("float64").fillna(0.0)
    return (per_exposure + redemptions * per_redemption).to_numpy(dtype=float)


def roi_effects(
    margin_treated: np.ndarray,
    margin_control: np.ndarray,
    cost_treated: np.ndarray | None,
    *,
    alpha: float,
    n_boot: int,
    seed: int,
) -> tuple[Effect, Effect]:
    """Estimate total cost and ROI = (incremental margin - cost) / cost.

    Incremental margin is (mean treated margin - mean control margin) x
    treated customers. Both intervals are percentile bootstrap intervals,
    resampling treated and control customers separately so that cost varies
    with the redemptions of the resampled customers.

    Returns
    -------
    cost, roi : Effect
        Undefined without a cost table, without a group, or at zero cost.
    """
    n_t, n_c = margin_treated.size, margin_control.size
    if cost_treated is None:
        reason = "no promotion_costs given, so cost and ROI are unknown"
        return undefined_effect("cost", reason), undefined_effect("roi", reason)
    total_cost = float(cost_treated.sum())
    cost = Effect(metric="cost", defined=True, estimate=total_cost, method=BOOTSTRAP)
    reason = group_size_reason(n_t, n_c)
    if reason is None and total_cost == 0:
        reason = "the campaign cost 0, so ROI (a ratio to cost) is not defined"
    if reason is not None:
        return cost, undefined_effect("roi", reason, method=BOOTSTRAP)

    # Resample customers within each group; one draw per loop keeps memory flat.
    rng = np.random.default_rng(seed)
    boot_cost = np.empty(n_boot)
    boot_roi = np.empty(n_boot)
    for b in range(n_boot):
        picked_t = rng.integers(0, n_t, n_t)
        picked_c = rng.integers(0, n_c, n_c)
        lift = margin_treated[picked_t].mean() - margin_control[picked_c].mean()
        boot_cost[b] = cost_treated[picked_t].sum()
        boot_roi[b] = (
            (lift * n_t - boot_cost[b]) / boot_cost[b] if boot_cost[b] else np.nan
        )
    quantiles = [alpha / 2, 1 - alpha / 2]
    cost_low, cost_high = np.quantile(boot_cost, quantiles)
    # NOTE: resamples with zero cost (no redemption drawn) leave the ROI sample.
    roi_low, roi_high = np.nanquantile(boot_roi, quantiles)

    incremental = (margin_treated.mean() - margin_control.mean()) * n_t
    cost = Effect(
        metric="cost",
        defined=True,
        estimate=total_cost,
        ci_low=float(cost_low),
        ci_high=float(cost_high),
        method=BOOTSTRAP,
    )
    roi = Effect(
        metric="roi",
        defined=True,
        estimate=float((incremental - total_cost) / total_cost),
        ci_low=float(roi_low),
        ci_high=float(roi_high),
        method=f"{BOOTSTRAP}, {n_boot} resamples, seed {seed}",
    )
    return cost, roi
