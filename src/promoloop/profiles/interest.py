"""Interest profile: weighted, time-decayed affinity to categories and brands.

A customer's affinity to a value of a dimension (a category, a brand) is

    sum over the customer's events on items with that value of
        weight[event_type] * 0.5 ** (age_days / half_life_days)

where ``age_days`` is the event's age at ``as_of``. Without a half-life every
event counts its full weight. Event types without a weight count 0.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from promoloop.config import InterestConfig
from promoloop.profiles.behaviour import DAY, known_customer_events
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

DIMENSIONS = (C.category, C.brand)
INTEREST_COLUMNS = [C.customer_id, "dimension", "value", C.score]


def event_weights(
    events: pd.DataFrame, as_of: pd.Timestamp, config: InterestConfig
) -> np.ndarray:
    """Return each event's type weight times its time decay.

    Parameters
    ----------
    events : DataFrame
        Canonical events.
    as_of : Timestamp
        Observation end; events are ``as_of - timestamp`` days old, and
        events stamped after it count as age 0.
    config : InterestConfig
        Weights per event type and the half-life in days (None: no decay).

    Returns
    -------
    ndarray of float
        One weight per row of ``events``.
    """
    weights = (
        events[C.event_type]
        .map(config.event_weights)
        .astype("float64")
        .fillna(0.0)
        .to_numpy()
    )
    if config.half_life_days is None:
        return weights
    age_days = ((as_of - events[C.timestamp]) / DAY).clip(lower=0).to_numpy(float)
    return weights * 0.5 ** (age_days / config.half_life_days)


def interest_scores(
    events: pd.DataFrame,
    items: pd.DataFrame,
    as_of: pd.Timestamp,
    config: InterestConfig,
) -> pd.DataFrame:
    """Compute every known customer's affinity to each category and brand.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.
    items : DataFrame
        Canonical items table; its ``category`` and ``brand`` columns are the
        dimensions. Events on items missing from it, or with a missing value,
        do not count for that dimension.
    as_of : Timestamp
        Observation end, timezone-aware UTC.
    config : InterestConfig
        Event weights and half-life.

    Returns
    -------
    DataFrame
        Long table ``[customer_id, dimension, value, score]``, one row per
        customer, dimension and value that the customer touched, sorted by
        customer, dimension and descending score.
    """
    known = known_customer_events(events)
    weighted = pd.DataFrame(
        {
            C.customer_id: known[C.customer_id].to_numpy(),
            C.item_id: known[C.item_id].to_numpy(),
            C.weight: event_weights(known, as_of, config),
        }
    )

    # Sum per customer and item first, so the join with items stays small
    per_item = weighted.groupby([C.customer_id, C.item_id], as_index=False)[
        C.weight
    ].sum()
    catalogue = items.drop_duplicates(C.item_id).set_index(C.item_id)

    parts = []
    for dimension in DIMENSIONS:
        if dimension not in catalogue.columns:
            continue
        values = per_item[C.item_id].map(catalogue[dimension])
        rows = per_item.assign(value=values).dropna(subset=["value"])
        scores = rows.groupby([C.customer_id, "value"], as_index=False)[C.weight].sum()
        scores["dimension"] = dimension
        parts.append(scores.rename(columns={C.weight: C.score}))
    if not parts:
        logger.info("items have no category or brand; the interest table is empty")
        empty = {c: pd.Series(dtype="str") for c in INTEREST_COLUMNS[:3]}
        return pd.DataFrame({**empty, C.score: pd.Series(dtype="float64")})
    interest = pd.concat(parts, ignore_index=True)[INTEREST_COLUMNS]
    interest = interest.astype({C.customer_id: "str", "value": "str"})
    return interest.sort_values(
        [C.customer_id, "dimension", C.score, "value"],
        ascending=[True, True, False, True],
        ignore_index=True,
    )


def favourites(interest: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Return each customer's highest-scoring category and brand.

    Ties go to the value that sorts first. A favourite needs a score above 0,
    so a customer whose only contact with a brand is a return has none.

    Parameters
    ----------
    interest : DataFrame
        Output of :func:`interest_scores`.
    index : Index
        Customer ids of the result.

    Returns
    -------
    DataFrame
        Columns ``favourite_category`` and ``favourite_brand``.
    """
    out = pd.DataFrame(index=index)
    positive = interest[interest[C.score] > 0]
    for dimension in DIMENSIONS:
        rows = positive[positive["dimension"] == dimension]
        # Rows are sorted by descending score, then value, within a customer.
        top = rows.drop_duplicates(C.customer_id).set_index(C.customer_id)["value"]
        out[f"favourite_{dimension}"] = top.reindex(index).astype("str")
    return out
