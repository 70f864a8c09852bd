"""Feature matrices for the uplift learners: numeric arrays and encoded tables."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder

from promoloop.errors import InputError

logger = logging.getLogger(__name__)


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return not pd.api.types.is_numeric_dtype(dtype)


def _check_finite(matrix: np.ndarray, names: list[str] | None) -> None:
    bad = ~np.isfinite(matrix)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        column = names[col] if names is not None else f"column {col}"
        raise InputError(
            f"argument 'X' contains NaN or infinite values ({int(bad.sum())} cells)",
            row=int(row),
            column=column,
            value=float(matrix[row, col]),
            expected="finite numbers in every feature",
            fix="impute or drop missing features before fitting the learner",
        )


class FeatureEncoder:
    """Convert a feature table to the float matrix the learners fit on.

    A DataFrame keeps its numeric and boolean columns as they are, and its
    other columns (string, object, category) are one-hot encoded with
    scikit-learn's ``OneHotEncoder``. Categories are learned by ``fit``. A
    category first seen at ``transform`` gets zeros in all of its column's
    indicators. A 2-D array must already be numeric.

    Attributes
    ----------
    columns_ : list of str or None
        Input columns of a fitted DataFrame, None for an array.
    categorical_columns_ : list of str
        Columns that were one-hot encoded.
    feature_names_ : list of str
        Names of the output matrix's columns.
    n_features_in_ : int
        Number of input columns.
    """

    def fit(self, X) -> FeatureEncoder:
        """Learn the columns and categories of ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Features; an array must be numeric.

        Returns
        -------
        FeatureEncoder
            self.

        Raises
        ------
        InputError
            When X is not 2-D, has no rows or columns, a categorical column
            contains missing values, or an array is not numeric.
        """
        if isinstance(X, pd.DataFrame):
            self.columns_ = [str(c) for c in X.columns]
            self.categorical_columns_ = [
                str(c) for c in X.columns if _is_categorical(X[c])
            ]
            self._check_shape(X.shape)
            numeric = [c for c in self.columns_ if c not in self.categorical_columns_]
            self._numeric_columns = numeric
            self._one_hot = None
            names = list(numeric)
            if self.categorical_columns_:
                categories = self._categorical_frame(X)
                self._one_hot = OneHotEncoder(
                    handle_unknown="ignore", sparse_output=False, dtype=float
                ).fit(categories)
                names += list(self._one_hot.get_feature_names_out())
            self.feature_names_ = names
        else:
            matrix = self._as_matrix(X)
            self.columns_ = None
            self.categorical_columns_ = []
            self.feature_names_ = [f"x{i}" for i in range(matrix.shape[1])]
        self.n_features_in_ = len(self.columns_ or self.feature_names_)
        return self

    def transform(self, X) -> np.ndarray:
        """Return ``X`` as a float matrix with the columns learned by ``fit``.

        Parameters
        ----------
        X : DataFrame or array-like
            Features with the same columns as at ``fit``: a DataFrame when
            ``fit`` saw one (extra columns are ignored), else an array with
            the same number of columns.

        Returns
        -------
        ndarray of shape (n_samples, len(feature_names_))

        Raises
        ------
        InputError
            When columns are missing or differ in number, or a value is
            NaN or infinite.
        """
        if self.columns_ is None:
            matrix = self._as_matrix(X)
            if matrix.shape[1] != self.n_features_in_:
                raise InputError(
                    f"argument 'X' has {matrix.shape[1]} columns",
                    expected=f"{self.n_features_in_} columns as at fit",
                    fix="pass the same features the learner was fitted on",
                )
            _check_finite(matrix, None)
            return matrix
        if not isinstance(X, pd.DataFrame):
            raise InputError(
                f"argument 'X' is a {type(X).__name__}",
                expected="a DataFrame, because the learner was fitted on one",
                fix=f"pass a DataFrame with columns {self.columns_}",
            )
        frame = X.rename(columns=str)
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise InputError(
                f"argument 'X' lacks columns {missing}",
                expected=f"the columns seen at fit: {self.columns_}",
                fix="add the missing feature columns",
            )
        parts = [self._numeric_matrix(frame)]
        if self._one_hot is not None:
            parts.append(self._one_hot.transform(self._categorical_frame(frame)))
        matrix = np.hstack(parts)
        _check_finite(matrix, self.feature_names_)
        return matrix

    def fit_transform(self, X) -> np.ndarray:
        """Fit on ``X`` and return its float matrix (see ``transform``)."""
        return self.fit(X).transform(X)

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
            raise InputError(
                f"argument 'X' has shape {shape}",
                expected="a 2-D table with at least one row and one column",
                fix="pass one row of features per customer",
            )

    def _as_matrix(self, X) -> np.ndarray:
        array = np.asarray(X)
        self._check_shape(array.shape)
        if array.dtype.kind not in "biuf":
            raise InputError(
                f"argument 'X' is not numeric (dtype {array.dtype})",
                expected="a numeric array, or a DataFrame for categorical features",
                fix="pass a DataFrame so categorical columns are one-hot encoded",
            )
        return array.astype(float)

    def _numeric_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        if not self._numeric_columns:
            return np.empty((len(frame), 0))
        numeric = frame[self._numeric_columns]
        try:
            return numeric.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise InputError(
                "argument 'X' has a non-numeric value in a column that was "
                "numeric at fit",
                expected=f"numbers in columns {self._numeric_columns}",
                fix="pass features with the same dtypes as at fit",
            ) from exc

    def _categorical_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        categories = frame[self.categorical_columns_].astype(object)
        missing = categories.isna().to_numpy()
        if missing.any():
            row, col = np.argwhere(missing)[0]
            raise InputError(
                "argument 'X' has a missing category",
                row=int(row),
                column=self.categorical_columns_[col],
                expected="a category in every row",
                fix="fill missing categories with an explicit label, e.g. 'unknown'",
            )
        return categories
