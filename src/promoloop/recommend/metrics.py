"""Ranking metrics of recommendation lists against held-out purchases."""

from __future__ import annotations

import numpy as np
import pandas as pd

from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C


def per_customer_metrics(
    recommendations: pd.DataFrame, relevant: pd.DataFrame, k: int = 10
) -> pd.DataFrame:
    """Compute Recall@k and NDCG@k for every customer with relevant items.

    Recall@k is hits / min(k, number of distinct relevant items). NDCG@k uses
    binary relevance: DCG = sum over hits of 1 / log2(rank + 1), divided by
    the DCG of a perfect list of min(k, relevant) hits.

    Parameters
    ----------
    recommendations : DataFrame
        Columns customer_id, item_id, rank.
    relevant : DataFrame
        Columns customer_id, item_id: the held-out items (duplicates count
        once). Customers listed here without recommendations score 0.
    k : int, default 10
        Cutoff; recommendations with rank > k are ignored.

    Returns
    -------
    DataFrame
        Indexed by customer_id, columns hits, relevant, recall, ndcg.

    Raises
    ------
    InputError
        If ``k`` is not a positive integer or a column is missing.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InputError("invalid value of argument 'k'", value=k, expected="int >= 1")
    for table, columns in (
        (recommendations, [C.customer_id, C.item_id, C.rank]),
        (relevant, [C.customer_id, C.item_id]),
    ):
        missing = [c for c in columns if c not in table]
        if missing:
            raise InputError(
                f"missing column(s) {missing}", expected=f"columns {columns}"
            )

    truth = relevant[[C.customer_id, C.item_id]].astype("string").drop_duplicates()
    n_relevant = truth.groupby(C.customer_id).size()
    top = recommendations[recommendations[C.rank] <= k]
    top = top.assign(
        **{
            C.customer_id: top[C.customer_id].astype("string"),
            C.item_id: top[C.item_id].astype("string"),
        }
    )
    hits = top.merge(truth, on=[C.customer_id, C.item_id], how="inner")
    gain = 1.0 / np.log2(hits[C.rank].to_numpy(np.float64) + 1.0)
    dcg = pd.Series(gain, index=hits[C.customer_id]).groupby(level=0).sum()
    n_hits = hits.groupby(C.customer_id).size()

    out = pd.DataFrame({"relevant": n_relevant})
    out["hits"] = n_hits.reindex(out.index, fill_value=0).astype(np.int64)
    ideal_hits = np.minimum(k, out["relevant"].to_numpy())
    ideal_gain = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    out["recall"] = out["hits"] / ideal_hits
    out["ndcg"] = dcg.reindex(out.index, fill_value=0.0) / ideal_gain[ideal_hits - 1]
    out.index.name = C.customer_id
    return out[["hits", "relevant", "recall", "ndcg"]]


def catalog_coverage(recommendations: pd.DataFrame, catalog_size: int) -> float:
    """Return the share of the catalog recommended to at least one customer.

    Raises
    ------
    InputError
        If ``catalog_size`` is not positive.
    """
    if catalog_size <= 0:
        raise InputError(
            "invalid value of argument 'catalog_size'",
            value=catalog_size,
            expected="a positive number of items",
        )
    return recommendations[C.item_id].nunique() / catalog_size
