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
    owners = {
        "spark.sql.session.timeZone": "Europe/Berlin",
        "spark.sql.mapKeyDedupPolicy": "EXCEPTION",
        "spark.sql.shuffle.partitions": "3",
    }
    before = {key: conf.get(key) for key in owners}
    driver_memory = conf.get("spark.driver.memory", None)
    for key, value in owners.items():
        conf.set(key, value)

    try:
        joined = Engine.spark("local[2]", shuffle_partitions=7, driver_memory="1g")
        assert joined.spark_session is session
        assert conf.get("spark.sql.shuffle.partitions") == "7"
        assert conf.get("spark.sql.session.timeZone") == "UTC"
        assert conf.get("spark.sql.mapKeyDedupPolicy") == "LAST_WIN"
        joined.close()

        for key, value in owners.items():
            assert conf.get(key) == value, key
        # JVM settings of the running session are left alone.
        assert conf.get("spark.driver.memory", None) == driver_memory
        # The session that was joined still runs.
        assert session.range(3).count() == 3
    finally:
        for key, value in before.items():
            conf.set(key, value)


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
