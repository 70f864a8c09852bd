"""Choice among uplift learners by cross-validated, held-out Qini coefficient."""

from __future__ import annotations

import logging
import numbers
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import RepeatedStratifiedKFold

from promoloop.errors import InputError
from promoloop.evaluation.uplift_metrics import qini_coefficient
from promoloop.uplift._validation import (
    as_labels,
    as_outcome,
    check_folds,
    check_group_sizes,
    resolve_arms,
)

logger = logging.getLogger(__name__)


class LearnerSelection(NamedTuple):
    """Result of ``select_learner``.

    Attributes
    ----------
    best_name : str
        Key of the candidate with the highest mean held-out Qini.
    best_learner : estimator
        A clone of that candidate refitted on all rows.
    fold_scores : DataFrame
        One row per candidate, repeat, fold and arm with columns
        ``candidate``, ``repeat``, ``fold`` (0 to ``n_splits - 1`` within
        the repeat), ``arm``, ``qini`` and ``n_test`` (held-out rows of that
        arm and control).
    mean_scores : Series
        Mean over all folds of all repeats of the mean over arms of
        ``qini``, by candidate.
    """

    best_name: str
    best_learner: object
    fold_scores: pd.DataFrame
    mean_scores: pd.Series


def _take_rows(X, rows: np.ndarray):
    if isinstance(X, pd.DataFrame):
        return X.iloc[rows]
    return np.asarray(X)[rows]


def _control_label(candidates: dict):
    controls = {name: getattr(c, "control", 0) for name, c in candidates.items()}
    distinct = {repr(label) for label in controls.values()}
    if len(distinct) > 1:
        raise InputError(
            f"candidates use different control labels: {controls}",
            expected="the same control label in every candidate",
            fix="construct all candidates with the same control=",
        )
    return next(iter(controls.values()))


def _fold_scores(model, X_test, labels, y, control, binary) -> list[tuple]:
    """Return (arm, qini, n_test) for each arm of a fitted model on held-out rows."""
    effects = model.predict(X_test)
    scores = []
    for column, arm in enumerate(model.treatments_):
        rows = (labels == arm) | (labels == control)
        result = qini_coefficient(
            y[rows],
            (labels[rows] == arm).astype(int),
            effects[rows, column],
            normalize=binary,
            errors="raise",
        )
        scores.append((arm, result.value, int(rows.sum())))
    return scores


def _check_repeats(n_repeats) -> int:
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, numbers.Integral):
        raise InputError(
            f"argument 'n_repeats' is {n_repeats!r}",
            expected="an integer of at least 1",
            fix="pass e.g. n_repeats=3",
        )
    if n_repeats < 1:
        raise InputError(
            f"argument 'n_repeats' is {n_repeats}",
            expected="an integer of at least 1",
            fix="pass e.g. n_repeats=3",
        )
    return int(n_repeats)


def select_learner(
    candidates: dict,
    X,
    treatment,
    y,
    n_splits: int = 3,
    seed: int = 0,
    *,
    n_repeats: int = 1,
) -> LearnerSelection:
    """Pick the uplift learner with the best held-out Qini coefficient.

    The rows are split into ``n_splits`` folds by stratified K-fold, with
    strata the treatment label crossed with the outcome for a binary
    outcome and the treatment label alone for a continuous one, and the
    split is repeated ``n_repeats`` times with a fresh shuffle
    (scikit-learn's ``RepeatedStratifiedKFold``). For each fold, a clone of
    every candidate is fitted on the other folds and scored on the held-out
    fold only, so no score uses a row the model was fitted on. The score of
    a fold is the mean over arms of the Qini coefficient on the held-out
    customers in that arm or control, normalized for a binary outcome and
    unnormalized (customers times outcome units) for a continuous one. The
    best candidate has the highest mean over all ``n_splits * n_repeats``
    folds, and a tie goes to the first in ``candidates``. It is then
    refitted on all rows.

    When candidates differ by less than the fold-to-fold spread of their
    held-out Qini, one K-fold split ranks them mostly by noise. Repeats
    average that noise down at the cost of ``n_repeats`` times the fits.

    Parameters
    ----------
    candidates : dict of str to learner
        Unfitted learners with ``fit(X, treatment, y)``, ``predict(X)``,
        ``treatments_`` and a ``control`` parameter, e.g. ``TwoModelLearner``.
    X : DataFrame or array-like of shape (n_samples, n_features)
        Features.
    treatment : array-like of shape (n_samples,)
        Arm label per customer, with the candidates' ``control`` label for
        control.
    y : array-like of shape (n_samples,)
        Binary or continuous outcome.
    n_splits : int, default 3
        Number of folds, at least 2.
    seed : int, default 0
        Seed of the fold shuffles. With ``n_repeats=1`` the folds are those
        of ``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``.
    n_repeats : int, default 1
        Number of repeated K-fold splits, at least 1.

    Returns
    -------
    LearnerSelection
        Best name, refitted best learner, table of fold scores and means.

    Raises
    ------
    InputError
        When ``candidates`` is empty or the candidates' control labels
        differ, when ``n_splits`` is below 2 or ``n_repeats`` below 1, on
        invalid treatment or outcome, or when a stratum has fewer rows than
        ``n_splits``.
    """
    # Inputs and strata.
    if not candidates:
        raise InputError(
            "argument 'candidates' is empty",
            expected="a dict of at least one named learner",
            fix="pass e.g. {'two_model': TwoModelLearner()}",
        )
    n_splits = check_folds(n_splits, "n_splits")
    n_repeats = _check_repeats(n_repeats)
    control = _control_label(candidates)
    n_rows = len(X)
    labels = as_labels(treatment, n_rows)
    outcome, binary = as_outcome(y, n_rows, "auto")
    resolve_arms(labels, control, None)
    _, label_codes = np.unique(labels, return_inverse=True)
    strata = label_codes * 2 + (outcome.astype(int) if binary else 0)
    strata_name = "treatment x outcome" if binary else "treatment"
    check_group_sizes(strata, n_splits, f"stratified folds ({strata_name})")

    # Held-out scores of every candidate on every fold of every repeat.
    folds = RepeatedStratifiedKFold(
        n_splits=n_splits, n_repeats=n_repeats, random_state=seed
    )
    records = []
    for index, (train, test) in enumerate(folds.split(np.zeros(n_rows), strata)):
        repeat, fold = divmod(index, n_splits)
        for name, candidate in candidates.items():
            model = clone(candidate).fit(
                _take_rows(X, train), labels[train], outcome[train]
            )
            scores = _fold_scores(
                model, _take_rows(X, test), labels[test], outcome[test], control, binary
            )
            records += [(name, repeat, fold, arm, q, n) for arm, q, n in scores]
            logger.debug("repeat %d fold %d, %s: Qini %s", repeat, fold, name, scores)
    fold_scores = pd.DataFrame(
        records, columns=["candidate", "repeat", "fold", "arm", "qini", "n_test"]
    )

    # Best mean score, refitted on all rows.
    per_fold = fold_scores.groupby(["candidate", "repeat", "fold"], sort=False)[
        "qini"
    ].mean()
    mean_scores = per_fold.groupby(level="candidate", sort=False).mean()
    best_name = str(mean_scores.idxmax())
    logger.info(
        "selected learner %s (mean held-out Qini %.4f)",
        best_name,
        mean_scores[best_name],
    )
    best_learner = clone(candidates[best_name]).fit(X, labels, outcome)
    return LearnerSelection(best_name, best_learner, fold_scores, mean_scores)
