"""Fixtures of the service tests: the store fixtures, keys, clients and runs.

Every test runs on a SQLite file and on a PostgreSQL database through the
store tests' ``database_url``, ``migrated_store`` and ``store`` fixtures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from promoloop.service import ServiceSettings, create_app
from promoloop.store import Store, create_api_key, publish_run
from tests.store import conftest as store_conftest
from tests.store.conftest import SHOP, run_example_shop

# The store tests' fixtures, so that every service test runs on SQLite and on
# PostgreSQL.
database_url = store_conftest.database_url
migrated_store = store_conftest.migrated_store
store = store_conftest.store

ROLES = ("admin", "decision", "ingest")


@pytest.fixture(scope="session")
def service_run(tmp_path_factory) -> Path:
    """Run folder of the example shop whose campaigns are valid until next year.

    The example's validity windows end in 2024; the service checks them
    against today, so this copy of the promotions file ends a year from now.
    """
    folder = tmp_path_factory.mktemp("service-run")
    plan = yaml.safe_load((SHOP / "promotions.yaml").read_text(encoding="utf-8"))
    end = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=365)
    for campaign in plan["campaigns"]:
        campaign["validity"]["end"] = end.isoformat()
    promotions = folder / "promotions.yaml"
    promotions.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    return run_example_shop(folder / "run", promotions=promotions)


@pytest.fixture
def published_shop(store: Store, service_run: Path) -> Store:
    """The emptied store with the example shop's run published."""
    publish_run(store, service_run)
    return store


@pytest.fixture
def keys(store: Store) -> dict[str, str]:
    """A token per role, created in the emptied store."""
    with store.session() as session:
        return {
            role: create_api_key(session, f"test {role}", role).token for role in ROLES
        }


def auth(token: str) -> dict[str, str]:
    """Return the header that presents an API key."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_client(store: Store) -> Iterator[Callable[..., TestClient]]:
    """Factory of test clients of the service on the store, given settings."""
    clients: list[TestClient] = []

    def make(**settings) -> TestClient:
        app = create_app(
            ServiceSettings(database_url=store.url.render_as_string(False), **settings),
            store,
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    """A test client of the service with the default settings."""
    return make_client()
