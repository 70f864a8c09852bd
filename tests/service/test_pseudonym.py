"""The service pseudonymizes one id exactly as the run pseudonymizes a column."""

from __future__ import annotations

import pandas as pd
import pytest

from promoloop.privacy import DEVELOPMENT_KEY, pseudonymize
from promoloop.service import ServiceSettings
from promoloop.service.deps import customer_pseudonym

IDS = ["K001", "12345", "kunde@example.org", "Müller 7", "顾客-88", " padded "]


@pytest.mark.parametrize("key", [DEVELOPMENT_KEY, "shop-secret", "ключ"])
def test_customer_pseudonym_equals_pseudonymize(key):
    settings = ServiceSettings(pseudonym_key=key)
    expected = pseudonymize(pd.Series(IDS, dtype="string"), key)
    got = [customer_pseudonym(raw_id, settings) for raw_id in IDS]
    assert got == expected.tolist()


def test_keys_give_different_pseudonyms():
    first = customer_pseudonym("K001", ServiceSettings(pseudonym_key="a"))
    second = customer_pseudonym("K001", ServiceSettings(pseudonym_key="b"))
    assert first != second
