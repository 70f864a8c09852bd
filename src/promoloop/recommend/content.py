"""Content recommender: customer affinity to item attributes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from promoloop.data.ids import canonical_id
from promoloop.errors import InputError
from promoloop.recommend.base import Recommender
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

STRENGTH_SUFFIX = "_strength"


class ContentRecommender(Recommender):
    """Score items by the customer's affinity to their attribute values.

    ``score(c, i) = sum_f w_f * affinity(c, f(i)) * strength(i, f)`` where
    ``affinity(c, v)`` is the share of customer c's training weight on items
    whose attribute f has value v, and ``strength(i, f)`` is the items
    table's column ``<f>_strength`` when present (how typical item i is of its
    value, in [0, 1]) and 1 otherwise. Items without a value of f, and items
    missing from the items table, get 0 from f.

    Parameters
    ----------
    features : sequence of str, default ("category", "brand")
        Attribute columns of the items table.
    weights : mapping of str to float, optional
        Weight ``w_f`` per feature; equal weights summing to 1 when not given.
    """

    name = "content"

    def __init__(
        self,
        features: Sequence[str] = (C.category, C.brand),
        weights: Mapping[str, float] | None = None,
    ) -> None:
        self.features = tuple(features)
        self.weights = dict(weights) if weights is not None else None

    def _fit(self, data, items):
        if items is None or C.item_id not in items:
            raise InputError(
                "ContentRecommender needs the items table with an item_id column",
                column=C.item_id,
                fix="pass items=<canonical items table> to fit",
            )
        missing = [f for f in self.features if f not in items]
        if missing:
            raise InputError(
                f"feature column(s) {missing} not in the items table",
                column=missing[0],
                expected=f"columns {list(self.features)}",
                fix="add the columns to the items table or change 'features'",
            )
        weights = self.weights or {f: 1.0 / len(self.features) for f in self.features}
        bad = {f: w for f, w in weights.items() if f not in self.features or w < 0}
        if bad:
            raise InputError(
                "invalid feature weights",
                value=bad,
                expected=f"non-negative weights for features {list(self.features)}",
            )

        # One sparse items x values matrix per feature, holding the strength.
        catalog = items.assign(**{C.item_id: canonical_id(items[C.item_id])})
        catalog = catalog.drop_duplicates(C.item_id).set_index(C.item_id)
        catalog = catalog.reindex(pd.Index(self.items_.ids, dtype="string"))
        matrix = self.interactions_.matrix
        totals = np.asarray(matrix.sum(axis=1)).ravel()
        totals[totals == 0] = 1.0
        self.parts_ = []
        for feature in self.features:
            weight = float(weights.get(feature, 0.0))
            if weight == 0:
                continue
            membership = _membership(catalog, feature)

            # Affinity: share of each customer's weight per attribute value.
            present = (membership > 0).astype(np.float64)
            affinity = sp.diags(1.0 / totals) @ (matrix @ present)
            self.parts_.append((weight, sp.csr_matrix(affinity), membership.T.tocsr()))

    def _score(self, rows):
        scores = np.zeros((len(rows), len(self.items_)))
        for weight, affinity, strength in self.parts_:
            scores += weight * (affinity[rows] @ strength).toarray()
        return scores


def _membership(catalog: pd.DataFrame, feature: str) -> sp.csr_matrix:
    values = catalog[feature].astype("string")
    codes, uniques = pd.factorize(values)
    if f"{feature}{STRENGTH_SUFFIX}" in catalog:
        strength = pd.to_numeric(catalog[f"{feature}{STRENGTH_SUFFIX}"])
        strength = strength.fillna(1.0).to_numpy(np.float64)
    else:
        strength = np.ones(len(catalog))
    has = codes >= 0
    return sp.csr_matrix(
        (strength[has], (np.flatnonzero(has), codes[has])),
        shape=(len(catalog), max(len(uniques), 1)),
    )
