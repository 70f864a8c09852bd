"""Engines: an Ibis backend plus the steps to load tables and collect results.

The feature code is written once as Ibis expressions. An :class:`Engine`
decides where they run: DuckDB in this process (the default) or Apache Spark
through a ``SparkSession``. Spark is an optional dependency (the ``spark``
extra) and needs a Java runtime.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from ibis.backends import BaseBackend

from promoloop.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

DUCKDB = "duckdb"
SPARK = "spark"

# Log4j 2 settings for the Spark driver: errors only, on standard error.
_QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


@contextlib.contextmanager
def library_deprecations_hidden() -> Iterator[None]:
    """Hide deprecation warnings that Ibis and PySpark raise inside the block.

    Ibis 12 and PySpark 4.0 call APIs that DuckDB 2 and pandas 3 deprecate.
    The calls are inside those libraries, change no result, and a user can
    do nothing about them, so they would only bury promoloop's own warnings.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", category=DeprecationWarning, module=r"(ibis|pyspark)\."
        )
        yield


def quiet_library_deprecations(method):
    """Wrap ``method`` in :func:`library_deprecations_hidden`."""

    @functools.wraps(method)
    def quiet(*args, **kwargs):
        with library_deprecations_hidden():
            return method(*args, **kwargs)

    return quiet


# Runtime settings that Ibis's PySpark backend sets on the session it connects.
_IBIS_SESSION_SETTINGS = ("spark.sql.session.timeZone", "spark.sql.mapKeyDedupPolicy")


