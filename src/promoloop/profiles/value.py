"""Customer value: RFM scores, CLV columns and discount sensitivity.

The RFM scores, discount shares and BTYD summaries are defined once, as Ibis
expressions in :mod:`promoloop.engine.value`, so the same definition runs on
DuckDB or Spark. The CLV models are fitted in this process on the collected
per-customer summary.
"""

from __future__ import annotations

import logging

import ibis
import numpy as np
import pandas as pd

from promoloop.config import ValueConfig
from promoloop.engine import Engine
from promoloop.engine.backends import engine_or_default
from promoloop.engine.value import (
    RFM_INPUT_COLUMNS,
    collect_btyd,
    collect_discount_shares,
    collect_rfm,
    quintile_score,
)
from promoloop.profiles.behaviour import _engine_input
from promoloop.profiles.clv_estimate import VALUE_COLUMNS, estimate_clv
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

_ROW = "_row"


def quintile_scores(
    values: pd.Series, higher_is_better: bool = True, engine: Engine | None = None
) -> pd.Series:
    """Score values 1 to 5 by quintile of their rank, 5 best.

    Runs :func:`promoloop.engine.value.quintile_score` on ``engine``, an
    in-process DuckDB database by default. Equal values are ranked by
    ascending index label, then by position, so every quintile gets its
    share of customers even when many values are equal. On an index sorted
    in ascending order this is the position order. Missing values rank
    worst.

    Parameters
    ----------
    values : Series
        One value per customer, indexed by customer id.
    higher_is_better : bool, default True
        False for recency, where fewer days is better.
    engine : Engine, optional
        Engine to run on; left open. Default: a new in-process DuckDB
        engine, closed afterwards.

    Returns
    -------
    Series of int64
        Scores ``ceil(5 * rank / n)`` with rank 1 the worst, indexed like
        ``values``.
    """
    if values.empty:
        return pd.Series([], index=values.index, dtype="int64")
    if engine is None:
        with engine_or_default() as default:
            return quintile_scores(values, higher_is_better, default)
    frame = pd.DataFrame(
        {
            "label": values.index.to_numpy(),
            "value": values.to_numpy(dtype="float64", na_value=np.nan),
            _ROW: np.arange(len(values), dtype="int64"),
        }
    )
    table = engine.register_frame("quintile_values", frame)
    score = quintile_score(table.value, [table.label, table[_ROW]], higher_is_better)
    scores = engine.to_pandas(table.select(_ROW, score=score).order_by(_ROW))
    return pd.Series(
        scores["score"].to_numpy(dtype="int64"), index=values.index, name=values.name
    )


def rfm_scores(behaviour: pd.DataFrame, engine: Engine | None = None) -> pd.DataFrame:
    """Compute ``r_score``, ``f_score``, ``m_score`` and the ``rfm_score`` string.

    Runs :func:`promoloop.engine.value.rfm_table` on ``engine``, an
    in-process DuckDB database by default. Equal values are ranked by
    ascending customer id (see :func:`quintile_scores`).

    Parameters
    ----------
    behaviour : DataFrame
        Output of :func:`promoloop.profiles.behaviour.behaviour_features`,
        indexed by unique customer ids.
    engine : Engine, optional
        Engine to run on; left open. Default: a new in-process DuckDB
        engine, closed afterwards.

    Returns
    -------
    DataFrame
        Same index; ``rfm_score`` joins the three digits, e.g. ``"545"``.
    """
    if engine is None:
        with engine_or_default() as default:
            return rfm_scores(behaviour, default)
    frame = behaviour[RFM_INPUT_COLUMNS[1:]].reset_index(drop=True)
    frame.insert(0, C.customer_id, behaviour.index.to_numpy())
    table = engine.register_frame("behaviour", frame)
    scores = collect_rfm(engine, table)
    scores.index = scores.index.astype(behaviour.index.dtype)
    return scores.reindex(behaviour.index)


def discount_sensitivity(
    events: pd.DataFrame, index: pd.Index, engine: Engine | None = None
) -> pd.DataFrame:
    """Compute how much more than average a customer buys on discount.

    ``discount_sensitivity`` is the customer's discount share of regular
    value (total discount / (amount + discount) over purchase lines with
    quantity above 0) divided by the same share over all known customers:
    1 is average, 2 twice the average. It is missing when the customer's
    regular value is 0 (no purchase, or zero-price lines only), and for
    everyone when the data contains no discount at all: a shop that never
    discounted cannot show who responds to discounts, so targeting then
    treats every customer as average.

    Runs :func:`promoloop.engine.value.discount_share_table` on ``engine``,
    an in-process DuckDB database by default.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.
    index : Index
        Customer ids of the result.
    engine : Engine, optional
        Engine to run on; left open. Default: a new in-process DuckDB
        engine, closed afterwards.

    Returns
    -------
    DataFrame
        Columns ``discount_value_share`` and ``discount_sensitivity``.
    """
    if engine is None:
        with engine_or_default() as default:
            return discount_sensitivity(events, index, default)
    table = engine.register_frame("events", _engine_input(events))
    return _discount_columns(engine, table, index)


def _discount_columns(
    engine: Engine, events: ibis.Table, index: pd.Index
) -> pd.DataFrame:
    """Collect the discount shares of registered events for the ids in ``index``."""
    shares = collect_discount_shares(engine, events)
    shares.index = shares.index.astype(index.dtype)
    shares = shares.reindex(index)
    return shares[["discount_value_share", "discount_sensitivity"]]


def _summary(
    engine: Engine, events: ibis.Table, as_of: pd.Timestamp, period: str, id_dtype
) -> pd.DataFrame:
    """Collect the BTYD summary of registered events with ids typed ``id_dtype``."""
    summary = collect_btyd(engine, events, as_of, period)
    summary[C.customer_id] = summary[C.customer_id].astype(id_dtype)
    return summary


def value_features(
    events: pd.DataFrame,
    behaviour: pd.DataFrame,
    as_of: pd.Timestamp,
    config: ValueConfig,
    engine: Engine | None = None,
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
    engine : Engine, optional
        Engine of the RFM scores, discount shares and BTYD summaries; left
        open. Default: a new in-process DuckDB engine, closed afterwards.
        The BG/NBD and Gamma-Gamma fits run in this process.

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
    if engine is None:
        with engine_or_default() as default:
            return value_features(events, behaviour, as_of, config, default)
    # RFM scores and discount shares on the engine
    values = rfm_scores(behaviour, engine)
    table = engine.register_frame("events", _engine_input(events))
    values = values.join(_discount_columns(engine, table, behaviour.index))

    # BTYD summaries in days and weeks on the engine, same customers in the
    # same order. The CLV models are fitted on them in this process.
    id_dtype = events[C.customer_id].dtype
    daily = _summary(engine, table, as_of, "D", id_dtype)
    weekly = _summary(engine, table, as_of, "W", id_dtype).set_index(C.customer_id)
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
