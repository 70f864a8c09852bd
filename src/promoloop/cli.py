"""The ``promoloop`` command line."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError

from promoloop.config import RunConfig
from promoloop.errors import ConfigError, PromoloopError

# Options of every command that runs table stages on an engine.
EngineOption = Annotated[
    str | None,
    typer.Option(help="Engine of the table stages: duckdb (default) or spark."),
]
SparkMasterOption = Annotated[
    str | None, typer.Option(help="Spark master URL, e.g. local[2].")
]

app = typer.Typer(
    help="Personalized, budgeted promotions from a shop's history.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each stage to stderr.")
    ] = False,
) -> None:
    """promoloop: profiles, recommendations, targeting and messages."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    warnings.showwarning = _show_warning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one ``warning:`` line, without the source line.

    A command's user acts on the message, not on where in promoloop's code
    it was raised; ``--verbose`` logs keep the module names.
    """
    typer.echo(f"warning: {message} [{category.__name__}]", err=True)


def _load_config(path: Path | None) -> RunConfig:
    if path is None:
        return RunConfig()
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from error
    return _validate_config(values, f"config file {path}")


def _validate_config(values: dict, source: str) -> RunConfig:
    """Validate settings, with one readable line per invalid key."""
    try:
        return RunConfig.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].lower()} "
            f"(value {e.get('input')!r})"
            for e in error.errors()
        )
        raise ConfigError(
            f"invalid settings in {source}: {problems}. Fix: correct or remove "
            "these keys (see promoloop.config.RunConfig for every setting)"
        ) from None


@app.command()
def run(
    out: Annotated[Path, typer.Option("--out", help="Run folder to write.")],
    dataset: Annotated[
        str | None,
        typer.Option(help="Public dataset: complete-journey or online-retail."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder or file of the dataset (online-retail)."),
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="Events file of a shop (CSV or Parquet).")
    ] = None,
    items: Annotated[Path | None, typer.Option(help="Items (catalog) file.")] = None,
    customers: Annotated[Path | None, typer.Option(help="Customers file.")] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(help="Mapping of the shop's columns and formats (YAML/TOML)."),
    ] = None,
    promotions: Annotated[
        Path | None,
        typer.Option(
            help="Campaigns and promotions (TOML/YAML); a dataset's example "
            "file by default."
        ),
    ] = None,
    exposures: Annotated[
        Path | None,
        typer.Option(
            help="Decision log of an earlier run (its exposures.parquet): caps "
            "count it, and a randomized campaign in it trains the uplift model."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Run as if today were this date; later events are ignored."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of every stage.")] = 0,
    pseudonymize: Annotated[
        bool,
        typer.Option(
            help="Replace customer ids by keyed-hash pseudonyms "
            "(key from PROMOLOOP_PSEUDONYM_KEY)."
        ),
    ] = True,
    config: Annotated[
        Path | None, typer.Option(help="YAML file of run settings (RunConfig).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
) -> None:
    """Build profiles, recommendations, decisions and messages into a run folder."""
    from promoloop.pipeline import DataSource
    from promoloop.pipeline import run as run_pipeline

    with _command_errors(out):
        settings = _load_config(config)
        settings = _validate_config(
            settings.model_dump()
            | {
                "seed": seed,
                "as_of": as_of or settings.as_of,
                "pseudonymize": pseudonymize and settings.pseudonymize,
                "show_progress": progress,
                "engine": _engine_settings(settings, engine, spark_master),
            },
            "the command-line options",
        )
        source = DataSource(
            dataset=dataset,
            data_dir=data_dir,
            events=events,
            items=items,
            customers=customers,
            mapping=mapping,
            exposures=exposures,
        )
        result = run_pipeline(source, out, promotions=promotions, config=settings)
    targeting = result.manifest["metrics"]["targeting"]
    typer.echo(
        f"{targeting['offers']} offers for {targeting['customers']} customers "
        f"({targeting['holdout_customers']} in a holdout group); "
        f"run folder: {result.out_dir}"
    )


def _engine_command_settings(
    config: Path | None, engine: str | None, spark_master: str | None
) -> RunConfig:
    """Return the settings of a config file with the command's engine options."""
    settings = _load_config(config)
    return _validate_config(
        settings.model_dump()
        | {"engine": _engine_settings(settings, engine, spark_master)},
        "the command-line options",
    )