class Engine:
    """An Ibis backend with table registration and collection to pandas.

    Build one with :meth:`duckdb` or :meth:`spark`. An engine can be used as
    a context manager, which closes it on exit.

    Parameters
    ----------
    backend : ibis.backends.BaseBackend
        Connected Ibis backend.
    name : str
        ``"duckdb"`` or ``"spark"``.
    """

    def __init__(self, backend: BaseBackend, name: str) -> None:
        self.backend = backend
        self.name = name
        self._spark_session: Any = None
        self._stop_session_on_close = False
        self._restore_on_close: dict[str, str | None] = {}
        self._scratch_dir: tempfile.TemporaryDirectory | None = None
        self._frame_files = 0

    # Construction

    @classmethod
    def duckdb(
        cls,
        database: str | Path = ":memory:",
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | Path | None = None,
    ) -> Engine:
        """Connect an in-process DuckDB database.

        Parameters
        ----------
        database : str or Path, default ":memory:"
            Database file, or ``":memory:"`` for a database that lives only
            as long as the engine.
        threads : int, optional
            DuckDB worker threads; DuckDB's own default (all cores) when
            omitted.
        memory_limit : str, optional
            Memory DuckDB may use before it spills to disk, such as
            ``"8GB"``; DuckDB's own default (80% of the memory) when omitted.
        temp_directory : str or Path, optional
            Folder DuckDB spills to; DuckDB's own default when omitted.

        Returns
        -------
        Engine

        Raises
        ------
        ConfigError
            If DuckDB cannot open the database with these settings, such as
            a memory limit it cannot read or a database file that another
            process holds.
        """
        settings = {
            "threads": threads,
            "memory_limit": memory_limit,
            "temp_directory": None if temp_directory is None else str(temp_directory),
        }
        config = {key: value for key, value in settings.items() if value is not None}
        try:
            backend = ibis.duckdb.connect(database, **config)
        except duckdb.Error as error:
            raise ConfigError(
                f"DuckDB could not open database {str(database)!r} with settings "
                f"{config}: {error}. Fix: give the memory limit as a number and "
                "a unit, such as 8GB, a writable spill folder, and a database "
                "file that no other process holds"
            ) from error
        return cls(backend, DUCKDB)

    @classmethod
    def spark(
        cls,
        master: str = "local[2]",
        *,
        shuffle_partitions: int = 4,
        driver_memory: str = "2g",
        app_name: str = "promoloop",
        config: Mapping[str, str] | None = None,
    ) -> Engine:
        """Start (or join) a Spark session and connect Ibis to it.

        When a session is already active in this process, the engine joins
        it: it keeps the session's JVM settings and log level, changes only
        its runtime SQL settings (time zone, shuffle partitions, Arrow
        transfer, and Ibis's map key policy) while it is open, and
        :meth:`close` sets those back and leaves the session running.
        A new session computes in UTC, logs errors only, has no web UI and
        keeps its warehouse folder in a temporary directory. In local mode
        it binds to 127.0.0.1.

        Parameters
        ----------
        master : str, default "local[2]"
            Spark master URL; ``local[N]`` runs N worker threads in this
            machine's JVM.
        shuffle_partitions : int, default 4
            ``spark.sql.shuffle.partitions``. Spark's default of 200 makes
            every group-by on small data pay for 200 tasks.
        driver_memory : str, default "2g"
            ``spark.driver.memory``; in local mode this is all the memory
            Spark gets. It applies only when this call starts the JVM.
        app_name : str, default "promoloop"
            Application name shown in Spark's logs.
        config : mapping of str to str, optional
            Further Spark settings, applied last.

        Returns
        -------
        Engine

        Raises
        ------
        ImportError
            If pyspark is not installed (install ``promoloop[spark]``).
        """
        try:
            from pyspark.sql import SparkSession
        except ImportError as error:
            raise ImportError(
                "the Spark engine needs pyspark; install it with "
                "`pip install 'promoloop[spark]'`, or `pip install -e '.[spark]'` "
                "in a clone of the repository (Java 17 or newer is needed too)"
            ) from error

        scratch = tempfile.TemporaryDirectory(prefix="promoloop-spark-")
        log_config = Path(scratch.name) / "log4j2.properties"
        log_config.write_text(_QUIET_LOG4J)
        if master.startswith("local"):
            # Spark picks the first non-loopback address otherwise, and warns.
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings = {
            "spark.sql.shuffle.partitions": str(shuffle_partitions),
            "spark.default.parallelism": str(shuffle_partitions),
            "spark.driver.memory": driver_memory,
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            # Fail instead of a silent row-by-row conversion that loses nulls.
            "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.warehouse.dir": str(Path(scratch.name) / "warehouse"),
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={log_config}",
        }
        if master.startswith("local"):
            settings["spark.driver.bindAddress"] = "127.0.0.1"
            settings["spark.driver.host"] = "127.0.0.1"
        settings.update(config or {})

        joined = SparkSession.getActiveSession()
        restore = {}
        if joined is None:
            builder = SparkSession.builder.master(master).appName(app_name)
            for key, value in settings.items():
                builder = builder.config(key, value)
            session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
        else:
            # The running session belongs to its creator: change only its
            # runtime SQL settings, and note their values for close().
            session = joined
            runtime = {
                key: value
                for key, value in settings.items()
                if session.conf.isModifiable(key)
            }
            restore = _runtime_values(session, [*runtime, *_IBIS_SESSION_SETTINGS])
            for key, value in runtime.items():
                session.conf.set(key, value)
        logger.info("Spark session ready: master %s", session.sparkContext.master)

        engine = cls(ibis.pyspark.connect(session), SPARK)
        engine._spark_session = session
        engine._stop_session_on_close = joined is None
        engine._restore_on_close = restore
        engine._scratch_dir = scratch
        return engine

    @property
    def spark_session(self) -> Any:
        """The ``SparkSession`` of a Spark engine; None on DuckDB."""
        return self._spark_session

    # Tables

    @quiet_library_deprecations
    def register_frame(self, name: str, frame: pd.DataFrame | pa.Table) -> ibis.Table:
        """Register a pandas DataFrame or an Arrow table as a table.

        A DataFrame goes through Arrow, so ``NaN`` in float columns and
        ``None`` or ``NaN`` in string columns become nulls. Timestamps are
        truncated to microseconds, the resolution of Spark's timestamps and
        of the timestamp types that Ibis reads from DuckDB. DuckDB scans the
        Arrow data without copying it into the database. A local Spark
        session reads the data from a Parquet file written to the engine's
        scratch folder. A cluster gets the data with the query plan, from
        the driver's memory.

        Parameters
        ----------
        name : str
            Table name; an existing table of that name is replaced.
        frame : DataFrame or pyarrow.Table
            Data. The index of a DataFrame is not registered.

        Returns
        -------
        ibis.Table
        """
        if isinstance(frame, pd.DataFrame):
            frame = pa.Table.from_pandas(frame, preserve_index=False)
        frame = _timestamps_in_microseconds(frame)
        if self.name == SPARK:
            # A local session reads the frame from a Parquet file. A DataFrame
            # made from local data is a relation inside the query plan, and
            # Spark 4 copies it into driver memory wherever a query reads it.
            # A pair query over 1.3M basket lines ran out of a 2 GiB driver
            # that way. Ibis's own path goes through pandas, whose row-by-row
            # fallback kept missing string ids as "NaN" values. On a cluster
            # the executors cannot read the driver's scratch folder, so there
            # the frame is sent with the plan.
            if self._spark_session.sparkContext.master.startswith("local"):
                self._frame_files += 1
                path = Path(self._scratch_dir.name) / "frames" / str(self._frame_files)
                path.mkdir(parents=True)
                pq.write_table(frame, path / "part-0.parquet")
                spark_frame = self._spark_session.read.parquet(str(path))
            else:
                spark_frame = self._spark_session.createDataFrame(frame)
            spark_frame.createOrReplaceTempView(name)
            return self.backend.table(name)
        # Registering under the same name replaces the view and releases the
        # old data; an Ibis memtable would stay in memory until exit.
        self.backend.con.register(name, frame)
        return self.backend.table(name)

    @quiet_library_deprecations
    def register_parquet(self, name: str, path: str | Path) -> ibis.Table:
        """Register a Parquet dataset (a file or a folder) as a table.

        A folder may be partitioned hive style (``date=2024-01-31/...``).
        The partition keys become columns, typed by the engine's inference
        (``date`` becomes a date on DuckDB and on Spark). On DuckDB,
        nanosecond timestamps are read as microseconds.

        Parameters
        ----------
        name : str
            Table name; an existing table of that name is replaced.
        path : str or Path
            A Parquet file, or a folder of Parquet files at any depth.

        Returns
        -------
        ibis.Table

        Raises
        ------
        InputError
            If ``path`` does not exist.

        Notes
        -----
        Spark 4 rejects Parquet timestamps stored in nanoseconds (pandas'
        default unit); write them in microseconds for Spark, for example
        with ``DataFrame.to_parquet(path, coerce_timestamps="us")``.
        """
        path = Path(path)
        if not path.exists():
            raise InputError(
                "Parquet dataset not found",
                file=str(path),
                fix="pass a Parquet file or a folder of Parquet files",
            )
        # Imported here: parquet_io builds on this module.
        from promoloop.engine.parquet_io import parquet_files, scan_parquet

        if not path.is_dir():
            return scan_parquet(self, name, [path])
        files = parquet_files(path)
        if not files:
            raise InputError(
                "no Parquet files in the folder",
                file=str(path),
                expected="files ending in .parquet, at any depth",
                fix="pass a Parquet file or a folder of Parquet files",
            )
        return scan_parquet(self, name, files, base=path)

    # Results

    @quiet_library_deprecations
    def to_pandas(self, expr: ibis.Table) -> pd.DataFrame:
        """Run an expression and collect its result as a pandas DataFrame."""
        return self.backend.to_pandas(expr)

    def close(self) -> None:
        """Disconnect, stop the Spark session this engine started, drop scratch.

        A Spark session that was running before :meth:`spark` joined it gets
        back the values of the runtime settings that the engine changed.
        """
        if self._stop_session_on_close:
            self._spark_session.stop()
            self._stop_session_on_close = False
        elif self._restore_on_close:
            _restore_runtime_values(self._spark_session, self._restore_on_close)
            self._restore_on_close = {}
        elif self.name == DUCKDB:
            self.backend.disconnect()
        if self._scratch_dir is not None:
            self._scratch_dir.cleanup()
            self._scratch_dir = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Engine({self.name!r})"


