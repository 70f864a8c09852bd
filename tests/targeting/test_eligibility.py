"""Eligibility rules, consent, anomaly flags and caps."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from promoloop.config import TargetingConfig
from promoloop.targeting.eligibility import check_eligibility
from promoloop.targeting.promotions import PromotionPlan

AS_OF = pd.Timestamp("2024-03-01", tz="UTC")


def plan(eligibility=None, start=dt.date(2024, 2, 1), end=dt.date(2024, 3, 31), cap=1):
    return PromotionPlan.model_validate(
        {
            "campaigns": [
                {
                    "campaign_id": "k",
                    "budget": 100,
                    "validity": {"start": start, "end": end},
                    "promotions": [
                        {
                            "promotion_id": "p",
                            "kind": "amount_off",
                            "value": 2,
                            "per_customer_cap": cap,
                            "eligibility": eligibility or {},
                        }
                    ],
                }
            ]
        }
    )


PROFILES = pd.DataFrame(
    {
        "customer_id": ["ok", "optout", "unknown", "odd", "one", "stale", "vip"],
        "consent": [True, False, None, True, True, True, True],
        "is_anomaly": [False, False, False, True, False, False, False],
        "frequency": [5, 5, 5, 5, 1, 5, 5],
        "recency_days": [10, 10, 10, 10, 10, 400, 10],
        "segment_name": ["loyal", "loyal", "loyal", "loyal", "new", "lapsed", "vip"],
    }
)


def reasons(result: pd.DataFrame) -> dict:
    return dict(zip(result["customer_id"], result["reason"].fillna("-"), strict=True))


def test_consent_and_anomaly():
    result = check_eligibility(PROFILES, plan(), None, TargetingConfig(), AS_OF)
    got = reasons(result)
    assert got["optout"] == "no consent"
    assert got["unknown"] == "-"  # missing consent counts as consent
    assert got["odd"] == "anomaly"
    assert got["ok"] == "-"
    assert result.set_index("customer_id").loc["ok", "eligible"]


def test_anomalies_kept_when_configured():
    config = TargetingConfig(exclude_anomalies=False)
    result = check_eligibility(PROFILES, plan(), None, config, AS_OF)
    assert reasons(result)["odd"] == "-"


@pytest.mark.parametrize(
    ("rules", "excluded", "reason"),
    [
        ({"min_orders": 2}, "one", "below min orders"),
        ({"max_recency_days": 90}, "stale", "above max recency"),
        ({"segments_include": ["loyal", "new", "lapsed"]}, "vip", "segment excluded"),
        ({"segments_exclude": ["vip"]}, "vip", "segment excluded"),
        ({"new_customers_only": True}, "ok", "not a new customer"),
    ],
)
def test_rule_excludes(rules, excluded, reason):
    result = check_eligibility(PROFILES, plan(rules), None, TargetingConfig(), AS_OF)
    assert reasons(result)[excluded] == reason


def test_new_customers_only_keeps_one_order():
    rules = {"new_customers_only": True}
    result = check_eligibility(PROFILES, plan(rules), None, TargetingConfig(), AS_OF)
    assert reasons(result)["one"] == "-"


def test_outside_validity_window():
    late = plan(start=dt.date(2024, 4, 1), end=dt.date(2024, 4, 30))
    result = check_eligibility(PROFILES, late, None, TargetingConfig(), AS_OF)
    assert reasons(result)["ok"] == "outside validity"


def test_consent_reason_comes_first():
    late = plan(start=dt.date(2024, 4, 1), end=dt.date(2024, 4, 30))
    result = check_eligibility(PROFILES, late, None, TargetingConfig(), AS_OF)
    assert reasons(result)["optout"] == "no consent"


def test_cap_counts_exposures_in_window():
    exposures = pd.DataFrame(
        {
            "customer_id": ["ok", "ok", "vip", "one"],
            "campaign_id": ["k"] * 4,
            "promotion_id": ["p", "p", "p", None],
            "timestamp": pd.to_datetime(
                ["2024-02-10", "2024-02-20", "2023-12-01", "2024-02-10"], utc=True
            ),
        }
    )
    config = TargetingConfig()
    capped = check_eligibility(PROFILES, plan(cap=2), exposures, config, AS_OF)
    assert reasons(capped)["ok"] == "cap reached"
    # Outside the window, and a holdout row without a promotion, do not count.
    assert reasons(capped)["vip"] == "-"
    assert reasons(capped)["one"] == "-"
    roomy = check_eligibility(PROFILES, plan(cap=3), exposures, config, AS_OF)
    assert reasons(roomy)["ok"] == "-"


def test_one_row_per_pair():
    result = check_eligibility(PROFILES, plan(), None, TargetingConfig(), AS_OF)
    assert len(result) == len(PROFILES) * 1
    assert (result["eligible"] == result["reason"].isna()).all()
