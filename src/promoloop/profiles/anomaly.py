"""Anomalous customers (resellers, bulk buyers, heavy returners) by IsolationForest.

The forest runs on the standardized behaviour features of
:mod:`promoloop.profiles.features`. A flagged customer's reason is the feature
with the largest absolute z-score, read as "very high ..." or "very low ...".
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from promoloop.profiles.features import MODEL_FEATURES, model_matrix

logger = logging.getLogger(__name__)

# Below this many customers the forest has too little to isolate against.
MIN_CUSTOMERS = 20

REASONS_HIGH = {
    "frequency": "very many orders",
    "monetary": "very high net spend",
    "avg_order_value": "very large orders by value",
    "basket_size": "very large baskets",
    "recency_days": "inactive for very long",
    "tenure_days": "very long tenure",
    "return_rate": "very high return rate",
    "discount_share": "buys almost only on discount",
}
REASONS_LOW = {
    "frequency": "very few orders",
    "monetary": "very low or negative net spend",
    "avg_order_value": "very small orders by value",
    "basket_size": "very small baskets",
    "recency_days": "bought very recently",
    "tenure_days": "very short tenure",
    "return_rate": "very low return rate",
    "discount_share": "never buys on discount",
}


def detect_anomalies(
    table: pd.DataFrame, contamination: float = 0.01, seed: int = 0
) -> tuple[pd.DataFrame, dict]:
    """Score every customer and flag the most isolated ones.

    Parameters
    ----------
    table : DataFrame
        Profile table indexed by ``customer_id`` with the behaviour columns.
    contamination : float, default 0.01
        Expected share of anomalies, in (0, 0.5].
    seed : int, default 0
        Seed of the forest.

    Returns
    -------
    flags : DataFrame
        Same index; ``anomaly_score`` (higher is more anomalous),
        ``is_anomaly`` and ``anomaly_reason`` (missing when not flagged).
    diagnostics : dict
        Contamination, count of flagged customers and the reason counts.

    Raises
    ------
    ValueError
        If ``contamination`` is outside (0, 0.5].
    """
    if not 0 < contamination <= 0.5:
        raise ValueError(
            f"invalid contamination {contamination!r}; expected a share in "
            "(0, 0.5]. Fix: pass e.g. 0.01 for 1% anomalies"
        )
    flags = pd.DataFrame(index=table.index)
    flags["anomaly_score"] = 0.0
    flags["is_anomaly"] = False
    flags["anomaly_reason"] = pd.Series(pd.NA, index=table.index, dtype="str")
    diagnostics: dict = {"contamination": contamination, "method": "IsolationForest"}
    if len(table) < MIN_CUSTOMERS:
        diagnostics.update({"count": 0, "skipped": f"fewer than {MIN_CUSTOMERS}"})
        return flags, diagnostics

    # Fit the forest; score_samples is higher for normal rows, so negate it
    scaled, _ = model_matrix(table)
    forest = IsolationForest(contamination=contamination, random_state=seed)
    is_anomaly = forest.fit_predict(scaled) == -1
    flags["anomaly_score"] = -forest.score_samples(scaled)
    flags["is_anomaly"] = is_anomaly

    # Reason: the most extreme feature of each flagged row
    extreme = np.abs(scaled).argmax(axis=1)
    sign = scaled[np.arange(len(scaled)), extreme] > 0
    reasons = np.array(
        [
            (REASONS_HIGH if high else REASONS_LOW)[MODEL_FEATURES[column]]
            for column, high in zip(extreme[is_anomaly], sign[is_anomaly], strict=True)
        ],
        dtype=object,
    )
    flags.loc[is_anomaly, "anomaly_reason"] = reasons
    diagnostics["count"] = int(is_anomaly.sum())
    diagnostics["reasons"] = {
        str(k): int(v) for k, v in pd.Series(reasons).value_counts().items()
    }
    logger.info("anomalies: %d of %d customers", is_anomaly.sum(), len(table))
    return flags, diagnostics
