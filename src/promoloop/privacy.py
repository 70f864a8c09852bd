"""Keyed-hash pseudonymization of customer ids."""

from __future__ import annotations

import hashlib
import hmac
import os

import pandas as pd

from promoloop.errors import ConfigError

KEY_ENV = "PROMOLOOP_PSEUDONYM_KEY"
DEVELOPMENT_KEY = "promoloop-development-key"


def resolve_key(key: str | None) -> str:
    """Return the pseudonymization key from the argument or the environment.

    Falls back to a fixed development key so that a first run works. The
    manifest records whether that key was used, because anyone who has the raw
    ids can reverse pseudonyms made with a public key.
    """
    if key:
        return key
    return os.environ.get(KEY_ENV) or DEVELOPMENT_KEY


def pseudonymize(ids: pd.Series, key: str) -> pd.Series:
    """Replace each id by the first 16 hex digits of HMAC-SHA256(key, id).

    Missing ids stay missing. The same id and key always give the same
    pseudonym, so tables of one run still join.
    """
    if not key:
        raise ConfigError("the pseudonymization key is empty; set " + KEY_ENV)
    key_bytes = key.encode("utf-8")
    uniques = ids.dropna().unique()
    mapping = {
        value: hmac.new(
            key_bytes, str(value).encode("utf-8"), hashlib.sha256
        ).hexdigest()[:16]
        for value in uniques
    }
    return ids.map(mapping).astype("string")
