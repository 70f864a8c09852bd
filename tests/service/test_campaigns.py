"""Campaign administration and the campaign report over HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from promoloop.store import reserve_budget
from tests.service.conftest import auth
from tests.service.synthetic import (
    Score,
    campaign,
    customer_ids,
    promotion,
    publish_synthetic,
)

SPEC = campaign(
    "spring",
    [promotion("spring-10"), promotion("spring-ship", kind="free_shipping", value=4.9)],
    budget=100.0,
    holdout_share=0.1,
    currency={"code": "EUR", "symbol": "€"},
)


@pytest.fixture
def admin(keys) -> dict:
    return auth(keys["admin"])


def test_create_list_and_read(client, admin):
    created = client.post("/v1/campaigns", json=SPEC, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["campaign_id"] == "spring"
    assert body["status"] == "active"
    assert body["budget"] == "100.000000"
    assert body["spent"] == "0.000000"
    assert body["remaining"] == "100.000000"
    assert body["currency"] == {"code": "EUR", "symbol": "€"}
    assert [p["promotion_id"] for p in body["promotions"]] == [
        "spring-10",
        "spring-ship",
    ]
    assert {p["status"] for p in body["promotions"]} == {"active"}

    other = campaign("autumn", [promotion("autumn-5")])
    assert client.post("/v1/campaigns", json=other, headers=admin).status_code == 201
    listed = client.get("/v1/campaigns", headers=admin).json()
    assert [c["campaign_id"] for c in listed] == ["autumn", "spring"]
    assert listed[0]["currency"] == {"code": "USD", "symbol": "$"}
    assert client.get("/v1/campaigns/spring", headers=admin).json() == body


def test_duplicates_conflict(client, admin):
    assert client.post("/v1/campaigns", json=SPEC, headers=admin).status_code == 201
    again = client.post("/v1/campaigns", json=SPEC, headers=admin)
    assert again.status_code == 409
    assert "'spring' exists already" in again.json()["detail"]

    stolen = campaign("thief", [promotion("spring-10")])
    response = client.post("/v1/campaigns", json=stolen, headers=admin)
    assert response.status_code == 409
    assert (
        "promotion 'spring-10' belongs to campaign 'spring'"
        in response.json()["detail"]
    )
    assert client.get("/v1/campaigns/thief", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/campaigns/missing"),
        ("POST", "/v1/campaigns/missing/pause"),
        ("POST", "/v1/campaigns/missing/resume"),
        ("GET", "/v1/campaigns/missing/report"),
    ],
)
def test_unknown_campaign_is_404(client, admin, method, path):
    response = client.request(method, path, headers=admin)
    assert response.status_code == 404
    assert "campaign 'missing' not found" in response.json()["detail"]


def test_replace_keeps_spend_and_status(client, admin, store):
    client.post("/v1/campaigns", json=SPEC, headers=admin)
    with store.session() as session:
        assert reserve_budget(session, "spring", Decimal("3.5"))
    client.post("/v1/campaigns/spring/pause", headers=admin)

    changed = dict(SPEC, budget=50.0, name="Spring, shorter")
    changed["promotions"] = [promotion("spring-10", value=20), promotion("spring-new")]
    response = client.put("/v1/campaigns/spring", json=changed, headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert body["budget"] == "50.000000"
    assert body["spent"] == "3.500000"
    assert body["remaining"] == "46.500000"
    assert body["status"] == "paused"
    assert body["name"] == "Spring, shorter"
    statuses = {p["promotion_id"]: p["status"] for p in body["promotions"]}
    assert statuses == {
        "spring-10": "active",
        "spring-new": "active",
        "spring-ship": "paused",
    }
    values = {p["promotion_id"]: p["value"] for p in body["promotions"]}
    assert values["spring-10"] == 20

    resumed = client.post("/v1/campaigns/spring/resume", headers=admin).json()
    assert resumed["status"] == "active"
    assert resumed["spent"] == "3.500000"


def test_replace_errors(client, admin):
    client.post("/v1/campaigns", json=SPEC, headers=admin)
    client.post(
        "/v1/campaigns", json=campaign("other", [promotion("o")]), headers=admin
    )

    mismatch = client.put("/v1/campaigns/other", json=SPEC, headers=admin)
    assert mismatch.status_code == 422
    assert mismatch.json()["detail"][0]["loc"] == ["body", "campaign_id"]

    missing = client.put(
        "/v1/campaigns/nope", json=dict(SPEC, campaign_id="nope"), headers=admin
    )
    assert missing.status_code == 404

    stolen = dict(SPEC, promotions=[promotion("o")])
    conflict = client.put("/v1/campaigns/spring", json=stolen, headers=admin)
    assert conflict.status_code == 409
    assert "'o' belongs to campaign 'other'" in conflict.json()["detail"]


def test_report_without_holdout_is_not_enough_data(store, keys, client, admin):
    publish_synthetic(
        store,
        [campaign("all-in", [promotion("p")], holdout_share=0.0)],
        [Score(c, "all-in", "p", expected_cost=0.25) for c in customer_ids(4)],
    )
    for customer in customer_ids(4):
        client.post(
            "/v1/decisions",
            json={"customer_id": customer},
            headers=auth(keys["decision"]),
        )
    report = client.get("/v1/campaigns/all-in/report", headers=admin).json()
    assert report["decisions_sent"] == 4
    assert report["decisions_held_out"] == 0
    assert report["spent"] == "1.000000"
    assert report["lift"]["status"] == "not enough data"
    assert report["lift"]["reason"] == "no customer in the holdout group yet"
    assert report["lift"]["conversion_rate"] is None


def test_report_measures_lift(store, keys, client, admin):
    customers = customer_ids(200)
    publish_synthetic(
        store,
        [campaign("lift", [promotion("p")], holdout_share=0.5)],
        [Score(c, "lift", "p", expected_cost=0.1) for c in customers],
    )
    decisions = [
        client.post(
            "/v1/decisions", json={"customer_id": c}, headers=auth(keys["decision"])
        ).json()
        for c in customers
    ]
    treated = [d for d in decisions if d["status"] == "offer"]
    control = [d for d in decisions if d["status"] == "holdout"]
    assert len(treated) + len(control) == len(customers)

    # Every second treated customer redeems; every fourth control customer
    # orders. Revenue 40 per order.
    ingest = auth(keys["ingest"])
    for number, decision in enumerate(treated):
        if number % 2 == 0:
            body = {
                "feedback_id": f"r{number}",
                "decision_id": decision["decision_id"],
                "kind": "redemption",
                "revenue": 40.0,
                "margin": 12.0,
            }
            assert (
                client.post("/v1/feedback", json=body, headers=ingest).status_code
                == 200
            )
    for number, decision in enumerate(control):
        if number % 4 == 0:
            body = {
                "feedback_id": f"o{number}",
                "decision_id": decision["decision_id"],
                "kind": "order",
                "revenue": 40.0,
                "margin": 12.0,
            }
            assert (
                client.post("/v1/feedback", json=body, headers=ingest).status_code
                == 200
            )
    redeemed = len(range(0, len(treated), 2))
    ordered = len(range(0, len(control), 4))

    report = client.get("/v1/campaigns/lift/report", headers=admin).json()
    assert report["decisions_sent"] == len(treated)
    assert report["decisions_held_out"] == len(control)
    assert report["redemptions"] == redeemed
    assert report["orders"] == ordered
    assert report["redemption_revenue"] == 40.0 * redeemed
    assert Decimal(report["spent"]) == Decimal("0.1") * len(treated)

    # About 100 customers per group: below the evaluation's minimum of 200, so
    # the estimates come with the "too few" status.
    lift = report["lift"]
    assert lift["status"] == "too few"
    assert lift["min_group_size"] == 200
    assert lift["reason"] == (
        f"{len(treated)} offered and {len(control)} holdout customers; the lift "
        "is unreliable until each group has at least 200"
    )
    assert lift["customers_treated"] == len(treated)
    assert lift["customers_held_out"] == len(control)
    conversion = lift["conversion_rate"]
    assert conversion["defined"] is True
    assert conversion["treated_value"] == pytest.approx(redeemed / len(treated))
    assert conversion["control_value"] == pytest.approx(ordered / len(control))
    assert conversion["estimate"] == pytest.approx(
        redeemed / len(treated) - ordered / len(control)
    )
    assert conversion["ci_low"] < conversion["estimate"] < conversion["ci_high"]
    revenue = lift["revenue_per_customer"]
    assert revenue["treated_value"] == pytest.approx(40.0 * redeemed / len(treated))
    assert revenue["control_value"] == pytest.approx(40.0 * ordered / len(control))
    assert revenue["ci_low"] < revenue["estimate"] < revenue["ci_high"]
    assert "sample_ratio_mismatch" in {check["check"] for check in lift["checks"]}
