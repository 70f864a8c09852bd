"""Decisions per second and latency of the offer service, on SQLite and PostgreSQL.

For each store, side by side in one run on the same machine:

1. a fresh database, migrated, with a Complete Journey run published into it
   (2,469 households; a randomized campaign with a budget and cap that do not
   run out, so that every request logs a decision) and a decision API key;
2. ``promoloop serve`` in its own process on 127.0.0.1;
3. a warm-up of every household once, so the model cache is warm;
4. an open-loop load: requests start on a fixed schedule (``--rate`` per
   second for ``--seconds``), whether or not earlier ones have answered, so
   a slow server shows up as latency instead of a lower request rate. Each
   request asks for one household's offer, in a shuffled order.

Latency is measured by the client from the scheduled start of a request to
the end of its response, so waiting in the client counts against the server.
The client runs on the same 2 cores as the server, so the run also records
the CPU time that the server's processes, PostgreSQL and the client itself
used during the timed load (with psutil), in cores. Results go to
``benchmarks/results/service_load.json``.

Usage::

    python benchmarks/service_load.py [--run-dir DIR] [--rate 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import pandas as pd
import psutil

HERE = Path(__file__).resolve().parent
POSTGRES_ADMIN = "postgresql+psycopg://postgres@localhost:5432/postgres"


def main(arguments: argparse.Namespace) -> dict:
    """Run the load on every store and return the figures."""
    run_dir = arguments.run_dir or _complete_journey_run()
    households = _raw_household_ids()
    results = {}
    for backend in arguments.backends.split(","):
        with _database(backend) as url:
            results[backend] = _measure(
                url,
                run_dir,
                households,
                arguments.rate,
                arguments.seconds,
                arguments.workers,
            )
        _print_row(backend, results[backend])
    figures = {
        "rate_per_second": arguments.rate,
        "seconds": arguments.seconds,
        "cpu_count": os.cpu_count(),
        "workers": arguments.workers,
        "results": results,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "service_load.json").write_text(
        json.dumps(figures, indent=2), encoding="utf-8"
    )
    return figures


# A randomized campaign offers every eligible household a promotion whatever
# its score, and the cap is high, so every request takes the write path:
# budget reservation, decision row and commit. The validity window covers both
# the data's last day (the run's decision date) and today (the service's).
LOAD_PLAN = """
[[campaigns]]
campaign_id = "cj-load"
name = "Load test"
budget = 1000000000.0
holdout_share = 0.1
assignment = "randomized"
validity = { start = 2017-12-01, end = 2099-12-31 }

[[campaigns.promotions]]
promotion_id = "cj-load-5pct"
kind = "percent_off"
value = 5
per_customer_cap = 1000000

[[campaigns.promotions]]
promotion_id = "cj-load-2-off"
kind = "amount_off"
value = 2
min_spend = 20
per_customer_cap = 1000000
"""


def _complete_journey_run() -> Path:
    folder = Path(tempfile.mkdtemp())
    plan = folder / "load.toml"
    plan.write_text(LOAD_PLAN, encoding="utf-8")
    out = folder / "complete-journey"
    subprocess.run(
        [
            sys.executable, "-m", "promoloop.cli", "run",
            "--dataset", "complete-journey", "--promotions", str(plan),
            "--out", str(out), "--no-progress",
        ],
        check=True,
    )  # fmt: skip
    return out


def _raw_household_ids() -> list[str]:
    from promoloop.data.complete_journey import load_complete_journey

    customers = load_complete_journey().customers["customer_id"]
    return customers.astype(str).tolist()


class _database:
    """Context manager: a fresh database URL for one backend, dropped after."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"promoloop_load_{secrets.token_hex(4)}"

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            self.folder = tempfile.mkdtemp()
            return f"sqlite:///{self.folder}/store.db"
        self._admin(f'CREATE DATABASE "{self.name}"')
        return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{self.name}"

    def __exit__(self, *exc) -> None:
        if self.backend != "sqlite":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @staticmethod
    def _admin(statement: str) -> None:
        from sqlalchemy import create_engine

        engine = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
        engine.dispose()


def _measure(url, run_dir, households, rate, seconds, workers) -> dict:
    token = _prepare_store(url, run_dir)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "promoloop.cli", "serve",
            "--port", str(port), "--database-url", url,
            "--workers", str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base)
        meter = _CpuMeter(server.pid)
        figures = asyncio.run(_load(base, token, households, rate, seconds, meter))
        return figures | meter.cores()
    finally:
        server.terminate()
        server.wait(timeout=30)


