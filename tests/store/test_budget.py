"""Budget reservations: exact, atomic under concurrent clients, never over budget."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from promoloop.errors import InputError
from promoloop.store import Store, release_budget, reserve_budget
from promoloop.store.models import CampaignRecord, CampaignStatus

CLIENTS = 50


def add_campaign(store: Store, campaign_id: str, budget, **fields) -> None:
    with store.session() as session:
        session.add(
            CampaignRecord(campaign_id=campaign_id, spec={}, budget=budget, **fields)
        )


def spent(store: Store, campaign_id: str) -> Decimal:
    with store.session() as session:
        return session.get(CampaignRecord, campaign_id).spent


def reserve_concurrently(store: Store, campaign_id: str, cost: Decimal) -> list[bool]:
    """Reserve ``cost`` from CLIENTS threads at once, each on its own connection."""
    barrier = threading.Barrier(CLIENTS)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client() -> None:
        try:
            barrier.wait()
            with store.session() as session:
                reserved = reserve_budget(session, campaign_id, cost)
                # Hold the transaction open a moment so that transactions overlap.
                time.sleep(0.002)
            with lock:
                results.append(reserved)
        except BaseException as error:  # reported by the test below
            with lock:
                errors.append(error)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(results) == CLIENTS
    return results


@pytest.fixture(scope="module")
def concurrent_store(database_url):
    """A second store on the module's database, with a connection per client."""
    store = Store(
        database_url, engine_options={"pool_size": CLIENTS, "max_overflow": 0}
    )
    store.upgrade()
    yield store
    store.dispose()


@pytest.mark.parametrize(
    ("budget", "cost", "expected"),
    [
        (Decimal("10.00"), Decimal("1.00"), 10),
        # 0.10 has no exact binary float: the spend must still add up exactly.
        (Decimal("1.00"), Decimal("0.10"), 10),
        (Decimal("1.00"), Decimal("0.30"), 3),
    ],
)
def test_concurrent_reservations_stop_at_budget(
    store, concurrent_store, budget, cost, expected
):
    add_campaign(store, "race", budget)
    results = reserve_concurrently(concurrent_store, "race", cost)
    assert sum(results) == expected
    assert spent(store, "race") == cost * expected
    assert spent(store, "race") <= budget


def test_reserve_until_exhausted(store):
    add_campaign(store, "spring", Decimal("2.50"))
    with store.session() as session:
        outcomes = [reserve_budget(session, "spring", 1) for _ in range(3)]
    assert outcomes == [True, True, False]
    assert spent(store, "spring") == Decimal("2")


def test_reserve_exact_remainder(store):
    add_campaign(store, "spring", Decimal("1.00"))
    with store.session() as session:
        assert reserve_budget(session, "spring", 0.7)
        assert reserve_budget(session, "spring", 0.3)
        assert not reserve_budget(session, "spring", 0.000001)
    assert spent(store, "spring") == Decimal("1.00")


def test_paused_campaign_reserves_nothing(store):
    add_campaign(store, "paused", Decimal("10"), status=CampaignStatus.PAUSED)
    with store.session() as session:
        assert not reserve_budget(session, "paused", 1)
    assert spent(store, "paused") == 0


def test_unknown_campaign_reserves_nothing(store):
    with store.session() as session:
        assert not reserve_budget(session, "no-such-campaign", 1)


def test_rollback_returns_reservation(store):
    add_campaign(store, "spring", Decimal("5"))
    with pytest.raises(RuntimeError):
        with store.session() as session:
            assert reserve_budget(session, "spring", 2)
            raise RuntimeError("offer not sent")
    assert spent(store, "spring") == 0


def test_release_returns_money(store):
    add_campaign(store, "spring", Decimal("5"), spent=Decimal("3"))
    with store.session() as session:
        assert release_budget(session, "spring", Decimal("1.25"))
    assert spent(store, "spring") == Decimal("1.75")


def test_release_more_than_spent_fails(store):
    add_campaign(store, "spring", Decimal("5"), spent=Decimal("1"))
    with store.session() as session:
        assert not release_budget(session, "spring", 2)
        assert not release_budget(session, "no-such-campaign", 1)
    assert spent(store, "spring") == Decimal("1")


@pytest.mark.parametrize(
    ("cost", "message"),
    [(-1, "negative cost"), (float("nan"), "invalid money"), ("abc", "invalid money")],
)
def test_invalid_cost_rejected(store, cost, message):
    add_campaign(store, "spring", Decimal("5"))
    with store.session() as session:
        with pytest.raises(InputError, match=message):
            reserve_budget(session, "spring", cost)
        with pytest.raises(InputError, match=message):
            release_budget(session, "spring", cost)
