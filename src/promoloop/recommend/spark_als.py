"""Implicit-feedback matrix factorization with Spark ML's ALS.

:class:`SparkALSRecommender` fits ``pyspark.ml.recommendation.ALS`` with
``implicitPrefs=True`` on the summed customers x items matrix and keeps the
factors in this process, so it recommends through the same
:class:`~promoloop.recommend.Recommender` contract as implicit's ALS. It is a
different solver with different defaults, so its scores differ from
:class:`~promoloop.recommend.ALSRecommender`'s.

pyspark is an optional dependency (the ``spark`` extra) and needs a Java
runtime.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyarrow as pa

from promoloop.engine import SPARK, Engine
from promoloop.errors import InputError
from promoloop.recommend.base import Recommender

logger = logging.getLogger(__name__)

# Column names of the ratings frame handed to Spark.
_CUSTOMER, _ITEM, _RATING = "customer", "item", "rating"

# ALS sweeps between checkpoints. Without checkpoints every sweep lengthens
# the lineage of the factor RDDs. With pyspark 4.0.5 in local[2], 15 sweeps
# overflowed the stack of the threads that deserialize a task.
_CHECKPOINT_INTERVAL = 5

# Checkpoint folders this module set on a SparkContext, removed after the fit.
_OWN_CHECKPOINT_DIRS: set[str] = set()


class SparkALSRecommender(Recommender):
    """Implicit-feedback ALS of Spark ML, scored in this process.

    Spark ML fits customer and item factors on the positive entries of the
    customers x items matrix, which it reads as confidence values of a
    preference (the method of Hu, Koren and Volinsky, "Collaborative
    Filtering for Implicit Feedback Datasets", ICDM 2008, as pyspark's ALS
    documents). The factors are then collected, and a customer's score for
    an item is the dot product of their factors.

    Parameters
    ----------
    rank : int, default 10
        Latent factors (Spark's ``rank``).
    max_iter : int, default 10
        ALS sweeps (Spark's ``maxIter``).
    reg_param : float, default 0.1
        L2 penalty (Spark's ``regParam``).
    alpha : float, default 1.0
        Confidence given to positive entries (Spark's ``alpha``).
    seed : int, default 0
        Seed of the factor initialisation.
    engine : Engine, optional
        Spark engine whose session fits the model. When not given, ``fit``
        joins the running Spark session, or starts one at ``master`` and
        stops it after the fit.
    master : str, default "local[2]"
        Spark master URL of the session started when ``engine`` is not given.

    Notes
    -----
    Customers and items without a positive entry get no factors from Spark
    and are given zero factors, so every item they meet scores 0.

    NOTE: all factors are collected into this process as float64, which for
    10 million customers and rank 64 is about 5 GB. Scoring inside Spark
    (``ALSModel.recommendForUserSubset``) is not wired in.
    """

    name = "als_spark"
    fill_with_popularity = False

    def __init__(
        self,
        rank: int = 10,
        max_iter: int = 10,
        reg_param: float = 0.1,
        alpha: float = 1.0,
        seed: int = 0,
        engine: Engine | None = None,
        master: str = "local[2]",
    ) -> None:
        self.rank = rank
        self.max_iter = max_iter
        self.reg_param = reg_param
        self.alpha = alpha
        self.seed = seed
        self.engine = engine
        self.master = master

    def _fit(self, data, items):
        self._check_parameters()
        matrix = self.interactions_.matrix.tocoo()
        n_customers, n_items = matrix.shape
        self.customer_factors_ = np.zeros((n_customers, self.rank))
        self.item_factors_ = np.zeros((n_items, self.rank))
        if matrix.nnz == 0:
            logger.info("no positive interaction, so Spark ALS was not fitted")
            return

        ratings = pa.table(
            {
                _CUSTOMER: pa.array(matrix.row, pa.int32()),
                _ITEM: pa.array(matrix.col, pa.int32()),
                _RATING: pa.array(matrix.data, pa.float32()),
            }
        )
        started = time.perf_counter()
        with self._spark_session() as session:
            from pyspark.ml.recommendation import ALS

            als = ALS(
                rank=self.rank,
                maxIter=self.max_iter,
                regParam=self.reg_param,
                alpha=self.alpha,
                implicitPrefs=True,
                userCol=_CUSTOMER,
                itemCol=_ITEM,
                ratingCol=_RATING,
                seed=self.seed,
                checkpointInterval=_CHECKPOINT_INTERVAL,
            )
            with _checkpoint_dir(session.sparkContext):
                model = als.fit(session.createDataFrame(ratings))
                _place_factors(model.userFactors.toArrow(), self.customer_factors_)
                _place_factors(model.itemFactors.toArrow(), self.item_factors_)
        logger.debug(
            "Spark ALS fitted on %d entries in %.1f s",
            matrix.nnz,
            time.perf_counter() - started,
        )

    def _score(self, rows):
        return self.customer_factors_[rows] @ self.item_factors_.T

    def _check_parameters(self) -> None:
        checks = [
            ("rank", self.rank, _is_count(self.rank), "an integer >= 1"),
            ("max_iter", self.max_iter, _is_count(self.max_iter), "an integer >= 1"),
            ("reg_param", self.reg_param, self.reg_param >= 0, "a number >= 0"),
            ("alpha", self.alpha, self.alpha >= 0, "a number >= 0"),
        ]
        for name, value, valid, expected in checks:
            if not valid:
                raise InputError(
                    f"invalid value of argument '{name}'",
                    value=value,
                    expected=expected,
                )
        if self.engine is not None and self.engine.name != SPARK:
            raise InputError(
                "invalid value of argument 'engine'",
                value=self.engine,
                expected="a Spark engine (Engine.spark()) or None",
                fix="pass Engine.spark(), or use ALSRecommender on one machine",
            )

    @contextmanager
    def _spark_session(self) -> Iterator:
        """Yield the Spark session of ``engine``, or of a session started here."""
        if self.engine is not None:
            yield self.engine.spark_session
            return
        with Engine.spark(self.master) as engine:
            yield engine.spark_session


@contextmanager
def _checkpoint_dir(context) -> Iterator[None]:
    """Give ``context`` a temporary checkpoint folder unless it has its own.

    Spark ML checkpoints the ALS factors only when the SparkContext has a
    checkpoint folder. A folder set by the caller is kept and used.
    """
    current = context.getCheckpointDir()
    if current is not None and not any(own in current for own in _OWN_CHECKPOINT_DIRS):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="promoloop-als-") as folder:
        _OWN_CHECKPOINT_DIRS.add(folder)
        context.setCheckpointDir(folder)
        yield


def _place_factors(factors: pa.Table, out: np.ndarray) -> None:
    """Copy Spark's (id, features) rows into the rows of ``out`` they name."""
    if factors.num_rows == 0:
        return
    ids = factors.column("id").to_numpy()
    values = factors.column("features").combine_chunks().flatten().to_numpy()
    out[ids] = values.reshape(len(ids), out.shape[1])


def _is_count(value) -> bool:
    return (
        isinstance(value, int | np.integer)
        and not isinstance(value, bool)
        and value >= 1
    )
