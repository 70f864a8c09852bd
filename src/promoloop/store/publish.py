"""Publishing a run folder of ``promoloop run`` into the store as a model version.

A published version contains the scores of every eligible (customer, promotion)
pair of the run (``scores.parquet``) and the customer facts that messages
and eligibility rules need (``profiles.parquet`` and ``decisions.parquet``).
Publishing also loads the campaigns and promotions of the run's promotions
file into the live ``campaigns`` and ``promotions`` tables, and makes the
version the current one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from promoloop.errors import ConfigError
from promoloop.store.database import Store
from promoloop.store.models import (
    CampaignRecord,
    Customer,
    DeletedCustomer,
    ModelVersion,
    PromotionRecord,
    PublishedCustomerFacts,
    PublishedScore,
)
from promoloop.targeting.promotions import PromotionPlan, load_promotions
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

#: Hex digits of the manifest's SHA-256 that name a model version.
VERSION_LENGTH = 16
_INSERT_BATCH = 5_000
_RUN_TABLES = ("scores", "profiles", "decisions")


@dataclass(frozen=True)
class PublishResult:
    """Version and row counts of a run published by :func:`publish_run`.

    Attributes
    ----------
    version : str
        Model version of the run, now the current one.
    created : bool
        False when the run had been published before; its rows were kept and
        it was made current again.
    campaigns, promotions : int
        Campaigns and promotions of the run's promotions file.
    scores, customers : int
        Score rows and customer-fact rows of the version.
    skipped_deleted : int
        Customers of the run left out because they were erased.
    """

    version: str
    created: bool
    campaigns: int
    promotions: int
    scores: int
    customers: int
    skipped_deleted: int = 0


def manifest_version(manifest: dict) -> str:
    """Return the model version of a run: a hash of its manifest's content.

    The manifest is serialized with sorted keys, so the same run gives the
    same version however its ``manifest.json`` was formatted. Two runs always
    differ in their recorded timings, so two runs get two versions even with
    the same inputs.
    """
    canonical = json.dumps(
        manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:VERSION_LENGTH]


def publish_run(
    store: Store, run_dir: Path | str, *, allow_raw_ids: bool = False
) -> PublishResult:
    """Load a run folder into the store as a new, current model version.

    Publishing the same run folder again creates nothing new: its version
    (a hash of the manifest) exists, so it is only made current again, which
    also rolls back to an older run.

    Parameters
    ----------
    store : Store
        Store to publish into; its schema must be migrated
        (:meth:`Store.upgrade`).
    run_dir : path
        Run folder written by ``promoloop run``, with ``manifest.json``,
        ``scores.parquet``, ``profiles.parquet`` and ``decisions.parquet``.
        The promotions file recorded in the manifest must still exist
        unchanged.
    allow_raw_ids : bool, default False
        Accept a run made with ``--no-pseudonymize``, whose customer ids are
        the shop's own.

    Returns
    -------
    PublishResult

    Raises
    ------
    ConfigError
        If the folder is not a complete run folder, the promotions file is
        missing or changed since the run, the run's scores name a promotion
        the file does not have, or the run kept raw customer ids.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    _check_privacy(manifest, run_dir, allow_raw_ids)
    version = manifest_version(manifest)
    plan = _read_plan(manifest, run_dir)
    tables = {name: _read_table(run_dir, name) for name in _RUN_TABLES}
    _check_scores(tables["scores"], plan, run_dir)

    with store.session() as session:
        campaigns, promotions = upsert_plan(session, plan)
        if session.get(ModelVersion, version) is not None:
            _make_current(session, version)
            result = PublishResult(
                version=version,
                created=False,
                campaigns=campaigns,
                promotions=promotions,
                scores=_count(session, PublishedScore, version),
                customers=_count(session, PublishedCustomerFacts, version),
            )
            logger.info("run %s was published before as version %s", run_dir, version)
            return result

        # The version row first, because the published rows refer to it.
        session.add(
            ModelVersion(
                version=version,
                source=str(run_dir.resolve()),
                manifest=_json_safe(manifest),
                is_current=False,
            )
        )
        session.flush()

        # Erased customers stay erased: none of their rows is published.
        deleted = set(session.scalars(select(DeletedCustomer.customer_id)))
        scores = _without(tables["scores"], deleted)
        facts = customer_facts(
            _without(tables["profiles"], deleted),
            _without(tables["decisions"], deleted),
            restricted_pattern=_restricted_pattern(manifest),
        )
        _insert(session, PublishedScore, _score_rows(scores, version))
        _insert(session, PublishedCustomerFacts, _fact_rows(facts, version))
        _insert_missing_customers(session, facts)
        _make_current(session, version)

    skipped = int(tables["profiles"][C.customer_id].isin(deleted).sum())
    logger.info(
        "published %s as version %s: %d scores, %d customers (%d erased left out)",
        run_dir,
        version,
        len(scores),
        len(facts),
        skipped,
    )
    return PublishResult(
        version=version,
        created=True,
        campaigns=campaigns,
        promotions=promotions,
        scores=len(scores),
        customers=len(facts),
        skipped_deleted=skipped,
    )


