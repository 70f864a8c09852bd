"""One campaign's observational estimate, as rows of the result tables.

:class:`CampaignEstimator` decides whether a campaign can be estimated,
builds its analysis table (covariates, treatment flags, outcomes and the
counts of customers left out) and flattens the estimate into one row per
outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from promoloop.errors import UndefinedMetricError
from promoloop.evaluation.observational_data import (
    OUTCOMES,
    PurchaseHistory,
    behaviour_covariates,
    earlier_campaign_covariates,
    window_outcomes,
)
from promoloop.evaluation.observational_stats import ATTResult, estimate_att
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

#: Value of the ``design`` column of every result row.
DESIGN = "observational"
#: Value of the ``overlap`` column when overlap or balance is poor.
POOR_OVERLAP = "poor overlap"

_ESTIMATES = ("naive", "ipw_att", "dr_att")
EFFECT_COLUMNS = [
    C.campaign_id,
    C.promotion_id,
    "start",
    "end",
    "outcome",
    "design",
    "estimated",
    "reason",
    *(
        f"{name}{suffix}"
        for name in _ESTIMATES
        for suffix in ("", "_ci_low", "_ci_high")
    ),
    "overlap",
    "overlap_reasons",
    "treated_mean",
    "control_mean",
    "weighted_control_mean",
    "n_exposed",
    "n_treated",
    "n_control",
    "n_exposed_inactive",
    "n_unexposed_inactive",
    "n_treated_trimmed",
    "n_control_trimmed",
    "n_treated_ps_over_0_95",
    "n_control_ps_under_0_05",
    *(
        f"ps_{group}_p{q}"
        for group in ("treated", "control")
        for q in (5, 25, 50, 75, 95)
    ),
    "max_abs_smd_before",
    "max_abs_smd_after",
    "share_smd_under_0_1",
    "control_ess",
    "pre_period_days",
    "window_days",
]
BALANCE_COLUMNS = [
    C.campaign_id,
    "covariate",
    "design",
    "treated_mean",
    "control_mean",
    "treated_mean_kept",
    "weighted_control_mean",
    "smd_before",
    "smd_after",
]


@dataclass
class CampaignEstimator:
    """Estimator of one campaign at a time over a shared purchase history.

    Calling it with a campaign window (a row of
    :func:`~promoloop.evaluation.observational_data.campaign_windows`) and
    ``as_of`` returns the campaign's status row, its effect rows and its
    balance table (None when not estimated).
    """

    history: PurchaseHistory
    exposures: pd.DataFrame
    windows: pd.DataFrame
    dummies: pd.DataFrame
    pre_weeks: int
    min_pre_days: int
    att_settings: dict

    def __call__(self, window, as_of: pd.Timestamp):
        """Return the campaign's status row, effect rows and balance table."""
        campaign_id = str(window.campaign_id)
        status = [campaign_id, window.promotion_id]
        if window.start > as_of:
            return [*status, "not started", "starts after as_of"], [], None
        # The end is exclusive: a campaign ending on DATE has ended at
        # as_of DATE 23:59:59.999999, one microsecond before its end.
        if window.end > as_of + pd.Timedelta(microseconds=1):
            reason = f"not ended by as_of: its window runs to {window.end} (exclusive)"
            return [*status, "not ended", reason], [], None

        reason, base, pre_start = self._describe(window, campaign_id)
        if reason is None:
            covariates, treated, outcomes, counts = self._analysis_table(
                window, campaign_id, pre_start
            )
            base.update(counts)
            try:
                result = estimate_att(
                    covariates, treated, outcomes, **self.att_settings
                )
            except UndefinedMetricError as error:
                reason = str(error)
        if reason is not None:
            logger.info("campaign %s not estimated: %s", campaign_id, reason)
            rows = [{**base, "outcome": o, "reason": reason} for o in OUTCOMES]
            return [*status, "not estimated", reason], rows, None

        rows = [effect_row(base, result, outcome) for outcome in OUTCOMES]
        balance = result.balance.assign(
            **{C.campaign_id: campaign_id, "design": DESIGN}
        )
        return [*status, "estimated", None], rows, balance

    def _describe(self, window, campaign_id: str):
        """Return why the campaign cannot be estimated (or None), its row base
        and the start of its pre-period."""
        first = self.history.first_time()
        pre_start = window.start - pd.Timedelta(weeks=self.pre_weeks)
        if first is not None:
            pre_start = max(pre_start, first)
        pre_days = max((window.start - pre_start) / pd.Timedelta(days=1), 0.0)
        base = {
            C.campaign_id: campaign_id,
            C.promotion_id: window.promotion_id,
            "start": window.start,
            "end": window.end,
            "design": DESIGN,
            "estimated": False,
            "pre_period_days": pre_days,
            "window_days": (window.end - window.start) / pd.Timedelta(days=1),
        }
        campaign = self.exposures[self.exposures[C.campaign_id] == campaign_id]
        if campaign[C.holdout].fillna(False).astype(bool).any():
            reason = (
                "the campaign has a holdout group: it was randomized, so "
                "evaluate_campaigns measures it"
            )
        elif first is None or window.start <= first:
            reason = "no pre-period: the campaign starts before the first purchase"
        elif pre_days < self.min_pre_days:
            reason = (
                f"pre-period of {pre_days:.1f} days (cut at the first purchase) is "
                f"shorter than min_pre_days={self.min_pre_days}"
            )
        else:
            reason = None
        return reason, base, pre_start

    def _analysis_table(self, window, campaign_id: str, pre_start: pd.Timestamp):
        """Return covariates, treatment flags and outcomes of the active
        customers, and the counts of the exposed and unexposed left out."""
        start = window.start
        behaviour, active = behaviour_covariates(self.history, pre_start, start)
        earlier = earlier_campaign_covariates(
            self.exposures, self.windows, self.history, campaign_id, start
        )
        covariates = pd.concat([behaviour, earlier, self.dummies], axis=1)
        outcomes = window_outcomes(self.history, start, window.end)

        exposed_ids = self.exposures.loc[
            self.exposures[C.campaign_id] == campaign_id, C.customer_id
        ].unique()
        codes = self.history.codes_of(exposed_ids)
        exposed = np.zeros(self.history.n_customers, dtype=bool)
        exposed[codes[codes >= 0]] = True
        counts = {
            "n_exposed": len(exposed_ids),
            "n_treated": int((exposed & active).sum()),
            "n_control": int((~exposed & active).sum()),
            "n_exposed_inactive": len(exposed_ids) - int((exposed & active).sum()),
            "n_unexposed_inactive": int((~exposed & ~active).sum()),
        }
        return (
            covariates[active].reset_index(drop=True),
            exposed[active],
            outcomes[active].reset_index(drop=True),
            counts,
        )


