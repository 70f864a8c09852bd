"""Models compared in the uplift benchmark, each as fit-on-train, score-test.

Every entry is a ``BenchmarkModel`` whose ``fit_score`` fits on the training
rows of one split and returns one uplift score per test row (higher means
more persuadable). promoloop's learners run with the known randomized
propensity of the women's e-mail arm. The reference tools run with their
documented defaults apart from the base models named here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, SplineTransformer, StandardScaler

from promoloop.uplift import (
    DRLearner,
    InteractionLearner,
    OutcomeTransformLearner,
    TwoModelLearner,
    XLearner,
    select_learner,
)

logger = logging.getLogger(__name__)

# NOTE: tree counts are capped so the whole five-seed run stays near ten
# minutes on two cores; the benchmark does not tune them per outcome.
LGBM_TREES = 150

# "promoloop chosen" picks the penalty of the interaction model from a grid
# of decades by repeated inner cross-validation on the training part.
INNER_FOLDS = 3
INNER_REPEATS = 3
CHOSEN_C = (0.1, 1.0, 10.0)
CHOSEN_ALPHA = (1.0, 10.0, 100.0)


class BenchmarkModel(NamedTuple):
    """One row of the benchmark tables.

    Attributes
    ----------
    name : str
        Row label in the report.
    library : str
        ``promoloop``, ``scikit-uplift`` or ``causalml``.
    fit_score : callable
        ``fit_score(X_train, t_train, y_train, X_test, binary, seed)`` returns
        ``(scores, note)``: the uplift scores of the test rows as a 1-D array
        and a note for the record (the chosen learner) or None.
    binary_only : bool
        True when the model only takes a 0/1 outcome (skipped for spend).
    """

    name: str
    library: str
    fit_score: Callable[..., np.ndarray]
    binary_only: bool = False


def shallow_lgbm(binary: bool, seed: int, **overrides):
    """Return a heavily regularized LightGBM model for small uplift signals."""
    params = dict(
        n_estimators=LGBM_TREES,
        learning_rate=0.03,
        num_leaves=7,
        max_depth=3,
        min_child_samples=300,
        reg_lambda=10.0,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        num_threads=1,
        random_state=seed,
        verbose=-1,
    )
    params.update(overrides)
    return LGBMClassifier(**params) if binary else LGBMRegressor(**params)


def linear_outcome(binary: bool):
    """Return logistic regression for a 0/1 outcome, ridge for spend.

    Standardizing first only speeds up the solver: ``history`` spans 30 to
    3,346 dollars, and unscaled it takes lbfgs several times longer.
    """
    if binary:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return make_pipeline(StandardScaler(), Ridge(alpha=1.0))


def spline_basis():
    """Return quadratic splines (4 knots) of the log1p of every feature.

    The splines let the response to recency and past spend bend without the
    variance of trees, which the small visit effect (about 4.5 points) cannot
    support. The features must be above -1, as Hillstrom's counts, dollars
    and one-hot columns are.
    """
    return make_pipeline(
        FunctionTransformer(np.log1p), SplineTransformer(n_knots=4, degree=2)
    )


def spline_outcome(binary: bool):
    """Return a logistic regression (C=0.1) or ridge on ``spline_basis``."""
    if binary:
        return make_pipeline(spline_basis(), LogisticRegression(C=0.1, max_iter=2000))
    return make_pipeline(spline_basis(), Ridge(alpha=10.0))


def spline_interaction(binary: bool, penalty: float, seed: int) -> InteractionLearner:
    """Return the interaction S-learner on ``spline_basis``.

    ``penalty`` is the inverse regularization ``C`` of the logistic
    regression for a binary outcome and the ``alpha`` of the ridge for a
    continuous one.
    """
    if binary:
        estimator = LogisticRegression(C=penalty, max_iter=2000)
    else:
        estimator = Ridge(alpha=penalty)
    return InteractionLearner(estimator, basis=spline_basis(), random_state=seed)


def promoloop_candidates(binary: bool, seed: int, propensity: float) -> dict:
    """Return promoloop's named learners for one outcome type and seed.

    These are the fixed rows of the benchmark. "promoloop chosen" picks
    among ``chosen_candidates`` instead.
    """
    linear = linear_outcome(binary)
    return {
        "T-learner (logistic)": TwoModelLearner(linear, random_state=seed),
        "T-learner (spline logistic)": TwoModelLearner(
            spline_outcome(binary), random_state=seed
        ),
        "T-learner (LightGBM)": TwoModelLearner(
            shallow_lgbm(binary, seed), random_state=seed
        ),
        "DR-learner (LightGBM)": DRLearner(
            shallow_lgbm(binary, seed),
            shallow_lgbm(False, seed, n_estimators=60, min_child_samples=1000),
            propensity=propensity,
            random_state=seed,
        ),
        "X-learner (LightGBM)": XLearner(
            shallow_lgbm(binary, seed),
            Ridge(alpha=1.0),
            propensity=propensity,
            random_state=seed,
        ),
        "Outcome transformation (ridge)": OutcomeTransformLearner(
            Ridge(alpha=10.0), propensity=propensity, random_state=seed
        ),
        "Interaction S-learner (spline logistic)": spline_interaction(
            binary, 1.0 if binary else 10.0, seed
        ),
    }


def chosen_candidates(binary: bool, seed: int) -> dict:
    """Return the candidates of "promoloop chosen": one model, three penalties.

    The candidates are the interaction S-learner on ``spline_basis`` with
    the logistic regression's C in ``CHOSEN_C`` (binary outcome) or the
    ridge's alpha in ``CHOSEN_ALPHA`` (continuous outcome).

    NOTE: this family was fixed on visit splits with seeds 10 to 29 before
    the reported run on seeds 0 to 4, because there inner cross-validation
    over all of ``promoloop_candidates`` ranked the near-equal linear
    learners mostly by noise. On spend it beat that broader choice on seeds
    10 to 19 but fell below most fixed rows on seeds 0 to 4, so it is a
    doubtful default for a continuous outcome.
    """
    if binary:
        return {
            f"Interaction S-learner (spline, C={c:g})": spline_interaction(
                True, c, seed
            )
            for c in CHOSEN_C
        }
    return {
        f"Interaction S-learner (spline, alpha={a:g})": spline_interaction(
            False, a, seed
        )
        for a in CHOSEN_ALPHA
    }


def _promoloop_fixed(name: str) -> Callable[..., np.ndarray]:
    def fit_score(X_train, t_train, y_train, X_test, binary, seed):
        propensity = float(np.mean(t_train))
        learner = promoloop_candidates(binary, seed, propensity)[name]
        return learner.fit(X_train, t_train, y_train).predict(X_test)[:, 0], None

    return fit_score


def _promoloop_chosen(X_train, t_train, y_train, X_test, binary, seed):
    # The inner folds see the training rows only, so the test rows stay unseen.
    selection = select_learner(
        chosen_candidates(binary, seed),
        X_train,
        t_train,
        y_train,
        n_splits=INNER_FOLDS,
        seed=seed,
        n_repeats=INNER_REPEATS,
    )
    logger.info("seed %d: promoloop chose %s", seed, selection.best_name)
    scores = selection.best_learner.predict(X_test)[:, 0]
    return scores, selection.best_name


def promoloop_models(names: list[str] | None = None) -> list[BenchmarkModel]:
    """Return promoloop's fixed learners and the chosen one, optionally a subset."""
    fixed = list(promoloop_candidates(True, 0, 0.5))
    models = [BenchmarkModel(n, "promoloop", _promoloop_fixed(n)) for n in fixed]
    models.append(BenchmarkModel("promoloop chosen", "promoloop", _promoloop_chosen))
    if names is None:
        return models
    return [m for m in models if m.name in names]


