"""Bandit campaigns in the service: logged probabilities, learning, reloading."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from promoloop.bandits import EpsilonGreedy
from promoloop.cli import app
from promoloop.errors import InputError
from promoloop.store.learn import learn_policy
from promoloop.store.models import Decision, Feedback, PolicyRecord
from promoloop.store.policies import load_policy
from promoloop.store.policy_evaluation import evaluate_candidate
from tests.service.conftest import auth
from tests.service.synthetic import (
    Score,
    campaign,
    customer_ids,
    promotion,
    publish_synthetic,
)

POLICY = {"kind": "epsilon_greedy", "min_probability": 0.1, "params": {"epsilon": 0.2}}


def bandit_campaign(**fields) -> dict:
    return campaign(
        "b",
        [
            promotion("b-good", per_customer_cap=100),
            promotion("b-poor", per_customer_cap=100),
        ],
        assignment="bandit",
        policy=POLICY,
        **fields,
    )


def publish_bandit(store, customers, **fields) -> None:
    publish_synthetic(
        store,
        [bandit_campaign(**fields), campaign("t", [promotion("t-1")])],
        [Score(c, "t", "t-1") for c in customers],
    )


def decide(client, keys, customers) -> list[dict]:
    headers = auth(keys["decision"])
    return [
        client.post("/v1/decisions", json={"customer_id": c}, headers=headers).json()
        for c in customers
    ]


def order_for(client, keys, decision, margin) -> None:
    body = {
        "feedback_id": f"order-{decision['decision_id']}",
        "decision_id": decision["decision_id"],
        "kind": "order",
        "revenue": 50.0,
        "margin": margin,
    }
    response = client.post("/v1/feedback", json=body, headers=auth(keys["ingest"]))
    assert response.status_code == 200, response.text


def logged(store) -> list[Decision]:
    with store.session() as session:
        return list(
            session.scalars(select(Decision).where(Decision.campaign_id == "b"))
        )


def test_decisions_log_policy_fields(store, keys, client):
    customers = customer_ids(60)
    publish_bandit(store, customers)

    answers = decide(client, keys, customers)

    statuses = {answer["status"] for answer in answers}
    assert statuses <= {"offer", "no_offer"}
    # A bandit campaign decides before the targeted one, "none" included.
    assert all(answer["campaign_id"] == "b" for answer in answers)
    rows = logged(store)
    assert len(rows) == 60
    for row in rows:
        assert row.policy_version == 0
        assert len(row.features) == 3
        assert 0.1 <= row.probability <= 1.0
        assert sorted(row.eligible) == ["b-good", "b-poor"]
    chosen = {row.promotion_id for row in rows}
    assert None in chosen
    assert {"b-good", "b-poor"} <= chosen
    none_rows = [row for row in rows if row.promotion_id is None]
    assert all(float(row.cost) == 0 for row in none_rows)
    offered = [row for row in rows if row.promotion_id is not None]
    assert all(float(row.cost) == 0.05 for row in offered)


def test_learning_moves_probability(store, keys, client):
    customers = customer_ids(150)
    publish_bandit(store, customers)
    answers = decide(client, keys, customers)
    rows = {row.decision_id: row for row in logged(store)}
    for answer in answers:
        if rows[answer["decision_id"]].promotion_id == "b-good":
            order_for(client, keys, answer, margin=10.0)

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)
    result = learn_policy(store, "b", as_of=later)

    assert result.version == 1
    assert result.decisions_used == 150
    assert result.pending == 0
    assert result.mean_reward["b-good"] == 1.0
    assert result.mean_reward["b-poor"] == 0.0
    assert result.mean_reward["none"] == 0.0
    saved = load_policy_version(store)
    probabilities = saved.action_probabilities()[0]
    good = saved.actions.index("b-good")
    # Greedy 0.8 plus a third of epsilon, mixed with the floor of 0.1:
    # 0.1 + (1 - 3 * 0.1) * (0.8 + 0.2 / 3).
    assert probabilities[good] == pytest.approx(0.1 + 0.7 * (0.8 + 0.2 / 3))

    # The service reloads the new version without a restart.
    client.app.state.offer_cache.invalidate_campaigns()
    before = {row.decision_id for row in logged(store)}
    decide(client, keys, customers[:20])
    new_rows = [row for row in logged(store) if row.decision_id not in before]
    assert len(new_rows) == 20
    assert {row.policy_version for row in new_rows} == {1}


def load_policy_version(store):
    with store.session() as session:
        return load_policy(session, "b").policy


def test_incremental_learns_only_new(store, keys, client):
    customers = customer_ids(40)
    publish_bandit(store, customers)
    decide(client, keys, customers[:20])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)
    first = learn_policy(store, "b", as_of=later)
    decide(client, keys, customers[20:])

    second = learn_policy(store, "b", mode="incremental", as_of=later)

    assert first.version == 1
    assert first.decisions_used == 20
    assert second.version == 2
    assert second.decisions_used == 20
    with store.session() as session:
        records = session.scalars(select(PolicyRecord)).all()
        assert [record.version for record in records] == [1, 2]


def test_open_windows_are_pending(store, keys, client):
    customers = customer_ids(10)
    publish_bandit(store, customers)
    decide(client, keys, customers)

    result = learn_policy(store, "b")

    assert result.version is None
    assert result.pending == 10


@pytest.mark.parametrize(
    ("campaign_id", "message"),
    [("t", "not a bandit campaign"), ("missing", "campaign not found")],
)
def test_learn_rejects_campaigns(store, keys, client, campaign_id, message):
    publish_bandit(store, customer_ids(3))

    with pytest.raises(InputError, match=message):
        learn_policy(store, campaign_id)

    runner = CliRunner()
    url = store.url.render_as_string(hide_password=False)
    outcome = runner.invoke(
        app, ["learn", "--campaign", campaign_id, "--database-url", url]
    )
    assert outcome.exit_code == 2
    assert message in outcome.output


def test_policy_needs_bandit_assignment(client, keys):
    spec = campaign("x", [promotion("x-1")], policy=POLICY)

    response = client.post("/v1/campaigns", json=spec, headers=auth(keys["admin"]))

    assert response.status_code == 422
    assert "assignment" in response.text


def test_policy_params_checked(client, keys):
    spec = bandit_campaign()
    spec["policy"] = {"kind": "epsilon_greedy", "params": {"epsilon": 3}}

    response = client.post("/v1/campaigns", json=spec, headers=auth(keys["admin"]))

    assert response.status_code == 422
    assert "epsilon" in response.text


def test_candidate_evaluated_on_log(store, keys, client):
    customers = customer_ids(200)
    publish_bandit(store, customers)
    answers = decide(client, keys, customers)
    rows = {row.decision_id: row for row in logged(store)}
    for answer in answers:
        if rows[answer["decision_id"]].promotion_id == "b-good":
            order_for(client, keys, answer, margin=10.0)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)
    actions = ["none", "b-good", "b-poor"]
    always_good = EpsilonGreedy(actions, epsilon=0.0, min_probability=0.0)
    always_good.fit(["b-good"], [1.0])

    result = evaluate_candidate(store, "b", always_good, as_of=later, n_bootstrap=200)

    frame = result.to_frame().set_index("name")
    assert result.n_rounds == 200
    # Every b-good decision converted and nothing else did, so the policy
    # that always sends b-good has a true value of 1, and the log's mean is
    # the share of b-good decisions.
    share_good = sum(row.promotion_id == "b-good" for row in rows.values()) / 200
    assert result.logged_value == pytest.approx(share_good)
    assert frame.loc["snips", "value"] == pytest.approx(1.0)
    # IPS is exactly the mean of reward / probability over the b-good rounds.
    # Its interval comes from random draws, so the test only checks that the
    # interval contains the estimate.
    ips = (
        sum(
            1.0 / row.probability
            for row in rows.values()
            if row.promotion_id == "b-good"
        )
        / 200
    )
    assert frame.loc["ips", "value"] == pytest.approx(ips)
    assert frame.loc["ips", "ci_low"] <= ips <= frame.loc["ips", "ci_high"]
    assert frame.loc["dr", "value"] == pytest.approx(1.0, abs=0.05)


def test_candidate_needs_campaign_actions(store, keys, client):
    customers = customer_ids(10)
    publish_bandit(store, customers)
    decide(client, keys, customers)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)

    with pytest.raises(InputError, match="actions differ"):
        evaluate_candidate(store, "b", EpsilonGreedy(["none", "x"]), as_of=later)


def backdate_campaign_log(store, days: int) -> None:
    """Move the campaign's decisions and their feedback ``days`` into the past."""
    shift = dt.timedelta(days=days)
    with store.session() as session:
        for row in session.scalars(select(Decision)):
            row.created_at = row.created_at - shift
        for feedback in session.scalars(select(Feedback)):
            feedback.created_at = feedback.created_at - shift