def effect_row(base: dict, result: ATTResult, outcome: str) -> dict:
    """Flatten one outcome's estimates and the campaign's diagnostics into a row."""
    d = result.diagnostics
    row = {**base, "outcome": outcome, "estimated": True, "reason": None}
    for name, estimates in (
        ("naive", result.naive),
        ("ipw_att", result.ipw),
        ("dr_att", result.dr),
    ):
        row[name] = estimates[outcome].value
        row[f"{name}_ci_low"] = estimates[outcome].ci_low
        row[f"{name}_ci_high"] = estimates[outcome].ci_high
    row.update(
        {
            "overlap": POOR_OVERLAP if d["poor_overlap"] else "ok",
            "overlap_reasons": "; ".join(d["overlap_reasons"]) or None,
            "treated_mean": result.treated_mean[outcome],
            "control_mean": result.control_mean[outcome],
            "weighted_control_mean": result.weighted_control_mean[outcome],
            "n_treated_trimmed": d["n_treated_trimmed"],
            "n_control_trimmed": d["n_control_trimmed"],
            "n_treated_ps_over_0_95": d["treated_above_high"],
            "n_control_ps_under_0_05": d["controls_below_low"],
            "max_abs_smd_before": d["max_abs_smd_before"],
            "max_abs_smd_after": d["max_abs_smd_after"],
            "share_smd_under_0_1": d["share_smd_below"],
            "control_ess": d["control_ess"],
        }
    )
    for group in ("treated", "control"):
        for key, value in d[f"propensity_{group}"].items():
            row[f"ps_{group}_p{int(key[1:])}"] = value
    return row