def _sklift_two_models(X_train, t_train, y_train, X_test, binary, seed):
    from sklift.models import TwoModels

    model = TwoModels(
        estimator_trmnt=LogisticRegression(max_iter=2000)
        if binary
        else LinearRegression(),
        estimator_ctrl=LogisticRegression(max_iter=2000)
        if binary
        else LinearRegression(),
        method="vanilla",
    )
    model.fit(X_train, y_train, t_train)
    return np.asarray(model.predict(X_test), dtype=float), None


def _sklift_solo_interaction(X_train, t_train, y_train, X_test, binary, seed):
    from sklift.models import SoloModel

    # Unscaled, lbfgs stopped at its 2,000-iteration limit on these columns
    # (history spans 30 to 3,346 dollars), so the logistic model is scaled.
    if binary:
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    else:
        estimator = LinearRegression()
    model = SoloModel(estimator=estimator, method="treatment_interaction")
    model.fit(X_train, y_train, t_train)
    return np.asarray(model.predict(X_test), dtype=float), None


def _sklift_class_transformation(X_train, t_train, y_train, X_test, binary, seed):
    from sklift.models import ClassTransformation

    model = ClassTransformation(estimator=LogisticRegression(max_iter=2000))
    model.fit(X_train, y_train, t_train)
    return np.asarray(model.predict(X_test), dtype=float), None


