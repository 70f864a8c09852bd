import numpy as np
import pandas as pd
import pytest

from promoloop.profiles.anomaly import detect_anomalies
from promoloop.profiles.features import MODEL_FEATURES
from promoloop.profiles.segments import name_cluster, segment_customers


def blobs(sizes, seed=0):
    """Profile rows in well-separated groups: low, middle and high activity."""
    rng = np.random.default_rng(seed)
    parts = []
    centres = [(2, 50, 400, 200), (10, 500, 30, 300), (80, 20_000, 5, 350)]
    for size, (frequency, monetary, recency, tenure) in zip(
        sizes, centres, strict=False
    ):
        noise = rng.normal(1.0, 0.05, (size, 4))
        parts.append(
            pd.DataFrame(
                {
                    "frequency": np.round(frequency * noise[:, 0]),
                    "monetary": monetary * noise[:, 1],
                    "recency_days": recency * noise[:, 2],
                    "tenure_days": tenure * noise[:, 3],
                }
            )
        )
    table = pd.concat(parts, ignore_index=True)
    table["avg_order_value"] = table["monetary"] / table["frequency"]
    table["basket_size"] = 5.0
    table["return_rate"] = 0.0
    table["discount_share"] = 0.1
    table.index = pd.Index([f"C{i:04d}" for i in range(len(table))], name="customer_id")
    return table


def test_segments_find_blobs():
    table = blobs([300, 200, 100])
    assignment, summary, diagnostics = segment_customers(table, seed=0)
    assert diagnostics["k"] == 3
    assert sorted(diagnostics["silhouette_by_k"]) == list(range(2, 9))
    assert summary["customers"].tolist() == [300, 200, 100]
    assert summary["share"].tolist() == pytest.approx([0.5, 200 / 600, 100 / 600])
    assert assignment["segment"].iloc[:300].nunique() == 1
    names = dict(zip(summary["segment"], summary["segment_name"], strict=True))
    assert names[2] == "Loyal high spenders"
    assert names[0] == "At risk"
    assert names[1] == "Average"


def test_segments_deterministic_for_seed():
    table = blobs([120, 80, 40], seed=3)
    first, _, _ = segment_customers(table, seed=7)
    second, _, _ = segment_customers(table, seed=7)
    pd.testing.assert_frame_equal(first, second)


def test_segments_no_purchase_group():
    table = blobs([50, 50])
    table.loc[table.index[:5], "frequency"] = 0
    assignment, summary, _ = segment_customers(table, seed=0)
    assert (assignment["segment"].iloc[:5] == -1).all()
    assert (assignment["segment_name"].iloc[:5] == "No purchase yet").all()
    assert summary.loc[summary["segment"] == -1, "customers"].item() == 5


@pytest.mark.parametrize(
    ("z", "name"),
    [
        ({"recency_days": 1.0, "monetary": 1.0}, "At risk high spenders"),
        ({"tenure_days": -1.0}, "New"),
        ({"frequency": 1.0}, "Frequent buyers"),
        ({"discount_share": 1.0}, "Deal seekers"),
        ({"monetary": -1.0}, "Low spenders"),
        ({}, "Average"),
    ],
)
def test_name_cluster_rules(z, name):
    assert name_cluster({**dict.fromkeys(MODEL_FEATURES, 0.0), **z}) == name


def test_anomaly_flags_reseller():
    table = blobs([400, 300, 100], seed=1)
    rng = np.random.default_rng(0)
    table["basket_size"] = rng.normal(5.0, 1.0, len(table))
    table.loc["C0010", ["basket_size", "frequency", "monetary"]] = [400.0, 20, 5_000]
    flags, diagnostics = detect_anomalies(table, contamination=0.01, seed=0)
    assert flags.loc["C0010", "is_anomaly"]
    assert flags.loc["C0010", "anomaly_reason"] == "very large baskets"
    assert flags["anomaly_score"].idxmax() == "C0010"
    assert diagnostics["count"] == flags["is_anomaly"].sum()


@pytest.mark.parametrize("contamination", [0.0, 0.6, -0.1])
def test_anomaly_rejects_contamination(contamination):
    with pytest.raises(ValueError, match=r"invalid contamination.*\(0, 0\.5\]"):
        detect_anomalies(blobs([30]), contamination=contamination)


def test_anomaly_skips_tiny_tables():
    flags, diagnostics = detect_anomalies(blobs([10]))
    assert not flags["is_anomaly"].any()
    assert diagnostics["count"] == 0


def test_same_named_clusters_get_qualifiers():
    from promoloop.profiles.segments import _names

    # Two inactive clusters: one differs by returns, one by basket size.
    features = list(MODEL_FEATURES)
    first = np.zeros(len(features))
    first[features.index("recency_days")] = 1.0
    first[features.index("return_rate")] = 2.0
    second = np.zeros(len(features))
    second[features.index("recency_days")] = 1.0
    second[features.index("basket_size")] = -3.0
    scaled = np.vstack([first, second])
    names = _names(scaled, np.array([0, 1]))
    assert names == {0: "At risk, many returns", 1: "At risk, small baskets"}