def _engine_settings(
    settings: RunConfig, engine: str | None, spark_master: str | None
) -> dict:
    """Return the engine settings of a config file, with the command's options."""
    values = settings.engine.model_dump()
    if engine is not None:
        values["name"] = engine
    if spark_master is not None:
        values["spark_master"] = spark_master
    return values


@contextmanager
def _command_errors(*outputs: Path) -> Iterator[None]:
    """Turn the errors a user can fix into one ``error:`` line and exit code 2.

    Besides promoloop's own errors, these are file-system errors (a folder
    that cannot be written, a full disk) and DuckDB running out of its
    memory limit.
    """
    import duckdb

    folders = " and ".join(str(path) for path in outputs)
    try:
        yield
    except PromoloopError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    except OSError as error:
        typer.echo(
            f"error: {error}. Fix: check that the input files can be read, "
            f"that {folders} can be written and that the disk has free space",
            err=True,
        )
        raise typer.Exit(code=2) from None
    except duckdb.OutOfMemoryException as error:
        reason = str(error).strip().splitlines()[0]
        typer.echo(
            f"error: DuckDB ran out of memory: {reason}. Fix: raise "
            "engine.duckdb_memory_limit in the --config file, or set "
            "engine.duckdb_temp_directory to a folder with free space to spill to",
            err=True,
        )
        raise typer.Exit(code=2) from None
    except duckdb.IOException as error:
        reason = str(error).strip().splitlines()[0]
        typer.echo(
            f"error: DuckDB could not read or write a file: {reason}. Fix: check "
            f"that the input files can be read, that {folders} can be written "
            "and that the disk has free space",
            err=True,
        )
        raise typer.Exit(code=2) from None


def _check_report_folder(out: Path) -> None:
    """Reject an output path that is a file or a run folder of promoloop run."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"the output path {out} is a file; give a folder for --out")
    if (out / "manifest.json").exists():
        raise ConfigError(
            f"{out} is the run folder of promoloop run; write the evaluation to "
            "another folder so the run's report is kept"
        )


def _store_tables(database_url: str | None, campaign: str | None):
    """Read the store's decisions and order feedback for ``evaluate``."""
    from sqlalchemy.exc import SQLAlchemyError

    from promoloop.store import Store
    from promoloop.store.export import evaluation_tables

    store = Store(database_url)
    try:
        exposures, outcomes = evaluation_tables(store, campaign)
    except SQLAlchemyError as error:
        raise ConfigError(
            f"cannot read decisions from the store {store!r}: "
            f"{getattr(error, 'orig', error)}. Fix: check --database-url, and run "
            "promoloop publish or promoloop serve once so the tables exist"
        ) from None
    finally:
        store.dispose()
    if exposures.empty:
        raise ConfigError(
            f"the store {store!r} has no logged decisions"
            + (f" for campaign {campaign!r}" if campaign else "")
            + "; nothing to evaluate"
        )
    return exposures, outcomes


def _read_table(path: Path, label: str):
    """Read a CSV or Parquet table of canonical columns for ``evaluate``."""
    from promoloop.data.files import read_file

    if path.is_dir():
        raise ConfigError(
            f"the {label} path {path} is a folder; give a CSV or Parquet file"
        )
    table = read_file(path)
    if table.empty:
        raise ConfigError(f"the {label} file {path} has no rows")
    return table.reset_index(drop=True)


