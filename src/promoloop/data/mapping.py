"""Mapping files: a shop's own column names mapped onto the canonical tables.

A mapping file is YAML or TOML, for example::

    events:
      columns: {customer_id: user, item_id: sku, order_id: order,
                timestamp: ts, amount: price_paid, quantity: qty}
      event_type: purchase        # a constant, or {column: ..., values: {...}}
      date_format: "%d.%m.%Y %H:%M"
      timezone: Europe/Berlin
      separator: ";"
      decimal: ","
      thousands: "."
      encoding: utf-8-sig
    items: {columns: {item_id: sku, name: title, category: group}}
    customers: {columns: {customer_id: user, locale: language}}

Keys of ``columns`` are canonical column names and values are the file's
column names. Every key is checked, and an unknown key is an error naming it.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from promoloop.data.dataset import ShopData
from promoloop.data.files import ReadOptions
from promoloop.data.fingerprint import file_fingerprint
from promoloop.data.report import CleaningReport
from promoloop.data.schema import (
    CUSTOMERS,
    EVENTS,
    EXPOSURES,
    ITEMS,
    OUTCOMES,
    TableSpec,
    empty_table,
)
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

logger = logging.getLogger(__name__)


class TableMapping(ReadOptions):
    """Columns and read options of one input file.

    ``columns`` maps canonical names to the file's names, ``constants`` gives
    a canonical column one value for every row, and ``extra_columns`` lists
    file columns kept under their own names.
    """

    spec: ClassVar[TableSpec] = ITEMS

    columns: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, str | float | bool] = Field(default_factory=dict)
    extra_columns: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_canonical_names(self) -> TableMapping:
        allowed = set(self.spec.names) - {C.event_type}
        for section in ("columns", "constants"):
            for key in getattr(self, section):
                if key not in allowed:
                    raise ValueError(
                        f"unknown canonical column {key!r} in {section}; "
                        f"expected one of {sorted(allowed)}"
                    )
        return self


class ItemsMapping(TableMapping):
    """Mapping of the items (catalog) file."""

    spec: ClassVar[TableSpec] = ITEMS


class CustomersMapping(TableMapping):
    """Mapping of the customers file."""

    spec: ClassVar[TableSpec] = CUSTOMERS


class EventTypeColumn(BaseModel):
    """Event type read from a column, with each file value mapped to a type."""

    model_config = ConfigDict(extra="forbid")

    column: str
    values: dict[str, EventType]


class EventsMapping(TableMapping):
    """Mapping of the events file.

    A missing ``event_id`` is generated from the order id and the line
    number within the order. A missing ``discount`` is 0 and a missing
    ``quantity`` is 1. Without ``order_id``, each customer and timestamp is
    one order. With
    ``order_level: true`` each row is one whole order (amount = order total),
    ``item_id`` defaults to the constant ``"order"``, and two rows of one
    order with different content are an error.
    """

    spec: ClassVar[TableSpec] = EVENTS

    event_type: EventType | EventTypeColumn = EventType.PURCHASE
    order_level: bool = False


class ShopMapping(BaseModel):
    """The mapping of a shop's events, items and customers files."""

    model_config = ConfigDict(extra="forbid")

    name: str = "shop"
    events: EventsMapping
    items: ItemsMapping = Field(default_factory=ItemsMapping)
    customers: CustomersMapping = Field(default_factory=CustomersMapping)


def load_mapping(path: str | Path) -> ShopMapping:
    """Read and validate a YAML (``.yaml``, ``.yml``) or TOML mapping file.

    Parameters
    ----------
    path : str or Path
        The mapping file.

    Returns
    -------
    ShopMapping

    Raises
    ------
    InputError
        If the file is missing or unreadable, or a key is unknown or invalid;
        the message names the key.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "mapping file not found",
            file=str(path),
            expected="a YAML or TOML mapping file",
            fix="check the path",
        )
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix.lower() == ".toml":
            content = tomllib.loads(text)
        else:
            content = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise InputError(
            "the mapping file is not valid: " + " ".join(str(error).split()),
            file=str(path),
            expected="YAML, or TOML for a .toml file",
            fix="correct the syntax",
        ) from None
    return parse_mapping(content, source=str(path))


def parse_mapping(content: Any, *, source: str = "<mapping>") -> ShopMapping:
    """Validate a mapping given as a dict (the parsed file).

    Parameters
    ----------
    content : dict
        Parsed mapping.
    source : str, default "<mapping>"
        File name for error messages.

    Returns
    -------
    ShopMapping

    Raises
    ------
    InputError
        If a key is unknown or a value invalid; the message names the key.
    """
    if isinstance(content, ShopMapping):
        return content
    try:
        return ShopMapping.model_validate(content or {})
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "<top level>"
        if first["type"] == "extra_forbidden":
            problem = f"unknown key {key!r} in the mapping"
            fix = "remove the key or correct its spelling"
        elif first["type"] == "missing":
            problem = f"missing key {key!r} in the mapping"
            fix = "add the key"
        else:
            problem = f"invalid mapping key {key!r}: {first['msg']}"
            fix = "correct the value"
        others = error.error_count() - 1
        if others:
            problem += f" ({others} other problem{'s' if others > 1 else ''})"
        raise InputError(
            problem,
            file=source,
            column=key,
            value=first.get("input") if first["type"] != "missing" else None,
            fix=fix,
        ) from None


def load_files(
    events: str | Path,
    items: str | Path | None = None,
    customers: str | Path | None = None,
    *,
    mapping: str | Path | dict | ShopMapping,
) -> ShopData:
    """Load a shop's own files into canonical tables.

    Parameters
    ----------
    events : str or Path
        Events (transaction lines) file.
    items : str or Path, optional
        Items file. Without it, the items table lists the event items with
        no attributes.
    customers : str or Path, optional
        Customers file. Without it, the customers table lists the event
        customers with missing locale and consent.
    mapping : str, Path, dict or ShopMapping
        Mapping file, or its parsed content.

    Returns
    -------
    ShopData
        With empty exposures and outcomes.

    Raises
    ------
    InputError
        For any invalid file, mapping or value (see :mod:`promoloop.data.files`).
    """
    # Imported here because the table builders import this module's models.
    from promoloop.data.tables import build_customers, build_events, build_items

    if isinstance(mapping, str | Path):
        shop = load_mapping(mapping)
    else:
        shop = parse_mapping(mapping)
    report = CleaningReport(source=str(events))

    event_table = build_events(Path(events), shop.events, report)
    item_table = build_items(
        Path(items) if items is not None else None, shop.items, event_table, report
    )
    customer_table = build_customers(
        Path(customers) if customers is not None else None,
        shop.customers,
        event_table,
        report,
    )
    paths = [Path(p) for p in (events, items, customers) if p is not None]
    return ShopData(
        events=event_table,
        items=item_table,
        customers=customer_table,
        exposures=empty_table(EXPOSURES),
        outcomes=empty_table(OUTCOMES),
        report=report,
        inputs=[file_fingerprint(p) for p in paths],
        name=shop.name,
    )
