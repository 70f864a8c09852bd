"""Read one CSV (plain or gzip) or Parquet file and parse its numbers and dates.

Every value is checked before any later step works on the table. A whole
column is parsed at once, so the error names the first invalid value, its
1-based data row in the file, and the number of other invalid rows.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
import logging
import re
import zoneinfo
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from promoloop.errors import InputError

logger = logging.getLogger(__name__)

ROW = "row"
"""Name of the index of a table read by :func:`read_file`: 1-based data row."""

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class ReadOptions(BaseModel):
    """How to read a delimited text file and parse its numbers and dates."""

    model_config = ConfigDict(extra="forbid")

    separator: str = Field(default=",", min_length=1, description="Field separator.")
    decimal: str = Field(default=".", min_length=1, max_length=1)
    thousands: str | None = Field(
        default=None, description="Thousands separator, removed before parsing."
    )
    encoding: str = Field(
        default="utf-8",
        description="Text encoding; a byte-order mark at the start is honoured.",
    )
    date_format: str | None = Field(
        default=None,
        description="strftime format of the dates; None accepts ISO 8601.",
    )
    timezone: str = Field(
        default="UTC",
        description="IANA zone of timestamps written without an offset.",
    )


def read_file(
    path: str | Path,
    options: ReadOptions | None = None,
    *,
    required: Iterable[str] = (),
) -> pd.DataFrame:
    """Read a CSV (plain or ``.gz``) or Parquet file with every column as text.

    Parameters
    ----------
    path : str or Path
        The file. ``.parquet`` files are read with pyarrow; every other name
        is read as delimited text, gzip-compressed when it ends in ``.gz``.
    options : ReadOptions, optional
        Separator, encoding and so on; defaults to ``ReadOptions()``.
    required : iterable of str, default ()
        Column names, as written in the file, that must be present.

    Returns
    -------
    DataFrame
        Text columns, or the stored types for Parquet. The index is the
        1-based data row number, named ``"row"``. Blank lines are left out,
        and the rows after them keep their file numbers.

    Raises
    ------
    InputError
        If the file is missing or empty, the encoding name is unknown, the
        bytes do not decode, a row has more or fewer fields than the header,
        or a required column is missing.
    """
    options = options or ReadOptions()
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "file not found",
            file=str(path),
            expected="an existing CSV or Parquet file",
            fix="check the path",
        )

    if path.suffix.lower() == ".parquet":
        df = pd.read_parquet(path)
        df.index = pd.RangeIndex(1, len(df) + 1, name=ROW)
    else:
        df = _read_text(path, options, required)

    if df.empty:
        raise InputError(
            "the file has a header but no data rows",
            file=str(path),
            expected="at least one data row",
            fix="export the data again or choose the right file",
        )
    require_columns(df, required, file=str(path))
    logger.info("read %d rows and %d columns from %s", len(df), df.shape[1], path)
    return df


def require_columns(df: pd.DataFrame, required: Iterable[str], *, file: str) -> None:
    """Raise :class:`InputError` naming the columns found if one is missing."""
    missing = [c for c in required if c not in df.columns]
    if not missing:
        return
    found = [str(c) for c in df.columns]
    if len(found) == 1:
        problem = f"only one column {found[0]!r} was found; check the separator"
        fix = "set the separator (for example ';') in the mapping's read options"
    else:
        problem = f"missing column {missing[0]!r}; the columns found are {found}"
        fix = "correct the column name in the mapping file"
    raise InputError(
        problem,
        file=file,
        column=missing[0],
        expected=f"columns {list(required)}",
        fix=fix,
    )


def parse_numbers(
    values: pd.Series,
    options: ReadOptions | None = None,
    *,
    file: str,
    column: str,
) -> pd.Series:
    """Parse a text column into float64, honouring decimal and thousands marks.

    Blank cells become missing (NaN). The thousands separator is removed and
    the decimal mark replaced by ``.`` before parsing. Any other text raises,
    so ``"4,50"`` is rejected when the decimal mark is ``.``. A value that
    contains the thousands separator must group its integer digits in threes
    (``"1.299,90"`` with thousands ``.``), so swapped marks (``"52,20"``
    with thousands ``,``) raise instead of scaling the value by 100.

    Parameters
    ----------
    values : Series
        Column as read by :func:`read_file`, indexed by data row.
    options : ReadOptions, optional
        Supplies ``decimal`` and ``thousands``.
    file : str
        File name for the error message.
    column : str
        Column name, as written in the file, for the error message.

    Returns
    -------
    Series of float64

    Raises
    ------
    InputError
        At the first invalid value or invalid digit grouping, naming its row
        and how many others are bad.
    """
    options = options or ReadOptions()
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    ):
        return values.astype("float64")

    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    if options.thousands:
        _check_digit_groups(values, text, options, file=file, column=column)
        text = text.str.replace(options.thousands, "", regex=False)
    if options.decimal != ".":
        text = text.str.replace(options.decimal, ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")

    bad = numbers.isna() & text.notna()
    if bad.any():
        hint = f"decimal mark {options.decimal!r}"
        if options.thousands:
            hint += f" and thousands separator {options.thousands!r}"
        raise_first_bad(
            values,
            bad,
            problem="invalid number",
            file=file,
            column=column,
            expected=f"a number written with {hint}",
            fix="set 'decimal' and 'thousands' in the read options, "
            "or correct the value",
        )
    return numbers


def _check_digit_groups(
    values: pd.Series,
    text: pd.Series,
    options: ReadOptions,
    *,
    file: str,
    column: str,
) -> None:
    # A grouped number is 1-3 leading digits, then groups of exactly three
    # digits each after a thousands separator, then an optional fraction.
    thousands = re.escape(options.thousands)
    decimal = re.escape(options.decimal)
    grouped = rf"[+-]?\d{{1,3}}(?:{thousands}\d{{3}})+(?:{decimal}\d*)?"
    has_separator = text.str.contains(options.thousands, regex=False)
    bad = (has_separator & ~text.str.fullmatch(grouped)).fillna(False)
    if bad.any():
        raise_first_bad(
            values,
            bad,
            problem="invalid digit grouping",
            file=file,
            column=column,
            expected=(
                f"groups of three digits after each thousands separator "
                f"{options.thousands!r}, and the decimal mark {options.decimal!r}"
            ),
            fix="check 'decimal' and 'thousands' in the mapping",
        )


def parse_timestamps(
    values: pd.Series,
    options: ReadOptions | None = None,
    *,
    file: str,
    column: str,
) -> pd.Series:
    """Parse a date column into UTC timestamps.

    Values without an offset are local times in ``options.timezone``. A local
    time that occurs twice when clocks go back is taken as the first (summer
    time) occurrence, and a time skipped when clocks go forward is moved to
    the first valid time after the gap.

    Parameters
    ----------
    values : Series
        Column as read by :func:`read_file`, indexed by data row.
    options : ReadOptions, optional
        Supplies ``date_format`` and ``timezone``.
    file : str
        File name for the error message.
    column : str
        Column name, as written in the file, for the error message.

    Returns
    -------
    Series of datetime64[ns, UTC]

    Raises
    ------
    InputError
        If the time zone is unknown, or at the first unparseable date,
        naming its row and how many others are bad.
    """
    options = options or ReadOptions()
    zone = check_timezone(options.timezone, file=file)

    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = values
    else:
        text = values.astype("string").str.strip()
        text = text.mask(text == "")
        date_format = options.date_format or "ISO8601"
        try:
            parsed = pd.to_datetime(text, format=date_format, errors="coerce")
        except ValueError:
            # Offsets that differ between rows cannot share one naive dtype.
            parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=True)
        bad = parsed.isna() & text.notna()
        if bad.any():
            raise_first_bad(
                values,
                bad,
                problem="invalid date",
                file=file,
                column=column,
                expected=f"a date in the format {date_format!r}",
                fix="set 'date_format' in the read options, or correct the value",
            )

    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    local = parsed.dt.tz_localize(
        zone,
        ambiguous=np.ones(len(parsed), dtype=bool),
        nonexistent="shift_forward",
    )
    return local.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def check_timezone(name: str, *, file: str | None = None) -> str:
    """Return ``name`` if it is a known IANA time zone, else raise InputError."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(
            "unknown time zone",
            file=file,
            value=name,
            expected="an IANA time zone name such as 'UTC' or 'Europe/Berlin'",
            fix="correct 'timezone' in the read options",
        ) from None
    return name


