"""Id maps, the interaction table and the customers x items matrix."""

from __future__ import annotations

import pandas as pd
import pytest
import scipy.sparse as sp

from promoloop.errors import InputError
from promoloop.recommend import IdMap, RepeatPurchaseRecommender, build_matrix
from promoloop.recommend.interactions import (
    check_interactions,
    check_orientation,
    interactions_from_events,
)
from promoloop.vocabulary import Columns as C


@pytest.fixture
def sparse_ids(reference_dir):
    path = reference_dir / "10-noncontiguous-ids-and-matrix-orientation"
    raw = pd.read_csv(path / "interactions.csv")
    return raw.rename(columns={"user_id": C.customer_id, "clicks": C.weight})


def test_matrix_noncontiguous_ids(sparse_ids):
    built = build_matrix(check_interactions(sparse_ids))
    assert built.matrix.shape == (4, 3)
    assert built.matrix.nnz == 6
    assert set(built.customers.ids) == {"17", "615002", "2203117", "C-0042"}
    assert set(built.items.ids) == {"53381", "418822", "977140"}
    row = built.customers.positions(["615002"])[0]
    col = built.items.positions(["977140"])[0]
    assert built.matrix[row, col] == 3


def test_recommendations_are_item_ids(sparse_ids):
    model = RepeatPurchaseRecommender().fit(sparse_ids)
    out = model.recommend(["C-0042"], k=3)
    # Own item first, then the rest by summed clicks: 977140 = 1 + 3, 53381 = 1 + 1.
    assert out[C.item_id].tolist() == ["418822", "977140", "53381"]


def test_orientation_swapped_raises_with_shapes(sparse_ids):
    built = build_matrix(check_interactions(sparse_ids))
    with pytest.raises(InputError, match=r"shape \(3, 4\).*\(4, 3\)"):
        check_orientation(built.matrix.T, built.customers, built.items)


def test_orientation_checked_before_library():
    customers, items = IdMap(["1", "2"]), IdMap(["x"])
    with pytest.raises(InputError, match=r"\(1, 2\)"):
        check_orientation(sp.csr_matrix((1, 2)), customers, items)


def test_id_map_int_and_str_are_one_id():
    ids = IdMap([17, "17", "17.0", " 17 ", None])
    assert len(ids) == 1
    assert ids.positions([17, "17"]).tolist() == [0, 0]
    assert 17 in ids


def test_id_map_unknown_names_id_and_size():
    ids = IdMap(["a", "b", "c"], name=C.customer_id)
    with pytest.raises(InputError, match=r"unknown customer_id 'zz'.*3 ids"):
        ids.positions(["a", "zz"])
    assert ids.positions(["a", "zz"], missing="mark").tolist() == [0, -1]


def test_id_map_invalid_missing_mode():
    with pytest.raises(InputError, match="argument 'missing'"):
        IdMap(["a"]).positions(["a"], missing="drop")


def test_interactions_from_events_weights():
    events = pd.DataFrame(
        {
            C.customer_id: ["1", None, "2"],
            C.item_id: ["x", "x", "y"],
            C.event_type: ["purchase", "purchase", "view"],
            C.timestamp: pd.to_datetime(["2024-01-01"] * 3, utc=True),
        }
    )
    out = interactions_from_events(events)
    assert out[C.weight].tolist() == [1.0, 1.0, 0.0]
    assert out[C.customer_id].isna().tolist() == [False, True, False]
    weighted = interactions_from_events(events, {"purchase": 3.0, "view": 0.5})
    assert weighted[C.weight].tolist() == [3.0, 3.0, 0.5]


def test_interactions_from_events_missing_column():
    with pytest.raises(InputError, match="event_type"):
        interactions_from_events(pd.DataFrame({C.customer_id: ["1"], C.item_id: ["x"]}))


def test_check_interactions_missing_weight():
    with pytest.raises(InputError, match="weight"):
        check_interactions(pd.DataFrame({C.customer_id: ["1"], C.item_id: ["x"]}))


def test_returns_clip_to_zero():
    table = pd.DataFrame(
        {
            C.customer_id: ["1", "1", "1"],
            C.item_id: ["x", "x", "y"],
            C.weight: [1.0, -3.0, 2.0],
        }
    )
    built = build_matrix(check_interactions(table))
    assert built.matrix.nnz == 1
    assert built.matrix[0, 1] == 2.0