def test_cli_learns_and_judges_candidates(store, keys, client, tmp_path):
    customers = customer_ids(120)
    publish_bandit(store, customers)
    answers = decide(client, keys, customers)
    rows = {row.decision_id: row for row in logged(store)}
    for answer in answers:
        if rows[answer["decision_id"]].promotion_id == "b-good":
            order_for(client, keys, answer, margin=10.0)
    backdate_campaign_log(store, days=30)
    url = store.url.render_as_string(hide_password=False)
    runner = CliRunner()

    learned = runner.invoke(app, ["learn", "--campaign", "b", "--database-url", url])
    spec = '{"kind": "epsilon_greedy", "params": {"epsilon": 0.1}}'
    judged = runner.invoke(
        app,
        [
            "ope", "--from-store", "--campaign", "b", "--candidate", spec,
            "--database-url", url, "--out", str(tmp_path / "spec"),
            "--n-bootstrap", "100",
        ],
    )  # fmt: skip
    saved = runner.invoke(
        app,
        [
            "ope", "--from-store", "--campaign", "b", "--candidate", "1",
            "--database-url", url, "--out", str(tmp_path / "saved"),
        ],
    )  # fmt: skip

    assert learned.exit_code == 0, learned.output
    assert "policy version 1 learned (batch) from 120 decisions" in learned.output
    assert judged.exit_code == 0, judged.output
    table = pd.read_csv(tmp_path / "spec" / "estimates.csv")
    assert set(table["name"]) >= {"ips", "snips", "dr"}
    assert np.isfinite(table["value"]).all()
    report = (tmp_path / "spec" / "report.md").read_text(encoding="utf-8")
    assert "fitted on the 60 decisions" in report
    # Version 1 learned from every decision, so none is left to judge it on.
    assert saved.exit_code == 2
    assert "no decision whose reward window has closed" in saved.output


