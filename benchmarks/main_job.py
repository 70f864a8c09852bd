"""Measure the main job on both public datasets: time and peak memory per stage.

Each dataset runs in its own ``promoloop run`` process, one after the other on
the same machine, so the per-stage figures of the two are comparable. The
script prints a Markdown table and writes the raw figures to
``benchmarks/results/main_job.json``.

Usage::

    python benchmarks/main_job.py --online-retail PATH [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_dataset(name: str, extra: list[str], out: Path) -> dict:
    """Run ``promoloop run`` for one dataset in a child process; return its figures."""
    run_dir = out / name
    arguments = ["run", "--dataset", name, "--out", str(run_dir), "--no-progress"]
    arguments += extra
    # The child runs the command in-process and reports its own peak RSS, so
    # the figure belongs to this dataset alone.
    child = (
        "import json, resource, sys\n"
        "from promoloop.cli import app\n"
        "try:\n"
        "    app(sys.argv[1:], standalone_mode=False)\n"
        "finally:\n"
        "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    print(json.dumps({'peak_rss_kib': peak}), file=sys.stderr)\n"
    )
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", child, *arguments],
        check=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - started
    peak_kib = json.loads(completed.stderr.strip().splitlines()[-1])["peak_rss_kib"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {
        "dataset": name,
        "command": "promoloop " + " ".join(arguments),
        "process_wall_seconds": round(wall, 1),
        "process_peak_rss_mb": round(peak_kib / 1024, 1),
        "stages": manifest["timings"],
        "recommenders": manifest["metrics"]["recommendations"],
    }


def markdown(results: list[dict]) -> str:
    """Return the stage table and the recommender table as Markdown."""
    lines = [
        "| dataset | stage | seconds | share of run | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|",
    ]
    for result in results:
        total = result["stages"][-1]["seconds"]
        for stage in result["stages"]:
            lines.append(
                f"| {result['dataset']} | {stage['name']} | {stage['seconds']:.1f} "
                f"| {stage['seconds'] / total:.0%} | {stage['peak_rss_mb']:.0f} |"
            )
        lines.append(
            f"| {result['dataset']} | whole process (with start-up) | "
            f"{result['process_wall_seconds']:.1f} | | "
            f"{result['process_peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "| dataset | model | Recall@10 | NDCG@10 | coverage |",
        "|---|---|---:|---:|---:|",
    ]
    for result in results:
        chosen = result["recommenders"]["chosen_model"]
        for model in result["recommenders"]["models"]:
            mark = " (chosen)" if model["model"] == chosen else ""
            lines.append(
                f"| {result['dataset']} | {model['model']}{mark} | "
                f"{model['recall_at_10']:.4f} | {model['ndcg_at_10']:.4f} | "
                f"{model['coverage']:.4f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--online-retail",
        type=Path,
        required=True,
        help="Folder or file of the UCI Online Retail data.",
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/promoloop-bench"))
    args = parser.parse_args()
    results = [
        run_dataset("complete-journey", [], args.out),
        run_dataset("online-retail", ["--data-dir", str(args.online_retail)], args.out),
    ]
    (HERE / "results").mkdir(exist_ok=True)
    payload = {"machine": platform.platform(), "results": results}
    (HERE / "results" / "main_job.json").write_text(json.dumps(payload, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
