"""Customer segments: KMeans on standardized behaviour features, readable names.

The number of clusters k is chosen from 2 to 8 by the highest silhouette
score, computed on a seeded sample of at most 5,000 customers. Customers who
never bought form their own segment, -1, "No purchase yet", because their
purchase features are all placeholders.

Naming rule: each cluster's mean of every standardized feature is a z-score
against the customers who bought (0 = average, 1 = one standard deviation
above). The first matching rule names the cluster:

1. recency z > 0.5 and net spend z > 0.5: "At risk high spenders";
2. recency z > 0.5: "At risk";
3. tenure z < -0.5 and frequency z < 0.5: "New";
4. frequency z > 0.5 and net spend z > 0.5: "Loyal high spenders";
5. net spend z > 0.5: "High spenders";
6. frequency z > 0.5: "Frequent buyers";
7. discount share z > 0.5: "Deal seekers";
8. net spend z < -0.5: "Low spenders";
9. otherwise "Average".

Clusters that get the same name are numbered: "At risk", "At risk 2".
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from promoloop.profiles.features import MODEL_FEATURES, model_matrix

logger = logging.getLogger(__name__)

K_RANGE = range(2, 9)
SILHOUETTE_SAMPLE = 5_000
NO_PURCHASE_SEGMENT = -1
NO_PURCHASE_NAME = "No purchase yet"
HIGH = 0.5


def name_cluster(z: dict[str, float]) -> str:
    """Name a cluster from its mean z-scores by the rule in the module docstring.

    Parameters
    ----------
    z : dict of str to float
        Mean standardized value of each feature of :data:`MODEL_FEATURES`.

    Returns
    -------
    str
        The readable segment name.
    """
    if z["recency_days"] > HIGH:
        return "At risk high spenders" if z["monetary"] > HIGH else "At risk"
    if z["tenure_days"] < -HIGH and z["frequency"] < HIGH:
        return "New"
    if z["frequency"] > HIGH and z["monetary"] > HIGH:
        return "Loyal high spenders"
    if z["monetary"] > HIGH:
        return "High spenders"
    if z["frequency"] > HIGH:
        return "Frequent buyers"
    if z["discount_share"] > HIGH:
        return "Deal seekers"
    if z["monetary"] < -HIGH:
        return "Low spenders"
    return "Average"


def _choose_k(scaled: np.ndarray, seed: int) -> tuple[int, dict[int, float], dict]:
    rng = np.random.default_rng(seed)
    n = scaled.shape[0]
    sample = rng.choice(n, size=min(n, SILHOUETTE_SAMPLE), replace=False)
    scores: dict[int, float] = {}
    labels_by_k = {}
    for k in K_RANGE:
        if k >= n:
            break
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(scaled)
        sample_labels = model.labels_[sample]
        if len(np.unique(sample_labels)) < 2:
            continue
        scores[k] = float(silhouette_score(scaled[sample], sample_labels))
        labels_by_k[k] = model.labels_
    best = max(scores, key=lambda k: (scores[k], -k))
    return best, scores, labels_by_k


def segment_customers(
    table: pd.DataFrame, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Cluster the customers who bought and name every segment.

    Parameters
    ----------
    table : DataFrame
        Profile table indexed by ``customer_id`` with the behaviour columns.
    seed : int, default 0
        Seed of KMeans and of the silhouette sample; the same seed gives the
        same segments.

    Returns
    -------
    assignment : DataFrame
        Same index, columns ``segment`` (int) and ``segment_name``.
    segments : DataFrame
        One row per segment: ``segment``, ``segment_name``, ``customers``,
        ``share`` and the mean of each raw feature.
    diagnostics : dict
        Criterion, silhouette score per k, chosen k and sample size.
    """
    buyers = table["frequency"] > 0
    labels = pd.Series(NO_PURCHASE_SEGMENT, index=table.index, dtype="int64")
    names = {NO_PURCHASE_SEGMENT: NO_PURCHASE_NAME}
    diagnostics: dict = {
        "criterion": "max silhouette score (Euclidean, standardized features)",
        "k_range": [K_RANGE.start, K_RANGE.stop - 1],
        "silhouette_sample": int(min(int(buyers.sum()), SILHOUETTE_SAMPLE)),
        "features": MODEL_FEATURES,
    }

    # Cluster buyers; with fewer than 3 there is nothing to choose between
    if buyers.sum() >= 3:
        scaled, _ = model_matrix(table[buyers])
        k, scores, labels_by_k = _choose_k(scaled, seed)
        diagnostics.update({"silhouette_by_k": scores, "k": k})
        cluster = labels_by_k[k]
        labels[buyers] = _order_by_size(cluster)
        names.update(_names(scaled, labels[buyers].to_numpy()))
    elif buyers.any():
        labels[buyers] = 0
        names[0] = "Average"
        diagnostics.update({"silhouette_by_k": {}, "k": 1})
    logger.info("segments: k=%s for %d buyers", diagnostics.get("k"), buyers.sum())

    # Assignment and segment summary
    assignment = pd.DataFrame({"segment": labels, "segment_name": labels.map(names)})
    summary = _summary(table, assignment)
    return assignment, summary, diagnostics


