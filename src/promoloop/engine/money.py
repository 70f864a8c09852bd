"""Exact sums of money on every engine.

Floating-point sums depend on the order in which the values are added, and
each engine adds in its own order. A purchase and its full refund can then
leave a remainder of about 1e-15 whose sign differs between engines, and
two runs of the same data would differ in the last bits of every total.
Money columns are therefore summed as decimals: each value is cast to a
decimal with 9 places, the sum is exact, and every engine turns the same
sum into the same float.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt

EXACT_MONEY = dt.Decimal(28, 9)
"""Type of a money value while it is summed: up to 10**19 with 9 decimals."""


def exact(value: ibis.Value) -> ibis.Value:
    """Return a money value (or quantity) as a 9-place decimal for exact sums."""
    return value.cast(EXACT_MONEY)
