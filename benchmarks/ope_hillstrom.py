"""Off-policy estimates against the matched estimate on the Hillstrom e-mail test.

For each of 5 seeds, customers are split 70/30 (stratified by arm and
visit). A T-learner on shallow LightGBM, fitted on the training part, gives
each test customer the e-mail with the larger predicted effect minus a cost,
or no e-mail when that is negative. There are two such policies: one for
spend ($0.10 per e-mail) and one for visit (0.06 visits per e-mail). On the
test part, which is a randomized log with pscore 1/3, each policy is valued
by:

* the matched estimate: the mean outcome of the test customers whose
  randomized arm is the policy's arm, with a bootstrap interval over them;
* promoloop.ope's IPS, SNIPS and DR (LightGBM reward model cross-fitted on
  the test part), with bootstrap intervals over the test customers.

Usage::

    python benchmarks/ope_hillstrom.py --data-dir /path/to/data

The script prints a table and writes ``benchmarks/results/ope_hillstrom.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from promoloop.benchmarks.hillstrom_data import read_hillstrom
from promoloop.benchmarks.hillstrom_ope import OPE_ESTIMATORS, evaluate_split

HERE = Path(__file__).resolve().parent


def print_row(row: dict) -> None:
    matched = row["matched"]
    cells = [
        f"seed {row['seed']} {row['outcome']:5}",
        f"mailed {row['share_mailed']:.0%}",
        f"matched {matched['estimate']:.4f} [{matched['low']:.4f}, "
        f"{matched['high']:.4f}]",
    ]
    for name in OPE_ESTIMATORS:
        values = row["ope"][name]
        cells.append(
            f"{name} {values['estimate']:.4f} [{values['low']:.4f}, "
            f"{values['high']:.4f}]"
        )
    print("  ".join(cells))


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="Folder that contains hillstrom/hillstrom.csv.",
    )
    parser.add_argument(
        "--out", type=Path, default=HERE / "results" / "ope_hillstrom.json"
    )
    parser.add_argument("--seeds", type=int, default=5, help="Splits 0, 1, ...")
    parser.add_argument("--n-boot", type=int, default=1000)
    arguments = parser.parse_args()

    started = time.perf_counter()
    raw = read_hillstrom(arguments.data_dir)
    rows = []
    for seed in range(arguments.seeds):
        for row in evaluate_split(raw, seed, arguments.n_boot):
            print_row(row)
            rows.append(row)
    figures = {
        "protocol": __doc__.split("Usage::")[0].strip(),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "n_boot": arguments.n_boot,
        "rows": rows,
        "all_intervals_overlap": all(
            all(row["intervals_overlap"].values()) for row in rows
        ),
        "max_ips_identity_gap": max(abs(row["ips_identity_gap"]) for row in rows),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print(
        f"all OPE intervals overlap the matched interval: "
        f"{figures['all_intervals_overlap']}; largest IPS identity gap "
        f"{figures['max_ips_identity_gap']:.2e}; {figures['wall_seconds']} s"
    )
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(f"written to {arguments.out}")
    return figures


if __name__ == "__main__":
    main()
