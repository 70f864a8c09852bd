"""Database URL resolution, connection settings and sessions."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from promoloop.errors import ConfigError
from promoloop.store import Store, resolve_database_url
from promoloop.store.database import URL_ENV
from promoloop.store.models import Customer


def test_url_argument_wins_over_environment(monkeypatch):
    monkeypatch.setenv(URL_ENV, "sqlite:///from-env.db")
    url = resolve_database_url("sqlite:///from-argument.db")
    assert url.database == "from-argument.db"


def test_url_from_environment(monkeypatch):
    monkeypatch.setenv(URL_ENV, "sqlite:///from-env.db")
    assert resolve_database_url().database == "from-env.db"


def test_default_is_sqlite_file_in_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    url = resolve_database_url()
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database) == tmp_path / "promoloop.db"


@pytest.mark.parametrize(
    "given",
    ["postgresql://user@db:5432/shop", "postgres://user@db:5432/shop"],
)
def test_postgres_url_gets_psycopg_driver(given):
    url = resolve_database_url(given)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.database) == ("db", "shop")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://user@db/shop", "unsupported database 'mysql'"),
        ("not a url", "invalid database URL"),
    ],
)
def test_bad_url_rejected(given, message):
    with pytest.raises(ConfigError, match=message):
        resolve_database_url(given)


def test_session_commits_on_success(store):
    with store.session() as session:
        session.add(Customer(customer_id="c1", locale="en"))
    with store.session() as session:
        assert session.get(Customer, "c1").locale == "en"


def test_session_rolls_back_on_error(store):
    with pytest.raises(RuntimeError):
        with store.session() as session:
            session.add(Customer(customer_id="c2"))
            session.flush()
            raise RuntimeError("abort")
    with store.session() as session:
        assert session.scalars(select(Customer)).all() == []


def test_sqlite_connection_settings(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'settings.db'}")
    try:
        with store.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        store.dispose()


def test_repr_hides_password():
    store = Store("postgresql+psycopg://user:secret@localhost:5432/shop")
    assert "secret" not in repr(store)
    assert store.dialect == "postgresql"
