"""Customer value: RFM scores, CLV columns and discount sensitivity."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from promoloop.config import ValueConfig
from promoloop.profiles.behaviour import (
    discount_share_of_value,
    population_discount_share,
)
from promoloop.profiles.btyd import btyd_summary
from promoloop.profiles.clv_estimate import VALUE_COLUMNS, estimate_clv
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)


def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Score values 1 to 5 by quintile of their rank, 5 best.

    Ties are broken by position (rank method ``"first"``), so every quintile
    gets its share of customers even when many values are equal. Missing
    values rank worst.

    Parameters
    ----------
    values : Series
        One value per customer.
    higher_is_better : bool, default True
        False for recency, where fewer days is better.

    Returns
    -------
    Series of int64
        Scores ``ceil(5 * rank / n)`` with rank 1 the worst.
    """
    if values.empty:
        return pd.Series([], index=values.index, dtype="int64")
    worst = -np.inf if higher_is_better else np.inf
    filled = values.astype("float64").fillna(worst)
    rank = filled.rank(method="first", ascending=higher_is_better)
    return np.ceil(5 * rank / len(values)).astype("int64")


def rfm_scores(behaviour: pd.DataFrame) -> pd.DataFrame:
    """Compute ``r_score``, ``f_score``, ``m_score`` and the ``rfm_score`` string.

    Parameters
    ----------
    behaviour : DataFrame
        Output of :func:`promoloop.profiles.behaviour.behaviour_features`.

    Returns
    -------
    DataFrame
        Same index; ``rfm_score`` joins the three digits, e.g. ``"545"``.
    """
    scores = pd.DataFrame(index=behaviour.index)
    scores["r_score"] = quintile_scores(behaviour["recency_days"], False)
    scores["f_score"] = quintile_scores(behaviour["frequency"])
    scores["m_score"] = quintile_scores(behaviour["monetary"])
    scores["rfm_score"] = (
        scores["r_score"].astype(str)
        + scores["f_score"].astype(str)
        + scores["m_score"].astype(str)
    )
    return scores


def discount_sensitivity(events: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Compute how much more than average a customer buys on discount.

    ``discount_sensitivity`` is the customer's discount share of regular
    value (total discount / (amount + discount) over purchase lines with
    quantity above 0) divided by the same share over all known customers:
    1 is average, 2 twice the average. It is missing when the customer's
    regular value is 0 (no purchase, or zero-price lines only), and for
    everyone when the data contains no discount at all: a shop that never
    discounted cannot show who responds to discounts, so targeting then
    treats every customer as average.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.
    index : Index
        Customer ids of the result.

    Returns
    -------
    DataFrame
        Columns ``discount_value_share`` and ``discount_sensitivity``.
    """
    shares = discount_share_of_value(events).reindex(index)
    population = population_discount_share(events)
    out = pd.DataFrame(index=index)
    out["discount_value_share"] = shares["discount_value_share"]
    if np.isfinite(population) and population > 0:
        out["discount_sensitivity"] = out["discount_value_share"] / population
    else:
        out["discount_sensitivity"] = np.nan
    return out


def value_features(
    events: pd.DataFrame,
    behaviour: pd.DataFrame,
    as_of: pd.Timestamp,
    config: ValueConfig,
) -> tuple[pd.DataFrame, dict]:
    """Compute RFM scores, CLV columns and discount sensitivity per customer.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.
    behaviour : DataFrame
        Behaviour features indexed by ``customer_id``.
    as_of : Timestamp
        Observation end, timezone-aware UTC.
    config : ValueConfig
        Period, horizon and discount rate.

    Returns
    -------
    values : DataFrame
        Indexed like ``behaviour``. Customers without a purchase occasion
        (no purchase with spend above 0) are outside the BTYD models: they
        get ``expected_purchases`` and ``clv`` 0, the population mean spend,
        missing ``p_alive`` and ``clv_method="baseline"``.
    diagnostics : dict
        From :func:`promoloop.profiles.clv_estimate.estimate_clv`, plus the
        number of customers without an occasion.
    """
    values = rfm_scores(behaviour)
    values = values.join(discount_sensitivity(events, behaviour.index))

    # BTYD summaries in days and weeks, same customers in the same order
    daily = btyd_summary(events, as_of, "D")
    weekly = btyd_summary(events, as_of, "W").set_index(C.customer_id)
    weekly = weekly.reindex(daily[C.customer_id]).reset_index()
    diagnostics: dict = {"customers_without_occasion": 0}
    if daily.empty:
        clv_values = pd.DataFrame(columns=VALUE_COLUMNS, index=pd.Index([]))
        diagnostics["clv_method"] = "baseline"
        population_spend = 0.0
    else:
        clv_values, fit_diagnostics = estimate_clv(
            {"D": daily, "W": weekly},
            horizon_days=config.horizon_days,
            annual_discount_rate=config.annual_discount_rate,
            first_period=config.period,
        )
        diagnostics.update(fit_diagnostics)
        population_spend = diagnostics["population_mean_spend"]

    # Customers without a purchase occasion
    clv_values = clv_values.reindex(behaviour.index)
    outside = ~behaviour.index.isin(daily[C.customer_id])
    diagnostics["customers_without_occasion"] = int(outside.sum())
    clv_values.loc[outside, "expected_purchases"] = 0.0
    clv_values.loc[outside, "expected_spend"] = population_spend
    clv_values.loc[outside, "expected_spend_is_population_mean"] = True
    clv_values.loc[outside, "clv"] = 0.0
    clv_values.loc[outside, "clv_method"] = "baseline"
    clv_values = clv_values.astype(
        {
            "p_alive": "float64",
            "expected_purchases": "float64",
            "expected_spend": "float64",
            "expected_spend_is_population_mean": bool,
            "clv": "float64",
            "clv_method": "str",
        }
    )
    return values.join(clv_values), diagnostics
