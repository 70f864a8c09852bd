"""Checks that stop a wrong conclusion from a campaign evaluation.

Each check is a dict with ``check``, ``campaign_id``, ``promotion_id``,
``segment``, ``status`` ("ok", "warn" or "fail"), ``message`` and, where a
number backs it, ``value``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from promoloop.data.schema import EXPOSURES, TableSpec, conform
from promoloop.errors import InputError
from promoloop.evaluation.campaign_stats import Effect, sample_ratio_test
from promoloop.vocabulary import Columns as C

OK, WARN, FAIL = "ok", "warn", "fail"

#: Sample ratio mismatch fails below this chi-square p-value.
SRM_P_THRESHOLD = 0.001

#: Optional exposures column with the campaign's planned holdout share.
HOLDOUT_SHARE = "holdout_share"


def _check(
    name, campaign_id, status, message, *, promotion_id=None, segment=None, value=None
):
    return {
        "check": name,
        C.campaign_id: campaign_id,
        C.promotion_id: promotion_id,
        "segment": segment,
        "status": status,
        "message": message,
        "value": value,
    }


def check_settings(*, alpha: float, min_segment_size: int, n_boot: int) -> None:
    """Raise InputError on an alpha outside (0, 1) or a non-positive size."""
    if not 0 < alpha < 1:
        raise InputError(
            "invalid alpha", value=alpha, expected="a number in (0, 1)", fix="pass 0.05"
        )
    if min_segment_size < 1:
        raise InputError(
            "invalid min_segment_size",
            value=min_segment_size,
            expected="a positive number of customers",
            fix="pass e.g. 200",
        )
    if n_boot < 100:
        raise InputError(
            "invalid n_boot",
            value=n_boot,
            expected="at least 100 resamples",
            fix="pass 1000",
        )


def _valid_share(share: float, campaign_id: str | None) -> float:
    share = float(share)
    if not 0 < share < 1:
        raise InputError(
            "invalid planned holdout share"
            + (f" for campaign {campaign_id!r}" if campaign_id else ""),
            value=share,
            expected="a fraction strictly between 0 and 1",
            fix="pass planned_holdout_share such as 0.1",
        )
    return share


def planned_shares(
    exposures: pd.DataFrame, planned: float | Mapping[str, float] | None
) -> dict[str, float] | float | None:
    """Return the planned holdout share: one for all campaigns, per campaign, or None.

    An explicit ``planned`` wins over the exposures' ``holdout_share`` column,
    which wins over the logged ``probability`` of the holdout rows: promoloop
    logs a withheld offer with the campaign's holdout share as its
    probability.
    """
    if isinstance(planned, Mapping):
        return {str(k): _valid_share(v, str(k)) for k, v in planned.items()}
    if planned is not None:
        return _valid_share(planned, None)
    if HOLDOUT_SHARE not in exposures.columns:
        return _logged_shares(exposures)
    first = (
        exposures.dropna(subset=[HOLDOUT_SHARE])
        .groupby(C.campaign_id)[HOLDOUT_SHARE]
        .first()
    )
    return {str(k): _valid_share(v, str(k)) for k, v in first.items()}


EXPOSURES_SHARE_COLUMNS = TableSpec(
    "exposures",
    tuple(
        column
        for column in EXPOSURES.columns
        if column.name in (C.campaign_id, C.holdout, C.probability)
    ),
    "The exposure columns that give the logged holdout share.",
)


def _logged_shares(exposures: pd.DataFrame) -> dict[str, float] | None:
    """Return the holdout rows' logged probability per campaign, if any."""
    if C.probability not in exposures.columns or C.holdout not in exposures.columns:
        return None
    # The columns were checked when the outcomes were joined; this only reads
    # them the same way.
    table = exposures[[C.campaign_id, C.holdout, C.probability]]
    table = conform(table, EXPOSURES_SHARE_COLUMNS, source="exposures")
    rows = table[table[C.holdout].fillna(False).to_numpy(dtype=bool)]
    logged = rows.groupby(C.campaign_id)[C.probability].median()
    logged = logged[(logged > 0) & (logged < 1)]
    if logged.empty:
        return None
    return {str(k): float(v) for k, v in logged.items()}


