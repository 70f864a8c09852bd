"""Settings of the offer service, read from the environment."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from promoloop.errors import ConfigError
from promoloop.privacy import DEVELOPMENT_KEY, KEY_ENV

MODE_ENV = "PROMOLOOP_MODE"
DATABASE_ENV = "PROMOLOOP_DATABASE_URL"


class ServiceSettings(BaseModel):
    """Everything the service needs besides its API keys.

    Attributes
    ----------
    database_url : str or None
        Store URL; None takes ``PROMOLOOP_DATABASE_URL``, then the SQLite
        file ``promoloop.db``.
    mode : {"development", "production"}
        Production refuses the public development pseudonymization key.
    pseudonym_key : str
        Key of the keyed hash that turns the shop's customer ids into the
        pseudonyms the store holds, the same as ``promoloop run`` used.
    max_request_bytes : int
        Larger request bodies are refused with 413 before they are read.
    max_batch_events : int
        Maximum number of events in one ingest request.
    opted_out_offer : {"none", "default"}
        What a customer without consent gets: nothing, or the
        ``default_promotion_id`` (a non-personalized offer).
    default_promotion_id : str or None
        The non-personalized offer for opted-out and unknown customers.
    key_cache_seconds : float
        How long a worker trusts an API key it verified, without asking the
        database again; a revoked key stops working within this time.
    api_docs : bool
        Serve the interactive API pages ``/docs`` (Swagger UI) and ``/redoc``.
        Off by default, because both pages load their scripts from a public
        CDN and fail without internet access. ``/openapi.json`` is always
        served.
    """

    database_url: str | None = None
    mode: Literal["development", "production"] = "development"
    pseudonym_key: str = DEVELOPMENT_KEY
    max_request_bytes: int = Field(default=5_000_000, gt=0)
    max_batch_events: int = Field(default=10_000, gt=0)
    opted_out_offer: Literal["none", "default"] = "none"
    default_promotion_id: str | None = None
    key_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    api_docs: bool = False

    @classmethod
    def from_env(cls, **overrides) -> ServiceSettings:
        """Read the settings from the environment, then apply ``overrides``.

        Besides ``PROMOLOOP_DATABASE_URL``, ``PROMOLOOP_MODE`` and
        ``PROMOLOOP_PSEUDONYM_KEY``, every other setting is read from
        ``PROMOLOOP_`` and its name in capitals, e.g.
        ``PROMOLOOP_OPTED_OUT_OFFER=default`` and
        ``PROMOLOOP_DEFAULT_PROMOTION_ID=welcome-5``.

        Raises
        ------
        ConfigError
            On an invalid value, naming the variable, or unsafe settings.
        """
        values = {
            "database_url": os.environ.get(DATABASE_ENV),
            "mode": os.environ.get(MODE_ENV, "development"),
            "pseudonym_key": os.environ.get(KEY_ENV) or DEVELOPMENT_KEY,
        }
        for name in cls.model_fields:
            variable = f"PROMOLOOP_{name.upper()}"
            if name not in values and variable in os.environ:
                values[name] = os.environ[variable]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            settings = cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{_variable(e['loc'][0])}={e.get('input')!r}: {e['msg'].lower()}"
                for e in error.errors()
            )
            raise ConfigError(
                f"invalid service settings: {problems}. Fix: correct these "
                "environment variables or options"
            ) from None
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ConfigError on settings that are unsafe in production.

        Raises
        ------
        ConfigError
            In production mode with the public development key, or when the
            default offer is configured without a promotion id.
        """
        if self.mode == "production" and self.pseudonym_key == DEVELOPMENT_KEY:
            raise ConfigError(
                f"{MODE_ENV}=production with the public development "
                f"pseudonymization key; set {KEY_ENV} to the shop's secret key "
                "(the one promoloop run used)"
            )
        if self.opted_out_offer == "default" and not self.default_promotion_id:
            raise ConfigError(
                "opted_out_offer is 'default' but default_promotion_id is not set; "
                "name the non-personalized promotion or use 'none'"
            )


def _variable(field: str) -> str:
    """Return the environment variable of a settings field."""
    special = {"database_url": DATABASE_ENV, "mode": MODE_ENV, "pseudonym_key": KEY_ENV}
    return special.get(str(field), f"PROMOLOOP_{str(field).upper()}")