def read_manifest(run_dir: Path) -> dict:
    """Read a run folder's ``manifest.json``.

    Raises
    ------
    ConfigError
        If the folder or its manifest is missing or the manifest is not JSON.
    """
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise ConfigError(
            f"{run_dir} is not a run folder: {path.name} not found. Fix: give the "
            "--out folder of a finished promoloop run"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path} is not valid JSON ({error}). Fix: run promoloop run again "
            "to rewrite the folder"
        ) from None
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path} does not contain a JSON object; run again")
    return manifest


def upsert_plan(session: Session, plan: PromotionPlan) -> tuple[int, int]:
    """Insert or update the campaigns and promotions of a plan.

    A campaign's spec and budget follow the plan, while its spend and status
    are kept: money already reserved stays spent, and a campaign paused
    through the service stays paused. Campaigns and promotions that the plan
    no longer has are left as they are. The service offers only pairs that
    the current version scored, so they get no new offers.

    Returns
    -------
    tuple of int
        Numbers of campaigns and promotions in the plan.
    """
    promotions = 0
    for campaign in plan.campaigns:
        spec = campaign.model_copy(
            update={"currency": plan.currency_of(campaign.campaign_id)}
        ).model_dump(mode="json", exclude={"promotions"})
        record = session.get(CampaignRecord, campaign.campaign_id)
        if record is None:
            session.add(
                CampaignRecord(
                    campaign_id=campaign.campaign_id,
                    spec=spec,
                    budget=campaign.budget,
                )
            )
        else:
            record.spec = spec
            record.budget = campaign.budget
        # Promotions refer to their campaign's row.
        session.flush()
        for promotion in campaign.promotions:
            promotions += 1
            promotion_spec = promotion.model_dump(mode="json")
            stored = session.get(PromotionRecord, promotion.promotion_id)
            if stored is None:
                session.add(
                    PromotionRecord(
                        promotion_id=promotion.promotion_id,
                        campaign_id=campaign.campaign_id,
                        spec=promotion_spec,
                    )
                )
            else:
                stored.campaign_id = campaign.campaign_id
                stored.spec = promotion_spec
    session.flush()
    return len(plan.campaigns), promotions


def customer_facts(
    profiles: pd.DataFrame, decisions: pd.DataFrame, *, restricted_pattern: str = ""
) -> pd.DataFrame:
    """Return one row of message and eligibility facts per customer of a run.

    ``featured_item_ids`` are the items that the run's message for the
    customer featured, because only those passed the run's filter of
    restricted items and the promotion's scope. Customers without an offer
    in the run get an empty list. A favourite category that matches
    ``restricted_pattern`` (the run's ``messaging.restricted_items_pattern``)
    is blanked, as the run's messages did.
    """
    columns = [
        C.customer_id,
        C.locale,
        C.consent,
        "segment_name",
        "favourite_category",
        "frequency",
        "recency_days",
        "is_anomaly",
    ]
    facts = profiles.reindex(columns=columns).copy()
    if restricted_pattern:
        text = facts["favourite_category"].astype("string").fillna("")
        restricted = text.str.contains(restricted_pattern, regex=True)
        facts["favourite_category"] = facts["favourite_category"].where(~restricted)

    # The featured items of each customer's first offer in the run.
    offers = decisions[decisions[C.promotion_id].notna()]
    featured = offers.drop_duplicates(C.customer_id).set_index(C.customer_id)
    featured_lists = featured["featured_items"].map(
        lambda ids: [str(item) for item in ids] if ids is not None else []
    )
    facts["featured_item_ids"] = [
        featured_lists.get(customer, []) for customer in facts[C.customer_id]
    ]
    return facts.reset_index(drop=True)


def _check_privacy(manifest: dict, run_dir: Path, allow_raw_ids: bool) -> None:
    privacy = manifest.get("privacy", {})
    if not privacy.get("pseudonymized", False) and not allow_raw_ids:
        raise ConfigError(
            f"the run in {run_dir} kept the shop's raw customer ids "
            "(--no-pseudonymize); the store keeps pseudonyms only. Fix: run "
            "promoloop run again with pseudonymization on"
        )
    if privacy.get("development_key_used"):
        logger.warning(
            "the run in %s pseudonymized ids with the public development key; "
            "set PROMOLOOP_PSEUDONYM_KEY to a secret for real customers",
            run_dir,
        )


