"""The profile-table computations that the scale benchmark times.

The profile table is the behaviour features of
:func:`promoloop.profiles.behaviour.behaviour_features` with the RFM scores
of :func:`promoloop.profiles.value.rfm_scores` (quintiles, ties by
customer id). Four ways to compute it from a synthetic shop on Parquet:

- ``ibis-duckdb``: the Ibis definition on DuckDB.
- ``ibis-spark``: the same Ibis definition on Spark; the session start-up
  is timed on its own.
- ``duckdb-sql``: one hand-written DuckDB SQL query, the reference that the
  others are compared with.
- ``pandas``: the Parquet files read into pandas and a plain group-by
  implementation, :func:`pandas_behaviour`.

Run ``python -m promoloop.benchmarks.scale_tasks TASK SHOP AS_OF OUT`` to
compute one of them in a fresh process. It writes the table to ``OUT``
(Parquet) and prints a JSON line with the phase times.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from promoloop.benchmarks.synthetic_dataset import EVENTS_DIR, read_events
from promoloop.engine.behaviour import (
    BEHAVIOUR_COLUMNS,
    INPUT_COLUMNS,
    OUTPUT_DTYPES,
)
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

DAY = pd.Timedelta(days=1)

# RFM score columns: (name, behaviour column, whether higher is better).
RFM_INPUTS = [
    ("r_score", "recency_days", False),
    ("f_score", "frequency", True),
    ("m_score", "monetary", True),
]
PROFILE_COLUMNS = BEHAVIOUR_COLUMNS + [name for name, _, _ in RFM_INPUTS]
PROFILE_DTYPES = {**OUTPUT_DTYPES, **{name: "int64" for name, _, _ in RFM_INPUTS}}

# The reference computation, in DuckDB's SQL. {events} is a Parquet glob and
# {as_of} an ISO timestamp in UTC.
DUCKDB_SQL = """
WITH known AS (
    SELECT customer_id, event_type, order_id, item_id, "timestamp",
           quantity, amount, discount
    FROM read_parquet('{events}', hive_partitioning = true)
    WHERE customer_id IS NOT NULL
),
totals AS (
    SELECT
        customer_id,
        min("timestamp") AS first_seen,
        max("timestamp") FILTER (WHERE event_type = 'purchase') AS last_purchase,
        count(DISTINCT order_id) FILTER (WHERE event_type = 'purchase')
            AS frequency,
        coalesce(sum(amount) FILTER (WHERE event_type = 'purchase'), 0)
            AS gross_spend,
        coalesce(sum(amount) FILTER (WHERE event_type = 'return'), 0)
            AS returns_value,
        coalesce(sum(quantity) FILTER (WHERE event_type = 'purchase'), 0) AS units,
        avg(CASE WHEN discount > 0 THEN 1.0 ELSE 0.0 END)
            FILTER (WHERE event_type = 'purchase') AS discount_share,
        coalesce(
            bool_and(coalesce(amount = 0, false))
                FILTER (WHERE event_type = 'purchase'),
            false
        ) AS zero_price_only,
        min(CAST("timestamp" AS DATE)) FILTER (WHERE event_type = 'purchase')
            AS first_day,
        max(CAST("timestamp" AS DATE)) FILTER (WHERE event_type = 'purchase')
            AS last_day,
        count(DISTINCT CAST("timestamp" AS DATE))
            FILTER (WHERE event_type = 'purchase') AS purchase_days
    FROM known
    GROUP BY customer_id
),
baskets AS (
    SELECT customer_id, count(*) AS distinct_items
    FROM (
        SELECT DISTINCT customer_id, order_id, item_id
        FROM known
        WHERE event_type = 'purchase'
    )
    GROUP BY customer_id
),
behaviour AS (
SELECT
    customer_id,
    date_diff('microsecond', last_purchase, TIMESTAMPTZ '{as_of}') / 86400e6
        AS recency_days,
    frequency,
    gross_spend - returns_value AS monetary,
    gross_spend,
    returns_value,
    CASE WHEN gross_spend > 0 THEN returns_value / gross_spend END AS return_rate,
    gross_spend / nullif(frequency, 0) AS avg_order_value,
    distinct_items / nullif(frequency, 0) AS basket_size,
    units / nullif(frequency, 0) AS units_per_order,
    date_diff('day', first_day, last_day) / nullif(purchase_days - 1, 0)
        AS interpurchase_days,
    discount_share,
    date_diff('microsecond', first_seen, TIMESTAMPTZ '{as_of}') / 86400e6
        AS tenure_days,
    zero_price_only
FROM totals LEFT JOIN baskets USING (customer_id)
)
SELECT
    *,
    CAST(ceil(5 * row_number() OVER (
        ORDER BY coalesce(recency_days, 'inf'::DOUBLE) DESC, customer_id
    ) / count(*) OVER ()) AS BIGINT) AS r_score,
    CAST(ceil(5 * row_number() OVER (
        ORDER BY coalesce(frequency::DOUBLE, '-inf'::DOUBLE), customer_id
    ) / count(*) OVER ()) AS BIGINT) AS f_score,
    CAST(ceil(5 * row_number() OVER (
        ORDER BY coalesce(monetary, '-inf'::DOUBLE), customer_id
    ) / count(*) OVER ()) AS BIGINT) AS m_score
