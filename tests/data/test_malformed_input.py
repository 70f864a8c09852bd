"""Malformed events files: ragged rows, swapped number marks and blank values."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from promoloop.data.files import ReadOptions, parse_numbers, read_file
from promoloop.data.mapping import load_files
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"

HEADER = "u,i,o,t,a,q,d\n"
GOOD = "1,A,O1,2024-01-01,5.0,1,0\n"

COLUMNS = {
    C.customer_id: "u",
    C.item_id: "i",
    C.order_id: "o",
    C.timestamp: "t",
    C.amount: "a",
    C.quantity: "q",
    C.discount: "d",
}


def _mapping(**options):
    return {"events": {"columns": dict(COLUMNS), **options}}


def _load(tmp_path, text, **options):
    path = tmp_path / "events.csv"
    path.write_text(text)
    return load_files(path, mapping=_mapping(**options))


BAD_EVENTS = [
    # (case, file text, read options, message regex)
    (
        "extra_field",
        HEADER + GOOD + "2,B,O2,2024-01-02,3.0,1,0,9\n",
        {},
        r"the row has 8 fields but the header has 7; at file .*events\.csv, row 2; "
        r"value \['2', 'B', 'O2', '2024-01-02', '3\.0', '1', '0', '9'\]\. "
        r"Expected 7 fields in every row.*separator ',' and the quoting",
    ),
    (
        "extra_field_first_row",
        HEADER + "2,B,O2,2024-01-02,3.0,1,0,9\n" + GOOD,
        {},
        r"the row has 8 fields but the header has 7; at file .*events\.csv, row 1; "
        r"value \['2', 'B', .*'9'\]",
    ),
    (
        "extra_field_after_blank_line",
        HEADER + GOOD + "\n" + "2,B,O2,2024-01-02,3,5,1,0\n",
        {},
        r"has 8 fields but the header has 7; at file .*events\.csv, row 3; "
        r"value \['2', 'B', 'O2', '2024-01-02', '3', '5', '1', '0'\]",
    ),
    (
        "missing_fields",
        HEADER + GOOD + "2,B,O2,2024-01-02,3.0\n",
        {},
        r"the row has 5 fields but the header has 7; at file .*events\.csv, row 2; "
        r"value \['2', 'B', 'O2', '2024-01-02', '3\.0'\]\. "
        r"Expected 7 fields in every row.*add the missing fields",
    ),
    (
        "missing_fields_two_rows",
        HEADER + "2,B,O2\n" + GOOD + "3,C,O3,2024-01-03\n",
        {},
        r"the row has 3 fields but the header has 7 \(1 other row too\); "
        r"at file .*events\.csv, row 1; value \['2', 'B', 'O2'\]",
    ),
    (
        "swapped_marks_comma_thousands",
        HEADER + GOOD + '2,B,O2,2024-01-02,"52,20",1,0\n',
        {"decimal": ".", "thousands": ","},
        r"invalid digit grouping; at file .*events\.csv, row 2, column 'a'; "
        r"value '52,20'.*thousands separator ','.*"
        r"Fix: check 'decimal' and 'thousands' in the mapping",
    ),
    (
        "swapped_marks_european_total",
        "u;i;o;t;a;q;d\n1;A;O1;2024-01-01;1.299,90;1;0\n",
        {"separator": ";", "decimal": ".", "thousands": ","},
        r"invalid digit grouping; at file .*events\.csv, row 1, column 'a'; "
        r"value '1\.299,90'.*check 'decimal' and 'thousands'",
    ),
    (
        "swapped_marks_counts_others",
        "u;i;o;t;a;q;d\n1;A;O1;2024-01-01;9,99;1;0\n1;B;O1;2024-01-01;0,5;1;0\n",
        {"separator": ";", "decimal": ".", "thousands": ","},
        r"invalid digit grouping \(1 other row invalid too\); "
        r"at file .*events\.csv, row 1, column 'a'; value '9,99'",
    ),
    (
        "blank_amount",
        HEADER + GOOD + "2,B,O2,2024-01-02,,1,0\n",
        {},
        r"blank amount; at file .*events\.csv, row 2, column 'a'; value ''\. "
        r"Expected a value on every row\. Fix: fill in the value or drop the row",
    ),
    (
        "spaces_only_amount",
        HEADER + "2,B,O2,2024-01-02,  ,1,0\n" + GOOD,
        {},
        r"blank amount; at file .*events\.csv, row 1, column 'a'; value ''",
    ),
    (
        "blank_item",
        HEADER + GOOD + "\n" + "2,,O2,2024-01-02,3.0,1,0\n",
        {},
        r"blank item_id; at file .*events\.csv, row 3, column 'i'; value ''",
    ),
    (
        "blank_order",
        HEADER + GOOD + "2,B,,2024-01-02,3.0,1,0\n",
        {},
        r"blank order_id; at file .*events\.csv, row 2, column 'o'; value ''",
    ),
    (
        "blank_timestamp",
        HEADER + GOOD + "2,B,O2,,3.0,1,0\n",
        {},
        r"blank timestamp; at file .*events\.csv, row 2, column 't'; value ''",
    ),
    (
        "blank_quantity",
        HEADER + GOOD + "2,B,O2,2024-01-02,3.0,,0\n",
        {},
        r"blank quantity; at file .*events\.csv, row 2, column 'q'; value ''",
    ),
    (
        "blank_discount_two_rows",
        HEADER + "2,B,O2,2024-01-02,3.0,1,\n" + GOOD + "3,C,O3,2024-01-03,1,1,\n",
        {},
        r"blank discount \(1 other row too\); at file .*events\.csv, row 1, "
        r"column 'd'; value ''",
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "options", "message"),
    BAD_EVENTS,
    ids=[row[0] for row in BAD_EVENTS],
)
def test_bad_events_raise(tmp_path, case, text, options, message):
    with pytest.raises(InputError, match=message):
        _load(tmp_path, text, **options)


def test_one_column_header_names_separator(tmp_path):
    # Rows split by the wrong separator have more fields than the header, but
    # the missing-column error points at the separator more directly.
    text = "u;i;o;t;a;q;d\n1;A;O1;2024-01-01;5,5;1;0\n"
    with pytest.raises(InputError, match=r"only one column 'u;i;o;t;a;q;d'"):
        _load(tmp_path, text)


def test_quoted_separator_not_extra_field(tmp_path):
    text = HEADER + '1,"A,1",O1,2024-01-01,5.0,1,0\n'
    data = _load(tmp_path, text)
    assert data.events[C.item_id].tolist() == ["A,1"]


def test_grouped_thousands_parse():
    values = pd.Series(["1,299.90", "52.20", "-12,345,678", "7"], index=[1, 2, 3, 4])
    options = ReadOptions(decimal=".", thousands=",")
    parsed = parse_numbers(values, options, file="f", column="a")
    assert parsed.tolist() == pytest.approx([1299.90, 52.20, -12345678.0, 7.0])


@pytest.mark.parametrize("value", ["1,2345", "12,34", "1234,567", "1,234,56"])
def test_bad_digit_grouping_raises(value):
    values = pd.Series(["1", value], index=[1, 2])
    options = ReadOptions(decimal=".", thousands=",")
    with pytest.raises(
        InputError,
        match=rf"invalid digit grouping; at file f, row 2, column 'a'; "
        rf"value '{value}'",
    ):
        parse_numbers(values, options, file="f", column="a")


def test_blank_customer_kept_and_counted(tmp_path):
    data = _load(tmp_path, HEADER + GOOD + ",B,O2,2024-01-02,3.0,1,0\n")
    assert data.events[C.customer_id].isna().sum() == 1
    assert data.report.count("missing_customer") == 1
    assert data.events[C.amount].sum() == pytest.approx(5.0 + 3.0)


def test_unmapped_quantity_discount_counted(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("u,i,o,t,a\n1,A,O1,2024-01-01,5.0\n1,B,O1,2024-01-01,2.0\n")
    columns = {k: v for k, v in COLUMNS.items() if k not in (C.quantity, C.discount)}
    mapping = {"events": {"columns": columns}}
    data = load_files(path, mapping=mapping)
    assert data.report.count("default_quantity_one") == 2
    assert data.report.count("default_discount_zero") == 2
    assert data.events[C.discount].tolist() == [0.0, 0.0]


def test_mapped_quantity_discount_not_defaulted(tmp_path):
    data = _load(tmp_path, HEADER + GOOD)
    assert data.report.count("default_quantity_one") == 0
    assert data.report.count("default_discount_zero") == 0


def _example_number(text):
    # The example writes decimal ',' and thousands '.', as in "1.299,90".
    return float(text.replace(".", "").replace(",", "."))


def test_example_totals_match_file():
    data = load_files(
        EXAMPLE / "events.csv",
        EXAMPLE / "items.csv",
        EXAMPLE / "customers.csv",
        mapping=EXAMPLE / "mapping.yaml",
    )
    with open(EXAMPLE / "events.csv", encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file, delimiter=";"))
    assert len(data.events) == len(rows) == 40
    assert data.events[C.amount].sum() == pytest.approx(
        sum(_example_number(r["price_paid"]) for r in rows)
    )
    assert data.events[C.quantity].sum() == pytest.approx(
        sum(_example_number(r["qty"]) for r in rows)
    )
    # Rebates are stored as negative numbers and loaded as positive discounts.
    assert data.events[C.discount].sum() == pytest.approx(
        -sum(_example_number(r["rebate"]) for r in rows)
    )
    spend = data.events.groupby(C.customer_id)[C.amount].sum()
    assert spend["K001"] == pytest.approx(52.20 + 23.40 + 44.82 + 35.10)
    assert spend["K004"] == pytest.approx(58.00)
    assert data.report.count("missing_customer") == 0


def test_long_separator_ragged_row_raises(tmp_path):
    # pandas reads a separator of several characters as a regular expression,
    # so its own parser finds the extra field.
    text = "u::i::a\n1::A::5\n2::B::3::9\n"
    path = tmp_path / "events.csv"
    path.write_text(text)
    with pytest.raises(
        InputError,
        match=r"the file is not valid CSV: .*line 3, saw 4.*; at file .*events\.csv\. "
        r"Expected the same number of fields",
    ):
        read_file(path, ReadOptions(separator="::"))


def test_oversized_field_raises(tmp_path):
    # The csv module rejects a field longer than csv.field_size_limit().
    path = tmp_path / "events.csv"
    path.write_text("u,i\n1," + "x" * (csv.field_size_limit() + 1) + "\n")
    with pytest.raises(
        InputError,
        match=r"the file is not valid CSV: field larger than field limit.*"
        r"at file .*events\.csv, row 1",
    ):
        read_file(path)
