"""The campaign report's lift status and checks, on decisions written to the store.

Writing the decision log directly, instead of requesting hundreds of
decisions, sets the group sizes exactly.
"""

from __future__ import annotations

import datetime as dt

import pytest

from promoloop.evaluation.campaign import MIN_SEGMENT_SIZE
from promoloop.store.models import Decision, Feedback
from tests.service.conftest import auth
from tests.service.synthetic import campaign, promotion, pseudonym, publish_synthetic


@pytest.fixture
def admin(keys) -> dict:
    return auth(keys["admin"])


def log_decisions(store, campaign_id: str, treated: list[str], control: list[str]):
    """Log decisions: treated customers alternate between the campaign's two
    promotions A and B, control customers are held out of A. Every second
    customer of each group orders, for 30 to 36, a day after the decision."""
    decided_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    promotions = [f"{campaign_id}-a", f"{campaign_id}-b"]
    with store.session() as session:
        for group, customers in (("t", treated), ("c", control)):
            for number, customer in enumerate(customers):
                decision_id = f"{group}{number}"
                session.add(
                    Decision(
                        decision_id=decision_id,
                        customer_id=pseudonym(customer),
                        campaign_id=campaign_id,
                        promotion_id=promotions[number % 2]
                        if group == "t"
                        else promotions[0],
                        holdout=group == "c",
                        probability=0.5,
                        created_at=decided_at,
                    )
                )
                session.flush()
                if number % 2 == 0:
                    session.add(
                        Feedback(
                            feedback_id=f"order-{decision_id}",
                            decision_id=decision_id,
                            customer_id=pseudonym(customer),
                            kind="order",
                            revenue=30.0 + number % 7,
                            margin=9.0 + number % 5,
                            created_at=decided_at + dt.timedelta(days=1),
                        )
                    )


def two_promotion_campaign(store, campaign_id: str) -> None:
    spec = campaign(
        campaign_id,
        [promotion(f"{campaign_id}-a"), promotion(f"{campaign_id}-b")],
        holdout_share=0.5,
    )
    publish_synthetic(store, [spec], [])


def test_enough_customers_give_ok(store, client, admin):
    two_promotion_campaign(store, "big")
    size = MIN_SEGMENT_SIZE
    treated = [f"T{n}" for n in range(2 * size)]
    control = [f"H{n}" for n in range(size)]
    log_decisions(store, "big", treated, control)

    lift = client.get("/v1/campaigns/big/report", headers=admin).json()["lift"]
    assert lift["status"] == "ok"
    assert lift["reason"] is None
    assert lift["min_group_size"] == 200
    assert lift["customers_treated"] == 400
    assert lift["customers_held_out"] == 200
    # Every second customer of each group ordered: no lift.
    assert lift["conversion_rate"]["treated_value"] == pytest.approx(0.5)
    assert lift["conversion_rate"]["control_value"] == pytest.approx(0.5)


def test_checks_name_their_promotion(store, client, admin):
    two_promotion_campaign(store, "named")
    log_decisions(
        store, "named", [f"T{n}" for n in range(40)], [f"H{n}" for n in range(20)]
    )

    checks = client.get("/v1/campaigns/named/report", headers=admin).json()["lift"][
        "checks"
    ]
    effect_checks = [c for c in checks if c["check"] == "minimum_detectable_effect"]
    # Two metrics for the pooled comparison and for each promotion.
    assert len(effect_checks) == 6
    assert {c["promotion_id"] for c in effect_checks} == {
        "(all promotions)",
        "named-a",
        "named-b",
    }
    for check in effect_checks:
        if check["promotion_id"] == "(all promotions)":
            assert check["message"].startswith("all promotions pooled: ")
        else:
            assert check["message"].startswith(f"promotion '{check['promotion_id']}': ")
    messages = [check["message"] for check in effect_checks]
    assert len(set(messages)) == len(messages)
    campaign_wide = [c for c in checks if c["check"] == "sample_ratio_mismatch"]
    assert campaign_wide[0]["promotion_id"] is None


def test_one_control_customer_is_too_few(store, client, admin):
    two_promotion_campaign(store, "tiny")
    log_decisions(store, "tiny", [f"T{n}" for n in range(5)], ["H0"])

    lift = client.get("/v1/campaigns/tiny/report", headers=admin).json()["lift"]
    assert lift["status"] == "too few"
    assert lift["customers_treated"] == 5
    assert lift["customers_held_out"] == 1
    assert lift["reason"] == (
        "5 offered and 1 holdout customers; the lift is unreliable until each "
        "group has at least 200"
    )
    # The estimates are still reported: 3 of 5 treated and the 1 control
    # customer ordered.
    conversion = lift["conversion_rate"]
    assert conversion["treated_value"] == pytest.approx(3 / 5)
    assert conversion["control_value"] == pytest.approx(1.0)
