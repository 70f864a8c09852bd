"""Concurrent decision requests against a real uvicorn server never overspend
a budget or pass a per-customer cap."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from promoloop.service import ServiceSettings, create_app
from promoloop.store import Store
from promoloop.store.models import CampaignRecord, Decision
from tests.service.conftest import auth
from tests.service.synthetic import (
    Score,
    campaign,
    customer_ids,
    promotion,
    publish_synthetic,
)

REQUESTS = 100


@pytest.fixture
def server_url(store) -> Iterator[str]:
    """URL of a uvicorn server on a free local port, serving the module's store.

    The server has its own Store with the default connection pool, as
    ``promoloop serve`` has.
    """
    server_store = Store(store.url)
    app = create_app(
        ServiceSettings(database_url=store.url.render_as_string(False)), server_store
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the uvicorn server did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
        server_store.dispose()


def decide_concurrently(url: str, token: str, customers: list[str]) -> list[dict]:
    """Send one decision request per entry of ``customers``, all at once."""
    barrier = threading.Barrier(len(customers))

    def request(customer: str) -> dict:
        with httpx.Client(base_url=url, timeout=60) as client:
            barrier.wait()
            response = client.post(
                "/v1/decisions", json={"customer_id": customer}, headers=auth(token)
            )
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=len(customers)) as pool:
        return list(pool.map(request, customers))


def test_concurrent_decisions_stop_at_budget(store, keys, server_url):
    # 0.35 has no exact binary float; 20 offers of it are exactly 7.00.
    offers, cost = 20, Decimal("0.35")
    customers = customer_ids(REQUESTS)
    publish_synthetic(
        store,
        [campaign("tight", [promotion("p")], budget=float(offers * cost))],
        [Score(c, "tight", "p", expected_cost=float(cost)) for c in customers],
    )
    results = decide_concurrently(server_url, keys["decision"], customers)

    statuses = Counter(r["status"] for r in results)
    assert statuses == {"offer": offers, "no_offer": REQUESTS - offers}
    with store.session() as session:
        assert session.get(CampaignRecord, "tight").spent == offers * cost
        logged = session.execute(
            select(func.count(), func.sum(Decision.cost)).where(
                Decision.campaign_id == "tight"
            )
        ).one()
    assert logged[0] == offers


def test_concurrent_decisions_keep_the_cap(store, keys, server_url):
    cap = 5
    publish_synthetic(
        store,
        [campaign("capped", [promotion("p", per_customer_cap=cap)])],
        [Score("SAME", "capped", "p", expected_cost=0.1)],
    )
    results = decide_concurrently(server_url, keys["decision"], ["SAME"] * REQUESTS)

    statuses = Counter(r["status"] for r in results)
    assert statuses == {"offer": cap, "no_offer": REQUESTS - cap}
    with store.session() as session:
        assert session.get(CampaignRecord, "capped").spent == cap * Decimal("0.1")