def _runtime_values(session: Any, keys: Iterable[str]) -> dict[str, str | None]:
    """Return a session's values of runtime settings; None where one is unset."""
    return {key: session.conf.get(key, None) for key in keys}


def _restore_runtime_values(session: Any, values: Mapping[str, str | None]) -> None:
    """Set runtime settings back to the values :func:`_runtime_values` noted."""
    for key, value in values.items():
        if value is None:
            session.conf.unset(key)
        else:
            session.conf.set(key, value)


def _timestamps_in_microseconds(table: pa.Table) -> pa.Table:
    """Cast nanosecond timestamp columns to microseconds, truncating."""
    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            target = pa.timestamp("us", tz=field.type.tz)
            column = table.column(index).cast(target, safe=False)
            table = table.set_column(index, field.name, column)
    return table


def sql_string(text: str) -> str:
    """Quote ``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """Quote ``name`` as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


# The engine of the innermost ``use_engine`` block, if any.
_ACTIVE_ENGINE: ContextVar[Engine | None] = ContextVar("active_engine", default=None)


@contextlib.contextmanager
def use_engine(engine: Engine) -> Iterator[Engine]:
    """Make ``engine`` the one that calls without an ``engine`` argument use.

    ``promoloop run`` opens one engine and runs every stage inside this
    block, so functions deep in a stage (a loader's cleaning rules, say)
    run on the run's engine without it being passed down by hand.

    Parameters
    ----------
    engine : Engine
        Engine to use inside the block; it is not closed on exit.

    Yields
    ------
    Engine
        ``engine``.
    """
    token = _ACTIVE_ENGINE.set(engine)
    try:
        yield engine
    finally:
        _ACTIVE_ENGINE.reset(token)


