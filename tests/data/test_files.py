"""Reading one file: separators, number formats, encodings and clear errors."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from promoloop.data.files import ReadOptions, parse_numbers, parse_timestamps, read_file
from promoloop.errors import InputError

EU = ReadOptions(separator=";", decimal=",", thousands=".")


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_semicolon_decimal_comma_amounts(reference_dir):
    path = (
        reference_dir
        / "03-semicolon-decimal-comma-single-interaction"
        / "purchases_eu.csv"
    )
    df = read_file(path, EU, required=["user_id", "item_id", "amount"])
    amounts = parse_numbers(df["amount"], EU, file=str(path), column="amount")
    assert amounts.tolist() == pytest.approx(
        [4.50, 12.00, 3.25, 4.50, 1299.90, 3.25, 0.99]
    )
    totals = amounts.groupby(df["user_id"]).sum()
    assert totals["101"] == pytest.approx(4.50 + 12.00 + 3.25)
    assert totals["102"] == pytest.approx(4.50)
    assert totals["103"] == pytest.approx(1299.90 + 3.25)
    assert totals["104"] == pytest.approx(0.99)


def test_default_separator_names_single_column(reference_dir):
    path = (
        reference_dir
        / "03-semicolon-decimal-comma-single-interaction"
        / "purchases_eu.csv"
    )
    with pytest.raises(
        InputError, match=r"only one column 'user_id;item_id;amount'.*separator"
    ):
        read_file(path, required=["user_id", "item_id", "amount"])


def test_index_is_file_data_row(tmp_path):
    path = _write(tmp_path / "a.csv", "x,y\n1,2\n\n3,4\n")
    df = read_file(path)
    assert df.index.tolist() == [1, 3]


def test_utf8_bom_with_plain_utf8_setting(tmp_path):
    path = _write(tmp_path / "bom.csv", "user,amount\nü1,2\n", encoding="utf-8-sig")
    df = read_file(path, ReadOptions(encoding="utf-8"), required=["user"])
    assert df.columns.tolist() == ["user", "amount"]
    assert df.loc[1, "user"] == "ü1"


def test_cp1252_file_with_cp1252_setting(tmp_path):
    path = _write(tmp_path / "win.csv", "name,amount\nCafé €,2\n", encoding="cp1252")
    df = read_file(path, ReadOptions(encoding="cp1252"))
    assert df.loc[1, "name"] == "Café €"


def test_gzip_file_read(tmp_path):
    path = tmp_path / "a.csv.gz"
    path.write_bytes(gzip.compress(b"x,y\n1,2\n"))
    assert read_file(path)["y"].tolist() == ["2"]


def test_parquet_file_read(tmp_path):
    path = tmp_path / "a.parquet"
    pd.DataFrame({"x": [1.5, 2.5]}).to_parquet(path)
    df = read_file(path, required=["x"])
    assert df.index.tolist() == [1, 2]
    assert parse_numbers(df["x"], file="a", column="x").sum() == pytest.approx(4.0)


def test_thousands_and_decimal_comma():
    values = pd.Series(["1.299,90", "12,00", " 3 ", None], index=[1, 2, 3, 4])
    parsed = parse_numbers(values, EU, file="f", column="amount")
    assert parsed.iloc[:3].tolist() == pytest.approx([1299.90, 12.0, 3.0])
    assert pd.isna(parsed.iloc[3])


def test_naive_time_localized_then_utc():
    values = pd.Series(["01.07.2024 12:00", "01.01.2024 12:00"], index=[1, 2])
    options = ReadOptions(date_format="%d.%m.%Y %H:%M", timezone="Europe/Berlin")
    parsed = parse_timestamps(values, options, file="f", column="ts")
    # Berlin is UTC+2 in summer and UTC+1 in winter.
    assert parsed.iloc[0] == pd.Timestamp("2024-07-01 10:00", tz="UTC")
    assert parsed.iloc[1] == pd.Timestamp("2024-01-01 11:00", tz="UTC")


def test_time_with_offset_kept():
    values = pd.Series(["2024-07-01T12:00:00+02:00"], index=[1])
    parsed = parse_timestamps(
        values, ReadOptions(timezone="Asia/Tokyo"), file="f", column="ts"
    )
    assert parsed.iloc[0] == pd.Timestamp("2024-07-01 10:00", tz="UTC")


def test_ambiguous_local_time_takes_summer_time():
    # 2024-10-27 02:30 happens twice in Berlin; the first is UTC+2.
    values = pd.Series(["2024-10-27 02:30"], index=[1])
    parsed = parse_timestamps(
        values, ReadOptions(timezone="Europe/Berlin"), file="f", column="ts"
    )
    assert parsed.iloc[0] == pd.Timestamp("2024-10-27 00:30", tz="UTC")


BAD_INPUTS = [
    # (file name, bytes, options, required columns, what to parse, message regex)
    (
        "missing.csv",
        None,
        ReadOptions(),
        [],
        None,
        r"file not found; at file .*missing\.csv",
    ),
    ("empty.csv", b"", ReadOptions(), [], None, r"file is empty.*at file .*empty\.csv"),
    (
        "header.csv",
        b"user,amount\n",
        ReadOptions(),
        [],
        None,
        r"header but no data rows; at file .*header\.csv",
    ),
    (
        "cols.csv",
        b"user,amount\n1,2\n",
        ReadOptions(),
        ["user", "price"],
        None,
        r"missing column 'price'; the columns found are \['user', 'amount'\].*"
        r"column 'price'",
    ),
    (
        "enc.csv",
        b"user,amount\n1,2\n",
        ReadOptions(encoding="utf-9"),
        [],
        None,
        r"unknown encoding name; at file .*enc\.csv; value 'utf-9'",
    ),
    (
        "bytes.csv",
        "user,amount\n1,2\nJosé,3\n".encode("cp1252"),
        ReadOptions(),
        [],
        None,
        r"not valid utf-8; at file .*bytes\.csv, row 2; value b'\\xe9'"
        r".*encoding to 'cp1252'",
    ),
    (
        "date.csv",
        b"user,ts\n1,2024-01-01\n2,2024-13-40\n3,yesterday\n",
        ReadOptions(),
        ["ts"],
        ("date", "ts"),
        r"invalid date \(1 other row invalid too\); at file .*date\.csv, row 2, "
        r"column 'ts'; value '2024-13-40'",
    ),
    (
        "number.csv",
        b'user,amount\n1,2.5\n2,"4,50"\n',
        ReadOptions(),
        ["amount"],
        ("number", "amount"),
        r"invalid number; at file .*number\.csv, row 2, column 'amount'; value '4,50'"
        r".*decimal mark '\.'",
    ),
    (
        "zone.csv",
        b"user,ts\n1,2024-01-01\n",
        ReadOptions(timezone="Mars/Olympus"),
        ["ts"],
        ("date", "ts"),
        r"unknown time zone; at file .*zone\.csv; value 'Mars/Olympus'",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "options", "required", "parse", "message"),
    BAD_INPUTS,
    ids=[row[0] for row in BAD_INPUTS],
)
def test_bad_input_raises(tmp_path, name, content, options, required, parse, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        df = read_file(path, options, required=required)
        if parse is not None:
            kind, column = parse
            parser = parse_timestamps if kind == "date" else parse_numbers
            parser(df[column], options, file=str(path), column=column)
