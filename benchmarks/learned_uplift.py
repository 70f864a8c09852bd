"""The targeting loop on The Complete Journey with simulated, known responses.

Steps, each a real ``promoloop run`` through the Python API:

1. As of 2017-09-01, a randomized test campaign gives every eligible
   household one of two offers at random, with a 40% holdout group.
2. The households' responses are simulated on top of their real purchases
   (``promoloop.benchmarks.campaign_simulation``): the $5-off offer moves
   frequent buyers, the 10%-off offer moves households with small baskets.
   Each treated household of a moved group makes one extra $100 order with
   probability 0.7, so the true uplift of every household is known.
3. As of 2017-11-01, a targeted campaign with the same two offers and a
   $3,000 budget runs twice on the same history: once learning uplift from
   step 1's decision log, once with the profile estimate only.

The script prints what the model learned (held-out figures) and the true
incremental margin of the offers each policy sends, and writes
``benchmarks/results/learned_uplift.json``.

Usage::

    python benchmarks/learned_uplift.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from promoloop.benchmarks.campaign_simulation import respond_to_campaign
from promoloop.config import RunConfig
from promoloop.data.dataset import ShopData
from promoloop.pipeline import DataSource, run

HERE = Path(__file__).resolve().parent

TEST_PLAN = """
[[campaigns]]
campaign_id = "cj-test"
name = "Test of two offers"
budget = 100000.0
holdout_share = 0.4
assignment = "randomized"
validity = { start = 2017-09-01, end = 2017-09-30 }

[[campaigns.promotions]]
promotion_id = "cj-5-off-40"
kind = "amount_off"
value = 5
min_spend = 40

[[campaigns.promotions]]
promotion_id = "cj-10-pct"
kind = "percent_off"
value = 10
"""

TARGETED_PLAN = (
    TEST_PLAN.replace("cj-test", "cj-autumn")
    .replace("Test of two offers", "Autumn offers")
    .replace("100000.0", "3000.0")
    .replace("0.4", "0.1")
    .replace('"randomized"', '"targeted"')
    .replace("2017-09-01, end = 2017-09-30", "2017-11-01, end = 2017-11-30")
)

RULES = {
    "cj-5-off-40": lambda p: np.where(
        p["frequency"].fillna(0) >= p["frequency"].median(), 0.7, 0.0
    ),
    "cj-10-pct": lambda p: np.where(
        p["avg_order_value"].fillna(0) < p["avg_order_value"].median(), 0.7, 0.0
    ),
}


@dataclass
class Prepared(DataSource):
    """A data source that returns tables already in memory."""

    data: ShopData | None = None

    def validate(self) -> None:
        """Nothing to check: the tables are loaded."""

    def load(self) -> ShopData:
        """Return the prepared tables."""
        return self.data


def main(out: Path) -> dict:
    """Run the three steps and return the figures."""
    from promoloop.data.complete_journey import load_complete_journey

    out.mkdir(parents=True, exist_ok=True)
    plans = Path(tempfile.mkdtemp())
    (plans / "test.toml").write_text(TEST_PLAN, encoding="utf-8")
    (plans / "targeted.toml").write_text(TARGETED_PLAN, encoding="utf-8")
    history = load_complete_journey()
    config = RunConfig(show_progress=False, as_of="2017-09-01", pseudonymize=False)
    started = time.perf_counter()

    # 1. The randomized test campaign.
    test = run(
        Prepared(data=history),
        out / "test",
        promotions=plans / "test.toml",
        config=config,
    )
    log = test.tables["exposures"]

    # 2. Simulated responses on top of the real purchases.
    simulated, truth = respond_to_campaign(history, log, RULES)
    source = Prepared(data=simulated)
    later = config.model_copy(update={"as_of": "2017-11-01"})
    log_path = out / "test" / "exposures.parquet"

    # 3. The targeted campaign, with learned uplift and with the estimate.
    results = {}
    for name, uplift_on in (("learned uplift", True), ("profile estimate", False)):
        settings = later.model_copy(
            update={"uplift": later.uplift.model_copy(update={"enabled": uplift_on})}
        )
        source.exposures = log_path
        result = run(
            source,
            out / name.replace(" ", "_"),
            promotions=plans / "targeted.toml",
            config=settings,
        )
        results[name] = _policy_figures(result, truth)
    figures = {
        "learned": learned_summary(results, out),
        "policies": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "learned_uplift.json"
    path.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    _print(figures)
    return figures


def learned_summary(results: dict, out: Path) -> dict:
    """Return the learned model's description from the learned run's manifest."""
    manifest = json.loads((out / "learned_uplift" / "manifest.json").read_text())
    return manifest["uplift"]["learned"]


def _policy_figures(result, truth: pd.DataFrame) -> dict:
    """True incremental margin of the offers a run sent."""
    offers = result.tables["decisions"].dropna(subset=["promotion_id"])
    keys = ["customer_id", "promotion_id"]
    sent = (
        offers[keys]
        .astype("string")
        .merge(truth.astype({"promotion_id": "string"}), on=keys, how="left")
    )
    # References for the same number of offers: a random tested promotion to
    # a random tested customer, and the best promotion to the customers with
    # the largest true uplift (what a perfect model would send).
    best = truth.groupby("customer_id")["true_uplift"].max()
    oracle = best.nlargest(len(offers))
    return {
        "offers": int(len(offers)),
        "true_incremental_margin": round(float(sent["true_uplift"].fillna(0).sum()), 2),
        "mean_true_uplift_per_offer": round(
            float(sent["true_uplift"].fillna(0).mean()), 3
        ),
        "random_offer_per_offer": round(float(truth["true_uplift"].mean()), 3),
        "perfect_model_per_offer": round(float(oracle.mean()), 3)
        if len(oracle)
        else 0.0,
        "score_sources": offers["score_source"].value_counts().to_dict(),
        "budget_used": result.manifest["metrics"]["targeting"]["allocation"][
            "budget_used"
        ],
    }


def _print(figures: dict) -> None:
    learned = figures["learned"]
    print(f"learned from {learned['campaign_id']} with {learned['learner']}")
    print("| promotion | held-out customers | mean uplift | uplift top 30% |")
    print("|---|---:|---:|---:|")
    for row in learned["heldout"]:
        print(
            f"| {row['arm']} | {row['n_test']} | {row['mean_uplift']:.2f} "
            f"| {row['uplift_top_30']:.2f} |"
        )
    print()
    print(
        "| policy | offers | true incremental margin | per offer "
        "| random offer, per offer | perfect model, per offer |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in figures["policies"].items():
        print(
            f"| {name} | {row['offers']} | {row['true_incremental_margin']:.0f} "
            f"| {row['mean_true_uplift_per_offer']:.2f} "
            f"| {row['random_offer_per_offer']:.2f} "
            f"| {row['perfect_model_per_offer']:.2f} |"
        )
    print(f"\nwhole run: {figures['seconds']} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/promoloop-loop"))
    main(parser.parse_args().out)
