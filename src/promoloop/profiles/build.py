"""Assemble profiles from behaviour, value, interest, segments and anomalies."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from promoloop.config import RunConfig
from promoloop.engine import Engine
from promoloop.profiles.anomaly import detect_anomalies
from promoloop.profiles.behaviour import behaviour_features
from promoloop.profiles.interest import favourites, interest_scores
from promoloop.profiles.segments import segment_customers
from promoloop.profiles.value import value_features
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)


@dataclass
class Profiles:
    """Customer profiles of one run.

    Attributes
    ----------
    table : DataFrame
        One row per customer with at least one non-anonymous event, sorted by
        the string column ``customer_id``.
    interest : DataFrame
        Long table ``[customer_id, dimension, value, score]``.
    segments : DataFrame
        ``[segment, segment_name, customers, share]`` and mean features.
    diagnostics : dict
        JSON-serialisable fit and selection details for the run manifest.
    """

    table: pd.DataFrame
    interest: pd.DataFrame
    segments: pd.DataFrame
    diagnostics: dict = field(default_factory=dict)


def _basic_columns(customers: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Join the customers table; unknown customers get missing locale and consent."""
    known = customers.drop_duplicates(C.customer_id).set_index(C.customer_id)
    basic = known.reindex(index)
    if C.locale not in basic.columns:
        basic[C.locale] = pd.Series(pd.NA, index=index, dtype="str")
    if C.consent in basic.columns:
        basic[C.consent] = basic[C.consent].astype("boolean").fillna(True).astype(bool)
    else:
        basic[C.consent] = True
    return basic


def _json_ready(value):
    """Turn numpy scalars and dict keys into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def build_profiles(
    events: pd.DataFrame,
    items: pd.DataFrame,
    customers: pd.DataFrame,
    as_of: pd.Timestamp,
    config: RunConfig,
    seed: int = 0,
    contamination: float = 0.01,
    engine: Engine | None = None,
) -> Profiles:
    """Build every customer's profile from the canonical tables.

    Parameters
    ----------
    events : DataFrame
        Canonical events; events after ``as_of`` already removed. Anonymous
        lines are ignored.
    items : DataFrame
        Canonical items (category and brand feed the interest profile).
    customers : DataFrame
        Canonical customers; every column except ``customer_id`` is joined.
    as_of : Timestamp
        Observation end, timezone-aware UTC.
    config : RunConfig
        ``config.interest`` and ``config.value`` are used.
    seed : int, default 0
        Seed of segmentation and anomaly detection.
    contamination : float, default 0.01
        Expected share of anomalous customers.
    engine : Engine, optional
        Engine of the behaviour features, value inputs (RFM scores,
        discount shares, BTYD summaries) and interest scores; an in-process
        DuckDB engine per step by default.

    Returns
    -------
    Profiles
        Profile table, long interest table, segment summary and diagnostics.

    Raises
    ------
    ValueError
        If ``as_of`` is not timezone-aware, or ``contamination`` is outside
        (0, 0.5].
    """
    if as_of.tzinfo is None:
        raise ValueError(
            f"as_of {as_of!r} has no time zone; expected a UTC timestamp. "
            "Fix: pass pd.Timestamp(..., tz='UTC')"
        )
    as_of = as_of.tz_convert("UTC")
    timings: dict[str, float] = {}
    started = time.perf_counter()

    # Behaviour
    behaviour = behaviour_features(events, as_of, engine)
    timings["behaviour"] = time.perf_counter() - started

    # Value: RFM, CLV, discount sensitivity
    step = time.perf_counter()
    values, value_diagnostics = value_features(
        events, behaviour, as_of, config.value, engine
    )
    timings["value"] = time.perf_counter() - step

    # Interest
    step = time.perf_counter()
    interest = interest_scores(events, items, as_of, config.interest, engine)
    favourite = favourites(interest, behaviour.index)
    timings["interest"] = time.perf_counter() - step

    # Segments and anomalies on the behaviour features
    step = time.perf_counter()
    table = _basic_columns(customers, behaviour.index).join(behaviour)
    table = table.join(values).join(favourite)
    assignment, segments, segment_diagnostics = segment_customers(table, seed)
    flags, anomaly_diagnostics = detect_anomalies(table, contamination, seed)
    table = table.join(assignment).join(flags)
    timings["segments_anomalies"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started

    table.index.name = C.customer_id
    table = table.reset_index()
    table[C.customer_id] = table[C.customer_id].astype("str")
    table = table.sort_values(C.customer_id, ignore_index=True)
    diagnostics = {
        "customers": len(table),
        "value": value_diagnostics,
        "segments": segment_diagnostics,
        "anomaly": anomaly_diagnostics,
        "timings_seconds": timings,
    }
    logger.info(
        "profiles built for %d customers in %.1f s", len(table), timings["total"]
    )
    return Profiles(table, interest, segments, _json_ready(diagnostics))