def raise_first_bad(
    values: pd.Series,
    bad: pd.Series,
    *,
    problem: str,
    file: str,
    column: str,
    expected: str,
    fix: str,
) -> None:
    """Raise InputError for the first row flagged in ``bad``, counting the rest."""
    rows = values.index[bad.to_numpy()]
    first = rows[0]
    others = len(rows) - 1
    if others:
        problem += f" ({others} other row{'s' if others > 1 else ''} invalid too)"
    raise InputError(
        problem,
        file=file,
        row=int(first),
        column=column,
        value=values.loc[first],
        expected=expected,
        fix=fix,
    )


def _read_text(
    path: Path, options: ReadOptions, required: Iterable[str]
) -> pd.DataFrame:
    encoding = _check_encoding(options.encoding, path)
    raw = (
        gzip.decompress(path.read_bytes())
        if path.suffix.lower() == ".gz"
        else path.read_bytes()
    )
    if not raw.strip():
        raise InputError(
            "the file is empty (no header and no rows)",
            file=str(path),
            expected="a header line and data rows",
            fix="export the data again or choose the right file",
        )

    # A byte-order mark overrides a UTF setting, because a UTF-8 BOM read as
    # plain UTF-8 would end up inside the first column name.
    for bom, bom_encoding in _BOMS:
        if raw.startswith(bom) and codecs.lookup(encoding).name.startswith("utf"):
            encoding = bom_encoding
            break
    text = _decode(raw, encoding, path)
    _check_field_counts(text, options, path, required)

    # Blank lines are kept as empty rows so that the index is the data row
    # number of the file, then dropped.
    # NOTE: a quoted value that spans lines shifts the numbers of later rows.
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=options.separator,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            quoting=csv.QUOTE_MINIMAL,
        )
    except pd.errors.ParserError as error:
        # Reached for a separator of several characters, which
        # _check_field_counts skips, or if pandas splits a record differently
        # from the csv module.
        raise InputError(
            "the file is not valid CSV: " + " ".join(str(error).split()),
            file=str(path),
            expected="the same number of fields in every row as in the header",
            fix="check the separator and the quoting of the line named "
            "(pandas counts the header as line 1)",
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    df.index = pd.RangeIndex(1, len(df) + 1, name=ROW)
    return df.dropna(how="all")


def _check_field_counts(
    text: str, options: ReadOptions, path: Path, required: Iterable[str]
) -> None:
    """Raise InputError at the first row whose field count differs from the header.

    pandas raises a bare ParserError for a row with more fields than the
    header, and silently fills a row with fewer fields with missing values.
    The csv module splits records with the same quoting rules (double quotes,
    doubled to escape), and ``map(len, reader)`` counts the fields without a
    Python-level loop.
    """
    separator = options.separator
    if len(separator) != 1:
        # NOTE: pandas reads a separator of several characters as a regular
        # expression, which the csv module cannot split, so such files are
        # not checked here and pandas' own ParserError is reported instead.
        return
    reader = csv.reader(io.StringIO(text), delimiter=separator, quotechar='"')
    try:
        counts = np.fromiter(map(len, reader), dtype=np.int64)
    except csv.Error as error:
        raise InputError(
            f"the file is not valid CSV: {error}",
            file=str(path),
            row=max(reader.line_num - 1, 0),
            fix="check the separator and the quoting of that row",
        ) from None

    # Record 0 is the header, so a record's position is its 1-based data row,
    # as in the index of read_file. Blank lines have no field and are skipped.
    expected = int(counts[0])
    bad = np.flatnonzero((counts != expected) & (counts > 0))
    if len(bad) == 0:
        return
    row = int(bad[0])
    found = int(counts[row])
    records = csv.reader(io.StringIO(text), delimiter=separator, quotechar='"')
    header = next(records)
    fields = next(itertools.islice(records, row - 1, None))
    if expected == 1:
        # A one-column header usually means a wrong separator, and the
        # missing-column error points at the separator.
        require_columns(pd.DataFrame(columns=header), required, file=str(path))

    problem = (
        f"the row has {found} field{'s' if found != 1 else ''} but the header "
        f"has {expected}"
    )
    others = len(bad) - 1
    if others:
        problem += f" ({others} other row{'s' if others > 1 else ''} too)"
    if found > expected:
        fix = (
            f"check the separator {separator!r} and the quoting of that row: a "
            "value that contains the separator must be in double quotes"
        )
    else:
        fix = (
            f"check the separator {separator!r} and the quoting of that row, "
            "and add the missing fields (an empty field still needs its separator)"
        )
    raise InputError(
        problem,
        file=str(path),
        row=row,
        value=fields,
        expected=f"{expected} fields in every row, as in the header",
        fix=fix,
    )


def _check_encoding(name: str, path: Path) -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        raise InputError(
            "unknown encoding name",
            file=str(path),
            value=name,
            expected="an encoding such as utf-8, utf-8-sig, latin-1 or cp1252",
            fix="correct 'encoding' in the read options",
        ) from None
    return name


def _decode(raw: bytes, encoding: str, path: Path) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        # The header is line 0, so the number of newlines before the bad
        # byte is its 1-based data row.
        row = raw.count(b"\n", 0, error.start)
        suggestion = "cp1252" if _decodes(raw, "cp1252") else "latin-1"
        raise InputError(
            f"the bytes are not valid {encoding}",
            file=str(path),
            row=row,
            value=raw[error.start : error.end],
            expected=f"text in the {encoding} encoding",
            fix=f"set encoding to {suggestion!r} (or the encoding the file was "
            "exported with)",
        ) from None


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True
