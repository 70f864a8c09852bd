import json
import warnings

import numpy as np
import pandas as pd
import pytest

from promoloop.config import RunConfig
from promoloop.profiles import Profiles, build_profiles
from promoloop.warnings import ConvergenceWarning
from tests.profiles.conftest import make_events

ITEMS = pd.DataFrame(
    {"item_id": ["I1", "I2"], "category": ["tea", "mugs"], "brand": ["Acme", "Bolt"]}
)


def shop_events(n_customers=60, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(n_customers):
        for order in range(1 + customer % 5):
            day = pd.Timestamp("2023-06-01") + pd.Timedelta(
                days=int(rng.integers(0, 240))
            )
            rows.append(
                {
                    "customer_id": f"C{customer:03d}",
                    "item_id": f"I{1 + order % 2}",
                    "event_type": "purchase",
                    "order_id": f"O{customer}-{order}",
                    "timestamp": day,
                    "amount": float(rng.gamma(3, 10)),
                    "discount": float(order % 3 == 0),
                }
            )
    rows.append(
        {
            "customer_id": "VIEWER",
            "item_id": "I1",
            "event_type": "view",
            "timestamp": "2024-01-02",
        }
    )
    rows.append(
        {
            "customer_id": None,
            "item_id": "I1",
            "event_type": "purchase",
            "timestamp": "2024-01-02",
            "amount": 5.0,
        }
    )
    return make_events(rows)


@pytest.fixture(scope="module")
def profiles() -> Profiles:
    customers = pd.DataFrame(
        {
            "customer_id": ["C001", "C002"],
            "locale": ["fr", "en"],
            "consent": [False, True],
            "age_band": ["25-34", "35-44"],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return build_profiles(
            shop_events(),
            ITEMS,
            customers,
            pd.Timestamp("2024-01-31", tz="UTC"),
            RunConfig(),
        )


def test_build_one_sorted_row_per_known_customer(profiles):
    ids = profiles.table["customer_id"]
    assert len(ids) == 61
    assert ids.is_unique
    assert ids.tolist() == sorted(ids)
    assert "VIEWER" in set(ids)


def test_build_joins_customers(profiles):
    table = profiles.table.set_index("customer_id")
    assert table.loc["C001", "locale"] == "fr"
    assert not table.loc["C001", "consent"]
    assert table.loc["C002", "age_band"] == "35-44"
    assert pd.isna(table.loc["C010", "locale"])
    assert table.loc["C010", "consent"]


def test_build_columns_and_values(profiles):
    table = profiles.table.set_index("customer_id")
    for column in (
        "rfm_score",
        "clv",
        "clv_method",
        "favourite_category",
        "segment_name",
        "anomaly_reason",
        "discount_sensitivity",
    ):
        assert column in table.columns, column
    assert table.loc["VIEWER", "clv"] == 0
    assert table.loc["VIEWER", "segment_name"] == "No purchase yet"
    assert set(table["r_score"]) == {1, 2, 3, 4, 5}
    assert not table[["expected_purchases", "expected_spend", "clv"]].isna().any().any()


def test_build_diagnostics_json(profiles):
    text = json.dumps(profiles.diagnostics, allow_nan=False)
    assert "silhouette_by_k" in text
    assert profiles.diagnostics["anomaly"]["contamination"] == 0.01
    assert profiles.diagnostics["value"]["clv_method"] in ("bgnbd_gg", "baseline")


def test_build_rejects_naive_as_of():
    with pytest.raises(ValueError, match="has no time zone"):
        build_profiles(
            shop_events(5),
            ITEMS,
            pd.DataFrame({"customer_id": []}),
            pd.Timestamp("2024-01-31"),
            RunConfig(),
        )
