"""Campaign evaluation on simulated campaigns with a known effect."""

import numpy as np
import pandas as pd
import pytest

from promoloop.evaluation.campaign import evaluate_campaigns

N_CUSTOMERS = 20_000
CONTROL_RATE = 0.05
TRUE_LIFT = 0.02
MEAN_VALUE = 60.0  # mean revenue per buyer: value ~ Gamma(2, 30), times a mean-1 factor
START = pd.Timestamp("2024-05-01", tz="UTC")


def simulate(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Build a 10% holdout campaign where the promotion adds 0.02 to conversion."""
    rng = np.random.default_rng(seed)
    ids = np.arange(N_CUSTOMERS).astype(str)
    holdout = rng.random(N_CUSTOMERS) < 0.1
    exposures = pd.DataFrame(
        {
            "decision_id": ids,
            "customer_id": ids,
            "campaign_id": "spring",
            "promotion_id": np.where(holdout, None, "ten_off"),
            "holdout": holdout,
            "timestamp": START,
        }
    )

    # Each customer's value drives pre-period spend, the chance to buy and
    # the basket. The promotion adds TRUE_LIFT to every customer's chance,
    # so the revenue lift is TRUE_LIFT x the mean value.
    value = rng.gamma(2.0, MEAN_VALUE / 2, N_CUSTOMERS)
    pre_spend = value * rng.gamma(4.0, 0.25, N_CUSTOMERS)
    base_rate = np.minimum(CONTROL_RATE * value / MEAN_VALUE, 0.9)
    rate = np.where(holdout, base_rate, base_rate + TRUE_LIFT)
    buyer = rng.random(N_CUSTOMERS) < rate
    revenue = value[buyer] * rng.gamma(5.0, 0.2, buyer.sum())
    outcomes = pd.DataFrame(
        {
            "customer_id": ids[buyer],
            "order_id": "o" + ids[buyer],
            "revenue": revenue,
            "margin": 0.3 * revenue,
            "timestamp": START + pd.Timedelta(days=3),
        }
    )
    pre_period = pd.DataFrame({"customer_id": ids, "pre_spend": pre_spend})
    return exposures, outcomes, pre_period


@pytest.fixture(scope="module")
def reports():
    found = []
    for seed in range(5):
        exposures, outcomes, pre_period = simulate(seed)
        found.append(
            evaluate_campaigns(
                exposures,
                outcomes,
                pre_period=pre_period,
                planned_holdout_share=0.1,
                n_boot=200,
                seed=seed,
            )
        )
    return found


def _covers(effect, truth):
    return effect.ci_low <= truth <= effect.ci_high


# A 95% interval misses the true value in 1 of 20 runs, so over 5 seeds
# at least 4 must cover (all 5 miss with probability below 3%).
def test_simulated_conversion_lift_covered(reports):
    covered = [
        _covers(r.effect("spring", "conversion_rate"), TRUE_LIFT) for r in reports
    ]
    assert sum(covered) >= 4


def test_simulated_revenue_lift_covered(reports):
    truth = TRUE_LIFT * MEAN_VALUE
    covered = [
        _covers(r.effect("spring", "revenue_per_customer"), truth) for r in reports
    ]
    assert sum(covered) >= 4


def test_simulated_cuped_interval_narrower(reports):
    for report in reports:
        plain = report.effect("spring", "revenue_per_customer")
        cuped = report.effect("spring", "revenue_per_customer_cuped")
        assert cuped.ci_high - cuped.ci_low < plain.ci_high - plain.ci_low
        row = report.tables["cuped"].iloc[0]
        assert row["variance_reduction"] > 0
        assert row["theta"] > 0


def test_simulated_checks_pass(reports):
    statuses = {c["check"]: c["status"] for c in reports[0].checks}
    assert statuses["sample_ratio_mismatch"] == "ok"
    assert statuses["groups_present"] == "ok"
    assert statuses["customers_in_both_groups"] == "ok"


def test_simulated_incremental_revenue(reports):
    report = reports[0]
    lift = report.effect("spring", "revenue_per_customer")
    total = report.effect("spring", "incremental_revenue")
    n_treated = int(report.tables["effects"]["n_treated"].iloc[0])
    assert total.estimate == pytest.approx(lift.estimate * n_treated)
    assert total.ci_low == pytest.approx(lift.ci_low * n_treated)
