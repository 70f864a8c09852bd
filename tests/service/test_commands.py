"""The serve and keys commands: clear errors instead of tracebacks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from promoloop.cli import app

runner = CliRunner()

BAD_STORES = [
    ("nonsense://x", "unsupported database 'nonsense'"),
    ("sqlite:////nonexistent/folder/store.db", "unable to open database file"),
    ("postgresql://user:pw@127.0.0.1:1/db", "Connection refused"),
]


@pytest.mark.parametrize(("url", "reason"), BAD_STORES)
@pytest.mark.parametrize(
    "command",
    [["serve"], ["keys", "list"], ["keys", "create", "--name", "x", "--role", "admin"]],
)
def test_unreachable_store_exits_2(command, url, reason):
    result = runner.invoke(app, [*command, "--database-url", url])
    assert result.exit_code == 2
    assert reason in result.output
    assert "Traceback" not in result.output
    assert "pw@" not in result.output


def test_invalid_mode_exits_2(monkeypatch):
    monkeypatch.setenv("PROMOLOOP_MODE", "prod")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "PROMOLOOP_MODE='prod'" in result.output


def test_keys_create_list_revoke(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    arguments = ["--name", "shop", "--role", "ingest", "--database-url", url]
    created = runner.invoke(app, ["keys", "create", *arguments])
    assert created.exit_code == 0, created.output
    key_id = created.output.split()[1]
    listed = runner.invoke(app, ["keys", "list", "--database-url", url])
    assert key_id in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", key_id, "--database-url", url])
    assert revoked.exit_code == 0
    again = runner.invoke(app, ["keys", "revoke", key_id, "--database-url", url])
    assert again.exit_code == 2
