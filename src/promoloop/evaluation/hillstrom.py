"""The Hillstrom e-mail experiment (MineThatData, 2008) as a promoloop campaign.

64,000 customers were randomized into three equal arms: a men's e-mail, a
women's e-mail and no e-mail. Outcomes (visit, conversion, spend) cover the
two weeks after the e-mail. The file has no customer id and no timestamps,
so the customer id is the 1-based data row number and the timestamps are
nominal: every exposure at ``EXPOSED_AT`` and every order one day later.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

CAMPAIGN_ID = "hillstrom"
EXPOSED_AT = pd.Timestamp("2008-03-01", tz="UTC")
ARMS = {"Mens E-Mail": "mens", "Womens E-Mail": "womens", "No E-Mail": None}
_COLUMNS = ["segment", "conversion", "spend", "history"]


def _read(path: str | Path) -> pd.DataFrame:
    raw = pd.read_csv(path)
    missing = [c for c in _COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(
            f"missing column(s) {missing} in the Hillstrom file",
            file=str(path),
            expected=f"columns {_COLUMNS}",
        )
    unknown = ~raw["segment"].isin(list(ARMS))
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(
            "unknown arm in the Hillstrom file",
            file=str(path),
            row=row + 1,
            column="segment",
            value=raw["segment"].iloc[row],
            expected=f"one of {list(ARMS)}",
        )
    return raw.assign(**{C.customer_id: (np.arange(len(raw)) + 1).astype(str)})


def hillstrom_as_campaign(
    path: str | Path, margin_rate: float = 0.3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn the Hillstrom file into one campaign's exposures and outcomes.

    Parameters
    ----------
    path : str or Path
        The Hillstrom CSV (CRLF line endings are fine).
    margin_rate : float, default 0.3
        Assumed margin as a share of spend; the file has no margin. The
        assumption is stored in ``outcomes.attrs["notes"]`` so that the
        report states it.

    Returns
    -------
    exposures : DataFrame
        One row per customer: promotion ``mens`` or ``womens`` with holdout
        False, or no promotion with holdout True for the No E-Mail arm.
    outcomes : DataFrame
        One row per converting customer with revenue = spend and margin =
        spend x ``margin_rate``. Orders are not redemptions (no promotion_id)
        because the e-mail carried no code.

    Raises
    ------
    InputError
        On a missing column, an unknown arm or a margin rate outside [0, 1].
    """
    if not 0 <= margin_rate <= 1:
        raise InputError(
            "invalid margin_rate", value=margin_rate, expected="a share in [0, 1]"
        )
    raw = _read(path)

    promotion = raw["segment"].map(ARMS)
    exposures = pd.DataFrame(
        {
            C.decision_id: "hillstrom-" + raw[C.customer_id],
            C.customer_id: raw[C.customer_id],
            C.campaign_id: CAMPAIGN_ID,
            C.promotion_id: promotion.astype("string"),
            C.probability: 1 / 3,
            C.holdout: promotion.isna(),
            C.timestamp: EXPOSED_AT,
        }
    )

    buyers = raw[raw["conversion"] == 1]
    outcomes = pd.DataFrame(
        {
            C.customer_id: buyers[C.customer_id],
            C.order_id: "order-" + buyers[C.customer_id],
            C.campaign_id: CAMPAIGN_ID,
            C.promotion_id: pd.Series(pd.NA, index=buyers.index, dtype="string"),
            C.revenue: buyers["spend"].astype(float),
            C.margin: buyers["spend"].astype(float) * margin_rate,
            C.timestamp: EXPOSED_AT + pd.Timedelta(days=1),
        }
    ).reset_index(drop=True)
    outcomes.attrs["notes"] = [
        f"Margin is assumed to be {margin_rate:.0%} of spend; the Hillstrom data has "
        "no margin.",
        "Hillstrom timestamps are nominal: the file has none, and its outcomes "
        "cover the 2 weeks after the e-mail.",
    ]
    return exposures, outcomes


def hillstrom_pre_period(path: str | Path) -> pd.DataFrame:
    """Return ``customer_id, pre_spend`` from the past-year spend (``history``)."""
    raw = _read(path)
    return pd.DataFrame(
        {C.customer_id: raw[C.customer_id], "pre_spend": raw["history"]}
    )
