"""The OpenAPI document, the interactive pages and the request log."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from promoloop.service import ServiceSettings, create_app

# Error responses each operation declares besides 401 and 403.
EXPECTED_ERRORS = {
    ("post", "/v1/events"): {413, 422},
    ("post", "/v1/decisions"): {413, 422},
    ("post", "/v1/feedback"): {404, 409, 413, 422},
    ("get", "/v1/campaigns"): set(),
    ("post", "/v1/campaigns"): {409, 413, 422},
    ("put", "/v1/campaigns/{campaign_id}"): {404, 409, 413, 422},
    ("get", "/v1/campaigns/{campaign_id}"): {404, 422},
    ("post", "/v1/campaigns/{campaign_id}/pause"): {404, 422},
    ("post", "/v1/campaigns/{campaign_id}/resume"): {404, 422},
    ("get", "/v1/campaigns/{campaign_id}/report"): {404, 422},
    ("put", "/v1/customers/{customer_id}"): {410, 413, 422},
    ("delete", "/v1/customers/{customer_id}"): {422},
}


def make_client(tmp_path, **settings) -> TestClient:
    app = create_app(
        ServiceSettings(database_url=f"sqlite:///{tmp_path / 'store.db'}", **settings)
    )
    return TestClient(app)


@pytest.fixture
def document(tmp_path) -> dict:
    with make_client(tmp_path) as client:
        return client.get("/openapi.json").json()


def test_api_key_schemes_are_declared(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["type"] == "http"
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "description": "An API key as `X-API-Key: KEY`.",
        "in": "header",
        "name": "X-API-Key",
    }
    for (method, path), _ in EXPECTED_ERRORS.items():
        operation = document["paths"][path][method]
        assert operation["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    assert "security" not in document["paths"]["/health"]["get"]


def test_every_operation_declares_its_errors(document):
    operations = {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if path.startswith("/v1/")
    }
    assert operations == set(EXPECTED_ERRORS)
    for (method, path), expected in EXPECTED_ERRORS.items():
        responses = document["paths"][path][method]["responses"]
        errors = {int(code) for code in responses if int(code) >= 400}
        assert errors == expected | {401, 403}, (method, path)
        for code in errors - {422}:
            schema = responses[str(code)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    unauthorized = document["paths"]["/v1/events"]["post"]["responses"]["401"]
    assert "WWW-Authenticate" in unauthorized["headers"]


def test_interactive_pages_are_off_by_default(tmp_path):
    with make_client(tmp_path) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.get("/openapi.json").status_code == 200


def test_setting_turns_interactive_pages_on(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMOLOOP_API_DOCS", "true")
    assert ServiceSettings.from_env().api_docs is True
    with make_client(tmp_path, api_docs=True) as client:
        docs = client.get("/docs")
        assert docs.status_code == 200
        assert "/openapi.json" in docs.text
        assert client.get("/redoc").status_code == 200


def test_request_log_names_the_full_route(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="promoloop.service.app")
    with make_client(tmp_path) as client:
        client.get("/v1/campaigns/secret-campaign")
        client.delete("/v1/customers/raw-customer-7")
        client.get("/dashboard/login")
        client.get("/health")
        client.get("/no/such/path")
    lines = [
        record.getMessage()
        for record in caplog.records
        if record.name == "promoloop.service.app" and " ms" in record.getMessage()
    ]
    patterns = [line.rsplit(" ", 2)[0] for line in lines]
    assert patterns == [
        "GET /v1/campaigns/{campaign_id} 401",
        "DELETE /v1/customers/{customer_id} 401",
        "GET /dashboard/login 200",
        "GET /health 200",
        "GET (no route) 404",
    ]
    assert "raw-customer-7" not in "\n".join(lines)
