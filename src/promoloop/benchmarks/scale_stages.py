"""The pipeline's engine stages on a synthetic shop, timed one by one.

Each stage reads Parquet and writes its table to Parquet on the engine, so
no stage's output passes through pandas and memory does not grow with the
number of customers:

- ``clean``: the cleaning rules (``clean_events_parquet``), written as day
  partitions; every later stage reads the cleaned events.
- ``profiles``: behaviour features joined with the RFM scores.
- ``interest``: time-decayed interest per category and brand.
- ``btyd``: the weekly BTYD summaries the CLV models fit on.
- ``baskets``: single-item association rules from the pair counts.
- ``interactions``: the decayed (customer, item) sums the recommenders fit on.

Run ``python -m promoloop.benchmarks.scale_stages ENGINE SHOP AS_OF OUT`` to
run them in a fresh process. It prints a JSON line with the seconds and the
peak resident memory (this process and its children, the Spark JVM
included) of each stage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import ibis
import pandas as pd
import psutil

from promoloop.benchmarks.synthetic_dataset import EVENTS_DIR, ITEMS_FILE
from promoloop.config import InterestConfig
from promoloop.engine import SPARK, Engine
from promoloop.engine.baskets import basket_lines, collect_order_count, pair_rules_table
from promoloop.engine.behaviour import behaviour_table
from promoloop.engine.clean_events import clean_events_parquet
from promoloop.engine.interactions import interaction_events, pair_weights
from promoloop.engine.interest import interest_table
from promoloop.engine.value import btyd_table, rfm_table
from promoloop.recommend.interactions import DEFAULT_EVENT_WEIGHTS
from promoloop.vocabulary import Columns as C

STAGES = ("clean", "profiles", "interest", "btyd", "baskets", "interactions")

# The defaults of promoloop.mining.association_rules.
MIN_SUPPORT = 0.01
MIN_COUNT = 5
MIN_CONFIDENCE = 0.1

# The shorter half-life that the hybrid recommender tries.
HALF_LIFE_DAYS = 30.0

SAMPLE_SECONDS = 0.05


class StageClock:
    """Time stages and sample the process tree's memory while each runs."""

    def __init__(self) -> None:
        self.stages: dict[str, dict] = {}
        self._process = psutil.Process(os.getpid())
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        total = 0
        for process in [self._process, *self._process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._peak = max(self._peak, self._rss())

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Record the seconds and the peak memory of the block as stage ``name``."""
        self._peak = self._rss()
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self._peak = max(self._peak, self._rss())
        self.stages[name] = {"seconds": seconds, "peak_rss_mib": self._peak / 2**20}

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def write(engine: Engine, expr: ibis.Table, path: Path) -> None:
    """Run an expression on the engine and write its result as Parquet."""
    engine.backend.to_parquet(expr, str(path))


def run_stages(engine: Engine, shop: Path, as_of: pd.Timestamp, out: Path) -> dict:
    """Run every stage on ``engine`` and return the seconds and memory of each."""
    clock = StageClock()
    try:
        with clock.stage("clean"):
            clean_events_parquet(shop / EVENTS_DIR, out / "clean", engine=engine)
        events = engine.register_parquet("clean_events", out / "clean")
        items = engine.register_parquet("items", shop / ITEMS_FILE)

        with clock.stage("profiles"):
            behaviour = behaviour_table(events, as_of)
            rfm = rfm_table(behaviour)
            write(engine, behaviour.join(rfm, C.customer_id), out / "profiles.parquet")
        with clock.stage("interest"):
            expr = interest_table(events, items, as_of, InterestConfig())
            write(engine, expr, out / "interest.parquet")
        with clock.stage("btyd"):
            write(engine, btyd_table(events, as_of, "W"), out / "btyd.parquet")
        with clock.stage("baskets"):
            lines = basket_lines(events)
            n_orders = collect_order_count(engine, lines)
            floor = max(MIN_COUNT, math.ceil(MIN_SUPPORT * n_orders))
            rules = pair_rules_table(lines, n_orders, floor, MIN_CONFIDENCE)
            write(engine, rules, out / "rules.parquet")
        with clock.stage("interactions"):
            weighted = interaction_events(events, DEFAULT_EVENT_WEIGHTS)
            pairs = pair_weights(weighted, half_life_days=HALF_LIFE_DAYS)
            write(engine, pairs, out / "interactions.parquet")
    finally:
        clock.close()
    return clock.stages


def main(argv: list[str] | None = None) -> None:
    """Run the stages on one engine and print their times as one JSON line."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("engine", choices=["duckdb", SPARK])
    parser.add_argument("shop", type=Path, help="synthetic shop folder")
    parser.add_argument("as_of", help="observation end, ISO timestamp in UTC")
    parser.add_argument("out", type=Path, help="folder for the stage outputs")
    parser.add_argument("--spark-driver-memory", default="6g")
    parser.add_argument(
        "--duckdb-memory-limit",
        help="DuckDB memory_limit, e.g. 8GB (default: DuckDB's own)",
    )
    args = parser.parse_args(argv)

    as_of = pd.Timestamp(args.as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.engine == SPARK:
        engine = Engine.spark(driver_memory=args.spark_driver_memory)
    else:
        engine = Engine.duckdb(memory_limit=args.duckdb_memory_limit)
    startup = time.perf_counter() - started
    try:
        stages = run_stages(engine, args.shop, as_of, args.out)
    finally:
        engine.close()
    print(json.dumps({"startup_seconds": startup, "stages": stages}))


if __name__ == "__main__":
    main(sys.argv[1:])
