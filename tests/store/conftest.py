"""Databases for the store tests: a SQLite file and a PostgreSQL database.

Every store test runs on both. The PostgreSQL server is the one at
``PROMOLOOP_TEST_POSTGRES_URL``, by default the local server's ``postgres``
database as user ``postgres``. Each test module creates its own uniquely
named database there and drops it at the end. An unreachable server fails
the tests instead of skipping them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from promoloop.config import RunConfig
from promoloop.pipeline import DataSource, run
from promoloop.store import Store
from promoloop.store.models import Base

POSTGRES_ENV = "PROMOLOOP_TEST_POSTGRES_URL"
POSTGRES_DEFAULT = "postgresql+psycopg://postgres@localhost:5432/postgres"
BACKENDS = ["sqlite", "postgresql"]
SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


def postgres_admin_url():
    return make_url(os.environ.get(POSTGRES_ENV) or POSTGRES_DEFAULT)


def _admin_engine():
    return create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")


def _create_postgres_database(name: str) -> str:
    engine = _admin_engine()
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as error:
        pytest.fail(
            f"PostgreSQL at {postgres_admin_url().render_as_string()} is not "
            f"reachable ({error.orig}). Start the server or set {POSTGRES_ENV} "
            "to a URL of a user that may create databases",
            pytrace=False,
        )
    finally:
        engine.dispose()
    return postgres_admin_url().set(database=name).render_as_string(False)


def _drop_postgres_database(name: str) -> None:
    engine = _admin_engine()
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """URL of an empty database of the module, on SQLite or PostgreSQL."""
    module = Path(request.module.__file__).stem.removeprefix("test_")
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp(f"store-{module}")
        yield f"sqlite:///{folder / 'store.db'}"
        return
    name = f"promoloop_test_{module}_{secrets.token_hex(4)}"
    url = _create_postgres_database(name)
    try:
        yield url
    finally:
        _drop_postgres_database(name)


@pytest.fixture(scope="module")
def migrated_store(database_url) -> Iterator[Store]:
    """A store of the module, migrated to the latest schema."""
    store = Store(database_url)
    store.upgrade()
    yield store
    store.dispose()


@pytest.fixture
def store(migrated_store) -> Store:
    """The module's migrated store with every table emptied."""
    with migrated_store.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
    return migrated_store


def run_example_shop(
    out: Path, seed: int = 0, promotions: Path = SHOP / "promotions.yaml"
) -> Path:
    """Run ``promoloop run`` on the example shop's files into ``out``."""
    source = DataSource(
        events=SHOP / "events.csv",
        items=SHOP / "items.csv",
        customers=SHOP / "customers.csv",
        mapping=SHOP / "mapping.yaml",
    )
    config = RunConfig(show_progress=False, seed=seed)
    run(source, out, promotions=promotions, config=config)
    return out


@pytest.fixture(scope="session")
def shop_run(tmp_path_factory) -> Path:
    """Run folder of the example shop."""
    return run_example_shop(tmp_path_factory.mktemp("shop-run"))


@pytest.fixture(scope="session")
def second_run(tmp_path_factory) -> Path:
    """A second run folder of the example shop, published as another version."""
    return run_example_shop(tmp_path_factory.mktemp("shop-run-2"), seed=1)
