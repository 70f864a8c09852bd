"""S-learner with treatment interactions: one outcome model of x, w and w x per arm."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.preprocessing import StandardScaler

from promoloop.errors import InputError
from promoloop.uplift.base import (
    BaseUpliftLearner,
    fit_outcome_model,
    predict_outcome,
    seeded_clone,
)

logger = logging.getLogger(__name__)


def interaction_design(basis_matrix: np.ndarray, treated) -> np.ndarray:
    """Return the columns ``[b(x), w, w * b(x)]`` of the interaction model.

    Parameters
    ----------
    basis_matrix : ndarray of shape (n_samples, n_basis)
        Basis expansion b(x) of the features.
    treated : array-like of shape (n_samples,)
        Treated flag w (1 for the arm, 0 for control).

    Returns
    -------
    ndarray of shape (n_samples, 2 * n_basis + 1)
    """
    flag = np.asarray(treated, dtype=float).reshape(-1, 1)
    return np.hstack([basis_matrix, flag, flag * basis_matrix])


class InteractionLearner(BaseUpliftLearner):
    """S-learner with treatment interactions, one outcome model per arm.

    For arm t, one outcome model :math:`\\hat\\mu` is fitted on the rows of
    arm t and of control, on the columns

    .. math:: z(x, w) = [\\, b(x), \\; w, \\; w \\, b(x) \\,]

    where b is the basis expansion of the features and w the treated flag.
    The effect is

    .. math:: \\hat\\tau_t(x) = \\hat\\mu(z(x, 1)) - \\hat\\mu(z(x, 0)).

    Unlike the T-learner, the baseline response to b(x) is learned from arm
    and control rows together. A penalized estimator, such as the default
    logistic regression or ridge, then shrinks the interaction terms towards
    an effect that is the same for every customer on the model's link scale.
    scikit-uplift 0.5.1 calls this model ``SoloModel`` with
    ``method="treatment_interaction"``. This class adds the basis
    expansion, e.g. splines of the features.

    Parameters
    ----------
    estimator : estimator, optional
        Outcome model of z: a classifier for a binary outcome, a regressor
        for a continuous one. Default: ``LogisticRegression`` for a binary
        outcome, ``Ridge`` for a continuous one.
    basis : transformer, optional
        Basis expansion b, cloned and fitted on each arm's and control's
        rows, e.g. a pipeline of ``SplineTransformer``. Default:
        ``StandardScaler``, so the interaction terms of features on very
        different scales are penalized alike.
    control, treatments, monotone_in_depth, outcome, random_state
        As in ``promoloop.uplift.TwoModelLearner``.

    Attributes
    ----------
    bases_ : dict
        Fitted basis per arm label.
    models_ : dict
        Fitted outcome model per arm label.
    """

    def __init__(
        self,
        estimator=None,
        *,
        basis=None,
        control=0,
        treatments=None,
        monotone_in_depth: bool = False,
        outcome: str = "auto",
        random_state=None,
    ):
        self.estimator = estimator
        self.basis = basis
        self.control = control
        self.treatments = treatments
        self.monotone_in_depth = monotone_in_depth
        self.outcome = outcome
        self.random_state = random_state

    def _check_params(self, binary: bool) -> None:
        basis = self.basis
        if basis is not None and not (
            hasattr(basis, "fit") and hasattr(basis, "transform")
        ):
            raise InputError(
                f"argument 'basis' is a {type(basis).__name__}, which has no "
                "fit and transform methods",
                expected="a scikit-learn transformer",
                fix="pass e.g. SplineTransformer() or StandardScaler()",
            )

    def _before_arms(self, X_control, y_control) -> None:
        self.bases_ = {}
        self.models_ = {}

    def _fit_arm(self, X, treated, y, arm) -> None:
        basis: BaseEstimator = (
            self.basis if self.basis is not None else StandardScaler()
        )
        fitted_basis = seeded_clone(basis, self.random_state).fit(X)
        design = interaction_design(fitted_basis.transform(X), treated)
        self.bases_[arm] = fitted_basis
        self.models_[arm] = fit_outcome_model(
            self._outcome_model(),
            design,
            y,
            self._binary,
            f"arm {arm!r} and control ({self.control!r})",
            self.random_state,
        )
        logger.debug("arm %r: interaction model on %d columns", arm, design.shape[1])

    def _predict_arm(self, X, arm) -> np.ndarray:
        basis_matrix = self.bases_[arm].transform(X)
        n_rows = basis_matrix.shape[0]
        model = self.models_[arm]
        treated = predict_outcome(
            model, interaction_design(basis_matrix, np.ones(n_rows))
        )
        control = predict_outcome(
            model, interaction_design(basis_matrix, np.zeros(n_rows))
        )
        return treated - control
