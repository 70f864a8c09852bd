"""Shared fitting steps of the uplift learners: input checks, arms, base models."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.validation import check_is_fitted

from promoloop.errors import InputError
from promoloop.uplift._validation import as_labels, as_outcome, resolve_arms
from promoloop.uplift.features import FeatureEncoder
from promoloop.uplift.monotone import isotonic_across_arms

logger = logging.getLogger(__name__)

# Estimated propensities are clipped to this band so that inverse-propensity
# weights stay below 100.
# NOTE: the band is fixed, so a campaign that randomizes fewer than 1% of
# customers to an arm needs its known propensity passed in.
PROPENSITY_CLIP = 0.01


def default_outcome_model(binary: bool) -> BaseEstimator:
    """Return the default outcome model: logistic regression or ridge."""
    if binary:
        return LogisticRegression(max_iter=1000)
    return Ridge(alpha=1.0)


def default_effect_model() -> BaseEstimator:
    """Return the default regressor of effects and pseudo-outcomes: ridge."""
    return Ridge(alpha=1.0)


def seeded_clone(estimator: BaseEstimator, random_state) -> BaseEstimator:
    """Clone ``estimator`` and give it ``random_state`` when it takes one unset."""
    model = clone(estimator)
    params = model.get_params(deep=False)
    if random_state is not None and params.get("random_state", 0) is None:
        model.set_params(random_state=random_state)
    return model


def fit_outcome_model(
    estimator, X: np.ndarray, y: np.ndarray, binary: bool, group: str, random_state
) -> BaseEstimator:
    """Fit a clone of an outcome model on one group's rows.

    A classifier needs both outcome classes in the group, and a continuous
    outcome needs a regressor.
    """
    model = seeded_clone(estimator, random_state)
    if is_classifier(model):
        if not binary:
            raise InputError(
                f"outcome model {type(model).__name__} is a classifier but 'y' "
                "is continuous",
                expected="a regressor for a continuous outcome",
                fix="pass a regressor, e.g. Ridge or HistGradientBoostingRegressor",
            )
        classes = np.unique(y)
        if classes.size < 2:
            raise InputError(
                f"argument 'y' has a single class ({classes[0]:g}) among the "
                f"rows of {group}, so a classifier cannot be fitted",
                expected="converted and non-converted customers in every group",
                fix="fit on a larger campaign, or pass outcome='continuous' "
                "with a regressor",
            )
    return model.fit(X, y)


def predict_outcome(model: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """Return the expected outcome: P(y=1|x) from a classifier, else predict."""
    if is_classifier(model):
        return model.predict_proba(X)[:, 1]
    return model.predict(X)


def estimate_propensity(
    X: np.ndarray, treated: np.ndarray, random_state
) -> BaseEstimator:
    """Fit the logistic regression of the treated flag on the features."""
    model = LogisticRegression(max_iter=1000)
    return seeded_clone(model, random_state).fit(X, treated.astype(int))


def clipped_propensity(model: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """Return a fitted propensity model's P(treated|x), clipped to the band."""
    return np.clip(model.predict_proba(X)[:, 1], PROPENSITY_CLIP, 1.0 - PROPENSITY_CLIP)


class BaseUpliftLearner(BaseEstimator):
    """Common ``fit`` and ``predict`` of the uplift learners.

    Subclasses implement ``_fit_arm(X, treated, y, arm)``, which fits the
    effect of one arm against control on the rows of that arm and of
    control, and ``_predict_arm(X, arm)``, which returns that effect.

    Attributes
    ----------
    treatments_ : list
        Arm labels in the order of ``predict``'s columns.
    outcome_type_ : {"binary", "continuous"}
        Outcome type used for fitting.
    feature_encoder_ : FeatureEncoder
        Converts X to the float matrix the models see.
    n_features_in_ : int
        Number of input columns.
    """

    def fit(self, X, treatment, y):
        """Fit the effect of every treatment arm against control.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Features; DataFrame categoricals are one-hot encoded by
            ``FeatureEncoder``.
        treatment : array-like of shape (n_samples,)
            Arm label per customer; the ``control`` label marks control.
        y : array-like of shape (n_samples,)
            Binary (0/1) or continuous outcome.

        Returns
        -------
        self

        Raises
        ------
        InputError
            On invalid features, treatment labels or outcomes, no control or
            treated rows, a binary outcome with a single class, or a single
            outcome class within a group for a classifier.
        """
        # Features, labels and outcome.
        encoder = FeatureEncoder()
        matrix = encoder.fit_transform(X)
        labels = as_labels(treatment, matrix.shape[0])
        outcome, binary = as_outcome(y, matrix.shape[0], self.outcome)
        arms = resolve_arms(labels, self.control, self.treatments)
        self._check_params(binary)
        if binary and np.unique(outcome).size < 2:
            raise InputError(
                f"argument 'y' has a single class ({outcome[0]:g}) in all rows, "
                "so no effect on conversion can be learned",
                expected="converted and non-converted customers",
                fix="fit on a campaign with both outcomes",
            )

        # One fit per arm on that arm's and the control rows.
        self.feature_encoder_ = encoder
        self.n_features_in_ = encoder.n_features_in_
        self.treatments_ = arms
        self.outcome_type_ = "binary" if binary else "continuous"
        self._binary = binary
        is_control = labels == self.control
        self._before_arms(matrix[is_control], outcome[is_control])
        for arm in arms:
            rows = is_control | (labels == arm)
            logger.debug("fitting %s for arm %r on %d rows", self, arm, rows.sum())
            self._fit_arm(matrix[rows], labels[rows] == arm, outcome[rows], arm)
        return self

    def predict(self, X) -> np.ndarray:
        """Predict the effect of each treatment arm against control.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Features with the columns seen at ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, len(treatments_))
            Column j is the effect of arm ``treatments_[j]``. With
            ``monotone_in_depth`` each row is non-decreasing over the arms.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        InputError
            When X does not match the features seen at ``fit``.
        """
        check_is_fitted(self, "treatments_")
        matrix = self.feature_encoder_.transform(X)
        effects = np.column_stack(
            [self._predict_arm(matrix, arm) for arm in self.treatments_]
        )
        if self.monotone_in_depth:
            effects = isotonic_across_arms(effects)
        return effects

    def _check_params(self, binary: bool) -> None:
        """Validate constructor parameters once the outcome type is known."""

    def _before_arms(self, X_control: np.ndarray, y_control: np.ndarray) -> None:
        """Fit models shared by all arms on the control rows (optional)."""

    def _fit_arm(self, X, treated, y, arm) -> None:
        raise NotImplementedError

    def _predict_arm(self, X, arm) -> np.ndarray:
        raise NotImplementedError

    def _outcome_model(self) -> BaseEstimator:
        estimator = getattr(self, "outcome_estimator", None)
        if estimator is None:
            estimator = getattr(self, "estimator", None)
        if estimator is None:
            return default_outcome_model(self._binary)
        return estimator
