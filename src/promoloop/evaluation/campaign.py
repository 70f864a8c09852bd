"""Campaign evaluation: lift of each promotion over its campaign's holdout.

``evaluate_campaigns`` compares, per campaign and per promotion, the treated
customers (exposed to the promotion, ``holdout`` False) with the campaign's
holdout: conversion rate, revenue and margin per customer, incremental
revenue and margin, cost and ROI, each with an interval, plus a CUPED
estimate of revenue lift. Its checks (sample ratio mismatch, minimum
detectable effect, customers in both groups, missing groups, small segments)
flag results that would support a wrong conclusion.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from promoloop.evaluation.campaign_checks import (
    both_groups_check,
    check_settings,
    identifiability_check,
    mde_check,
    outcome_rows_check,
    planned_shares,
    sample_ratio_check,
    segment_size_check,
)
from promoloop.evaluation.campaign_data import (
    CONTROL,
    CONVERTED,
    GROUP,
    PRE_SPEND,
    REDEMPTIONS,
    SEGMENT,
    TREATED,
    customer_outcomes,
)
from promoloop.evaluation.campaign_economics import (
    CostTable,
    cost_table,
    customer_costs,
    roi_effects,
)
from promoloop.evaluation.campaign_stats import (
    Effect,
    cuped_effect,
    mean_effect,
    proportion_effect,
    scale_effect,
)
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

__all__ = [
    "ALL_PROMOTIONS",
    "MIN_SEGMENT_SIZE",
    "CampaignReport",
    "Effect",
    "evaluate_campaigns",
]

#: promotion_id of the comparison that pools all promotions of a campaign.
ALL_PROMOTIONS = "(all promotions)"

#: Default minimum number of customers in a segment's treated and control
#: groups. A segment with a smaller group gets a warning that its lift is
#: unreliable.
MIN_SEGMENT_SIZE = 200

_NUMBERS = [
    "treated_value",
    "control_value",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "relative_lift",
    "mde",
]


@dataclass
class CampaignReport:
    """Result of ``evaluate_campaigns``.

    Attributes
    ----------
    tables : dict of str to DataFrame
        ``effects`` (one row per campaign, promotion and metric), ``groups``
        (counts and rates per group), ``cuped``, ``segments`` (empty without
        segments) and ``checks``. Undefined numbers are ``pd.NA`` next to
        ``defined`` False and a ``reason``.
    checks : list of dict
        Each with ``check``, ``campaign_id``, ``promotion_id``, ``segment``,
        ``status`` ("ok", "warn" or "fail") and a plain ``message``.
    settings : dict
        The evaluation settings (window, alpha, seed, ...).
    notes : list of str
        Assumptions behind the figures, shown in the report.
    effects : dict
        ``Effect`` by (campaign_id, promotion_id, segment or None, metric).
    """

    tables: dict[str, pd.DataFrame]
    checks: list[dict]
    settings: dict
    notes: list[str] = field(default_factory=list)
    effects: dict[tuple, Effect] = field(default_factory=dict, repr=False)

    def effect(
        self,
        campaign_id: str,
        metric: str,
        promotion_id: str = ALL_PROMOTIONS,
        segment: str | None = None,
    ) -> Effect:
        """Return one effect, e.g. ``report.effect("c1", "conversion_rate", "p1")``."""
        return self.effects[(campaign_id, promotion_id, segment, metric)]

    def to_dict(self) -> dict:
        """Return the report as JSON-ready dicts (undefined values are None)."""
        from promoloop.evaluation.campaign_report import report_dict

        return report_dict(self)

    def write(self, out_dir: str | Path) -> Path:
        """Write report.html, campaign_report.json and table CSVs to ``out_dir``."""
        from promoloop.evaluation.campaign_report import write_report

        return write_report(self, Path(out_dir))


def _compare(
    treated: pd.DataFrame,
    control: pd.DataFrame,
    alpha: float,
    *,
    costs: pd.DataFrame | None = None,
    with_economics: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[list[Effect], dict | None]:
    """Compute the effects of one treated group against its control group."""
    conv_t = treated[CONVERTED].to_numpy(dtype=float)
    conv_c = control[CONVERTED].to_numpy(dtype=float)
    rev_t, rev_c = (
        treated[C.revenue].to_numpy(float),
        control[C.revenue].to_numpy(float),
    )
    mar_t, mar_c = treated[C.margin].to_numpy(float), control[C.margin].to_numpy(float)
    revenue = mean_effect("revenue_per_customer", rev_t, rev_c, alpha)
    margin = mean_effect("margin_per_customer", mar_t, mar_c, alpha)
    effects = [
        proportion_effect("conversion_rate", conv_t, conv_c, alpha),
        revenue,
        margin,
    ]
    if not with_economics:
        return effects, None

    # Totals scale the per-customer lift by the treated customers.
    n_t = len(treated)
    effects.append(scale_effect(revenue, "incremental_revenue", n_t))
    effects.append(scale_effect(margin, "incremental_margin", n_t))
    cost_t = None
    if costs is not None:
        cost_t = customer_costs(treated[C.promotion_id], treated[REDEMPTIONS], costs)
    effects.extend(
        roi_effects(mar_t, mar_c, cost_t, alpha=alpha, n_boot=n_boot, seed=seed)
    )

    cuped = cuped_effect(
        "revenue_per_customer",
        rev_t,
        rev_c,
        treated[PRE_SPEND].to_numpy(float),
        control[PRE_SPEND].to_numpy(float),
        alpha,
    )
    effects.append(cuped.effect)
    cuped_row = {
        "theta": cuped.theta,
        "variance_reduction": cuped.variance_reduction,
        "plain_estimate": revenue.estimate,
        "plain_ci_low": revenue.ci_low,
        "plain_ci_high": revenue.ci_high,
        "cuped_estimate": cuped.effect.estimate,
        "cuped_ci_low": cuped.effect.ci_low,
        "cuped_ci_high": cuped.effect.ci_high,
        "defined": cuped.effect.defined,
        "reason": cuped.effect.reason,
    }
    return effects, cuped_row


def _comparisons(campaign: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Return the treated groups to compare: all promotions pooled, then each one."""
    treated = campaign[campaign[GROUP] == TREATED]
    promotions = sorted(treated[C.promotion_id].dropna().unique())
    pairs = [(ALL_PROMOTIONS, treated)]
    if len(promotions) > 1:
        pairs += [(p, treated[treated[C.promotion_id] == p]) for p in promotions]
    return pairs


