"""Event types in the engine's expressions.

Canonical event types are the lower-case values of
:class:`promoloop.vocabulary.EventType`. The loaders write them so, but the
public functions also take events that a caller built, so every stage
reads the type through :func:`event_type` and matches it case-insensitively.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis

from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

EVENT_TYPES = tuple(kind.value for kind in EventType)
"""Canonical event types, in the order of :class:`EventType`."""


def event_type(events: ibis.Table) -> ibis.StringValue:
    """Build the expression of each event's type in lower case."""
    return events[C.event_type].lower()


def is_event(events: ibis.Table, kind: EventType) -> ibis.BooleanValue:
    """Build the expression of whether each event is of type ``kind``."""
    return event_type(events) == kind.value


def is_known_type(events: ibis.Table) -> ibis.BooleanValue:
    """Build the expression of whether each event's type is a canonical one.

    The type is looked up in :data:`EVENT_TYPES`, ignoring case as every
    stage does. A missing type is unknown, because the loaders reject a
    blank event type.
    """
    return event_type(events).isin(EVENT_TYPES).fill_null(False)


def type_weight(events: ibis.Table, weights: Mapping[str, float]) -> ibis.FloatingValue:
    """Build the expression of each event's weight by type.

    Parameters
    ----------
    events : ibis.Table
        Events with an ``event_type`` column.
    weights : mapping of str to float
        Weight of one event of each type, matched case-insensitively.

    Returns
    -------
    ibis.FloatingValue
        The weight of the event's type; 0 for a type that is not listed or
        missing.
    """
    pairs = [(name.lower(), float(weight)) for name, weight in weights.items()]
    if not pairs:
        return ibis.literal(0.0, type="float64")
    return event_type(events).cases(*pairs, else_=0.0).cast("float64")
