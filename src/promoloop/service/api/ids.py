"""Id types of the HTTP API: body fields and path parameters.

Every id is a string of 1 to :data:`~promoloop.store.models.ID_LENGTH`
characters without control characters (tab and newline included). Leading
and trailing whitespace is removed, as ``promoloop run`` does when it reads
the shop's files (:func:`promoloop.data.ids.canonical_id`), so that
``" K001"`` and ``"K001"`` are the same customer in the run and in the
service. An id that is empty after that is rejected. Customer ids may also
be JSON integers, which are read as their decimal string: ``12345`` is
``"12345"``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from promoloop.store.models import ID_LENGTH

#: Characters an id may contain: anything but ASCII control characters.
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"

_ID_DESCRIPTION = (
    f"At most {ID_LENGTH} characters without control characters; leading and "
    "trailing whitespace is removed."
)


def strip_id(value: str) -> str:
    """Remove leading and trailing whitespace, and reject an id left empty."""
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError(
            "blank_id",
            "id {value} contains only whitespace; send an id with at least one "
            "other character",
            {"value": repr(value)},
        )
    return stripped


def integer_as_text(value: Any) -> Any:
    """Turn a JSON integer into its decimal string; reject booleans and floats.

    Strings pass unchanged, to be checked as ids.
    """
    if isinstance(value, bool | float):
        raise PydanticCustomError(
            "customer_id_type",
            "a customer id is a string or an integer, not {value}",
            {"value": repr(value)},
        )
    if isinstance(value, int):
        return str(value)
    return value


#: An id in a request body.
Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_LENGTH, pattern=ID_PATTERN),
    AfterValidator(strip_id),
]

#: The shop's customer id in a request body: an id, or an integer that is read
#: as its decimal string.
CustomerId = Annotated[
    Id,
    BeforeValidator(integer_as_text),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": ID_LENGTH,
                    "pattern": ID_PATTERN,
                },
                {"type": "integer"},
            ],
            "description": f"The shop's own customer id. {_ID_DESCRIPTION} An "
            "integer is read as its decimal string.",
        },
        mode="validation",
    ),
]


def id_path(description: str) -> Any:
    """Return the ``Path`` declaration of an id path parameter."""
    return Path(
        min_length=1,
        max_length=ID_LENGTH,
        pattern=ID_PATTERN,
        description=f"{description} {_ID_DESCRIPTION}",
    )


#: A campaign id in the path.
CampaignIdPath = Annotated[str, id_path("The campaign's id."), AfterValidator(strip_id)]

#: The shop's customer id in the path. The path's ``12345`` is the customer
#: that a body names as ``12345`` or ``"12345"``.
CustomerIdPath = Annotated[
    str, id_path("The shop's own customer id."), AfterValidator(strip_id)
]