FROM behaviour
ORDER BY customer_id
"""


def pandas_behaviour(events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Compute the behaviour features with plain pandas group-bys.

    A baseline for timing, and an independent check of the Ibis
    definition: same columns, index and dtypes as
    :func:`promoloop.engine.behaviour.collect_behaviour`.

    Parameters
    ----------
    events : DataFrame
        Canonical events table.
    as_of : Timestamp
        Observation end, timezone-aware UTC.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id`` (ascending), with :data:`BEHAVIOUR_COLUMNS`.
    """
    known = events[events[C.customer_id].notna()]
    purchases = known[known[C.event_type] == EventType.PURCHASE]
    returns = known[known[C.event_type] == EventType.RETURN]
    out = pd.DataFrame(index=pd.Index(np.sort(known[C.customer_id].unique())))
    out.index.name = C.customer_id

    # Purchase lines, with helper columns for the per-line conditions
    lines = purchases.assign(
        discounted=(purchases[C.discount] > 0).astype("float64"),
        zero_price=purchases[C.amount] == 0,
        day=purchases[C.timestamp].dt.floor("D"),
    )
    bought = lines.groupby(C.customer_id).agg(
        last_purchase=(C.timestamp, "max"),
        frequency=(C.order_id, "nunique"),
        gross_spend=(C.amount, "sum"),
        units=(C.quantity, "sum"),
        discount_share=("discounted", "mean"),
        zero_price_only=("zero_price", "all"),
        first_day=("day", "min"),
        last_day=("day", "max"),
        purchase_days=("day", "nunique"),
    )
    baskets = lines.drop_duplicates([C.customer_id, C.order_id, C.item_id])
    bought["distinct_items"] = baskets.groupby(C.customer_id).size()
    out = out.join(bought)
    out["returns_value"] = returns.groupby(C.customer_id)[C.amount].sum()
    out["tenure_days"] = (as_of - known.groupby(C.customer_id)[C.timestamp].min()) / DAY

    # Fill customers without purchases or returns, then derive the ratios
    out["frequency"] = out["frequency"].fillna(0)
    out["gross_spend"] = out["gross_spend"].fillna(0.0)
    out["returns_value"] = out["returns_value"].fillna(0.0)
    out["zero_price_only"] = out["zero_price_only"].fillna(False).astype(bool)
    orders = out["frequency"].where(out["frequency"] > 0)
    gaps = out["purchase_days"] - 1
    out["recency_days"] = (as_of - out["last_purchase"]) / DAY
    out["monetary"] = out["gross_spend"] - out["returns_value"]
    out["return_rate"] = (out["returns_value"] / out["gross_spend"]).where(
        out["gross_spend"] > 0
    )
    out["avg_order_value"] = out["gross_spend"] / orders
    out["basket_size"] = out["distinct_items"] / orders
    out["units_per_order"] = out["units"] / orders
    out["interpurchase_days"] = (
        (out["last_day"] - out["first_day"]) / DAY
    ) / gaps.where(gaps > 0)
    return out[BEHAVIOUR_COLUMNS].astype(OUTPUT_DTYPES)