def _causalml_meta(kind: str, base: str) -> Callable[..., np.ndarray]:
    def fit_score(X_train, t_train, y_train, X_test, binary, seed):
        from causalml.inference import meta

        X = np.asarray(X_train, dtype=float)
        test = np.asarray(X_test, dtype=float)
        p_train = np.full(len(X), float(np.mean(t_train)))
        p_test = np.full(len(test), float(np.mean(t_train)))
        if base == "logistic":
            outcome = (
                LogisticRegression(max_iter=2000) if binary else LinearRegression()
            )
            effect = LinearRegression()
        else:
            outcome = shallow_lgbm(binary, seed)
            effect = shallow_lgbm(False, seed)
        suffix = "Classifier" if binary else "Regressor"
        cls = getattr(meta, f"Base{kind}{suffix}")
        treatment = np.asarray(t_train)
        y = np.asarray(y_train, dtype=float)

        # The constructors differ: BaseXRegressor takes one learner for the
        # outcome and effect models, the classifiers take one of each.
        if kind == "T":
            model = cls(learner=outcome)
            model.fit(X, treatment=treatment, y=y)
            predicted = model.predict(test, verbose=False)
        elif kind == "X":
            if binary:
                model = cls(outcome_learner=outcome, effect_learner=effect)
            else:
                model = cls(learner=outcome)
            model.fit(X, treatment=treatment, y=y, p=p_train)
            predicted = model.predict(test, p=p_test, verbose=False)
        else:
            model = cls(
                outcome_learner=outcome, effect_learner=effect, random_state=seed
            )
            model.fit(X, treatment=treatment, y=y, p=p_train, verbose=False)
            predicted = model.predict(test)
        return np.asarray(predicted).reshape(len(test), -1)[:, 0], None

    return fit_score


def reference_models() -> tuple[list[BenchmarkModel], dict]:
    """Return the scikit-uplift and CausalML models that import, and why not.

    Returns
    -------
    models : list of BenchmarkModel
        Reference rows whose library imported.
    unavailable : dict of str to str
        Library name to the import error of each library that did not.
    """
    models: list[BenchmarkModel] = []
    unavailable: dict[str, str] = {}
    try:
        import sklift.models  # noqa: F401
    except ImportError as error:
        unavailable["scikit-uplift"] = f"{type(error).__name__}: {error}"
    else:
        models += [
            BenchmarkModel(
                "sklift TwoModels (logistic)", "scikit-uplift", _sklift_two_models
            ),
            BenchmarkModel(
                "sklift SoloModel (logistic, treatment interaction)",
                "scikit-uplift",
                _sklift_solo_interaction,
            ),
            BenchmarkModel(
                "sklift ClassTransformation (logistic)",
                "scikit-uplift",
                _sklift_class_transformation,
                binary_only=True,
            ),
        ]
    try:
        import causalml.inference.meta  # noqa: F401
    except ImportError as error:
        unavailable["causalml"] = f"{type(error).__name__}: {error}"
    else:
        for kind, base in [
            ("T", "logistic"),
            ("T", "LightGBM"),
            ("X", "LightGBM"),
            ("R", "LightGBM"),
        ]:
            name = f"causalml Base{kind} ({base})"
            models.append(BenchmarkModel(name, "causalml", _causalml_meta(kind, base)))
    return models, unavailable
