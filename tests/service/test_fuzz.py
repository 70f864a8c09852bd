"""Fuzzing the API from its OpenAPI document: no input gives a server error.

schemathesis generates requests for every operation from the document the
service publishes, valid ones and ones that break the document's rules
(negative mode), and sends them with an admin key (which every endpoint
admits) to the application on SQLite and PostgreSQL, with the example
shop's run published so that decisions reach the scoring path.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from promoloop.service import ServiceSettings, create_app

EXAMPLES_PER_OPERATION = 40


def test_no_input_gives_a_server_error(published_shop, keys):
    app = create_app(
        ServiceSettings(database_url=published_shop.url.render_as_string(False)),
        published_shop,
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    fuzzed = 0
    for operation in operations:
        for mode in schemathesis.GenerationMode:
            try:
                _fuzz(operation.as_strategy(mode), headers)
            except Unsatisfiable:
                # An operation without parameters or body has no invalid
                # input to generate.
                assert mode == schemathesis.GenerationMode.NEGATIVE
                continue
            fuzzed += 1
    assert fuzzed > len(operations)


def _fuzz(strategy, headers) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def no_server_error(case):
        response = case.call(headers=headers)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} gave {response.status_code}: "
            f"{response.text[:300]}"
        )

    no_server_error()
