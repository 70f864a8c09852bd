"""The Hillstrom file as feature tables, outcomes and benchmark splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from promoloop.errors import InputError

FEATURES = ["recency", "history", "mens", "womens", "newbie", "zip_code", "channel"]
CATEGORICAL = ["zip_code", "channel"]
OUTCOMES = ["visit", "conversion", "spend"]
SEGMENT = "segment"
CONTROL_SEGMENT = "No E-Mail"
ARM_SEGMENTS = {"Mens E-Mail": "mens", "Womens E-Mail": "womens"}
TEST_SIZE = 0.3


def hillstrom_path(data_dir: str | Path) -> Path:
    """Return the path of the Hillstrom CSV under ``data_dir``."""
    return Path(data_dir) / "hillstrom" / "hillstrom.csv"


def read_hillstrom(data_dir: str | Path) -> pd.DataFrame:
    """Read the Hillstrom CSV and check the columns the benchmark uses.

    Raises
    ------
    InputError
        When the file is missing, a column is missing, or a segment is not
        one of the three arms.
    """
    path = hillstrom_path(data_dir)
    if not path.is_file():
        raise InputError(
            f"Hillstrom file not found at {path}",
            file=str(path),
            expected="data_dir/hillstrom/hillstrom.csv",
            fix="pass --data-dir pointing at the folder that contains hillstrom/",
        )
    raw = pd.read_csv(path)
    needed = [*FEATURES, SEGMENT, *OUTCOMES]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise InputError(
            f"missing column(s) {missing} in the Hillstrom file",
            file=str(path),
            expected=f"columns {needed}",
        )
    known = [CONTROL_SEGMENT, *ARM_SEGMENTS]
    unknown = ~raw[SEGMENT].isin(known)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(
            "unknown segment in the Hillstrom file",
            file=str(path),
            row=row + 1,
            column=SEGMENT,
            value=raw[SEGMENT].iloc[row],
            expected=f"one of {known}",
        )
    return raw


def feature_matrix(raw: pd.DataFrame) -> pd.DataFrame:
    """One-hot encode the categorical features into a float table.

    Every model in the benchmark, promoloop's and the reference tools', is
    fitted on this same table, so differences come from the models alone.
    """
    table = pd.get_dummies(raw[FEATURES], columns=CATEGORICAL, dtype=float)
    return table.astype(float).reset_index(drop=True)


def womens_vs_control(raw: pd.DataFrame) -> pd.DataFrame:
    """Keep the women's e-mail and no e-mail rows, with a 0/1 ``treatment``."""
    rows = raw[SEGMENT].isin([CONTROL_SEGMENT, "Womens E-Mail"])
    subset = raw[rows].reset_index(drop=True)
    treated = (subset[SEGMENT] == "Womens E-Mail").astype(int)
    return subset.assign(treatment=treated)


def split_indices(
    treatment: np.ndarray, outcome: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split row positions 70/30, stratified by treatment crossed with outcome.

    A continuous outcome is stratified by treatment crossed with outcome > 0.
    """
    strata = np.asarray(treatment).astype(int) * 2 + (np.asarray(outcome) > 0)
    positions = np.arange(len(strata))
    train, test = train_test_split(
        positions, test_size=TEST_SIZE, random_state=seed, stratify=strata
    )
    return np.sort(train), np.sort(test)


def stratified_sample(raw: pd.DataFrame, n_rows: int) -> pd.DataFrame:
    """Return ``n_rows`` rows stratified by segment x visit (seed 0), in file order."""
    strata = raw[SEGMENT].astype(str) + "/" + raw["visit"].astype(str)
    sample, _ = train_test_split(
        raw, train_size=n_rows, random_state=0, stratify=strata
    )
    return sample.sort_index().reset_index(drop=True)
