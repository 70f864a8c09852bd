"""Command-line entry points of the service: ``serve``, ``keys`` and ``learn``."""

from __future__ import annotations

from typing import Annotated

import typer

from promoloop.errors import PromoloopError

keys_app = typer.Typer(
    help="API keys of the offer service: create, list, revoke.",
    no_args_is_help=True,
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="Store database URL; default PROMOLOOP_DATABASE_URL, then "
        "sqlite:///promoloop.db in the working directory."
    ),
]


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    database_url: DatabaseUrl = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve offer decisions over HTTP (OpenAPI at /openapi.json) and the dashboard.

    PROMOLOOP_API_DOCS=true also serves the interactive pages /docs and
    /redoc, which load their scripts from a public CDN.
    """
    import uvicorn

    from promoloop.service.app import create_app
    from promoloop.service.settings import ServiceSettings

    try:
        settings = ServiceSettings.from_env(database_url=database_url)
        # Migrate here, so that a wrong URL is an error message, not a
        # traceback from the server's start-up.
        _open_store(settings.database_url).dispose()
    except PromoloopError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    if workers > 1:
        # Several workers need an import string; the settings come from the
        # environment in each of them.
        import os

        if database_url:
            os.environ["PROMOLOOP_DATABASE_URL"] = database_url
        uvicorn.run(
            "promoloop.service.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
        )
        return
    # The access log would write request paths, which can hold customer ids;
    # the application logs the route pattern instead.
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False)


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    role: Annotated[str, typer.Option(help="admin, decision or ingest.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it once; only its hash is stored."""
    from promoloop.store import Role, create_api_key

    if role not in {r.value for r in Role}:
        typer.echo(
            f"error: unknown role {role!r}; use admin, decision or ingest", err=True
        )
        raise typer.Exit(code=2)
    store = _checked_store(database_url)
    try:
        with store.session() as session:
            key = create_api_key(session, name, role)
            token, key_id = key.token, key.key_id
    finally:
        store.dispose()
    typer.echo(f"key {key_id} ({role}) for {name}; keep it, it is not shown again:")
    typer.echo(token)


@keys_app.command("list")
def list_keys(database_url: DatabaseUrl = None) -> None:
    """List the keys that are not revoked: id, role, name, creation time."""
    from promoloop.store import list_api_keys

    store = _checked_store(database_url)
    try:
        with store.session() as session:
            for key in list_api_keys(session):
                typer.echo(f"{key.key_id}\t{key.role}\t{key.name}\t{key.created_at}")
    finally:
        store.dispose()


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="Id printed when the key was made.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key; requests with it get 401 once each worker's key cache
    expires (PROMOLOOP_KEY_CACHE_SECONDS, 2 s by default)."""
    from promoloop.store import revoke_api_key

    store = _checked_store(database_url)
    try:
        with store.session() as session:
            revoked = revoke_api_key(session, key_id)
    finally:
        store.dispose()
    if not revoked:
        typer.echo(f"error: no active key {key_id!r}", err=True)
        raise typer.Exit(code=2)
    typer.echo(f"key {key_id} revoked")


def learn(
    campaign: Annotated[
        str, typer.Option(help="Id of a campaign with assignment 'bandit'.")
    ],
    mode: Annotated[
        str,
        typer.Option(
            help="batch: fit anew on every rewarded decision; incremental: "
            "update the current policy with the decisions it has not seen."
        ),
    ] = "batch",
    database_url: DatabaseUrl = None,
) -> None:
    """Update a bandit campaign's policy from the logged decisions and feedback.

    The new policy version is saved in the store; a running service uses it
    after its next cache refresh, without a restart.
    """
    from promoloop.store.learn import learn_policy

    store = _checked_store(database_url)
    try:
        result = learn_policy(store, campaign, mode=mode)
    except PromoloopError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    finally:
        store.dispose()
    if result.version is None:
        typer.echo(
            f"campaign {campaign}: nothing to learn from ({result.decisions_read} "
            f"decisions read, {result.pending} with their reward window still "
            "open); the current policy stays"
        )
        return
    typer.echo(
        f"campaign {campaign}: policy version {result.version} learned ({mode}) "
        f"from {result.decisions_used} decisions; {result.pending} still in "
        "their reward window"
    )
    for action, count in sorted(result.action_counts.items()):
        typer.echo(
            f"  {action}: {count} decisions, mean reward "
            f"{result.mean_reward[action]:.4f}"
        )
    for table, reasons in (result.invalid_rows or {}).items():
        typer.echo(f"  dropped from {table}: {reasons}", err=True)


def _open_store(database_url: str | None):
    """Return a migrated store, or raise ConfigError naming the URL and the fix."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from promoloop.errors import ConfigError
    from promoloop.store import Store

    store = None
    try:
        store = Store(database_url)
        store.upgrade()
    except (ArgumentError, SQLAlchemyError, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        where = repr(store) if store is not None else repr(database_url)
        if store is not None:
            store.dispose()
        raise ConfigError(
            f"cannot open the store {where}: {reason}. Fix: check --database-url "
            "or PROMOLOOP_DATABASE_URL, and that the database server is running"
        ) from None
    return store


def _checked_store(database_url: str | None):
    """Return a migrated store for a keys command, or exit 2 with the reason."""
    try:
        return _open_store(database_url)
    except PromoloopError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