@app.command()
def evaluate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the report.")],
    exposures: Annotated[
        Path | None,
        typer.Option(
            help="Exposures (decision log) file: customer_id, campaign_id, "
            "promotion_id, holdout, timestamp."
        ),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            help="Outcomes file: customer_id, timestamp, revenue, "
            "optionally margin, order_id, promotion_id."
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="Evaluate a public experiment instead: hillstrom."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder or file of the dataset (hillstrom).")
    ] = None,
    from_store: Annotated[
        bool,
        typer.Option(
            "--from-store",
            help="Evaluate the service's decision log and order feedback in the "
            "store instead of files.",
        ),
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Store database URL for --from-store; default "
            "PROMOLOOP_DATABASE_URL, then promoloop.db."
        ),
    ] = None,
    campaign: Annotated[
        str | None,
        typer.Option(help="With --from-store: only this campaign."),
    ] = None,
    planned_holdout_share: Annotated[
        float | None,
        typer.Option(
            help="Planned share of the holdout group, for the sample "
            "ratio check (0 to 1)."
        ),
    ] = None,
    window_days: Annotated[
        float, typer.Option(help="Days after exposure in which outcomes count.")
    ] = 14.0,
    costs: Annotated[
        Path | None,
        typer.Option(
            help="Promotion costs (CSV or Parquet): promotion_id and "
            "cost_per_exposure and/or cost_per_redemption; gives cost and ROI."
        ),
    ] = None,
    pseudonymize_outcomes: Annotated[
        bool,
        typer.Option(
            help="The outcomes file has the shop's raw customer ids: replace them "
            "by the keyed-hash pseudonyms that promoloop run wrote "
            "(key from PROMOLOOP_PSEUDONYM_KEY)."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
) -> None:
    """Measure what past campaigns changed: lift against the holdout group."""
    from promoloop.evaluation.campaign import evaluate_campaigns

    try:
        _check_report_folder(out)
        pre_period = None
        if dataset is not None and (exposures is not None or outcomes is not None):
            raise ConfigError(
                "--dataset cannot be combined with --exposures or --outcomes; give "
                "either a dataset name or the two files"
            )
        if from_store and (
            dataset is not None or exposures is not None or outcomes is not None
        ):
            raise ConfigError(
                "--from-store cannot be combined with --dataset, --exposures or "
                "--outcomes; give one source"
            )
        if from_store:
            exposure_table, outcome_table = _store_tables(database_url, campaign)
        elif dataset is not None:
            if dataset != "hillstrom" or data_dir is None:
                raise ConfigError(
                    "--dataset must be hillstrom and needs --data-dir (the folder "
                    f"with hillstrom.csv); got --dataset {dataset!r}"
                )
            from promoloop.evaluation.hillstrom import (
                hillstrom_as_campaign,
                hillstrom_pre_period,
            )

            path = data_dir / "hillstrom.csv" if data_dir.is_dir() else data_dir
            exposure_table, outcome_table = hillstrom_as_campaign(path)
            pre_period = hillstrom_pre_period(path)
            if planned_holdout_share is None:
                # Hillstrom randomized three equal arms, one of them no e-mail.
                planned_holdout_share = 1 / 3
        elif exposures is None or outcomes is None:
            raise ConfigError(
                "give --exposures and --outcomes files, --dataset hillstrom or "
                "--from-store"
            )
        else:
            exposure_table = _read_table(exposures, "exposures")
            outcome_table = _read_table(outcomes, "outcomes")
            if pseudonymize_outcomes:
                from promoloop.privacy import pseudonymize, resolve_key

                ids = outcome_table["customer_id"].astype("string").str.strip()
                outcome_table["customer_id"] = pseudonymize(ids, resolve_key(None))
        report = evaluate_campaigns(
            exposure_table,
            outcome_table,
            pre_period=pre_period,
            planned_holdout_share=planned_holdout_share,
            window_days=window_days,
            promotion_costs=None if costs is None else _read_table(costs, "costs"),
            seed=seed,
        )
        report.write(out)
    except PromoloopError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    failed = [c for c in report.checks if c["status"] == "fail"]
    typer.echo(
        f"campaign report written to {out} ({len(report.checks)} checks, "
        f"{len(failed)} failed)"
    )


@app.command("clean-events")
def clean_events(
    source: Annotated[
        Path,
        typer.Argument(
            help="Parquet file, or folder of Parquet files at any depth, of "
            "canonical events."
        ),
    ],
    destination: Annotated[
        Path,
        typer.Argument(
            help="Folder for the cleaned events (date=YYYY-MM-DD subfolders) "
            "and the cleaning report."
        ),
    ],
    overwrite: Annotated[
        bool, typer.Option(help="Replace what is at the destination.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML file of run settings: its engine section applies."),
    ] = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
) -> None:
    """Clean a canonical events Parquet dataset into day partitions."""
    from promoloop.engine import open_engine
    from promoloop.engine.clean_events import REPORT_FILE, clean_events_parquet

    with _command_errors(destination):
        settings = _engine_command_settings(config, engine, spark_master)
        with open_engine(**settings.engine.model_dump()) as session:
            report = clean_events_parquet(
                source, destination, engine=session, overwrite=overwrite
            )
    changed = {rule.rule: rule.rows for rule in report.rules if rule.rows}
    summary = ", ".join(f"{rule} {rows:,}" for rule, rows in changed.items())
    typer.echo(
        f"read {sum(report.rows_read.values()):,} events; "
        f"{len(report.rules)} rules checked"
        + (f" ({summary})" if summary else ", none matched a row")
        + f"; cleaned events and {REPORT_FILE} written to {destination}"
    )


@app.command()
def features(
    events: Annotated[
        Path,
        typer.Option(
            help="Folder of the events, partitioned by day: "
            "date=YYYY-MM-DD subfolders of Parquet files."
        ),
    ],
    state: Annotated[
        Path,
        typer.Option(
            help="State folder of the stored partials and their manifest, "
            "created when missing."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(help="Folder for behaviour.parquet and interest.parquet."),
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Compute the features as of the end of this day (default: the "
            "newest partition's day)."
        ),
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(
            help="Items Parquet file. When given, the interest scores are written."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML file of run settings: its interest and engine apply."),
    ] = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
) -> None:
    """Process new event partitions and write the features as of a day."""
    from promoloop.engine import open_engine
    from promoloop.engine.incremental import check_items, update, write_features

    with _command_errors(out, state):
        settings = _engine_command_settings(config, engine, spark_master)
        with open_engine(**settings.engine.model_dump()) as session:
            if items is not None:
                # A bad items file stops the command before the state changes.
                check_items(session, session.register_parquet("items", items), items)
            summary = update(session, events, state, interest=settings.interest)
            written = write_features(session, state, out, as_of=as_of, items=items)
    counts = summary.counts()
    total = len(summary.processed) + counts["unchanged"]
    typer.echo(
        f"processed {len(summary.processed)} of {total} partitions "
        f"({counts['new']} new, {counts['changed']} changed; "
        f"{counts['unchanged']} unchanged, {counts['removed']} removed); "
        f"features as of {written.as_of.isoformat()} written to {out}"
    )


benchmark_app = typer.Typer(
    help="Benchmarks on public data, side by side with reference tools.",
    no_args_is_help=True,
)
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("uplift")
def benchmark_uplift(
    data_dir: Annotated[
        Path,
        typer.Option(
            help="Folder that contains hillstrom/hillstrom.csv, or the "
            "hillstrom folder itself."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for uplift.json.")],
    reference: Annotated[
        bool,
        typer.Option(
            help="Also run scikit-uplift and CausalML where installed (the "
            "project's bench extra)."
        ),
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Compare uplift learners on the Hillstrom e-mail experiment (5 seeds)."""
    from promoloop.benchmarks.uplift import run_uplift_benchmark

    if (data_dir / "hillstrom.csv").is_file():
        data_dir = data_dir.parent
    try:
        result = run_uplift_benchmark(
            data_dir, out, include_reference=reference, show_progress=progress
        )
    except PromoloopError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    unavailable = result.get("unavailable") or {}
    for library, reason in unavailable.items():
        typer.echo(f"note: {library} not run: {reason}", err=True)
    typer.echo(f"uplift benchmark written to {out}")


@app.command()
def publish(
    run_dir: Annotated[
        Path, typer.Argument(help="Run folder written by promoloop run.")
    ],
    database_url: Annotated[
        str | None,
        typer.Option(
            help="Store database URL; default PROMOLOOP_DATABASE_URL, then "
            "sqlite:///promoloop.db in the working directory."
        ),
    ] = None,
) -> None:
    """Load a run folder into the store and make it the model version served."""
    from sqlalchemy.exc import OperationalError

    from promoloop.store import Store, publish_run

    store = None
    try:
        store = Store(database_url)
        store.upgrade()
        result = publish_run(store, run_dir)
    except PromoloopError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0]
        typer.echo(
            f"error: cannot use the database {store!r} ({reason}). Fix: check "
            "--database-url and that the database server is running",
            err=True,
        )
        raise typer.Exit(code=2) from None
    finally:
        if store is not None:
            store.dispose()
    state = "published" if result.created else "already published; made current"
    typer.echo(
        f"version {result.version} {state}: {result.scores} scores, "
        f"{result.customers} customers, {result.campaigns} campaigns, "
        f"{result.promotions} promotions"
    )


def _add_service_commands() -> None:
    from promoloop.service.commands import keys_app, learn, serve

    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
    app.command("learn")(learn)


_add_service_commands()

from promoloop.ope.commands import ope  # noqa: E402

app.command("ope")(ope)


if __name__ == "__main__":
    app()
