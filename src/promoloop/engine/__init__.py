"""Engine-neutral table computations: one definition, run on DuckDB or Spark.

Feature code is written once as Ibis expressions over the canonical tables.
An :class:`Engine` connects an Ibis backend (in-process DuckDB by default,
Apache Spark with the ``spark`` extra), registers pandas frames and Parquet
datasets as tables, and collects results to pandas.
"""

from promoloop.engine.backends import (
    DUCKDB,
    SPARK,
    Engine,
    engine_or_default,
    open_engine,
    use_engine,
)

__all__ = [
    "DUCKDB",
    "SPARK",
    "Engine",
    "engine_or_default",
    "open_engine",
    "use_engine",
]