def pandas_rfm(behaviour: pd.DataFrame) -> pd.DataFrame:
    """Score recency, frequency and monetary value 1 to 5 by quintile, in pandas.

    ``behaviour`` is sorted by customer id, so ``rank(method="first")``
    breaks ties by customer id, as the engine definition does.
    """
    scores = pd.DataFrame(index=behaviour.index)
    for name, column, higher_is_better in RFM_INPUTS:
        worst = -np.inf if higher_is_better else np.inf
        values = behaviour[column].astype("float64").fillna(worst)
        rank = values.rank(method="first", ascending=higher_is_better)
        scores[name] = np.ceil(5 * rank / len(values)).astype("int64")
    return scores


def collect_profile_table(engine, events, as_of: pd.Timestamp) -> pd.DataFrame:
    """Run the behaviour features and RFM scores as one query on an engine."""
    from promoloop.engine.behaviour import behaviour_table
    from promoloop.engine.value import rfm_table

    behaviour = behaviour_table(events, as_of)
    scores = rfm_table(behaviour).drop("rfm_score")
    table = engine.to_pandas(behaviour.join(scores, C.customer_id))
    table = table.set_index(C.customer_id).sort_index()
    return table.astype(PROFILE_DTYPES)[PROFILE_COLUMNS]


# Tasks: each returns the table and fills ``phases`` with seconds per phase


def run_ibis_duckdb(shop: Path, as_of: pd.Timestamp, phases: dict) -> pd.DataFrame:
    from promoloop.engine import Engine

    with Engine.duckdb() as engine:
        started = time.perf_counter()
        events = engine.register_parquet("events", shop / EVENTS_DIR)
        table = collect_profile_table(engine, events, as_of)
        phases["compute"] = time.perf_counter() - started
    return table


def run_ibis_spark(shop: Path, as_of: pd.Timestamp, phases: dict) -> pd.DataFrame:
    from promoloop.engine import Engine

    started = time.perf_counter()
    engine = Engine.spark(driver_memory=SPARK_DRIVER_MEMORY)
    phases["startup"] = time.perf_counter() - started
    try:
        started = time.perf_counter()
        events = engine.register_parquet("events", shop / EVENTS_DIR)
        table = collect_profile_table(engine, events, as_of)
        phases["compute"] = time.perf_counter() - started
    finally:
        engine.close()
    return table


def run_duckdb_sql(shop: Path, as_of: pd.Timestamp, phases: dict) -> pd.DataFrame:
    import duckdb

    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        started = time.perf_counter()
        query = DUCKDB_SQL.format(
            events=shop / EVENTS_DIR / "**" / "*.parquet", as_of=as_of.isoformat()
        )
        table = connection.sql(query).df()
        phases["compute"] = time.perf_counter() - started
    return table.set_index(C.customer_id).astype(PROFILE_DTYPES)[PROFILE_COLUMNS]


def run_pandas(shop: Path, as_of: pd.Timestamp, phases: dict) -> pd.DataFrame:
    started = time.perf_counter()
    events = read_events(shop, columns=INPUT_COLUMNS)
    phases["load"] = time.perf_counter() - started
    started = time.perf_counter()
    table = pandas_behaviour(events, as_of)
    table = table.join(pandas_rfm(table))
    phases["compute"] = time.perf_counter() - started
    return table


TASKS: dict[str, Callable[[Path, pd.Timestamp, dict], pd.DataFrame]] = {
    "duckdb-sql": run_duckdb_sql,
    "ibis-duckdb": run_ibis_duckdb,
    "ibis-spark": run_ibis_spark,
    "pandas": run_pandas,
}

# Spark's driver memory in the benchmark; in local mode it is Spark's heap.
SPARK_DRIVER_MEMORY = "6g"


def main(argv: list[str] | None = None) -> None:
    """Run one task and print its phase times and peak RSS as one JSON line."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("shop", type=Path, help="synthetic shop folder")
    parser.add_argument("as_of", help="observation end, ISO timestamp in UTC")
    parser.add_argument("out", type=Path, help="Parquet file for the result")
    args = parser.parse_args(argv)

    as_of = pd.Timestamp(args.as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of
    phases: dict[str, float] = {}
    started = time.perf_counter()
    table = TASKS[args.task](args.shop, as_of, phases)
    phases["total"] = time.perf_counter() - started
    table.to_parquet(args.out)

    # ru_maxrss is in KiB on Linux; it covers this Python process only
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = {"phases": phases, "rows": len(table), "python_peak_mib": peak_kib / 1024}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
