"""Observational effects of past targeted campaigns, with overlap diagnostics.

Campaigns such as The Complete Journey's were targeted, not randomized:
the exposed households were chosen, so comparing them with the others
mixes the campaign's effect with the reasons they were chosen.
:func:`estimate_campaign_effects` estimates, per campaign that ended by
``as_of``, the average effect on the treated (ATT) of being targeted on
spend and orders per customer in the campaign window. It weights the
controls by their propensity odds, estimated from pre-campaign behaviour,
demographic bands and earlier campaign exposure, and reports how well the
groups overlap and balance.

These are observational estimates: they hold only if those covariates
capture every reason for targeting that also drives spend (no unmeasured
confounding). They are not randomized lifts.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import pandas as pd

from promoloop.evaluation.observational_campaign import (
    BALANCE_COLUMNS,
    DESIGN,
    EFFECT_COLUMNS,
    POOR_OVERLAP,
    CampaignEstimator,
)
from promoloop.evaluation.observational_data import (
    campaign_windows,
    demographic_dummies,
    purchase_history,
)
from promoloop.vocabulary import Columns as C
from promoloop.warnings import OverlapWarning

logger = logging.getLogger(__name__)

__all__ = [
    "ASSUMPTION",
    "BALANCE_COLUMNS",
    "DESIGN",
    "EFFECT_COLUMNS",
    "ObservationalReport",
    "estimate_campaign_effects",
    "past_campaign_effects",
]

#: Assumption behind every observational figure, shown next to them in the report.
ASSUMPTION = (
    "Observational estimates, not randomized lifts: they assume no unmeasured "
    "confounding, that is, that the pre-campaign covariates capture every reason "
    "for targeting that also drives spend. Targeting may have used "
    "information that is not in the data."
)
_ATT_SETTINGS = ("n_folds", "n_boot", "alpha", "trim_above", "n_repeats", "seed")


@dataclass
class ObservationalReport:
    """Result of :func:`estimate_campaign_effects`.

    Attributes
    ----------
    effects : DataFrame
        One row per ended campaign and outcome (:data:`EFFECT_COLUMNS`).
        ``design`` is "observational" on every row. Rows of campaigns that
        could not be estimated have ``estimated`` False, a ``reason`` and
        missing numbers. ``overlap`` is "poor overlap" or "ok".
    balance : DataFrame
        One row per estimated campaign and covariate: means and
        standardized mean differences before and after weighting.
    campaigns : DataFrame
        One row per campaign: ``status`` ("estimated", "not estimated",
        "not ended", "not started") and ``reason``.
    settings : dict
        The estimation settings.
    reason : str or None
        Why nothing was estimated at all; None when the estimation ran.
    """

    effects: pd.DataFrame
    balance: pd.DataFrame
    campaigns: pd.DataFrame
    settings: dict = field(default_factory=dict)
    reason: str | None = None

    def summary(self) -> dict:
        """Return a JSON-ready summary for the run manifest."""
        statuses = self.campaigns
        estimated = self.effects[self.effects["estimated"].astype(bool)]
        poor = estimated.loc[estimated["overlap"] == POOR_OVERLAP, C.campaign_id]
        return {
            "design": DESIGN,
            "assumption": ASSUMPTION,
            "reason": self.reason,
            "settings": self.settings,
            "campaigns_estimated": _ids(statuses, "estimated"),
            "campaigns_poor_overlap": sorted(set(poor.astype(str)), key=_id_order),
            "campaigns_not_estimated": {
                str(row.campaign_id): row.reason
                for row in statuses.itertuples()
                if row.status != "estimated"
            },
        }


def _ids(statuses: pd.DataFrame, status: str) -> list[str]:
    chosen = statuses.loc[statuses["status"] == status, C.campaign_id].astype(str)
    return sorted(chosen, key=_id_order)


def _id_order(campaign_id: str):
    return (0, int(campaign_id), "") if campaign_id.isdigit() else (1, 0, campaign_id)


def estimate_campaign_effects(
    events: pd.DataFrame,
    exposures: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    descriptions: pd.DataFrame | None = None,
    *,
    as_of: pd.Timestamp | None = None,
    pre_weeks: int = 12,
    min_pre_days: int = 28,
    window_days: int = 28,
    n_folds: int = 5,
    n_boot: int = 200,
    alpha: float = 0.05,
    trim_above: float | None = 0.95,
    n_repeats: int = 3,
    seed: int = 0,
) -> ObservationalReport:
    """Estimate the effect of being targeted by each past campaign (observational).

    For each campaign that ended on or before ``as_of``, the treated are the
    exposed customers with a purchase in the pre-period: the ``pre_weeks``
    weeks before the campaign start, cut at the first purchase of the
    history. The controls are the customers with a purchase in the
    pre-period who were not exposed to that campaign. Exposed and unexposed
    customers without a pre-period purchase are counted, not compared.
    The covariates are pre-period spend, orders and distinct items (each
    also as a log), discount share and days since the last purchase. The
    demographic bands enter one-hot with missing as its own level, and
    exposure to other campaigns that started earlier enters as a count and
    a flag. The
    outcomes are spend (amount paid) and orders per customer in the
    campaign window. :func:`~promoloop.evaluation.observational_stats.
    estimate_att` gives the naive difference, the IPW ATT and the doubly
    robust ATT with bootstrap intervals, and the overlap diagnostics.

    Parameters
    ----------
    events : DataFrame
        Canonical events; purchases with a customer id count.
    exposures : DataFrame
        Canonical exposures, one row per (customer, campaign).
    customers : DataFrame, optional
        Canonical customers; columns other than id, locale and consent are
        demographic bands.
    descriptions : DataFrame, optional
        Campaign ``campaign_id``, ``start_date``, ``end_date`` (inclusive)
        and optionally ``campaign_type``. Campaigns missing there start at
        their first exposure and last ``window_days`` days.
    as_of : Timestamp or str, optional
        Observation end, UTC when it has no time zone; defaults to the last
        event.
    pre_weeks : int, default 12
        Length of the pre-period in weeks.
    min_pre_days : int, default 28
        Shortest pre-period, after cutting at the first event, that still
        counts; campaigns with less are not estimated.
    window_days : int, default 28
        Window of campaigns without descriptions.
    n_folds, n_boot, alpha, trim_above, n_repeats, seed
        Passed to :func:`~promoloop.evaluation.observational_stats.estimate_att`.

    Returns
    -------
    ObservationalReport
        Every row has ``design`` "observational". A campaign that cannot be
        estimated (no pre-period, a pre-period shorter than
        ``min_pre_days``, fewer than 2 treated or 2 controls, no overlap, a
        holdout group) has ``estimated`` False and the reason.

    Warns
    -----
    OverlapWarning
        Once, listing the campaigns whose overlap or balance is poor.
    """
    as_of = events[C.timestamp].max() if as_of is None else pd.Timestamp(as_of)
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize("UTC")
    settings = {
        "as_of": str(as_of),
        "pre_weeks": pre_weeks,
        "min_pre_days": min_pre_days,
        "window_days_without_descriptions": window_days,
        "n_folds": n_folds,
        "n_boot": n_boot,
        "alpha": alpha,
        "trim_above": trim_above,
        "n_repeats": n_repeats,
        "seed": seed,
    }
    history = purchase_history(events)
    windows = campaign_windows(exposures, descriptions, window_days=window_days)
    dummies = demographic_dummies(customers, history)
    estimate = CampaignEstimator(
        history=history,
        exposures=exposures,
        windows=windows,
        dummies=dummies,
        pre_weeks=pre_weeks,
        min_pre_days=min_pre_days,
        att_settings={key: settings[key] for key in _ATT_SETTINGS},
    )

    statuses, effects, balances = [], [], []
    for window in windows.itertuples(index=False):
        status, rows, balance = estimate(window, as_of)
        statuses.append(status)
        effects.extend(rows)
        if balance is not None:
            balances.append(balance)

    report = ObservationalReport(
        effects=pd.DataFrame(effects, columns=EFFECT_COLUMNS),
        balance=_concat(balances, BALANCE_COLUMNS),
        campaigns=pd.DataFrame(
            statuses, columns=[C.campaign_id, C.promotion_id, "status", "reason"]
        ),
        settings=settings,
    )
    _warn_poor_overlap(report)
    return report


def past_campaign_effects(data, as_of: pd.Timestamp, *, seed: int = 0):
    """Estimate past campaigns of a run's data when they were not randomized.

    Parameters
    ----------
    data : ShopData
        The run's data, already restricted to ``as_of``.
    as_of : Timestamp
        Observation end.
    seed : int, default 0

    Returns
    -------
    ObservationalReport
        Empty tables and a ``reason`` when the history logs no exposures.
        Campaigns with a holdout group (randomized, measured by
        ``promoloop evaluate`` instead) get a row with that reason.
    """
    exposures = data.exposures
    if exposures.empty:
        return _empty_report(
            "Nothing estimated: the history logs no past campaign exposures"
        )
    # Campaigns with a holdout group get a row with that reason, because
    # promoloop evaluate measures them against it. The others are estimated.
    return estimate_campaign_effects(
        data.events,
        exposures,
        data.customers,
        data.extras.get("campaign_descriptions"),
        as_of=as_of,
        seed=seed,
    )


def _empty_report(reason: str) -> ObservationalReport:
    logger.info("past campaigns: %s", reason)
    return ObservationalReport(
        effects=pd.DataFrame(columns=EFFECT_COLUMNS),
        balance=pd.DataFrame(columns=BALANCE_COLUMNS),
        campaigns=pd.DataFrame(
            columns=[C.campaign_id, C.promotion_id, "status", "reason"]
        ),
        reason=reason,
    )


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _warn_poor_overlap(report: ObservationalReport) -> None:
    poor = report.summary()["campaigns_poor_overlap"]
    if not poor:
        return
    warnings.warn(
        f"observational estimates of {len(poor)} campaign(s) ({', '.join(poor)}) "
        "rest on poor overlap or balance between targeted and other customers; "
        "their rows say 'poor overlap' and list why in overlap_reasons",
        OverlapWarning,
        stacklevel=3,
    )
