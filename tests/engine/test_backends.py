"""Opening and closing engines."""

from __future__ import annotations

import pytest

from promoloop.engine import Engine


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
