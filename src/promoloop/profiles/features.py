"""Numeric feature matrix shared by segmentation and anomaly detection."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

# Money and count columns are right-skewed, so they enter after log1p.
LOG_FEATURES = [
    "frequency",
    "monetary",
    "avg_order_value",
    "basket_size",
    "recency_days",
    "tenure_days",
]
PLAIN_FEATURES = ["return_rate", "discount_share"]
MODEL_FEATURES = LOG_FEATURES + PLAIN_FEATURES


def model_matrix(table: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Build the standardized feature matrix of the profile table.

    Missing recency (never bought) becomes the longest recency seen plus one
    day, negative net spend becomes 0 before ``log1p``, and other missing
    values become 0. Every column is then scaled to mean 0 and standard
    deviation 1.

    Parameters
    ----------
    table : DataFrame
        Profile rows with the columns of :data:`MODEL_FEATURES`.

    Returns
    -------
    scaled : ndarray, shape (n_customers, n_features)
        Standardized features.
    raw : DataFrame
        The features before log and scaling, after filling.
    """
    raw = table[MODEL_FEATURES].astype("float64").copy()
    longest = raw["recency_days"].max()
    raw["recency_days"] = raw["recency_days"].fillna(
        (longest if np.isfinite(longest) else 0.0) + 1.0
    )
    raw = raw.fillna(0.0)
    transformed = raw.copy()
    transformed[LOG_FEATURES] = np.log1p(raw[LOG_FEATURES].clip(lower=0))
    scaled = StandardScaler().fit_transform(transformed.to_numpy())
    return scaled, raw
