"""Error responses of the HTTP API, as the OpenAPI document declares them.

Every error other than 422 is a JSON object with a ``detail`` sentence. A
422 has FastAPI's list of validation errors, which FastAPI declares by
itself on every operation with parameters or a body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    """Body of an error response: what failed and what to do next."""

    detail: str


#: Declared on every operation that needs an API key.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "Missing, malformed, unknown or revoked API key.",
        "headers": {
            "WWW-Authenticate": {
                "description": "Always `Bearer`.",
                "schema": {"type": "string"},
            }
        },
    },
    403: {
        "model": ErrorBody,
        "description": "The API key's role may not call this endpoint.",
    },
}


def error_responses(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """Build the ``responses`` of an operation from status codes and descriptions.

    Parameters
    ----------
    descriptions : mapping of int to str
        When the operation returns each status code.

    Returns
    -------
    dict
        FastAPI's ``responses`` argument, with :class:`ErrorBody` as the body
        of every code.
    """
    return {
        code: {"model": ErrorBody, "description": text}
        for code, text in descriptions.items()
    }


#: Declared on every operation that takes a request body.
BODY_TOO_LARGE = error_responses(
    {413: "The body is larger than the service's `max_request_bytes`."}
)
