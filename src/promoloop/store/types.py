"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from promoloop.errors import InputError

#: Decimal places kept for money amounts: one millionth of the currency unit.
MONEY_SCALE = 6
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


def to_money(value: Decimal | float | int | str) -> Decimal:
    """Convert a money amount to a Decimal rounded to :data:`MONEY_SCALE` places.

    Floats are converted through their shortest text form, so ``0.1`` becomes
    ``Decimal("0.1")`` and not the binary expansion of the float.

    Raises
    ------
    InputError
        If the value is not a finite number.
    """
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise InputError(
            "invalid money amount",
            value=value,
            expected="a finite number such as 1.25",
        )
    return amount.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


class Money(TypeDecorator):
    """Exact money amount: ``NUMERIC(18, 6)``, or integer millionths on SQLite.

    SQLite has no decimal type: its NUMERIC columns hold binary floats, so
    sums such as ``0.1 + 0.2`` would drift. There the amount is stored as a
    BIGINT count of millionths, and SQL arithmetic on it (the budget update)
    stays exact. Python code always gets ``Decimal`` values.
    """

    impl = Numeric(18, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value, dialect: Dialect):
        if value is None:
            return None
        amount = to_money(value)
        if dialect.name == "sqlite":
            return int(amount.scaleb(MONEY_SCALE))
        return amount

    def process_result_value(self, value, dialect: Dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-MONEY_SCALE).quantize(_QUANTUM)
        return to_money(value)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC timestamp on every database.

    PostgreSQL stores ``timestamp with time zone``. SQLite stores the UTC wall
    time as text, and values read back get the UTC timezone attached, so
    callers always receive aware datetimes in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect):
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise InputError(
                "naive datetime given for a UTC timestamp column",
                value=value,
                expected="a timezone-aware datetime",
                fix="attach a timezone, e.g. datetime.now(datetime.UTC)",
            )
        utc = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utc_now() -> dt.datetime:
    """Return the current time as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)
