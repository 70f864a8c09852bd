"""Alembic environment of the store's migrations.

:meth:`promoloop.store.Store.upgrade` passes its open connection in
``config.attributes["connection"]``. Without one, the database URL is resolved
as the store does (``sqlalchemy.url`` of the Alembic config, then
``PROMOLOOP_DATABASE_URL``, then ``promoloop.db``).
"""

from __future__ import annotations

from alembic import context

from promoloop.store.database import Store, resolve_database_url
from promoloop.store.models import Base

target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Write the migrations as SQL for the configured URL."""
    url = resolve_database_url(context.config.get_main_option("sqlalchemy.url"))
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection or on a new one."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    store = Store(context.config.get_main_option("sqlalchemy.url"))
    try:
        with store.engine.begin() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        store.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