def _read_plan(manifest: dict, run_dir: Path) -> PromotionPlan:
    """Load the run's promotions file and check it is the one the run used."""
    recorded = manifest.get("promotions")
    if not isinstance(recorded, dict) or "path" not in recorded:
        raise ConfigError(
            f"the manifest of {run_dir} records no promotions file (a run of an "
            "older promoloop version). Fix: run promoloop run again"
        )
    path = Path(recorded["path"])
    if not path.is_file():
        raise ConfigError(
            f"the promotions file {path} of the run in {run_dir} was not found. "
            "Fix: restore it at that path, or run promoloop run again"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != recorded.get("sha256"):
        raise ConfigError(
            f"the promotions file {path} changed since the run in {run_dir} "
            f"(SHA-256 {digest[:12]}..., the run recorded "
            f"{str(recorded.get('sha256'))[:12]}...). Fix: run promoloop run "
            "again with the new file, or restore the old one"
        )
    return load_promotions(path)


def _read_table(run_dir: Path, name: str) -> pd.DataFrame:
    path = run_dir / f"{name}.parquet"
    if not path.is_file():
        raise ConfigError(
            f"{path.name} not found in the run folder {run_dir}. Fix: run "
            "promoloop run again with this promoloop version, which writes it"
        )
    return pd.read_parquet(path)


def _check_scores(scores: pd.DataFrame, plan: PromotionPlan, run_dir: Path) -> None:
    known = {p.promotion_id for c in plan.campaigns for p in c.promotions}
    unknown = sorted(set(scores[C.promotion_id].astype(str)) - known)
    if unknown:
        raise ConfigError(
            f"scores.parquet of {run_dir} scores promotions {unknown[:5]} that "
            "its promotions file does not contain. Fix: run promoloop run again"
        )
    missing = scores[[C.score, "expected_cost"]].isna().any(axis=1)
    if missing.any():
        row = scores[missing].iloc[0]
        raise ConfigError(
            f"scores.parquet of {run_dir} has {int(missing.sum())} eligible "
            f"pair(s) without a score, e.g. customer {row[C.customer_id]!r} and "
            f"promotion {row[C.promotion_id]!r}. Fix: run promoloop run again"
        )


def _restricted_pattern(manifest: dict) -> str:
    messaging = manifest.get("parameters", {}).get("messaging", {})
    pattern = messaging.get("restricted_items_pattern") or ""
    try:
        re.compile(pattern)
    except re.error as error:
        raise ConfigError(
            f"invalid messaging.restricted_items_pattern {pattern!r} in the "
            f"manifest: {error}"
        ) from None
    return pattern


def _without(table: pd.DataFrame, customer_ids: set[str]) -> pd.DataFrame:
    if not customer_ids:
        return table
    return table[~table[C.customer_id].isin(customer_ids)]


def _score_rows(scores: pd.DataFrame, version: str) -> list[dict]:
    return [
        {
            "version": version,
            "customer_id": str(row.customer_id),
            "campaign_id": str(row.campaign_id),
            "promotion_id": str(row.promotion_id),
            "score": float(row.score),
            "expected_cost": float(row.expected_cost),
            "score_source": _text(row.score_source),
        }
        for row in scores.itertuples(index=False)
    ]


def _fact_rows(facts: pd.DataFrame, version: str) -> list[dict]:
    return [
        {
            "version": version,
            "customer_id": str(row.customer_id),
            "locale": _text(row.locale),
            "consent": None if pd.isna(row.consent) else bool(row.consent),
            "segment_name": _text(row.segment_name),
            "favourite_category": _text(row.favourite_category),
            "frequency": None if pd.isna(row.frequency) else int(row.frequency),
            "recency_days": _float(row.recency_days),
            "is_anomaly": False if pd.isna(row.is_anomaly) else bool(row.is_anomaly),
            "featured_item_ids": list(row.featured_item_ids),
        }
        for row in facts.itertuples(index=False)
    ]


def _insert_missing_customers(session: Session, facts: pd.DataFrame) -> None:
    """Add the run's customers that the store does not know yet.

    Known customers keep their row: the service may have recorded a newer
    consent or locale since the run.
    """
    rows = [
        {
            "customer_id": fact["customer_id"],
            "locale": fact["locale"],
            "consent": fact["consent"],
        }
        for fact in _fact_rows(facts, version="")
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(rows), _INSERT_BATCH):
        statement = insert(Customer).on_conflict_do_nothing(
            index_elements=["customer_id"]
        )
        session.execute(statement, rows[start : start + _INSERT_BATCH])


def _insert(session: Session, model, rows: list[dict]) -> None:
    from sqlalchemy import insert

    for start in range(0, len(rows), _INSERT_BATCH):
        session.execute(insert(model), rows[start : start + _INSERT_BATCH])


def _make_current(session: Session, version: str) -> None:
    # Clear the old flag before setting the new one: a partial unique index
    # allows one current version at a time.
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.is_current, ModelVersion.version != version)
        .values(is_current=False)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.version == version)
        .values(is_current=True)
        .execution_options(synchronize_session=False)
    )


def _count(session: Session, model, version: str) -> int:
    query = select(func.count()).select_from(model).where(model.version == version)
    return int(session.scalar(query))


def _float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def _json_safe(value: Any) -> Any:
    """Replace NaN and infinite floats, which JSON columns reject, by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value