def test_ope_needs_one_source(tmp_path):
    outcome = CliRunner().invoke(app, ["ope", "--out", str(tmp_path / "x")])

    assert outcome.exit_code == 2
    assert "either --data-dir" in outcome.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"policy": {"kind": "epsilon_greedy", "min_probability": 0.4}}, "0.3333"),
        ({"promotions": [promotion("none")]}, "reserved name"),
        ({"policy": {"kind": "linucb", "params": {"beta": 1}}}, "alpha"),
    ],
)
def test_bandit_campaign_checks(client, keys, change, message):
    spec = bandit_campaign() | change

    response = client.post("/v1/campaigns", json=spec, headers=auth(keys["admin"]))

    assert response.status_code == 422
    assert message in response.text


def test_broken_policy_spares_other_campaigns(store, keys, client):
    customers = customer_ids(10)
    publish_bandit(store, customers)
    with store.session() as session:
        session.add(
            PolicyRecord(
                campaign_id="b",
                version=1,
                kind="linucb",
                state={"kind": "unknown"},
                reward="conversion",
                window_days=14,
                decisions_used=0,
            )
        )

    answers = decide(client, keys, customers)

    # The bandit campaign makes no decision; the targeted one still offers.
    assert {answer["campaign_id"] for answer in answers} == {"t"}
    assert {answer["status"] for answer in answers} <= {"offer", "holdout"}


def test_redemptions_count_as_orders(store, keys, client):
    customers = customer_ids(60)
    publish_bandit(store, customers)
    answers = decide(client, keys, customers)
    headers = auth(keys["ingest"])
    for answer in answers:
        if answer["status"] != "offer":
            continue
        body = {
            "feedback_id": f"r-{answer['decision_id']}",
            "decision_id": answer["decision_id"],
            "kind": "redemption",
            "revenue": 40.0,
            "margin": 10.0,
        }
        assert client.post("/v1/feedback", json=body, headers=headers).is_success

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)
    result = learn_policy(store, "b", as_of=later)

    assert result.mean_reward["b-good"] == 1.0
    assert result.mean_reward["b-poor"] == 1.0
    assert result.mean_reward["none"] == 0.0


def test_learn_without_decisions(store, keys, client):
    publish_bandit(store, customer_ids(3))

    result = learn_policy(store, "b")

    assert result.version is None
    assert result.decisions_read == 0


def test_incremental_refits_changed_policy(store, keys, client):
    customers = customer_ids(30)
    publish_bandit(store, customers)
    decide(client, keys, customers)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=15)
    learn_policy(store, "b", as_of=later)
    changed = bandit_campaign()
    changed["policy"] = {"kind": "linucb", "reward": "revenue"}
    response = client.put("/v1/campaigns/b", json=changed, headers=auth(keys["admin"]))
    assert response.status_code == 200, response.text

    result = learn_policy(store, "b", mode="incremental", as_of=later)

    assert result.version == 2
    assert result.decisions_used == 30
    with store.session() as session:
        assert load_policy(session, "b").policy.kind == "linucb"


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        ("-1", "whole number from 1"),
        ("99999999999999999999999", "whole number from 1"),
        ("1.5", "whole number from 1"),
        ("{not json", "policy spec as JSON"),
        ('{"kind": "bogus"}', "kind"),
    ],
)
def test_ope_rejects_bad_candidates(store, keys, client, tmp_path, candidate, message):
    publish_bandit(store, customer_ids(3))
    url = store.url.render_as_string(hide_password=False)

    outcome = CliRunner().invoke(
        app,
        [
            "ope", "--from-store", "--campaign", "b", "--candidate", candidate,
            "--database-url", url, "--out", str(tmp_path / "out"),
        ],
    )  # fmt: skip

    assert outcome.exit_code == 2
    assert message in outcome.output
    assert "Traceback" not in outcome.output


def test_ope_bad_store_url(tmp_path):
    outcome = CliRunner().invoke(
        app,
        [
            "ope", "--from-store", "--campaign", "b", "--candidate", "1",
            "--database-url", f"sqlite:///{tmp_path}/missing/store.db",
            "--out", str(tmp_path / "out"),
        ],
    )  # fmt: skip

    assert outcome.exit_code == 2
    assert "cannot read the store" in outcome.output