def sample_ratio_check(
    campaign_id: str, n_holdout: int, n_total: int, shares: dict | float | None
) -> dict:
    """Compare the observed holdout share with the plan by a chi-square test."""
    share = shares.get(campaign_id) if isinstance(shares, dict) else shares
    observed = n_holdout / n_total
    if share is None:
        return _check(
            "sample_ratio_mismatch",
            campaign_id,
            WARN,
            f"holdout share is {observed:.4f}, but the planned share is unknown, so "
            "sample ratio mismatch was not tested. Pass planned_holdout_share",
        )
    p_value = sample_ratio_test(n_holdout, n_total, share)
    status = FAIL if p_value < SRM_P_THRESHOLD else OK
    verdict = (
        "the groups were not split as planned, so the comparison is biased; "
        "find out why before trusting any lift"
        if status == FAIL
        else "consistent with the plan"
    )
    return _check(
        "sample_ratio_mismatch",
        campaign_id,
        status,
        f"holdout share {observed:.4f} ({n_holdout} of {n_total}) vs planned "
        f"{share:.4f}: chi-square p = {p_value:.3g}, {verdict}",
        value=p_value,
    )


def both_groups_check(campaign_id: str, n_both: int) -> dict:
    """Report customers found in both treated and holdout, who were removed."""
    if n_both == 0:
        return _check(
            "customers_in_both_groups", campaign_id, OK, "no customer is in both groups"
        )
    return _check(
        "customers_in_both_groups",
        campaign_id,
        WARN,
        f"{n_both} customers were both treated and held out; they were removed from "
        "both groups. Check how the holdout was applied",
        value=n_both,
    )


def identifiability_check(campaign_id: str, n_treated: int, n_control: int) -> dict:
    """Fail when a campaign has no treated or no control customer."""
    if n_control == 0:
        message = (
            f"no control group: all {n_treated} customers were treated, so no lift "
            "is identifiable. Keep a holdout"
        )
        return _check("groups_present", campaign_id, FAIL, message)
    if n_treated == 0:
        message = (
            f"no treated customer: all {n_control} customers were held out, so no "
            "lift is identifiable"
        )
        return _check("groups_present", campaign_id, FAIL, message)
    return _check(
        "groups_present",
        campaign_id,
        OK,
        f"{n_treated} treated and {n_control} control customers",
    )


def mde_check(campaign_id: str, promotion_id: str, effects: list[Effect]) -> list[dict]:
    """Warn where the observed lift is smaller than the minimum detectable effect."""
    checks = []
    for effect in effects:
        if effect.metric not in ("conversion_rate", "revenue_per_customer"):
            continue
        if not effect.defined or effect.mde is None:
            continue
        small = abs(effect.estimate) < effect.mde
        size = f"observed lift {effect.estimate:.4g}, MDE at 80% power {effect.mde:.4g}"
        message = (
            f"{effect.metric}: {size}; too few customers to detect an effect "
            "of this size"
            if small
            else f"{effect.metric}: {size}"
        )
        checks.append(
            _check(
                "minimum_detectable_effect",
                campaign_id,
                WARN if small else OK,
                message,
                promotion_id=promotion_id,
                value=effect.mde,
            )
        )
    return checks


def segment_size_check(
    campaign_id: str,
    promotion_id: str,
    segment: str,
    n_treated: int,
    n_control: int,
    min_size: int,
) -> dict:
    """Warn that a segment's group is below the minimum size."""
    return _check(
        "segment_size",
        campaign_id,
        WARN,
        f"segment {segment!r} has {n_treated} treated and {n_control} control "
        f"customers, fewer than {min_size} in a group; its lift is unreliable",
        promotion_id=promotion_id,
        segment=segment,
        value=min(n_treated, n_control),
    )


def outcome_rows_check(counts: dict, window_days: float) -> dict:
    """Report how many outcome rows matched an exposure window.

    Fails when outcome rows exist but none falls inside a window. Warns when
    more than a tenth belong to customers without an exposure. Both usually
    mean that the files do not match: raw ids against pseudonyms, or dates
    read in the wrong order.
    """
    rows = counts["rows"]
    message = (
        f"{rows} outcome rows: {counts['in_window']} inside a {window_days:g}-day "
        f"window, {counts['before']} before the exposure (pre-period), "
        f"{counts['after']} after the window, {counts['unknown_customer']} of "
        "customers without an exposure"
    )
    status = OK
    if rows and counts["in_window"] == 0:
        status = FAIL
        message += (
            ". No outcome matches an exposure window: check that both files use "
            "the same customer ids (the run folder's are pseudonyms) and that the "
            "dates are ISO 8601"
        )
    elif rows and counts["unknown_customer"] > 0.1 * rows:
        status = WARN
        message += ". Many rows match no exposed customer: check the customer ids"
    return _check("outcome_rows", None, status, message, value=counts["in_window"])
