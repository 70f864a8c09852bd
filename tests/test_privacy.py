import hashlib
import hmac

import pandas as pd
import pytest

from promoloop.errors import ConfigError
from promoloop.privacy import DEVELOPMENT_KEY, KEY_ENV, pseudonymize, resolve_key


def test_pseudonym_is_keyed_sha256_prefix():
    ids = pd.Series(["17850", "C-0042"])
    out = pseudonymize(ids, "secret")
    expected = hmac.new(b"secret", b"17850", hashlib.sha256).hexdigest()[:16]
    assert out.iloc[0] == expected
    assert len(out.iloc[1]) == 16


def test_pseudonym_depends_on_key():
    ids = pd.Series(["17850"])
    assert pseudonymize(ids, "a").iloc[0] != pseudonymize(ids, "b").iloc[0]


def test_pseudonym_keeps_missing_and_joins():
    ids = pd.Series(["1", None, "1"], dtype="string")
    out = pseudonymize(ids, "k")
    assert out.isna().tolist() == [False, True, False]
    assert out.iloc[0] == out.iloc[2]


def test_empty_key_rejected():
    with pytest.raises(ConfigError, match=KEY_ENV):
        pseudonymize(pd.Series(["1"]), "")


def test_key_resolution_order(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert resolve_key(None) == DEVELOPMENT_KEY
    monkeypatch.setenv(KEY_ENV, "from-env")
    assert resolve_key(None) == "from-env"
    assert resolve_key("explicit") == "explicit"