@contextlib.contextmanager
def engine_or_default(engine: Engine | None = None) -> Iterator[Engine]:
    """Yield ``engine``, else the active engine, else a new DuckDB engine.

    The active engine is the one of the innermost :func:`use_engine` block.
    A new in-process DuckDB engine is closed on exit; the other two are
    left open.

    Parameters
    ----------
    engine : Engine, optional
        Engine given by the caller.

    Yields
    ------
    Engine
    """
    chosen = engine if engine is not None else _ACTIVE_ENGINE.get()
    if chosen is not None:
        yield chosen
        return
    with Engine.duckdb() as duckdb:
        yield duckdb


def open_engine(
    name: str = DUCKDB,
    spark_master: str = "local[2]",
    *,
    duckdb_memory_limit: str | None = None,
    duckdb_temp_directory: str | Path | None = None,
    spark_driver_memory: str = "2g",
) -> Engine:
    """Open the engine a command's settings name.

    The keywords are the fields of
    :class:`promoloop.config.EngineConfig`, so ``open_engine(**settings)``
    takes that model's ``model_dump()``.

    Parameters
    ----------
    name : {"duckdb", "spark"}, default "duckdb"
        Engine name.
    spark_master : str, default "local[2]"
        Spark master URL, used when ``name`` is ``"spark"``.
    duckdb_memory_limit, duckdb_temp_directory : str, optional
        ``memory_limit`` and ``temp_directory`` of :meth:`Engine.duckdb`.
    spark_driver_memory : str, default "2g"
        ``driver_memory`` of :meth:`Engine.spark`.

    Returns
    -------
    Engine

    Raises
    ------
    ConfigError
        If pyspark is missing or Spark does not start; the message names
        the master and the fix.
    """
    if name != SPARK:
        return Engine.duckdb(
            memory_limit=duckdb_memory_limit, temp_directory=duckdb_temp_directory
        )
    logger.info("starting Spark at %s", spark_master)
    try:
        return Engine.spark(spark_master, driver_memory=spark_driver_memory)
    except ImportError as error:
        raise ConfigError(f"{error}, or run with --engine duckdb") from None
    except Exception as error:  # Spark reports start-up failures as Java errors
        reason = str(error).strip().splitlines()[0] if str(error) else repr(error)
        raise ConfigError(
            f"cannot start Spark at master {spark_master!r}: {reason}. Fix: check "
            "--spark-master and that Java 17 or newer is installed"
        ) from None
