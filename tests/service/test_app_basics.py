"""The service application: health, body limit, error handling and settings."""

from __future__ import annotations

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from promoloop.errors import ConfigError
from promoloop.privacy import DEVELOPMENT_KEY
from promoloop.service import ServiceSettings, create_app


@pytest.fixture
def app(tmp_path):
    settings = ServiceSettings(
        database_url=f"sqlite:///{tmp_path / 'store.db'}", max_request_bytes=1000
    )
    application = create_app(settings)

    @application.get("/fails")
    def fails():
        raise RuntimeError("secret detail of the failure")

    @application.post("/echo-length")
    async def echo_length(request: Request):
        return {"bytes": len(await request.body())}

    return application


def test_health_reports_the_schema_revision(app):
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "revision": "0002"}


def test_declared_large_body_is_refused(app):
    with TestClient(app) as client:
        response = client.post("/health", content=b"x" * 1001)
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["detail"]


def test_streamed_large_body_is_refused(app):
    def chunks():
        for _ in range(5):
            yield b"x" * 300

    with TestClient(app) as client:
        small = client.post("/echo-length", content=b"x" * 900)
        large = client.post("/echo-length", content=chunks())
    assert small.json() == {"bytes": 900}
    assert large.status_code == 413


def test_internal_error_hides_the_traceback(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/fails")
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal error"
    assert "secret detail" not in response.text
    assert len(body["error_id"]) == 12


def test_production_refuses_the_development_key():
    with pytest.raises(ConfigError, match="PROMOLOOP_PSEUDONYM_KEY"):
        ServiceSettings(mode="production", pseudonym_key=DEVELOPMENT_KEY).check()


def test_default_offer_needs_a_promotion():
    with pytest.raises(ConfigError, match="default_promotion_id"):
        ServiceSettings(opted_out_offer="default").check()


def test_openapi_document_is_served(app):
    with TestClient(app) as client:
        document = client.get("/openapi.json").json()
    assert document["info"]["title"] == "promoloop offer service"


def test_environment_sets_the_offer_policy(monkeypatch):
    monkeypatch.setenv("PROMOLOOP_OPTED_OUT_OFFER", "default")
    monkeypatch.setenv("PROMOLOOP_DEFAULT_PROMOTION_ID", "welcome-5")
    monkeypatch.setenv("PROMOLOOP_KEY_CACHE_SECONDS", "0")
    settings = ServiceSettings.from_env()
    assert settings.opted_out_offer == "default"
    assert settings.default_promotion_id == "welcome-5"
    assert settings.key_cache_seconds == 0


def test_invalid_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("PROMOLOOP_MODE", "prod")
    with pytest.raises(ConfigError, match="PROMOLOOP_MODE='prod'"):
        ServiceSettings.from_env()