def _order_by_size(cluster: np.ndarray) -> np.ndarray:
    """Renumber clusters so that segment 0 is the largest (ties by old label)."""
    sizes = np.bincount(cluster)
    order = sorted(range(sizes.size), key=lambda c: (-sizes[c], c))
    mapping = np.empty(sizes.size, dtype=np.int64)
    mapping[order] = np.arange(sizes.size)
    return mapping[cluster]


# Qualifiers that tell apart clusters with the same name, by the feature where
# the cluster's mean differs most from the population.
_QUALIFIER_HIGH = {
    "frequency": "many orders",
    "monetary": "high spend",
    "avg_order_value": "large orders",
    "basket_size": "large baskets",
    "recency_days": "long inactive",
    "tenure_days": "long tenure",
    "return_rate": "many returns",
    "discount_share": "discount buyers",
}
_QUALIFIER_LOW = {
    "frequency": "few orders",
    "monetary": "low spend",
    "avg_order_value": "small orders",
    "basket_size": "small baskets",
    "recency_days": "recent",
    "tenure_days": "short tenure",
    "return_rate": "few returns",
    "discount_share": "full-price buyers",
}


def _names(scaled: np.ndarray, labels: np.ndarray) -> dict[int, str]:
    segments = [int(segment) for segment in np.unique(labels)]
    means = {s: scaled[labels == s].mean(axis=0) for s in segments}
    base = {
        s: name_cluster(dict(zip(MODEL_FEATURES, means[s], strict=True)))
        for s in segments
    }
    counts = pd.Series(base).value_counts()

    # Clusters sharing a name get the qualifier of their most distinct
    # feature, and a number only if that still leaves two alike.
    names: dict[int, str] = {}
    for s in segments:
        name = base[s]
        if counts[name] > 1:
            column = int(np.abs(means[s]).argmax())
            high = means[s][column] > 0
            qualifier = (_QUALIFIER_HIGH if high else _QUALIFIER_LOW)[
                MODEL_FEATURES[column]
            ]
            name = f"{name}, {qualifier}"
        names[s] = name
    seen: dict[str, int] = {}
    for s in segments:
        seen[names[s]] = seen.get(names[s], 0) + 1
        if seen[names[s]] > 1:
            names[s] = f"{names[s]} {seen[names[s]]}"
    return names


def _summary(table: pd.DataFrame, assignment: pd.DataFrame) -> pd.DataFrame:
    features = table[MODEL_FEATURES].astype("float64")
    grouped = features.groupby(assignment["segment"])
    summary = grouped.mean()
    summary.insert(0, "customers", grouped.size())
    summary.insert(1, "share", summary["customers"] / max(len(table), 1))
    names = assignment.drop_duplicates("segment").set_index("segment")["segment_name"]
    summary.insert(0, "segment_name", names.reindex(summary.index))
    return summary.reset_index()
