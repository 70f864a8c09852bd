"""The uplift benchmark on the Hillstrom experiment: protocol, runs, summary."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from promoloop.benchmarks.hillstrom_data import (
    FEATURES,
    OUTCOMES,
    TEST_SIZE,
    feature_matrix,
    read_hillstrom,
    split_indices,
    stratified_sample,
    womens_vs_control,
)
from promoloop.benchmarks.models import (
    CHOSEN_ALPHA,
    CHOSEN_C,
    INNER_FOLDS,
    INNER_REPEATS,
    LGBM_TREES,
    BenchmarkModel,
    promoloop_models,
    reference_models,
)
from promoloop.benchmarks.policy import policy_value_table
from promoloop.benchmarks.report import write_report
from promoloop.evaluation.uplift_metrics import qini_coefficient, uplift_at_k

logger = logging.getLogger(__name__)

UPLIFT_AT = 0.3
LIBRARIES = [
    "promoloop",
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "scikit-uplift",
    "causalml",
]


def protocol(seeds) -> dict:
    """Return the fixed protocol as recorded in ``uplift.json``."""
    return {
        "data": "Hillstrom MineThatData e-mail experiment (2008), 64,000 customers",
        "rows": "Womens E-Mail (treatment=1) vs No E-Mail (treatment=0)",
        "outcomes": list(OUTCOMES),
        "features": list(FEATURES),
        "encoding": "zip_code and channel one-hot encoded; one table for all models",
        "split": (
            f"sklearn train_test_split, test_size={TEST_SIZE}, random_state=seed, "
            "stratified by treatment x outcome (spend: treatment x spend>0)"
        ),
        "seeds": [int(s) for s in seeds],
        "qini": (
            "visit, conversion: normalized Qini coefficient as scikit-uplift "
            "0.5.1 qini_auc_score (negative_effect=True). spend: unnormalized "
            "Qini coefficient in customers x dollars over the test part, because "
            "scikit-uplift 0.5.1 only normalizes 0/1 outcomes"
        ),
        "uplift_at_k": (
            f"top {UPLIFT_AT:.0%} of the test part by score, overall strategy"
        ),
        "promoloop_chosen": (
            "select_learner over the interaction S-learner on splines with "
            f"logistic C in {list(CHOSEN_C)} (visit, conversion) or ridge alpha "
            f"in {list(CHOSEN_ALPHA)} (spend), by {INNER_REPEATS} repeats of "
            f"{INNER_FOLDS}-fold stratified CV on the training part only, "
            "refitted on the whole training part, scored on the test part"
        ),
        "propensity": "known design share of treated rows in the training part",
        "lightgbm": f"at most {LGBM_TREES} trees, num_threads=1",
    }


def library_versions() -> dict:
    """Return the installed versions of the libraries the benchmark uses."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _score_split(model: BenchmarkModel, X, t, y, train, test, binary, seed) -> dict:
    """Fit one model on one split and score it on the test rows."""
    started = time.perf_counter()
    scores, note = model.fit_score(
        X.iloc[train], t[train], y[train], X.iloc[test], binary, seed
    )
    qini = qini_coefficient(y[test], t[test], scores, normalize=binary)
    at_k = uplift_at_k(y[test], t[test], scores, k=UPLIFT_AT, strategy="overall")
    record = {
        "qini": qini.value if qini.defined else None,
        "uplift_at_30": at_k.value if at_k.defined else None,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if not qini.defined:
        record["qini_undefined"] = qini.reason
    if not at_k.defined:
        record["uplift_at_30_undefined"] = at_k.reason
    if note is not None:
        record["chosen"] = note
    record["test_sha1"] = hashlib.sha1(np.asarray(test, dtype=np.int64)).hexdigest()
    record["n_test"] = int(len(test))
    return record


def summarize(records: pd.DataFrame) -> pd.DataFrame:
    """Return mean, std (ddof=1) and count of defined values per model and outcome."""
    long = records.melt(
        id_vars=["model", "library", "outcome", "seed"],
        value_vars=["qini", "uplift_at_30"],
        var_name="metric",
    )
    long["value"] = pd.to_numeric(long["value"])
    grouped = long.groupby(["outcome", "model", "library", "metric"], sort=False)
    return grouped["value"].agg(["mean", "std", "count"]).reset_index()


def run_uplift_benchmark(
    data_dir,
    out_dir,
    seeds=range(5),
    include_reference: bool = True,
    show_progress: bool = True,
    models: list[str] | None = None,
    sample_rows: int | None = None,
    policy_kwargs: dict | None = None,
) -> dict:
    """Run the uplift benchmark and write ``uplift.json`` and ``report.html``.

    Parameters
    ----------
    data_dir : str or Path
        Folder that contains ``hillstrom/hillstrom.csv``.
    out_dir : str or Path
        Output folder, created when missing.
    seeds : iterable of int, default range(5)
        Seeds of the 70/30 splits (and of the models that take one).
    include_reference : bool, default True
        Also run scikit-uplift and CausalML. A library that does not import
        is left out and its import error is recorded under ``unavailable``.
    show_progress : bool, default True
        Show a tqdm progress bar over seeds and outcomes.
    models : list of str, optional
        Names of promoloop's models to run (default: all of them).
    sample_rows : int, optional
        Use a stratified sample (by segment x visit, seed 0) of this many rows
        of the file, for quick checks. Default: every row.
    policy_kwargs : dict, optional
        Keyword arguments passed on to ``policy_value_table``.

    Returns
    -------
    dict
        The content of ``uplift.json``: ``protocol``, ``records`` (one per
        seed, model and outcome), ``summary`` (mean and std per model,
        outcome and metric), ``test_indices`` per seed and outcome,
        ``policy``, ``versions``, ``unavailable`` and ``wall_seconds``.

    Raises
    ------
    InputError
        When the Hillstrom file is missing or malformed.
    """
    started = time.perf_counter()
    seeds = [int(s) for s in seeds]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # Data: the women's e-mail against no e-mail, one feature table.
    raw = read_hillstrom(data_dir)
    if sample_rows is not None:
        raw = stratified_sample(raw, sample_rows)
    subset = womens_vs_control(raw)
    X = feature_matrix(subset)
    t = subset["treatment"].to_numpy()

    # Models: promoloop's, then the reference tools that import.
    model_list = promoloop_models(models)
    unavailable: dict[str, str] = {}
    if include_reference:
        references, unavailable = reference_models()
        model_list += references
        for library, reason in unavailable.items():
            logger.warning("reference library %s left out: %s", library, reason)

    # Every model is fitted and scored on the same split of a seed and outcome.
    records, test_indices = [], {}
    jobs = [(seed, outcome) for seed in seeds for outcome in OUTCOMES]
    for seed, outcome in tqdm(jobs, disable=not show_progress, desc="uplift"):
        y = subset[outcome].to_numpy(dtype=float)
        binary = outcome != "spend"
        train, test = split_indices(t, y, seed)
        test_indices[f"{seed}/{outcome}"] = test.tolist()
        for model in model_list:
            if model.binary_only and not binary:
                continue
            record = _score_split(model, X, t, y, train, test, binary, seed)
            record.update(
                model=model.name, library=model.library, outcome=outcome, seed=seed
            )
            records.append(record)
            logger.info("%s seed %d %s: %s", model.name, seed, outcome, record)

    # Summary, policy view, files.
    table = pd.DataFrame(records)
    summary = summarize(table)
    policy = policy_value_table(raw, **(policy_kwargs or {}))
    result = {
        "protocol": protocol(seeds),
        "records": records,
        "summary": summary.replace({np.nan: None}).to_dict(orient="records"),
        "test_indices": test_indices,
        "policy": policy,
        "versions": library_versions(),
        "unavailable": unavailable,
        "sample_rows": sample_rows,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    (out_dir / "uplift.json").write_text(json.dumps(result, indent=1))
    write_report(result, out_dir / "report.html")
    logger.info(
        "uplift benchmark written to %s in %.0f s", out_dir, result["wall_seconds"]
    )
    return result
