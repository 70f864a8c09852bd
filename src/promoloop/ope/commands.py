"""Command-line entry point of off-policy evaluation: ``promoloop ope``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promoloop.errors import ConfigError, PromoloopError


def _campaign_names(text: str) -> list[str]:
    from promoloop.ope.open_bandit import CAMPAIGNS

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CAMPAIGNS]
    if unknown or not names:
        raise ConfigError(
            f"invalid --campaigns {text!r}: give a comma-separated list of "
            f"{', '.join(CAMPAIGNS)}"
        )
    return list(dict.fromkeys(names))


def ope(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for estimates.csv and report.md.")
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Open Bandit Dataset folder, with random/ and bts/ subfolders "
            "(or its parent, which contains open-bandit/)."
        ),
    ] = None,
    from_store: Annotated[
        bool,
        typer.Option(
            help="Judge a candidate policy on a bandit campaign's decision log "
            "in the store instead (with --campaign and --candidate)."
        ),
    ] = False,
    campaign: Annotated[
        str | None, typer.Option(help="Bandit campaign id, with --from-store.")
    ] = None,
    candidate: Annotated[
        str | None,
        typer.Option(
            help="With --from-store: a saved policy version of the campaign "
            "(a number), or a policy spec as JSON, e.g. "
            '\'{"kind": "linucb", "params": {"alpha": 0.5}}\', fitted on '
            "the log's first half and judged on its second half."
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="Store database URL, with --from-store."),
    ] = None,
    n_bootstrap: Annotated[
        int, typer.Option(min=1, help="Bootstrap resamples per interval.")
    ] = 1000,
    seed: Annotated[
        int, typer.Option(help="Seed of the reward models and the bootstrap.")
    ] = 0,
    campaigns: Annotated[
        str, typer.Option(help="Comma-separated campaigns: all, men, women.")
    ] = "all,men,women",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Estimate a policy's value from logged decisions (off-policy evaluation).

    With --data-dir: the Bernoulli Thompson sampling policy's click rate from
    the uniform random logs of the Open Bandit Dataset, against its own
    logged rate. With --from-store: a candidate policy on a bandit
    campaign's decision log.
    """
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(
                f"the output path {out} is a file; give a folder for --out"
            )
        if from_store == (data_dir is not None):
            raise ConfigError(
                "give either --data-dir (Open Bandit Dataset) or --from-store "
                "(a bandit campaign's decision log), not both or neither"
            )
        if from_store:
            _store_mode(out, campaign, candidate, database_url, n_bootstrap, seed)
        else:
            _open_bandit_mode(out, data_dir, campaigns, n_bootstrap, seed, progress)
    except PromoloopError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None


def _open_bandit_mode(out, data_dir, campaigns, n_bootstrap, seed, progress) -> None:
    from promoloop.ope.open_bandit_report import (
        evaluate_open_bandit,
        write_open_bandit_report,
    )

    names = _campaign_names(campaigns)
    table = evaluate_open_bandit(
        data_dir,
        names,
        n_bootstrap=n_bootstrap,
        seed=seed,
        show_progress=progress,
    )
    csv_path, report_path = write_open_bandit_report(
        table, out, data_dir=data_dir, n_bootstrap=n_bootstrap, seed=seed
    )
    covered = int(table["covers_truth"].sum())
    typer.echo(
        f"wrote {len(table)} estimates for {len(names)} campaigns to {csv_path} "
        f"and {report_path}; {covered} of the {len(table)} intervals contain "
        "the BTS log's click rate"
    )


def _store_mode(out, campaign, candidate, database_url, n_bootstrap, seed) -> None:
    from promoloop.ope.store_report import evaluate_store_candidate

    if not campaign or not candidate:
        raise ConfigError(
            "--from-store needs --campaign (a bandit campaign id) and "
            "--candidate (a saved policy version or a policy spec as JSON)"
        )
    table, report_path = evaluate_store_candidate(
        out,
        campaign,
        candidate,
        database_url=database_url,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    typer.echo(
        f"wrote {len(table)} estimates of the candidate on campaign {campaign} "
        f"to {out / 'estimates.csv'} and {report_path}"
    )
