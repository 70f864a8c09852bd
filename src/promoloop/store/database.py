"""Connection to the store's database: URL resolution, engine, sessions, migrations."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from promoloop.errors import ConfigError

logger = logging.getLogger(__name__)

URL_ENV = "PROMOLOOP_DATABASE_URL"
#: File name of the SQLite database used when no URL is given.
DEFAULT_SQLITE_FILE = "promoloop.db"
#: Seconds a SQLite connection waits for another writer before it fails.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0

_SUPPORTED = ("sqlite", "postgresql")


def resolve_database_url(url: str | URL | None = None) -> URL:
    """Return the database URL from the argument, the environment or the default.

    The order is: ``url``, then the ``PROMOLOOP_DATABASE_URL`` environment
    variable, then a SQLite file ``promoloop.db`` in the current working
    directory (made absolute here, so a later ``chdir`` does not move it).
    A ``postgresql://`` or ``postgres://`` URL without a driver gets the
    psycopg 3 driver, the one promoloop installs.

    Raises
    ------
    ConfigError
        If the URL cannot be parsed or names a database other than SQLite or
        PostgreSQL.
    """
    source = "the url argument"
    if url is None:
        url = os.environ.get(URL_ENV) or None
        source = URL_ENV
    if url is None:
        path = Path.cwd() / DEFAULT_SQLITE_FILE
        return URL.create("sqlite+pysqlite", database=str(path))
    text = str(url) if isinstance(url, URL) else url
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        parsed = make_url(text)
    except ArgumentError as error:
        raise ConfigError(
            f"invalid database URL in {source}: {error}. Fix: give a URL such as "
            "sqlite:///promoloop.db or postgresql+psycopg://user@host:5432/promoloop"
        ) from None
    if parsed.get_backend_name() not in _SUPPORTED:
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r} in {source}; the "
            "store runs on SQLite and PostgreSQL. Fix: give a sqlite:/// or "
            "postgresql+psycopg:// URL"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class Store:
    """The store's database: one engine, sessions and migrations.

    Parameters
    ----------
    url : str or URL, optional
        Database URL; see :func:`resolve_database_url` for the fallbacks.
    engine_options : dict, optional
        Extra keyword arguments of :func:`sqlalchemy.create_engine`, such as
        ``pool_size`` or ``echo``.

    Notes
    -----
    Creating a Store opens no connection; the first session does. On SQLite
    every connection turns foreign keys on, uses the WAL journal and waits
    up to :data:`SQLITE_BUSY_TIMEOUT_SECONDS` for a lock. Every transaction
    starts with ``BEGIN IMMEDIATE``, which takes the write lock at once, so
    concurrent writers queue instead of failing with "database is locked"
    when a transaction that has read upgrades to writing. The cost is that
    SQLite runs one transaction at a time; PostgreSQL is the store for a
    service with concurrent traffic.
    """

    def __init__(
        self, url: str | URL | None = None, *, engine_options: dict | None = None
    ) -> None:
        self.url = resolve_database_url(url)
        self.engine = _create_engine(self.url, engine_options or {})
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Store({self.url.render_as_string(hide_password=True)!r})"

    @property
    def dialect(self) -> str:
        """Name of the database backend: ``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Open a session whose transaction commits on exit, or rolls back on error.

        Examples
        --------
        >>> with store.session() as session:  # doctest: +SKIP
        ...     reserve_budget(session, "spring", Decimal("0.50"))
        """
        session = self._sessions()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to ``revision`` (the latest by default)."""
        from alembic import command

        with self.engine.begin() as connection:
            config = alembic_config(connection)
            command.upgrade(config, revision)
        logger.info("store %r migrated to %s", self, revision)

    def current_revision(self) -> str | None:
        """Return the Alembic revision of the database, or None before any."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def migrations_path() -> Path:
    """Return the folder of the Alembic migrations shipped with the package."""
    return Path(str(resources.files("promoloop.store").joinpath("migrations")))


def alembic_config(connection=None):
    """Return an Alembic ``Config`` for the store's migrations.

    Parameters
    ----------
    connection : sqlalchemy.engine.Connection, optional
        Connection that the migrations run on; ``env.py`` uses it instead of
        opening its own.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _create_engine(url: URL, options: dict[str, Any]) -> Engine:
    if url.get_backend_name() == "sqlite":
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        # Sessions may be used from a thread other than the one that opened
        # the pooled connection, e.g. in a web server's thread pool.
        connect_args["check_same_thread"] = False
        engine = create_engine(url, connect_args=connect_args, **options)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def _configure_sqlite(engine: Engine) -> None:
    """Turn on foreign keys and WAL, and let SQLAlchemy emit ``BEGIN IMMEDIATE``."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Take transaction control away from the sqlite3 module, which would
        # start transactions late and as DEFERRED; the "begin" hook below
        # starts them instead. PRAGMAs run outside any transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(
            f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}"
        )
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
