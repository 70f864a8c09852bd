"""Doubly robust (AIPW) learner with cross-fitted nuisance models."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.model_selection import StratifiedKFold

from promoloop.uplift._validation import (
    arm_propensity,
    check_folds,
    check_group_sizes,
)
from promoloop.uplift.base import (
    BaseUpliftLearner,
    clipped_propensity,
    default_effect_model,
    estimate_propensity,
    fit_outcome_model,
    predict_outcome,
    seeded_clone,
)

logger = logging.getLogger(__name__)


class DRLearner(BaseUpliftLearner):
    """DR-learner: the doubly robust pseudo-outcome regressed on the features.

    For arm t against control, with treated flag :math:`w_i`, outcome models
    :math:`\\hat\\mu_t, \\hat\\mu_c` and propensity :math:`\\hat e` (the
    probability of the arm among customers in that arm or control), the
    augmented inverse-propensity-weighted (AIPW) pseudo-outcome is

    .. math:: \\phi_i = \\hat\\mu_t(x_i) - \\hat\\mu_c(x_i)
        + \\frac{w_i (y_i - \\hat\\mu_t(x_i))}{\\hat e(x_i)}
        - \\frac{(1 - w_i)(y_i - \\hat\\mu_c(x_i))}{1 - \\hat e(x_i)}

    and the effect :math:`\\hat\\tau_t(x)` is a regression of
    :math:`\\phi` on x (Kennedy 2023, "Towards optimal doubly robust
    estimation of heterogeneous causal effects"). The nuisance models are
    cross-fitted: the rows are split into ``n_folds`` folds stratified by
    the treated flag (and the outcome when binary), and each fold's
    :math:`\\phi` uses models fitted on the other folds only.

    Parameters
    ----------
    outcome_estimator : estimator, optional
        Outcome model. Default: ``LogisticRegression`` for a binary outcome,
        ``Ridge`` for a continuous one.
    effect_estimator : regressor, optional
        Final regressor of the pseudo-outcome. Default: ``Ridge``.
    propensity : float or dict, optional
        Known randomized propensity, as in ``XLearner``. Default: a logistic
        regression cross-fitted with the outcome models, clipped to
        [0.01, 0.99].
    n_folds : int, default 2
        Number of cross-fitting folds, at least 2.
    control, treatments, monotone_in_depth, outcome, random_state
        As in ``TwoModelLearner``; ``random_state`` also seeds the folds.
    """

    def __init__(
        self,
        outcome_estimator=None,
        effect_estimator=None,
        *,
        propensity=None,
        n_folds: int = 2,
        control=0,
        treatments=None,
        monotone_in_depth: bool = False,
        outcome: str = "auto",
        random_state=None,
    ):
        self.outcome_estimator = outcome_estimator
        self.effect_estimator = effect_estimator
        self.propensity = propensity
        self.n_folds = n_folds
        self.control = control
        self.treatments = treatments
        self.monotone_in_depth = monotone_in_depth
        self.outcome = outcome
        self.random_state = random_state

    def _check_params(self, binary: bool) -> None:
        check_folds(self.n_folds)

    def _before_arms(self, X_control, y_control) -> None:
        self.effect_models_ = {}

    def _fit_arm(self, X, treated, y, arm) -> None:
        known = arm_propensity(self.propensity, arm)
        pseudo = self._pseudo_outcome(X, treated, y, arm, known)
        effect = self.effect_estimator or default_effect_model()
        self.effect_models_[arm] = seeded_clone(effect, self.random_state).fit(
            X, pseudo
        )

    def _pseudo_outcome(self, X, treated, y, arm, known) -> np.ndarray:
        """Return the cross-fitted AIPW pseudo-outcome of one arm's rows."""
        strata = treated.astype(int) * 2 + (y.astype(int) if self._binary else 0)
        check_group_sizes(
            strata, self.n_folds, f"cross-fitting arm {arm!r} (treated x outcome)"
        )
        folds = StratifiedKFold(
            self.n_folds,
            shuffle=True,
            random_state=0 if self.random_state is None else self.random_state,
        )
        pseudo = np.empty(len(y))
        for fold, (train, test) in enumerate(folds.split(X, strata)):
            # Nuisance models on the other folds.
            X_train, w_train, y_train = X[train], treated[train], y[train]
            group = f"arm {arm!r}, cross-fitting fold {fold}"
            mu_t = fit_outcome_model(
                self._outcome_model(),
                X_train[w_train],
                y_train[w_train],
                self._binary,
                group,
                self.random_state,
            )
            mu_c = fit_outcome_model(
                self._outcome_model(),
                X_train[~w_train],
                y_train[~w_train],
                self._binary,
                f"control ({self.control!r}), cross-fitting fold {fold}",
                self.random_state,
            )
            if known is None:
                model = estimate_propensity(X_train, w_train, self.random_state)
                e = clipped_propensity(model, X[test])
            else:
                e = np.full(len(test), known)

            # AIPW pseudo-outcome on the held-out fold.
            m_t = predict_outcome(mu_t, X[test])
            m_c = predict_outcome(mu_c, X[test])
            w, y_test = treated[test], y[test]
            pseudo[test] = (
                m_t - m_c + w * (y_test - m_t) / e - (1 - w) * (y_test - m_c) / (1 - e)
            )
        return pseudo

    def _predict_arm(self, X, arm) -> np.ndarray:
        return self.effect_models_[arm].predict(X)
