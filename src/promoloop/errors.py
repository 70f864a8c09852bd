"""Exceptions raised for invalid input and failed stages."""

from __future__ import annotations


class PromoloopError(Exception):
    """Base class of promoloop's own exceptions."""


class InputError(PromoloopError, ValueError):
    """Invalid input data, located down to the file, row, column and value.

    Parameters
    ----------
    problem : str
        What is wrong, in one sentence.
    file : str, optional
        Path of the offending file.
    row : int, optional
        1-based data row number in the file (the header is row 0).
    column : str, optional
        Column name as it appears in the file.
    value : object, optional
        The offending value.
    expected : str, optional
        What the column or file should contain.
    fix : str, optional
        What the user can do about it.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        expected: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.row = row
        self.column = column
        self.value = value
        self.expected = expected
        self.fix = fix
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        parts = [self.problem]
        if where:
            parts.append("at " + ", ".join(where))
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        text = "; ".join(parts)
        if self.expected:
            text += f". Expected {self.expected}"
        if self.fix:
            text += f". Fix: {self.fix}"
        return text


class ConfigError(PromoloopError, ValueError):
    """Invalid configuration or promotions file."""


class UndefinedMetricError(PromoloopError, ValueError):
    """A metric that the data cannot identify, such as lift without a control group."""
