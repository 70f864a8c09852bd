"""Deterministic holdout groups: who is kept out of a campaign to measure it."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from promoloop.errors import ConfigError
from promoloop.vocabulary import Columns as C

_UNIT = float(2**64)


def customer_draw(customer_id: str, campaign_id: str, salt: str = "") -> float:
    """Return one customer's uniform number in [0, 1) fixed by the campaign.

    The number is the first 8 bytes of SHA-256(salt, campaign id, customer id)
    read as an unsigned integer and divided by 2**64. The service calls this
    per request; :func:`holdout_draw` gives the same numbers for a Series.
    """
    text = f"{salt}\x1f{campaign_id}\x1f{customer_id}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") / _UNIT


def holdout_draw(
    customer_ids: pd.Series, campaign_id: str, salt: str = ""
) -> pd.Series:
    """Map each customer to a uniform number in [0, 1) fixed by the campaign.

    Each number is :func:`customer_draw` of the id. Missing ids get NaN.
    """
    # hashlib has no vectorised form, so this loops over the distinct ids in
    # Python; a shop's few thousand customers take milliseconds.
    uniques = pd.unique(customer_ids.dropna())
    draws = {value: customer_draw(str(value), campaign_id, salt) for value in uniques}
    return customer_ids.map(draws).astype("float64")


def assign_holdout(
    customer_ids: pd.Series | list[str],
    campaign_id: str,
    share: float,
    salt: str = "",
) -> pd.Series:
    """Assign each customer to the holdout group of a campaign or not.

    The same customer, campaign, share and salt always give the same group,
    and the draws of two campaigns are independent, so being held out of one
    campaign says nothing about another.

    Parameters
    ----------
    customer_ids : Series or list of str
        Customer ids; missing ids are never held out.
    campaign_id : str
        Campaign the groups are for.
    share : float
        Expected share of customers held out, in [0, 1).
    salt : str, default ""
        Extra text hashed with the ids, to redraw the groups of a campaign id
        that is reused.

    Returns
    -------
    Series of bool
        True for the customers held out, with the index of ``customer_ids``
        (a RangeIndex for a list) and the name ``holdout``.

    Raises
    ------
    ConfigError
        If ``share`` is outside [0, 1).
    """
    if not 0 <= share < 1:
        raise ConfigError(
            f"holdout share {share!r} for campaign {campaign_id!r} is outside "
            "[0, 1). Fix: set holdout_share to a fraction such as 0.1"
        )
    ids = pd.Series(customer_ids, dtype="string")
    draws = holdout_draw(ids, campaign_id, salt)
    held_out = np.where(draws.isna(), False, draws.to_numpy() < share)
    return pd.Series(held_out, index=ids.index, name=C.holdout, dtype=bool)
