"""Campaign evaluation from the store's decision log and feedback."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from promoloop.cli import app
from promoloop.evaluation.campaign import evaluate_campaigns
from promoloop.store import publish_run
from promoloop.store.export import evaluation_tables
from promoloop.store.models import Decision, Feedback, FeedbackKind

DECIDED = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
N_CUSTOMERS = 2000
TRUE_LIFT = 0.10


@pytest.fixture
def logged(store, shop_run):
    """Decisions with a 20% holdout; an offer lifts conversion from 0.2 to 0.3."""
    publish_run(store, shop_run)
    rng = np.random.default_rng(1)
    holdout = rng.random(N_CUSTOMERS) < 0.2
    converted = rng.random(N_CUSTOMERS) < np.where(holdout, 0.2, 0.2 + TRUE_LIFT)
    redeemed = converted & ~holdout & (rng.random(N_CUSTOMERS) < 0.5)
    with store.session() as session:
        for i in range(N_CUSTOMERS):
            decision = f"d{i}"
            session.add(
                Decision(
                    decision_id=decision,
                    customer_id=f"c{i}",
                    campaign_id="spring",
                    promotion_id=None if holdout[i] else "kitchen-15",
                    eligible=["kitchen-15"],
                    probability=0.2 if holdout[i] else 0.8,
                    holdout=bool(holdout[i]),
                    created_at=DECIDED,
                )
            )
        session.flush()
        for i in np.flatnonzero(converted):
            kind = FeedbackKind.REDEMPTION if redeemed[i] else FeedbackKind.ORDER
            session.add(
                Feedback(
                    feedback_id=f"f{i}",
                    decision_id=f"d{i}",
                    customer_id=f"c{i}",
                    kind=kind,
                    revenue=40.0,
                    margin=12.0,
                    created_at=DECIDED + dt.timedelta(days=2),
                )
            )
            session.add(
                Feedback(
                    feedback_id=f"f{i}-seen",
                    decision_id=f"d{i}",
                    customer_id=f"c{i}",
                    kind=FeedbackKind.IMPRESSION,
                    created_at=DECIDED + dt.timedelta(hours=1),
                )
            )
    return converted, redeemed


def test_tables_have_one_row_per_decision_and_order(store, logged):
    converted, redeemed = logged
    exposures, outcomes = evaluation_tables(store)
    assert len(exposures) == N_CUSTOMERS
    assert len(outcomes) == converted.sum()
    assert outcomes["promotion_id"].notna().sum() == redeemed.sum()
    assert set(exposures["campaign_id"]) == {"spring"}


def test_campaign_filter(store, logged):
    exposures, outcomes = evaluation_tables(store, campaign_id="free-delivery")
    assert exposures.empty
    assert outcomes.empty


def test_lift_interval_covers_the_true_lift(store, logged):
    exposures, outcomes = evaluation_tables(store)
    report = evaluate_campaigns(exposures, outcomes, n_boot=200)
    effect = report.effect("spring", "conversion_rate")
    assert effect.ci_low <= TRUE_LIFT <= effect.ci_high
    checks = {c["check"]: c for c in report.checks}
    # The planned share comes from the logged probability of holdout rows.
    assert checks["sample_ratio_mismatch"]["status"] == "ok"


def test_cli_evaluates_from_the_store(store, logged, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "evaluate", "--from-store", "--database-url",
            store.engine.url.render_as_string(hide_password=False),
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    effects = pd.read_csv(out / "effects.csv")
    assert "spring" in set(effects["campaign_id"])
