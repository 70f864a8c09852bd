"""Mapping files and load_files: the example shop, order tables and errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from promoloop.data.mapping import load_files, load_mapping, parse_mapping
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"

ORDERS_MAPPING = {
    "events": {
        "columns": {
            C.order_id: "order_id",
            C.customer_id: "customer_id",
            C.timestamp: "order_ts",
            C.amount: "amount",
        },
        "order_level": True,
    }
}


@pytest.fixture(scope="module")
def example():
    return load_files(
        EXAMPLE / "events.csv",
        EXAMPLE / "items.csv",
        EXAMPLE / "customers.csv",
        mapping=EXAMPLE / "mapping.yaml",
    )


def test_example_row_counts(example):
    assert len(example.events) == 40
    assert len(example.items) == 7
    assert len(example.customers) == 6


def test_example_decimal_comma_thousands(example):
    espresso = example.events[example.events[C.item_id] == "S-400"]
    assert espresso[C.amount].tolist() == pytest.approx([1299.90])
    assert example.items.set_index(C.item_id).loc["S-400", C.price] == pytest.approx(
        1299.90
    )


def test_example_berlin_time_to_utc(example):
    espresso = example.events[example.events[C.item_id] == "S-400"]
    # 30.04.2024 17:05 in Berlin is summer time, UTC+2.
    assert espresso[C.timestamp].iloc[0] == pd.Timestamp("2024-04-30 15:05", tz="UTC")


def test_example_negative_rebates_flipped(example):
    assert (example.events[C.discount] >= 0).all()
    assert example.report.count("discount_sign_flipped:discount") == 16
    first = example.events[example.events[C.event_id] == "B5002-1"].iloc[0]
    assert first[C.discount] == pytest.approx(5.80)


def test_example_customers_locale_consent(example):
    customers = example.customers.set_index(C.customer_id)
    assert set(customers[C.locale]) == {"en", "zh-CN"}
    assert not customers.loc["K003", C.consent]
    assert customers[C.consent].sum() == 5


def test_example_wrong_separator_error():
    mapping = load_mapping(EXAMPLE / "mapping.yaml").model_dump()
    mapping["events"]["separator"] = ","
    with pytest.raises(
        InputError, match=r"only one column 'user;sku;order;ts;.*separator"
    ):
        load_files(EXAMPLE / "events.csv", mapping=mapping)


def test_example_defaults_quantity_discount(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("u,i,o,t,a\n1,A,O1,2024-01-01,5.0\n1,B,O1,2024-01-01,2.0\n")
    mapping = {
        "events": {
            "columns": {
                C.customer_id: "u",
                C.item_id: "i",
                C.order_id: "o",
                C.timestamp: "t",
                C.amount: "a",
            }
        }
    }
    data = load_files(path, mapping=mapping)
    assert data.events[C.quantity].tolist() == [1.0, 1.0]
    assert data.events[C.discount].tolist() == [0.0, 0.0]
    assert data.events[C.event_id].tolist() == ["O1-1", "O1-2"]
    assert data.items[C.item_id].tolist() == ["A", "B"]


def test_toml_mapping_read(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(
        '[events]\nseparator = ";"\n[events.columns]\ncustomer_id = "user"\n'
    )
    mapping = load_mapping(path)
    assert mapping.events.separator == ";"
    assert mapping.events.columns == {C.customer_id: "user"}


def test_event_type_column_values(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("u,i,t,a,k\n1,A,2024-01-01,5.0,buy\n1,A,2024-01-02,5.0,ret\n")
    mapping = {
        "events": {
            "columns": {
                C.customer_id: "u",
                C.item_id: "i",
                C.timestamp: "t",
                C.amount: "a",
            },
            "event_type": {
                "column": "k",
                "values": {"buy": "purchase", "ret": "return"},
            },
        }
    }
    data = load_files(path, mapping=mapping)
    assert data.events[C.event_type].tolist() == ["purchase", "return"]
    mapping["events"]["event_type"]["values"].pop("ret")
    with pytest.raises(
        InputError, match=r"event type value not in the mapping.*row 2.*'ret'"
    ):
        load_files(path, mapping=mapping)


MAPPING_ERRORS = [
    ({"events": {"colums": {}}}, r"unknown key 'events\.colums'"),
    ({"events": {}, "extra": 1}, r"unknown key 'extra'"),
    ({"events": {"columns": {"user": "u"}}}, r"invalid mapping key 'events'.*'user'"),
    ({"items": {}}, r"missing key 'events'"),
    ({"events": {"event_type": "bought"}}, r"invalid mapping key 'events\.event_type"),
]


@pytest.mark.parametrize(("content", "message"), MAPPING_ERRORS)
def test_mapping_error_names_key(content, message):
    with pytest.raises(InputError, match=message):
        parse_mapping(content)


def test_mapping_file_not_found(tmp_path):
    with pytest.raises(
        InputError, match=r"mapping file not found; at file .*none\.yaml"
    ):
        load_mapping(tmp_path / "none.yaml")


def test_mapping_file_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("events: [unclosed\n")
    with pytest.raises(InputError, match=r"mapping file is not valid.*bad\.yaml"):
        load_mapping(path)


def test_orders_exact_duplicate_removed(reference_dir):
    path = reference_dir / "05-duplicate-and-unsorted-transactions" / "orders.csv"
    data = load_files(path, mapping=ORDERS_MAPPING)
    assert data.report.count("exact_duplicates") == 1
    assert len(data.events) == 10
    c1 = data.events[data.events[C.customer_id] == "C1"]
    assert c1[C.amount].sum() == pytest.approx(40 + 90 + 40 + 40)
    assert c1[C.order_id].tolist() == ["O-1001", "O-1002", "O-1003", "O-1004"]


def test_orders_sorted_oldest_first(reference_dir):
    path = reference_dir / "05-duplicate-and-unsorted-transactions" / "orders.csv"
    events = load_files(path, mapping=ORDERS_MAPPING).events
    assert events[C.timestamp].is_monotonic_increasing
    c2 = events[events[C.customer_id] == "C2"]
    assert c2[C.order_id].tolist() == ["O-2001", "O-2002", "O-2003"]


def test_orders_reversed_file_same_events(reference_dir, tmp_path):
    path = reference_dir / "05-duplicate-and-unsorted-transactions" / "orders.csv"
    header, *rows = path.read_text().splitlines()
    reversed_path = tmp_path / "reversed.csv"
    reversed_path.write_text("\n".join([header, *rows[::-1]]) + "\n")
    forward = load_files(path, mapping=ORDERS_MAPPING).events
    backward = load_files(reversed_path, mapping=ORDERS_MAPPING).events
    pd.testing.assert_frame_equal(forward, backward)


def test_orders_conflicting_rows_raise(reference_dir, tmp_path):
    path = reference_dir / "05-duplicate-and-unsorted-transactions" / "orders.csv"
    text = path.read_text() + "O-2002,C2,2017-04-15 11:00:00,31.00\n"
    conflict = tmp_path / "orders.csv"
    conflict.write_text(text)
    with pytest.raises(InputError, match=r"order 'O-2002' appears in rows \[7, 12\]"):
        load_files(conflict, mapping=ORDERS_MAPPING)


def test_line_ids_independent_of_row_order(tmp_path):
    rows = ["1,B,O1,2024-01-01,2.0", "1,A,O1,2024-01-01,5.0", "2,A,O2,2024-01-02,5.0"]
    mapping = {
        "events": {
            "columns": {
                C.customer_id: "u",
                C.item_id: "i",
                C.order_id: "o",
                C.timestamp: "t",
                C.amount: "a",
            }
        }
    }
    frames = []
    for order in (rows, rows[::-1]):
        path = tmp_path / f"e{len(frames)}.csv"
        path.write_text("u,i,o,t,a\n" + "\n".join(order) + "\n")
        frames.append(load_files(path, mapping=mapping).events)
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert frames[0][C.event_id].tolist() == ["O1-1", "O1-2", "O2-1"]


def test_items_file_duplicate_id_raises(tmp_path):
    events = tmp_path / "e.csv"
    events.write_text("u,i,t,a\n1,A,2024-01-01,5.0\n")
    items = tmp_path / "i.csv"
    items.write_text("sku,title\nA,Mug\nA,Cup\n")
    mapping = {
        "events": {
            "columns": {
                C.customer_id: "u",
                C.item_id: "i",
                C.timestamp: "t",
                C.amount: "a",
            }
        },
        "items": {"columns": {C.item_id: "sku", C.name: "title"}},
    }
    with pytest.raises(
        InputError, match=r"item_id 'A' has several different rows \[1, 2\]"
    ):
        load_files(events, items, mapping=mapping)


def test_items_without_catalog_row_added(tmp_path):
    events = tmp_path / "e.csv"
    events.write_text("u,i,t,a\n1,A,2024-01-01,5.0\n1,Z,2024-01-01,5.0\n")
    items = tmp_path / "i.csv"
    items.write_text("sku,title\nA,Mug\n")
    mapping = {
        "events": {
            "columns": {
                C.customer_id: "u",
                C.item_id: "i",
                C.timestamp: "t",
                C.amount: "a",
            }
        },
        "items": {"columns": {C.item_id: "sku", C.name: "title"}},
    }
    data = load_files(events, items, mapping=mapping)
    assert data.items[C.item_id].tolist() == ["A", "Z"]
    assert data.report.count("item_without_catalog_row") == 1


def test_customers_invalid_consent_raises(tmp_path):
    events = tmp_path / "e.csv"
    events.write_text("u,i,t,a\n1,A,2024-01-01,5.0\n")
    customers = tmp_path / "c.csv"
    customers.write_text("u,ok\n1,maybe\n")
    mapping = {
        "events": {
            "columns": {
                C.customer_id: "u",
                C.item_id: "i",
                C.timestamp: "t",
                C.amount: "a",
            }
        },
        "customers": {"columns": {C.customer_id: "u", C.consent: "ok"}},
    }
    with pytest.raises(
        InputError, match=r"invalid consent value.*row 1, column 'ok'.*'maybe'"
    ):
        load_files(events, customers=customers, mapping=mapping)


def test_items_mapping_without_item_id_raises(tmp_path):
    events = tmp_path / "e.csv"
    events.write_text("u,i,t,a\n1,A,2024-01-01,5.0\n")
    items = tmp_path / "i.csv"
    items.write_text("sku,title\nA,Mug\n")
    mapping = {
        "events": {
            "columns": {
                C.customer_id: "u",
                C.item_id: "i",
                C.timestamp: "t",
                C.amount: "a",
            }
        },
        "items": {"columns": {C.name: "title"}},
    }
    with pytest.raises(InputError, match=r"items mapping has no 'item_id' column"):
        load_files(events, items, mapping=mapping)
