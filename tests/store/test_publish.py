"""Publishing run folders of the example shop as model versions."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from tests.store.conftest import SHOP, run_example_shop
from typer.testing import CliRunner

from promoloop.cli import app
from promoloop.errors import ConfigError
from promoloop.store import (
    current_version,
    delete_customer,
    get_customer_facts,
    get_scores,
    load_campaign,
    publish_run,
    reserve_budget,
)
from promoloop.store.models import (
    CampaignRecord,
    CampaignStatus,
    Customer,
    ModelVersion,
    PromotionRecord,
    PublishedCustomerFacts,
    PublishedScore,
)
from promoloop.store.publish import manifest_version
from promoloop.targeting.promotions import load_promotions

SCORE_COLUMNS = [
    "customer_id",
    "campaign_id",
    "promotion_id",
    "score",
    "expected_cost",
    "score_source",
]


def count(session, model, **filters) -> int:
    query = select(func.count()).select_from(model)
    for column, value in filters.items():
        query = query.where(getattr(model, column) == value)
    return int(session.scalar(query))


def edited_copy(run_dir: Path, target: Path, edit) -> Path:
    """Copy a run folder and change its manifest with ``edit(manifest)``."""
    shutil.copytree(run_dir, target)
    path = target / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    return target


def test_run_writes_scores_of_eligible_pairs(shop_run):
    scores = pd.read_parquet(shop_run / "scores.parquet")
    assert list(scores.columns) == SCORE_COLUMNS
    assert not scores.duplicated(["customer_id", "promotion_id"]).any()
    assert scores[["score", "expected_cost"]].notna().all().all()
    # The customer who declined offers has no eligible pair; the five others
    # are eligible for all four promotions of the example file.
    decisions = pd.read_parquet(shop_run / "decisions.parquet")
    no_consent = decisions.loc[decisions["reason"] == "no consent", "customer_id"]
    assert not scores["customer_id"].isin(no_consent).any()
    assert len(scores) == 5 * 4
    # Every offer the run made is one of the scored pairs, with its score.
    offers = decisions[decisions["promotion_id"].notna()]
    merged = offers.merge(scores, on=["customer_id", "promotion_id"], how="left")
    assert (merged["score_x"] == merged["score_y"]).all()


def test_publish_loads_run(store, shop_run):
    scores = pd.read_parquet(shop_run / "scores.parquet")
    profiles = pd.read_parquet(shop_run / "profiles.parquet")
    manifest = json.loads((shop_run / "manifest.json").read_text())

    result = publish_run(store, shop_run)

    assert result.created
    assert result.version == manifest_version(manifest)
    assert (result.campaigns, result.promotions) == (2, 4)
    assert result.scores == len(scores)
    assert result.customers == len(profiles)
    with store.session() as session:
        version = current_version(session)
        assert version.version == result.version
        assert version.source == str(shop_run.resolve())
        assert version.manifest["as_of"] == manifest["as_of"]
        assert count(session, PublishedScore, version=result.version) == len(scores)
        assert count(session, PublishedCustomerFacts) == len(profiles)
        assert count(session, Customer) == len(profiles)
        assert count(session, CampaignRecord) == 2
        assert count(session, PromotionRecord) == 4


def test_published_scores_match_run(store, shop_run):
    publish_run(store, shop_run)
    scores = pd.read_parquet(shop_run / "scores.parquet")
    customer = scores["customer_id"].iloc[0]
    expected = scores[scores["customer_id"] == customer].sort_values(
        ["score", "promotion_id"], ascending=[False, True]
    )
    with store.session() as session:
        stored = get_scores(session, customer)
    assert [s.promotion_id for s in stored] == list(expected["promotion_id"])
    assert [s.score for s in stored] == pytest.approx(list(expected["score"]))
    assert [s.expected_cost for s in stored] == pytest.approx(
        list(expected["expected_cost"])
    )
    assert {s.score_source for s in stored} == set(expected["score_source"])


def test_published_facts_match_run(store, shop_run):
    publish_run(store, shop_run)
    profiles = pd.read_parquet(shop_run / "profiles.parquet").set_index("customer_id")
    decisions = pd.read_parquet(shop_run / "decisions.parquet")
    offers = decisions[decisions["promotion_id"].notna()].set_index("customer_id")
    with store.session() as session:
        for customer, profile in profiles.iterrows():
            facts = get_customer_facts(session, customer)
            assert facts.locale == profile["locale"]
            assert facts.consent == bool(profile["consent"])
            assert facts.segment_name == profile["segment_name"]
            assert facts.frequency == profile["frequency"]
            assert facts.recency_days == pytest.approx(profile["recency_days"])
            assert facts.is_anomaly == bool(profile["is_anomaly"])
            if customer in offers.index:
                expected = list(offers.loc[customer, "featured_items"])
            else:
                expected = []
            assert facts.featured_item_ids == expected
    # The example run makes offers that feature items.
    assert any(len(items) for items in offers["featured_items"])


def test_campaign_specs_round_trip(store, shop_run):
    publish_run(store, shop_run)
    plan = load_promotions(SHOP / "promotions.yaml")
    with store.session() as session:
        for campaign in plan.campaigns:
            stored = load_campaign(session, campaign.campaign_id)
            expected = campaign.model_copy(
                update={"currency": plan.currency_of(campaign.campaign_id)}
            )
            assert stored.model_dump(exclude={"promotions"}) == expected.model_dump(
                exclude={"promotions"}
            )
            by_id = {p.promotion_id: p for p in campaign.promotions}
            assert {p.promotion_id: p for p in stored.promotions} == by_id
            record = session.get(CampaignRecord, campaign.campaign_id)
            assert record.budget == Decimal(str(campaign.budget))
            assert record.spent == 0


def test_republish_is_idempotent(store, shop_run):
    first = publish_run(store, shop_run)
    again = publish_run(store, shop_run)
    assert not again.created
    assert again.version == first.version
    assert (again.scores, again.customers) == (first.scores, first.customers)
    with store.session() as session:
        assert count(session, ModelVersion) == 1
        assert count(session, PublishedScore) == first.scores
        assert count(session, PublishedCustomerFacts) == first.customers
        assert count(session, Customer) == first.customers


def test_new_run_becomes_current_and_old_can_return(store, shop_run, second_run):
    first = publish_run(store, shop_run)
    second = publish_run(store, second_run)
    assert second.created
    assert second.version != first.version
    with store.session() as session:
        assert current_version(session).version == second.version
        assert count(session, ModelVersion, is_current=True) == 1
        # Customers of both runs are the same pseudonyms: one row each.
        assert count(session, Customer) == first.customers

    back = publish_run(store, shop_run)
    assert not back.created
    with store.session() as session:
        assert current_version(session).version == first.version
        assert count(session, ModelVersion, is_current=True) == 1
        assert count(session, ModelVersion) == 2


def test_republish_keeps_spend_and_status(store, shop_run, second_run):
    publish_run(store, shop_run)
    with store.session() as session:
        assert reserve_budget(session, "spring", Decimal("2.5"))
        session.get(CampaignRecord, "free-delivery").status = CampaignStatus.PAUSED
    publish_run(store, second_run)
    with store.session() as session:
        assert session.get(CampaignRecord, "spring").spent == Decimal("2.5")
        paused = session.get(CampaignRecord, "free-delivery")
        assert paused.status == CampaignStatus.PAUSED
        assert load_campaign(session, "free-delivery", active_only=True) is None
        assert load_campaign(session, "spring", active_only=True) is not None


def test_erased_customer_not_republished(store, shop_run, second_run):
    publish_run(store, shop_run)
    scores = pd.read_parquet(shop_run / "scores.parquet")
    erased = scores["customer_id"].iloc[0]
    with store.session() as session:
        delete_customer(session, erased)

    result = publish_run(store, second_run)

    assert result.skipped_deleted == 1
    with store.session() as session:
        assert get_scores(session, erased) == []
        assert get_customer_facts(session, erased) is None
        assert session.get(Customer, erased) is None
        assert count(session, PublishedScore, customer_id=erased) == 0


def test_missing_scores_rejected(store, shop_run, tmp_path):
    copy = edited_copy(shop_run, tmp_path / "run", lambda manifest: None)
    (copy / "scores.parquet").unlink()
    with pytest.raises(ConfigError, match="scores.parquet not found"):
        publish_run(store, copy)


def test_not_a_run_folder_rejected(store, tmp_path):
    with pytest.raises(ConfigError, match="not a run folder"):
        publish_run(store, tmp_path)


def test_changed_promotions_file_rejected(store, shop_run, tmp_path):
    changed = tmp_path / "promotions.yaml"
    text = (SHOP / "promotions.yaml").read_text(encoding="utf-8")
    changed.write_text(text.replace("budget: 40.0", "budget: 400.0"), encoding="utf-8")

    def point_at_changed(manifest):
        manifest["promotions"]["path"] = str(changed)

    copy = edited_copy(shop_run, tmp_path / "run", point_at_changed)
    with pytest.raises(ConfigError, match="changed since the run"):
        publish_run(store, copy)
    with store.session() as session:
        assert count(session, ModelVersion) == 0


def test_raw_customer_ids_rejected(store, shop_run, tmp_path):
    def raw_ids(manifest):
        manifest["privacy"]["pseudonymized"] = False

    copy = edited_copy(shop_run, tmp_path / "run", raw_ids)
    with pytest.raises(ConfigError, match="raw customer ids"):
        publish_run(store, copy)
    assert publish_run(store, copy, allow_raw_ids=True).created


def test_publish_command(store, shop_run):
    url = store.url.render_as_string(hide_password=False)
    runner = CliRunner()
    first = runner.invoke(app, ["publish", str(shop_run), "--database-url", url])
    assert first.exit_code == 0, first.output
    assert "published" in first.output
    again = runner.invoke(app, ["publish", str(shop_run), "--database-url", url])
    assert again.exit_code == 0, again.output
    assert "already published" in again.output
    with store.session() as session:
        assert count(session, ModelVersion) == 1


def test_publish_command_reports_bad_folder(store, tmp_path):
    url = store.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["publish", str(tmp_path), "--database-url", url])
    assert result.exit_code == 2
    assert "not a run folder" in result.output


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # Nothing listens on port 1 of this machine.
        ("postgresql+psycopg://postgres@127.0.0.1:1/none", "cannot use the database"),
        ("mysql://user@localhost/shop", "unsupported database"),
    ],
)
def test_publish_command_reports_bad_database(shop_run, url, message):
    result = CliRunner().invoke(app, ["publish", str(shop_run), "--database-url", url])
    assert result.exit_code == 2
    assert message in result.output


def test_run_with_relative_promotions_path_publishes(store, tmp_path, monkeypatch):
    # The manifest records the promotions file's absolute path, so a run
    # given a relative path can be published from another directory.
    monkeypatch.chdir(SHOP)
    out = run_example_shop(tmp_path / "run", promotions=Path("promotions.yaml"))
    monkeypatch.chdir(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert Path(manifest["promotions"]["path"]).is_absolute()
    assert publish_run(store, out).created
