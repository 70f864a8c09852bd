"""Time and memory of the profile stage and the engine stages, 1M events up.

For each size the script generates a synthetic shop (cached under
``--cache``, reused when its settings match), then computes the profile
table (behaviour features and RFM scores) from its Parquet files four ways,
each in its own process (see ``promoloop.benchmarks.scale_tasks``):

- ``ibis-duckdb``: the Ibis definition on DuckDB,
- ``ibis-spark``: the same definition on Spark ``local[2]``, with the
  session start-up reported on its own,
- ``duckdb-sql``: one hand-written DuckDB SQL query (the reference),
- ``pandas``: Parquet read into pandas, then plain group-bys.

Then it runs every engine stage of the pipeline (cleaning, profiles,
interest, BTYD summaries, basket rules, interactions) from Parquet to
Parquet on DuckDB and on Spark, each stage timed on its own with its peak
memory (``promoloop.benchmarks.scale_stages``).

Time is the wall time from the first read of the Parquet files to the
pandas result (Spark start-up excluded and reported apart). Peak memory is
the larger of two figures: the largest resident set of the worker process
and its children (the Spark JVM included), sampled every 50 ms with
psutil, and the worker's own peak from ``getrusage``. Every result is
compared with the reference table.

It writes ``benchmarks/results/scale.json`` and prints a Markdown section
(``--markdown FILE`` also writes it to a file).

Usage::

    python benchmarks/scale.py [--sizes 1000000,10000000] [--cache DIR]
        [--markdown FILE] [--tasks duckdb-sql,ibis-duckdb,ibis-spark,pandas]

Needs the ``spark`` and ``bench`` extras (pyspark, psutil) and Java 17.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from promoloop.benchmarks.scale_tasks import PROFILE_COLUMNS, SPARK_DRIVER_MEMORY, TASKS
from promoloop.benchmarks.synthetic_dataset import cached_shop
from promoloop.benchmarks.synthetic_events import shop_for_events

HERE = Path(__file__).resolve().parent
REFERENCE = "duckdb-sql"
SAMPLE_SECONDS = 0.05


def measure(task: str, shop: Path, as_of: pd.Timestamp, out: Path) -> dict:
    """Run one task in a child process and sample its memory until it ends."""
    command = [sys.executable, "-m", "promoloop.benchmarks.scale_tasks"]
    command += [task, str(shop), as_of.isoformat(), str(out)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        peak = max(peak, _tree_rss(process))
        time.sleep(SAMPLE_SECONDS)
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(
            f"task {task} failed with exit code {child.returncode}:\n"
            + stderr.decode(errors="replace")[-3000:]
        )
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    phases = report["phases"]
    return {
        "seconds": phases["total"] - phases.get("startup", 0.0),
        "startup_seconds": phases.get("startup"),
        "phases": phases,
        "process_seconds": wall,
        # Sampling can miss a short peak that the worker's own maximum saw
        "peak_rss_mib": max(peak / 2**20, report["python_peak_mib"]),
        "sampled_peak_mib": peak / 2**20,
        "python_peak_mib": report["python_peak_mib"],
        "rows": report["rows"],
    }


def measure_stages(engine: str, shop: Path, as_of: pd.Timestamp, out: Path) -> dict:
    """Run every engine stage in a child process; return its stage report.

    ``engine`` is ``duckdb``, ``spark``, or ``duckdb:LIMIT`` for DuckDB with
    the memory limit ``LIMIT`` (such as ``duckdb:8GB``).
    """
    name, _, memory_limit = engine.partition(":")
    command = [sys.executable, "-m", "promoloop.benchmarks.scale_stages"]
    command += [name, str(shop), as_of.isoformat(), str(out)]
    if memory_limit:
        command += ["--duckdb-memory-limit", memory_limit]
    started = time.perf_counter()
    child = subprocess.run(command, capture_output=True, check=False)
    if child.returncode != 0:
        raise RuntimeError(
            f"stages on {engine} failed with exit code {child.returncode}:\n"
            + child.stderr.decode(errors="replace")[-3000:]
        )
    report = json.loads(child.stdout.decode().strip().splitlines()[-1])
    report["process_seconds"] = time.perf_counter() - started
    report["seconds"] = sum(stage["seconds"] for stage in report["stages"].values())
    report["peak_rss_mib"] = max(s["peak_rss_mib"] for s in report["stages"].values())
    return report


def _tree_rss(process: psutil.Process) -> int:
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def max_difference(table: pd.DataFrame, reference: pd.DataFrame) -> float:
    """Return the largest absolute difference over all feature values."""
    if not table.index.equals(reference.index):
        return float("inf")
    largest = 0.0
    for column in PROFILE_COLUMNS:
        left = table[column].to_numpy(dtype="float64")
        right = reference[column].to_numpy(dtype="float64")
        if not np.array_equal(np.isnan(left), np.isnan(right)):
            return float("inf")
        both = ~np.isnan(left)
        if both.any():
            largest = max(largest, float(np.abs(left[both] - right[both]).max()))
    return largest


def run_size(
    n_events: int,
    tasks: list[str],
    cache: Path,
    pandas_max_events: int,
    stage_engines: list[str],
    spark_stages_max_events: int,
) -> dict:
    """Generate (or reuse) one shop and measure every task on it.

    pandas reads the whole events table into memory, so above
    ``pandas_max_events`` its task is skipped and the skip is recorded.
    """
    config = shop_for_events(n_events)
    started = time.perf_counter()
    shop = cached_shop(config, cache / f"shop-{n_events}", show_progress=True)
    generation_seconds = time.perf_counter() - started
    as_of = config.first_day + pd.Timedelta(days=config.days)
    disk = sum(f.stat().st_size for f in shop.events_path.rglob("*.parquet"))
    print(f"{n_events:,} events requested, {shop.n_events:,} generated")

    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    if "pandas" in tasks and shop.n_events > pandas_max_events:
        skipped["pandas"] = (
            f"not run: more than {pandas_max_events:,} events "
            "(--pandas-max-events); it reads every event into memory"
        )
        tasks = [task for task in tasks if task != "pandas"]
    with tempfile.TemporaryDirectory() as scratch:
        tables = {}
        for task in tasks:
            out = Path(scratch) / f"{task}.parquet"
            results[task] = measure(task, shop.root, as_of, out)
            tables[task] = pd.read_parquet(out)
            print(f"  {task}: {results[task]['seconds']:.1f} s")
        reference = tables.get(REFERENCE)
        for task, table in tables.items():
            if reference is not None:
                results[task]["max_abs_difference"] = max_difference(table, reference)

        stages: dict[str, dict] = {}
        for engine in stage_engines:
            if engine == "spark" and shop.n_events > spark_stages_max_events:
                skipped[f"stages on {engine}"] = (
                    f"not run: more than {spark_stages_max_events:,} events "
                    "(--spark-stages-max-events), to keep the run short"
                )
                continue
            out = Path(scratch) / f"stages-{engine}"
            stages[engine] = measure_stages(engine, shop.root, as_of, out)
            print(f"  stages on {engine}: {stages[engine]['seconds']:.1f} s")

    for result in results.values():
        result["events_per_second"] = shop.n_events / result["seconds"]
        if REFERENCE in results:
            result["ratio_to_reference"] = (
                result["seconds"] / results[REFERENCE]["seconds"]
            )
    return {
        "requested_events": n_events,
        "events": shop.n_events,
        "event_counts": shop.event_counts,
        "customers": results[tasks[0]]["rows"],
        "days": config.days,
        "parquet_mib": disk / 2**20,
        "parquet_files": sum(1 for _ in shop.events_path.rglob("*.parquet")),
        "generation_seconds": generation_seconds,
        "tasks": results,
        "stages": stages,
        "skipped": skipped,
    }


def environment() -> dict:
    """Return the machine and the library versions behind the figures."""
    java = subprocess.run(["java", "-version"], capture_output=True, text=True)
    packages = ["duckdb", "ibis-framework", "pyspark", "pandas", "pyarrow"]
    return {
        "machine": platform.platform(),
        "cores": psutil.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "python": platform.python_version(),
        "java": java.stderr.splitlines()[0] if java.returncode == 0 else None,
        "versions": {name: version(name) for name in packages},
        "spark": {"master": "local[2]", "driver_memory": SPARK_DRIVER_MEMORY},
        "date": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d"),
    }


def markdown(payload: dict) -> str:
    """Format the results as a Markdown section for docs/benchmarks.md."""
    env = payload["environment"]
    lines = [
        "## Scale: profiles from Parquet on DuckDB, Spark and pandas",
        "",
        "```bash",
        ".venv/bin/python benchmarks/scale.py --sizes "
        + ",".join(str(r["requested_events"]) for r in payload["sizes"]),
        "```",
        "",
        f"Measured on {env['date']}: {env['cores']} cores, "
        f"{env['memory_gib']:.0f} GiB, Python {env['python']}, "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
        + f", {env['java']}. Spark runs `local[2]` with "
        f"{env['spark']['driver_memory']} of driver memory.",
        "",
        "### The profile stage against a hand-written query",
        "",
        "Each run reads a synthetic shop (`promoloop.benchmarks.synthetic_events`:",
        "Zipf item popularity, gamma-Poisson customers, seasonality, returns,",
        "views and carts) from Parquet partitioned by day, and returns the",
        "profile table (behaviour features and RFM quintile scores) in pandas.",
        "Seconds run from the first read to the pandas result; Spark's session",
        "start-up is listed apart. Peak RSS covers the worker process and its",
        "children (the JVM for Spark). The ratio divides by the hand-written",
        "DuckDB SQL query. Max difference is the largest absolute difference",
        "from that query's table.",
        "",
        "| events | customers | engine | seconds | vs DuckDB SQL "
        "| events/s | peak RSS (MiB) | max difference |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in payload["sizes"]:
        for task, result in size["tasks"].items():
            lines.append(
                f"| {size['events']:,} | {size['customers']:,} | {task} "
                f"| {result['seconds']:.1f} "
                f"| {result.get('ratio_to_reference', float('nan')):.2f} "
                f"| {result['events_per_second']:,.0f} "
                f"| {result['peak_rss_mib']:,.0f} "
                f"| {result.get('max_abs_difference', float('nan')):.1e} |"
            )
        for task, reason in size.get("skipped", {}).items():
            if not task.startswith("stages"):
                lines.append(
                    f"| {size['events']:,} | {size['customers']:,} | {task} "
                    f"| {reason} | | | | |"
                )
    lines += [
        "",
        "| events | Parquet (MiB) | files | generation (s) | Spark start-up (s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size in payload["sizes"]:
        spark = size["tasks"].get("ibis-spark", {})
        startup = spark.get("startup_seconds")
        startup_text = "" if startup is None else f"{startup:.1f}"
        lines.append(
            f"| {size['events']:,} | {size['parquet_mib']:.0f} "
            f"| {size['parquet_files']} | {size['generation_seconds']:.0f} "
            f"| {startup_text} |"
        )
    lines += _stage_lines(payload)
    return "\n".join(lines) + "\n"


def _stage_lines(payload: dict) -> list[str]:
    """Return the Markdown table of seconds and peak memory per engine stage."""
    stage_names = [
        name
        for size in payload["sizes"]
        for report in size.get("stages", {}).values()
        for name in report["stages"]
    ]
    names = list(dict.fromkeys(stage_names))
    if not names:
        return []
    lines = [
        "",
        "### Every engine stage, Parquet to Parquet",
        "",
        "Each stage runs on the engine and writes its table to Parquet, so no",
        "table passes through pandas. Cells give seconds and, in brackets, the",
        "peak RSS in MiB of the process and its children during that stage.",
        "",
        "| events | engine | " + " | ".join(names) + " | total (s) | events/s |",
        "|---:|---|" + "---:|" * (len(names) + 2),
    ]
    for size in payload["sizes"]:
        for engine, report in size.get("stages", {}).items():
            cells = [
                "{:.1f} ({:,.0f})".format(
                    report["stages"][name]["seconds"],
                    report["stages"][name]["peak_rss_mib"],
                )
                if name in report["stages"]
                else ""
                for name in names
            ]
            lines.append(
                f"| {size['events']:,} | {engine} | "
                + " | ".join(cells)
                + f" | {report['seconds']:.1f} "
                f"| {size['events'] / report['seconds']:,.0f} |"
            )
        for task, reason in size.get("skipped", {}).items():
            if task.startswith("stages"):
                lines.append(f"| {size['events']:,} | {task[10:]} | {reason} |")
    return lines


def chart(payload: dict, path: Path) -> None:
    """Draw seconds against events per engine, log-log, with Spark's start-up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    tasks = sorted({task for size in payload["sizes"] for task in size["tasks"]})
    for task in tasks:
        points = [
            (size["events"], size["tasks"][task]["seconds"])
            for size in payload["sizes"]
            if task in size["tasks"]
        ]
        events, seconds = zip(*points, strict=True)
        axes.plot(events, seconds, marker="o", label=task)
    startup = [
        (size["events"], size["tasks"]["ibis-spark"]["startup_seconds"])
        for size in payload["sizes"]
        if "ibis-spark" in size["tasks"]
    ]
    if startup:
        events, seconds = zip(*startup, strict=True)
        axes.plot(events, seconds, "k--", marker="x", label="Spark start-up")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("events")
    axes.set_ylabel("seconds (log scale)")
    axes.set_title("Behaviour features and RFM scores from Parquet")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000000",
        help="comma-separated numbers of events to generate (default 1000000)",
    )
    parser.add_argument(
        "--tasks",
        default=",".join(TASKS),
        help="comma-separated tasks to run (default: all four)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "promoloop-scale",
        help="folder of the generated shops, reused across runs "
        "(default: promoloop-scale in the temporary folder)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "results" / "scale.json",
        help="output file of the raw results",
    )
    parser.add_argument(
        "--pandas-max-events",
        type=int,
        default=20_000_000,
        help="skip the pandas task above this many events (default 20000000)",
    )
    parser.add_argument(
        "--stage-engines",
        default="duckdb,spark",
        help="engines of the per-stage run (default duckdb,spark; empty for "
        "none); duckdb:8GB runs DuckDB with an 8GB memory limit",
    )
    parser.add_argument(
        "--spark-stages-max-events",
        type=int,
        default=20_000_000,
        help="skip the per-stage run on Spark above this many events "
        "(default 20000000)",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=HERE.parent / "docs" / "images" / "scale.png",
        help="PNG chart of seconds against events (default docs/images/scale.png)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        help="also write the Markdown section to this file (it is always printed)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    tasks = args.tasks.split(",")
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {sorted(TASKS)}")

    payload = {
        "environment": environment(),
        "sizes": [
            run_size(
                n,
                tasks,
                args.cache,
                args.pandas_max_events,
                [e for e in args.stage_engines.split(",") if e],
                args.spark_stages_max_events,
            )
            for n in sizes
        ],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    chart(payload, args.chart)
    section = markdown(payload)
    if args.markdown is not None:
        args.markdown.write_text(section)
    print(section)


if __name__ == "__main__":
    main()