def _effect_rows(key: dict, effects: list[Effect], n_t: int, n_c: int) -> list[dict]:
    rows = []
    for effect in effects:
        row = {**key, "metric": effect.metric, "n_treated": n_t, "n_control": n_c}
        row.update(effect.to_dict())
        rows.append(row)
    return rows


def _group_rows(campaign_id: str, promotion_id: str, group: str, df: pd.DataFrame):
    n = len(df)
    return {
        C.campaign_id: campaign_id,
        C.promotion_id: promotion_id,
        GROUP: group,
        "n_customers": n,
        "conversions": int(df[CONVERTED].sum()),
        "conversion_rate": df[CONVERTED].mean() if n else None,
        "revenue_per_customer": df[C.revenue].mean() if n else None,
        "margin_per_customer": df[C.margin].mean() if n else None,
        "redemptions": int(df[REDEMPTIONS].sum()),
    }


def _frame(rows: list[dict], numbers: list[str]) -> pd.DataFrame:
    """Build a table whose undefined numbers are pd.NA rather than NaN."""
    df = pd.DataFrame(rows)
    for column in numbers:
        if column in df.columns:
            df[column] = pd.array(
                [pd.NA if v is None else v for v in df[column].astype(object)],
                dtype="Float64",
            )
    return df


def evaluate_campaigns(
    exposures: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    pre_period: pd.DataFrame | None = None,
    planned_holdout_share: float | Mapping[str, float] | None = None,
    segments: pd.DataFrame | None = None,
    alpha: float = 0.05,
    min_segment_size: int = MIN_SEGMENT_SIZE,
    promotion_costs: CostTable | None = None,
    seed: int = 0,
    window_days: float = 14,
    n_boot: int = 1000,
    notes: list[str] | None = None,
) -> CampaignReport:
    """Measure each campaign's and promotion's lift over the campaign's holdout.

    Parameters
    ----------
    exposures : DataFrame
        Canonical exposures: ``customer_id``, ``campaign_id``,
        ``promotion_id`` (empty for none), ``holdout``, ``timestamp``.
        An optional ``holdout_share`` column gives the planned share.
    outcomes : DataFrame
        Canonical outcomes: ``customer_id``, ``timestamp``, ``revenue`` and
        optionally ``margin``, ``order_id`` and ``promotion_id`` (a row
        whose promotion is the customer's promotion is a redemption).
    pre_period : DataFrame, optional
        ``customer_id`` and ``pre_spend`` for CUPED. When None, the
        pre-period spend is the outcome revenue before the exposure.
    planned_holdout_share : float or mapping of str to float, optional
        Planned holdout share, for all campaigns or per campaign_id.
    segments : DataFrame, optional
        ``customer_id`` and ``segment``; adds lift by segment.
    alpha : float, default 0.05
        1 - confidence level of every interval.
    min_segment_size : int, default 200
        Segment groups smaller than this get a warning.
    promotion_costs : DataFrame or mapping, optional
        See ``campaign_economics.cost_table``. Without it cost and ROI are
        undefined.
    seed : int, default 0
        Seed of the ROI and cost bootstrap.
    window_days : float, default 14
        Outcome window after each customer's first exposure, in days.
    n_boot : int, default 1000
        Bootstrap resamples for cost and ROI.
    notes : list of str, optional
        Assumptions to print in the report; ``outcomes.attrs["notes"]`` is
        added to them.

    Returns
    -------
    CampaignReport

    Raises
    ------
    InputError
        On a missing column, an unreadable value, an invalid setting or cost.
    """
    check_settings(alpha=alpha, min_segment_size=min_segment_size, n_boot=n_boot)
    costs = cost_table(promotion_costs)
    customers, in_both = customer_outcomes(
        exposures,
        outcomes,
        window_days=window_days,
        pre_period=pre_period,
        segments=segments,
    )
    shares = planned_shares(exposures, planned_holdout_share)
    outcome_rows = customers.attrs.get("outcome_rows", {})

    effect_rows, group_rows, cuped_rows, segment_rows, checks = [], [], [], [], []
    if outcome_rows:
        checks.append(outcome_rows_check(outcome_rows, window_days))
    effects: dict[tuple, Effect] = {}
    for campaign_id, campaign in customers.groupby(C.campaign_id, sort=True):
        control = campaign[campaign[GROUP] == CONTROL]
        checks.append(
            sample_ratio_check(campaign_id, len(control), len(campaign), shares)
        )
        checks.append(both_groups_check(campaign_id, int(in_both.get(campaign_id, 0))))

        # Overall and per-promotion comparisons against the campaign's holdout.
        group_rows.append(_group_rows(campaign_id, ALL_PROMOTIONS, CONTROL, control))
        for promotion_id, treated in _comparisons(campaign):
            found, cuped_row = _compare(
                treated,
                control,
                alpha,
                costs=costs,
                with_economics=True,
                n_boot=n_boot,
                seed=seed,
            )
            key = {C.campaign_id: campaign_id, C.promotion_id: promotion_id}
            effect_rows += _effect_rows(key, found, len(treated), len(control))
            effects.update(
                {(campaign_id, promotion_id, None, e.metric): e for e in found}
            )
            cuped_rows.append({**key, **cuped_row})
            group_rows.append(_group_rows(campaign_id, promotion_id, TREATED, treated))
            if promotion_id == ALL_PROMOTIONS:
                checks.append(
                    identifiability_check(campaign_id, len(treated), len(control))
                )
            checks.extend(mde_check(campaign_id, promotion_id, found))

        # The same estimates inside each segment.
        if segments is None:
            continue
        for segment, part in campaign.groupby(SEGMENT, sort=True):
            seg_control = part[part[GROUP] == CONTROL]
            for promotion_id, treated in _comparisons(part):
                found, _ = _compare(treated, seg_control, alpha)
                key = {
                    C.campaign_id: campaign_id,
                    C.promotion_id: promotion_id,
                    SEGMENT: segment,
                }
                small = min(len(treated), len(seg_control)) < min_segment_size
                rows = _effect_rows(key, found, len(treated), len(seg_control))
                segment_rows += [{**row, "small_segment": small} for row in rows]
                effects.update(
                    {(campaign_id, promotion_id, segment, e.metric): e for e in found}
                )
                if small:
                    checks.append(
                        segment_size_check(
                            campaign_id,
                            promotion_id,
                            segment,
                            len(treated),
                            len(seg_control),
                            min_segment_size,
                        )
                    )

    tables = {
        "effects": _frame(effect_rows, _NUMBERS),
        "groups": _frame(
            group_rows,
            ["conversion_rate", "revenue_per_customer", "margin_per_customer"],
        ),
        "cuped": _frame(
            cuped_rows,
            [
                "theta",
                "variance_reduction",
                "plain_estimate",
                "plain_ci_low",
                "plain_ci_high",
                "cuped_estimate",
                "cuped_ci_low",
                "cuped_ci_high",
            ],
        ),
        "segments": _frame(segment_rows, _NUMBERS),
        "checks": pd.DataFrame(checks),
    }
    settings = {
        "window_days": window_days,
        "alpha": alpha,
        "confidence_level": 1 - alpha,
        "min_segment_size": min_segment_size,
        "seed": seed,
        "n_boot": n_boot,
        "customers_in_both_groups_removed": int(in_both.sum()),
    }
    all_notes = list(notes or []) + list(outcomes.attrs.get("notes", []))
    logger.info("evaluated %d campaigns", customers[C.campaign_id].nunique())
    return CampaignReport(tables, checks, settings, all_notes, effects)
