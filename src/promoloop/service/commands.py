"""Command-line entry points of the service: ``serve`` and ``keys``."""

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
    """Serve offer decisions over HTTP (OpenAPI at /docs) and the dashboard."""
    import uvicorn

    from promoloop.service.app import create_app
    from promoloop.service.settings import ServiceSettings

    try:
        settings = ServiceSettings.from_env(database_url=database_url)
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
    from promoloop.store import Role, Store, create_api_key

    if role not in {r.value for r in Role}:
        typer.echo(
            f"error: unknown role {role!r}; use admin, decision or ingest", err=True
        )
        raise typer.Exit(code=2)
    store = Store(database_url)
    try:
        store.upgrade()
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
    from promoloop.store import Store, list_api_keys

    store = Store(database_url)
    try:
        store.upgrade()
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
    """Revoke a key; requests with it get 401 from then on."""
    from promoloop.store import Store, revoke_api_key

    store = Store(database_url)
    try:
        store.upgrade()
        with store.session() as session:
            revoked = revoke_api_key(session, key_id)
    finally:
        store.dispose()
    if not revoked:
        typer.echo(f"error: no active key {key_id!r}", err=True)
        raise typer.Exit(code=2)
    typer.echo(f"key {key_id} revoked")
