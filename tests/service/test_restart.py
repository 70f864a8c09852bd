"""Nothing acknowledged is lost when the service is killed in the middle of a load.

A real ``promoloop serve`` process takes batches of events and decision
requests from a client thread. It is killed with SIGKILL partway through and
started again on the same database; the client retries what failed. Every
event and decision the service acknowledged with 200 must be in the
database afterwards, and the retried batches must not be stored twice.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from promoloop.store import create_api_key
from promoloop.store.models import Decision, Event

BATCHES = 60
EVENTS_PER_BATCH = 20
KILL_AFTER_BATCH = 25


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``promoloop serve`` in a child process on a fixed local port."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "promoloop.cli", "serve",
                "--port", str(self.port), "--database-url", self.database_url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PROMOLOOP_MODE": "development"},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"promoloop serve did not start on {self.base}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def _batch(number: int) -> dict:
    return {
        "events": [
            {
                "event_id": f"b{number}-e{i}",
                "customer_id": f"K00{1 + i % 4}",
                "item_id": "S-300",
                "event_type": "view",
                "quantity": 1,
                "amount": 0,
                "timestamp": "2024-05-01T12:00:00Z",
                "order_id": f"b{number}-o{i}",
            }
            for i in range(EVENTS_PER_BATCH)
        ]
    }


@pytest.fixture
def server(published_shop):
    running = Server(published_shop.url.render_as_string(hide_password=False))
    yield running
    running.stop()


def test_killed_service_loses_no_acknowledged_write(published_shop, server):
    with published_shop.session() as session:
        ingest = create_api_key(session, "restart test", "ingest").token
        decide = create_api_key(session, "restart test", "decision").token
    server.start()

    acknowledged_events: set[str] = set()
    acknowledged_decisions: set[str] = set()
    failures = []

    def load() -> None:
        client = httpx.Client(base_url=server.base, timeout=5)
        for number in range(BATCHES):
            body = _batch(number)
            while True:  # retry the same batch until it is acknowledged
                try:
                    response = client.post(
                        "/v1/events",
                        json=body,
                        headers={"Authorization": f"Bearer {ingest}"},
                    )
                    decision = client.post(
                        "/v1/decisions",
                        json={"customer_id": f"K00{1 + number % 4}"},
                        headers={"Authorization": f"Bearer {decide}"},
                    )
                except httpx.HTTPError as error:
                    failures.append(type(error).__name__)
                    time.sleep(0.2)
                    continue
                if response.status_code == 200:
                    acknowledged_events.update(e["event_id"] for e in body["events"])
                if decision.status_code == 200 and decision.json()["decision_id"]:
                    acknowledged_decisions.add(decision.json()["decision_id"])
                if response.status_code == 200:
                    break
                failures.append(response.status_code)
                time.sleep(0.2)
        client.close()

    worker = threading.Thread(target=load)
    worker.start()
    while len(acknowledged_events) < KILL_AFTER_BATCH * EVENTS_PER_BATCH:
        time.sleep(0.01)
    server.kill()
    time.sleep(1.0)
    server.start()
    worker.join(timeout=300)
    assert not worker.is_alive()

    with published_shop.session() as session:
        stored_events = set(session.scalars(select(Event.event_id)))
        stored_decisions = set(session.scalars(select(Decision.decision_id)))
        event_rows = session.scalar(select(func.count()).select_from(Event))
    # The kill interrupted at least one request, and the client retried it.
    assert failures
    assert acknowledged_events <= stored_events
    assert acknowledged_decisions
    assert acknowledged_decisions <= stored_decisions
    assert len(acknowledged_events) == BATCHES * EVENTS_PER_BATCH
    # Idempotent ingest: every event stored once, retries included.
    assert event_rows == BATCHES * EVENTS_PER_BATCH