def _prepare_store(url: str, run_dir: Path) -> str:
    from sqlalchemy import update

    from promoloop.store import Store, create_api_key, publish_run
    from promoloop.store.models import CampaignRecord

    store = Store(url)
    store.upgrade()
    publish_run(store, run_dir)
    with store.session() as session:
        # The load must measure decisions, not an exhausted budget.
        session.execute(update(CampaignRecord).values(budget=10**9))
        token = create_api_key(session, "load benchmark", "decision").token
    store.dispose()
    return token


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service at {base} did not start within {timeout} s")


class _CpuMeter:
    """CPU seconds of the server, PostgreSQL and this client between two marks."""

    def __init__(self, server_pid: int) -> None:
        self.server = psutil.Process(server_pid)
        self.client = psutil.Process()
        self.marks: list[tuple[float, dict[str, float]]] = []

    def mark(self) -> None:
        self.marks.append((time.perf_counter(), self._cpu_seconds()))

    def cores(self) -> dict:
        (start, before), (end, after) = self.marks[0], self.marks[-1]
        elapsed = end - start
        return {
            f"{name}_cores": round((after[name] - before[name]) / elapsed, 2)
            for name in before
        }

    def _cpu_seconds(self) -> dict[str, float]:
        postgres = [
            process
            for process in psutil.process_iter(["name"])
            if (process.info["name"] or "").startswith("postgres")
        ]
        return {
            "server": _busy(self.server, *self.server.children(recursive=True)),
            "postgresql": _busy(*postgres),
            "client": _busy(self.client),
        }


def _busy(*processes: psutil.Process) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:  # ended between listing and reading
            continue
        total += times.user + times.system
    return total


async def _load(base, token, households, rate, seconds, meter) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    # aiohttp rather than httpx: the client shares the server's two cores,
    # and aiohttp spends several times less CPU per request.
    connector = aiohttp.TCPConnector(limit=200)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(
        base_url=base, headers=headers, connector=connector, timeout=timeout
    ) as client:
        # Warm-up: every household once, a few at a time.
        for start in range(0, len(households), 50):
            await asyncio.gather(
                *(_decide(client, h) for h in households[start : start + 50])
            )

        order = np.random.default_rng(0).permutation(len(households))
        total = int(rate * seconds)
        # The client keeps the loaded dataset in memory: keep it out of the garbage
        # collector, whose full passes would pause the load schedule.
        gc.collect()
        gc.freeze()
        meter.mark()
        began = time.perf_counter()

        async def scheduled(i: int):
            planned = began + i / rate
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
            status = await _decide(client, households[order[i % len(order)]])
            return status, time.perf_counter() - planned

        outcomes = await asyncio.gather(*(scheduled(i) for i in range(total)))
        elapsed = time.perf_counter() - began
        meter.mark()
    statuses = pd.Series([s for s, _ in outcomes])
    latency = np.array([t for _, t in outcomes]) * 1000
    return {
        "requests": total,
        "achieved_per_second": round(total / elapsed, 1),
        "ok_share": float(statuses.str.startswith("200").mean()),
        "statuses": {str(k): int(v) for k, v in statuses.value_counts().items()},
        "p50_ms": round(float(np.percentile(latency, 50)), 2),
        "p90_ms": round(float(np.percentile(latency, 90)), 2),
        "p99_ms": round(float(np.percentile(latency, 99)), 2),
        "max_ms": round(float(latency.max()), 2),
    }


async def _decide(client: aiohttp.ClientSession, household: str) -> str:
    """Ask for one household's offer; return the HTTP status and the outcome."""
    try:
        async with client.post(
            "/v1/decisions", json={"customer_id": household}
        ) as response:
            if response.status != 200:
                return str(response.status)
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError) as error:
        return f"client error {type(error).__name__}"
    return f"200 {body['status']}"


def _print_row(backend: str, row: dict) -> None:
    print(
        f"| {backend} | {row['requests']} | {row['achieved_per_second']} "
        f"| {row['ok_share']:.3f} | {row['p50_ms']} | {row['p90_ms']} "
        f"| {row['p99_ms']} | {row['max_ms']} | {row['server_cores']} "
        f"| {row['postgresql_cores']} | {row['client_cores']} |",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=1)
    print(
        "| store | requests | achieved/s | 200 share "
        "| p50 ms | p90 ms | p99 ms | max ms "
        "| server cores | PostgreSQL cores | client cores |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    main(parser.parse_args())
