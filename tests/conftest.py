"""Shared fixtures: where the real datasets and the reference inputs live.

``PROMOLOOP_SHARED_DIR`` points at the folder that holds ``data/`` (public
datasets) and ``cases/`` (small reference inputs with known answers). It
defaults to ``../shared`` next to the repository.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("PROMOLOOP_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder of the public datasets (online-retail, hillstrom, open-bandit)."""
    path = SHARED_DIR / "data"
    if not path.is_dir():
        pytest.skip(f"dataset folder {path} not found; set PROMOLOOP_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Folder of the small reference inputs with known answers."""
    path = SHARED_DIR / "cases"
    if not path.is_dir():
        pytest.skip(f"reference folder {path} not found; set PROMOLOOP_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def spark_engine():
    """One Spark ``local[2]`` engine for the whole test session.

    Starting a session costs about 8 seconds, so every Spark test shares this
    one. Code under test that calls ``Engine.spark`` joins it and leaves it
    running.
    """
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime (java not found on PATH)")
    from promoloop.engine import Engine

    engine = Engine.spark("local[2]", shuffle_partitions=2)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def complete_journey_run(tmp_path_factory) -> Path:
    """Run folder of ``promoloop run --dataset complete-journey`` (default engine).

    The run takes about two minutes, so the tests that read it share one.
    """
    from typer.testing import CliRunner

    from promoloop.cli import app

    out = tmp_path_factory.mktemp("complete-journey-run")
    result = CliRunner().invoke(
        app,
        ["run", "--dataset", "complete-journey", "--out", str(out), "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    return out
