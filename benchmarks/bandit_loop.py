"""What the learning loop is worth, on simulated customers with known responses.

Customers are drawn from the fitted profiles of a ``promoloop run`` on The
Complete Journey, and respond to three promotions under known rules
(``promoloop.simulation``). The script:

1. runs several strategies over the same customers, once per seed. They
   are the learning loop (bandit policies updated after every round),
   static targeting (hand-written rules, and a model fit once on a
   randomized first round), random allocation, sending nothing and the
   oracle. The scenarios are stationary, drifting, and stationary three
   times as long.
2. values two fixed target policies from uniform and adaptive logs with
   IPS, SNIPS and DR, and compares each estimate and its bootstrap
   interval with the exact value, over many repetitions.

It writes ``benchmarks/results/bandit_loop.json`` and prints the tables.

Usage::

    python benchmarks/bandit_loop.py --run-dir DIR [--seeds 20] [--repetitions 200]

``--run-dir`` is a run folder of ``promoloop run --dataset complete-journey``.
When it has no ``profiles.parquet``, the script runs the pipeline into it
first (about three minutes on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from promoloop.benchmarks.bandit_loop import LoopSettings, run_scenario
from promoloop.benchmarks.bandit_loop_ope import OpeSettings, run_ope_coverage
from promoloop.benchmarks.bandit_loop_strategies import STRATEGIES
from promoloop.simulation import PromotionSimulator, seasonal_drift

HERE = Path(__file__).resolve().parent
LONG_FACTOR = 3


def ensure_profiles(run_dir: Path) -> None:
    """Run the pipeline on The Complete Journey into ``run_dir`` if needed."""
    if (run_dir / "profiles.parquet").is_file():
        return
    from promoloop.config import RunConfig
    from promoloop.pipeline import DataSource, run

    print(f"no profiles.parquet in {run_dir}; running the pipeline there")
    config = RunConfig(show_progress=False, pseudonymize=False)
    run(DataSource(dataset="complete-journey"), run_dir, config=config)


def describe_simulator(simulator: PromotionSimulator) -> dict:
    """Return the true response of the population: what there is to learn."""
    uplift = simulator.expected_reward(incremental=True)
    best = np.bincount(simulator.best_actions(), minlength=simulator.n_actions)
    return {
        "customers": simulator.n_customers,
        "mean_order_margin": simulator.mean_order_margin,
        "actions": {
            name: {
                "mean_incremental_margin": float(uplift[:, code].mean()),
                "share_positive": float((uplift[:, code] > 0).mean()),
                "share_best": float(best[code] / simulator.n_customers),
            }
            for code, name in enumerate(simulator.actions)
        },
        "oracle_per_customer": float(uplift.max(axis=1).mean()),
    }


def main(args: argparse.Namespace) -> dict:
    """Run both parts and write the results."""
    run_dir = args.run_dir.resolve()
    ensure_profiles(run_dir)
    started = time.perf_counter()
    loop = LoopSettings(
        n_rounds=args.rounds,
        customers_per_round=args.customers,
        seeds=tuple(range(args.seeds)),
    )
    scenarios = {
        "stationary": (None, loop),
        "drifting": (seasonal_drift(), loop),
        "stationary_long": (None, replace(loop, n_rounds=LONG_FACTOR * args.rounds)),
    }

    # 1. The loop, per scenario.
    figures: dict = {"scenarios": {}}
    for name, (drift, settings) in scenarios.items():
        simulator = PromotionSimulator.from_run(run_dir, drift=drift)
        scenario_started = time.perf_counter()
        result = run_scenario(simulator, settings)
        result["settings"] = asdict(settings)
        result["seconds"] = round(time.perf_counter() - scenario_started, 1)
        figures["scenarios"][name] = result
        print(f"scenario {name}: {result['seconds']} s")
    stationary = PromotionSimulator.from_run(run_dir)
    figures["population"] = describe_simulator(stationary)

    # 2. Off-policy estimates against the truth.
    ope = OpeSettings(
        repetitions=args.repetitions,
        n_rounds=args.rounds,
        customers_per_round=args.customers,
        n_bootstrap=args.bootstrap,
    )
    ope_started = time.perf_counter()
    figures["ope"] = run_ope_coverage(stationary, ope)
    figures["ope"]["settings"] = asdict(ope)
    figures["ope"]["seconds"] = round(time.perf_counter() - ope_started, 1)

    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    figures["run_dir"] = str(run_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print_tables(figures)
    return figures


def print_tables(figures: dict) -> None:
    """Print the results as markdown tables."""
    # The true response: what there is to learn.
    population = figures["population"]
    print("\n| action | mean incremental margin | share positive | share best |")
    print("|---|---:|---:|---:|")
    for name, row in population["actions"].items():
        print(
            f"| {name} | {row['mean_incremental_margin']:.2f} "
            f"| {row['share_positive']:.1%} | {row['share_best']:.1%} |"
        )

    # The loop, per scenario.
    for name, scenario in figures["scenarios"].items():
        settings = scenario["settings"]
        oracle = scenario["strategies"]["oracle"]["total_mean"]
        print(
            f"\n{name}: {settings['n_rounds']} rounds x "
            f"{settings['customers_per_round']} customers, "
            f"{scenario['n_seeds']} seeds"
        )
        print(
            "| strategy | total, mean ± sd | min to max | per customer "
            f"| per customer, last {scenario['last_rounds']} rounds | share of oracle |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for strategy in STRATEGIES:
            row = scenario["strategies"][strategy]
            share = row["total_mean"] / oracle if oracle else float("nan")
            print(
                f"| {strategy} | {row['total_mean']:,.0f} ± {row['total_std']:,.0f} "
                f"| {row['total_min']:,.0f} to {row['total_max']:,.0f} "
                f"| {row['per_customer']:.3f} "
                f"| {row['last_rounds_per_customer']:.3f} | {share:.0%} |"
            )
        print_paired(scenario["paired"])

    # Off-policy estimates against the truth.
    ope = figures["ope"]
    print(
        f"\noff-policy estimates, {ope['settings']['repetitions']} repetitions, "
        f"{ope['settings']['n_bootstrap']} resamples; truth "
        + ", ".join(f"{name} {value:.3f}" for name, value in ope["truth"].items())
        + f"; sending nothing {ope['send_nothing_value']:.3f}"
    )
    print(
        "| logging | target | estimator | bias ± standard error | RMSE | coverage "
        "| mean width |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for row in ope["results"]:
        print(
            f"| {row['logging']} | {row['target']} | {row['estimator']} "
            f"| {row['bias']:+.3f} ± {row['bias_standard_error']:.3f} "
            f"| {row['rmse']:.3f} | {row['coverage']:.0%} "
            f"| {row['mean_width']:.3f} |"
        )
    print("mean largest weight:", json.dumps(ope["max_weight"]))
    print(f"\nwhole benchmark: {figures['seconds']} s")


def print_paired(paired: dict) -> None:
    """Print each learner's per-seed difference from each static strategy."""
    others = list(next(iter(paired.values())))
    print("| learner minus | " + " | ".join(others) + " |")
    print("|---|" + "---:|" * len(others))
    for learner, row in paired.items():
        cells = [
            f"{row[other]['mean_difference']:+,.0f} ± "
            f"{row[other]['standard_error']:,.0f} ({row[other]['seeds_won']} won)"
            for other in others
        ]
        print(f"| {learner} | " + " | ".join(cells) + " |")


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run-dir",
        type=Path,
        required=True,
        help="Run folder with profiles.parquet; the pipeline runs into it if missing.",
    )
    parser.add_argument("--seeds", type=int, default=20, help="Seeds per scenario.")
    parser.add_argument("--rounds", type=int, default=20, help="Rounds per seed.")
    parser.add_argument(
        "--customers", type=int, default=500, help="Customers per round."
    )
    parser.add_argument(
        "--repetitions", type=int, default=200, help="Logs per off-policy estimate."
    )
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="Resamples per interval."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE / "results" / "bandit_loop.json",
        help="JSON file of the results.",
    )
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main(parse_args())
