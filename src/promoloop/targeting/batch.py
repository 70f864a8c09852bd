"""Model scores for millions of customers from a features table, batch by batch.

:func:`score_batches` reads a features table (a Parquet file or folder, an
Arrow dataset or table, or a DataFrame) one record batch at a time, applies
a fitted model's ``predict`` to each batch and yields one score frame per
batch. :func:`write_scores` streams the frames into one Parquet file. The
model can be a :class:`~promoloop.targeting.learned.LearnedUplift`, an uplift
learner of :mod:`promoloop.uplift`, or any estimator with ``predict``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from promoloop.data.batches import (
    TableSource,
    WriteSummary,
    check_batch_size,
    table_batches,
    write_parquet_batches,
)
from promoloop.errors import InputError
from promoloop.targeting.learned import FEATURES, LearnedUplift, model_features
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100_000


@dataclass(frozen=True)
class _Scorer:
    """Prediction function, input columns and output columns of one model."""

    predict: Callable[[pd.DataFrame], np.ndarray]
    read_columns: list[str] | None
    score_columns: list[str]


def score_batches(
    model,
    features: TableSource | pd.DataFrame,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    id_column: str = C.customer_id,
    feature_columns: Sequence[str] | None = None,
    score_columns: Sequence[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Score every row of a features table, one frame per batch of rows.

    Parameters
    ----------
    model : LearnedUplift, uplift learner or estimator
        A fitted model. A :class:`LearnedUplift` gets its own feature
        preparation (:func:`~promoloop.targeting.learned.model_features`
        with the training medians) and yields one column per arm. Any other
        model gets the feature columns as a DataFrame and its ``predict``
        must return shape (n,) or (n, len(score_columns)).
    features : path, Dataset, Table, RecordBatchReader or DataFrame
        One row per customer with ``id_column`` and the features. A path is
        a Parquet file or folder, read one record batch at a time.
    batch_size : int, default 100,000
        Rows per batch.
    id_column : str, default "customer_id"
        Column copied into the output to name each row.
    feature_columns : sequence of str, optional
        Columns passed to ``predict``, in this order. Defaults to the
        columns the model saw at fit (``feature_encoder_.columns_`` of an
        uplift learner, ``feature_names_in_`` of a scikit-learn estimator),
        else every column but ``id_column``. Ignored for a LearnedUplift.
    score_columns : sequence of str, optional
        Names of the output score columns. Defaults to the arm labels
        (``treatments_``) of an uplift learner, else ``["score"]``.

    Yields
    ------
    DataFrame
        ``id_column`` (string) and the float64 score columns, one row per
        input row, in input order. Concatenated, the frames equal one
        ``predict`` call on the whole table, up to floating-point rounding
        of models whose arithmetic depends on the number of rows.

    Raises
    ------
    InputError
        If ``batch_size`` is not a positive integer, the input or one of its
        columns is missing, or ``predict`` returns another number of rows
        or columns.
    """
    batch_size = check_batch_size(batch_size)
    scorer = _scorer(model, id_column, feature_columns, score_columns)
    tables = table_batches(features, batch_size, scorer.read_columns)
    return _score_each(tables, scorer, id_column)


def write_scores(
    model,
    features: TableSource | pd.DataFrame,
    path: str | os.PathLike,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    id_column: str = C.customer_id,
    feature_columns: Sequence[str] | None = None,
    score_columns: Sequence[str] | None = None,
) -> WriteSummary:
    """Write a model's scores of a features table to one Parquet file.

    Each batch of :func:`score_batches` becomes one row group, written
    before the next batch is read.

    Parameters
    ----------
    model, features, batch_size, id_column, feature_columns, score_columns
        As in :func:`score_batches`.
    path : str or path-like
        Output Parquet file. It appears only once complete.

    Returns
    -------
    WriteSummary
        Path, rows, batches and seconds.

    Raises
    ------
    InputError
        As :func:`score_batches`.
    """
    batch_size = check_batch_size(batch_size)
    scorer = _scorer(model, id_column, feature_columns, score_columns)
    schema = pa.schema(
        [(id_column, pa.string())] + [(c, pa.float64()) for c in scorer.score_columns]
    )
    tables = table_batches(features, batch_size, scorer.read_columns)
    return write_parquet_batches(_score_each(tables, scorer, id_column), path, schema)


def _score_each(tables, scorer: _Scorer, id_column: str) -> Iterator[pd.DataFrame]:
    for table in tables:
        if id_column not in table.column_names:
            raise InputError(
                f"missing column(s) [{id_column!r}] in the features table",
                expected=f"an id column; the table has {table.column_names}",
                fix="pass id_column with the name of the customer id column",
            )
        frame = table.to_pandas()
        scores = np.asarray(scorer.predict(frame), dtype=np.float64)
        if scores.ndim == 1:
            scores = scores[:, None]
        expected = (len(frame), len(scorer.score_columns))
        if scores.shape != expected:
            raise InputError(
                f"the model's predict returned shape {scores.shape} for a batch "
                f"of {len(frame)} rows",
                expected=f"shape {expected}: one row per customer and one column "
                f"per score column {scorer.score_columns}",
                fix="pass score_columns with one name per predicted column",
            )
        out = pd.DataFrame(scores, columns=scorer.score_columns)
        out.insert(0, id_column, pd.array(frame[id_column], dtype="string"))
        yield out


def _scorer(model, id_column, feature_columns, score_columns) -> _Scorer:
    if isinstance(model, LearnedUplift):
        return _learned_scorer(model, score_columns)
    if not callable(getattr(model, "predict", None)):
        raise InputError(
            f"model {type(model).__name__} has no predict method",
            expected="a fitted estimator with predict(X), or a LearnedUplift",
        )
    columns = list(feature_columns) if feature_columns is not None else None
    if columns is None:
        columns = _fitted_columns(model)
    names = _score_names(model, score_columns)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        chosen = (
            columns
            if columns is not None
            else [c for c in frame.columns if c != id_column]
        )
        return model.predict(frame[chosen])

    read = None if columns is None else [id_column, *columns]
    return _Scorer(predict, read, names)


def _learned_scorer(learned: LearnedUplift, score_columns) -> _Scorer:
    names = _score_names(learned.model, score_columns)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        # model_features would fill an absent column with the training
        # median, scoring every customer as typical in that feature.
        absent = [c for c in [*FEATURES, "tenure_days"] if c not in frame.columns]
        if absent:
            raise InputError(
                f"missing column(s) {absent} in the features table",
                expected=f"the profile columns the uplift model was trained on: "
                f"{[*FEATURES, 'tenure_days']}",
                fix="score the profiles table of a run (profiles.parquet), "
                "which has every feature column",
            )
        return learned.model.predict(model_features(frame, learned.fill_values))

    # model_features picks its columns by name, so every column is read.
    return _Scorer(predict, None, names)


def _fitted_columns(model) -> list[str] | None:
    encoder = getattr(model, "feature_encoder_", None)
    if encoder is not None and getattr(encoder, "columns_", None) is not None:
        return list(encoder.columns_)
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def _score_names(model, score_columns) -> list[str]:
    if score_columns is not None:
        return [str(c) for c in score_columns]
    treatments = getattr(model, "treatments_", None)
    if treatments is not None:
        return [str(t) for t in treatments]
    return [C.score]
