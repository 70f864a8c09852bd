"""Opening and closing engines."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from promoloop.config import EngineConfig
from promoloop.engine import Engine, open_engine
from promoloop.errors import ConfigError


@pytest.mark.slow
def test_joined_spark_session_gets_its_settings_back(spark_engine):
    session = spark_engine.spark_session
    conf = session.conf
    before = {
        key: conf.get(key)
        for key in ("spark.sql.shuffle.partitions", "spark.sql.session.timeZone")
    }
    conf.set("spark.sql.session.timeZone", "Europe/Berlin")

    try:
        joined = Engine.spark("local[2]", shuffle_partitions=7)
        assert joined.spark_session is session
        assert conf.get("spark.sql.shuffle.partitions") == "7"
        assert conf.get("spark.sql.session.timeZone") == "UTC"
        joined.close()

        assert (
            conf.get("spark.sql.shuffle.partitions")
            == (before["spark.sql.shuffle.partitions"])
        )
        assert conf.get("spark.sql.session.timeZone") == "Europe/Berlin"
        # The session that was joined still runs.
        assert session.range(3).count() == 3
    finally:
        conf.set("spark.sql.session.timeZone", before["spark.sql.session.timeZone"])


def test_duckdb_memory_settings_reach_duckdb(tmp_path):
    with open_engine(
        duckdb_memory_limit="1GB", duckdb_temp_directory=str(tmp_path / "spill")
    ) as engine:
        query = (
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        )
        ((limit, spill),) = engine.backend.raw_sql(query).fetchall()

    assert limit == "953.6 MiB"  # DuckDB reports 10**9 bytes in MiB
    assert spill == str(tmp_path / "spill")


def test_bad_duckdb_memory_limit_is_a_config_error():
    with pytest.raises(ConfigError, match="memory limit as a number and a unit"):
        Engine.duckdb(memory_limit="lots")


@pytest.mark.parametrize(
    ("field", "value"),
    [("duckdb_memory_limit", "lots"), ("spark_driver_memory", "2 gigabytes")],
)
def test_engine_settings_reject_bad_sizes(field, value):
    with pytest.raises(ValidationError, match=field):
        EngineConfig(**{field: value})


def test_engine_settings_accept_sizes():
    settings = EngineConfig(duckdb_memory_limit="8GiB", spark_driver_memory="6g")

    assert settings.duckdb_memory_limit == "8GiB"
    assert settings.spark_driver_memory == "6g"
