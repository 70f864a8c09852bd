"""Batch model scores: the same values as one predict call, in bounded pieces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import Ridge

from promoloop.data.batches import table_batches
from promoloop.errors import InputError
from promoloop.targeting.batch import score_batches, write_scores
from promoloop.targeting.learned import FEATURES, HAS_HISTORY, LearnedUplift
from promoloop.uplift import TwoModelLearner
from promoloop.vocabulary import Columns as C

N_ROWS = 101  # prime, so no batch size between 2 and 100 divides it


def campaign(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Return features, arm labels and outcomes of a randomized campaign."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "frequency": rng.poisson(3.0, n).astype(float),
            "monetary": rng.gamma(2.0, 30.0, n),
            "region": rng.choice(["north", "south"], n),
        }
    )
    treatment = rng.choice(["control", "a", "b"], n)
    effect = np.where(treatment == "a", 0.5 * X["frequency"], 0.0)
    y = 0.1 * X["monetary"] + effect + rng.normal(0, 1, n)
    return X, treatment, y.to_numpy()


@pytest.fixture(scope="module")
def learner() -> TwoModelLearner:
    X, treatment, y = campaign(600)
    return TwoModelLearner(control="control", outcome="continuous").fit(X, treatment, y)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    X, _, _ = campaign(N_ROWS, seed=1)
    return X.assign(**{C.customer_id: [f"c{i}" for i in range(N_ROWS)]})


def write_features(path, frame: pd.DataFrame, row_group_size: int = 10) -> None:
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False),
        path,
        row_group_size=row_group_size,
    )


def expected_scores(model, frame, columns) -> pd.DataFrame:
    out = pd.DataFrame(model.predict(frame[columns]), columns=["a", "b"])
    out.insert(0, C.customer_id, pd.array(frame[C.customer_id], dtype="string"))
    return out


@pytest.mark.parametrize("batch_size", [1, 7, N_ROWS, 500])
def test_batches_equal_one_predict(learner, features, tmp_path, batch_size):
    path = tmp_path / "features.parquet"
    write_features(path, features)
    frames = list(score_batches(learner, path, batch_size=batch_size))
    expected = expected_scores(learner, features, ["frequency", "monetary", "region"])
    got = pd.concat(frames, ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-12)


def test_frames_hold_one_batch(learner, features):
    frames = list(score_batches(learner, features, batch_size=25))
    assert [len(f) for f in frames] == [25, 25, 25, 25, 1]
    assert list(frames[0].columns) == [C.customer_id, "a", "b"]


def test_only_fitted_columns_are_read(learner, features, tmp_path):
    path = tmp_path / "features.parquet"
    # A column the model never saw, of a type predict could not take.
    write_features(path, features.assign(notes=["x"] * N_ROWS))
    got = pd.concat(score_batches(learner, path, batch_size=30), ignore_index=True)
    expected = expected_scores(learner, features, ["frequency", "monetary", "region"])
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=1e-12)


def peak_arrow_bytes(path, batch_size: int) -> int:
    """Return the most Arrow memory allocated while scanning ``path``."""
    base = pa.total_allocated_bytes()
    peak = 0
    for _ in table_batches(path, batch_size):
        peak = max(peak, pa.total_allocated_bytes() - base)
    return peak


def test_scan_memory_bounded_by_row_groups(tmp_path):
    rng = np.random.default_rng(0)
    rows, groups = 10_000, 60
    frame = pd.DataFrame({f"x{i}": rng.normal(size=groups * rows) for i in range(8)})
    path = tmp_path / "features.parquet"
    pq.write_table(pa.table(frame), path, row_group_size=rows)
    group_bytes = pa.table(frame.iloc[:rows]).nbytes
    # A few row groups are in flight at a time (about 13 at most over many
    # runs). With pyarrow's default pre-buffering every row group read so
    # far stays in memory, 77 times the row group in one run.
    assert peak_arrow_bytes(path, batch_size=2_500) < 25 * group_bytes


def test_plain_estimator_gives_one_score_column(features):
    ridge = Ridge().fit(features[["frequency", "monetary"]], features["monetary"] / 2)
    frames = list(score_batches(ridge, features, batch_size=40))
    got = pd.concat(frames, ignore_index=True)
    assert list(got.columns) == [C.customer_id, C.score]
    expected = ridge.predict(features[["frequency", "monetary"]])
    np.testing.assert_allclose(got[C.score], expected, rtol=0, atol=1e-12)


def learned_uplift_and_profiles() -> tuple[LearnedUplift, pd.DataFrame]:
    """Return an uplift model fitted on random profiles, and those profiles."""
    rng = np.random.default_rng(2)
    n = 400
    profiles = pd.DataFrame({c: rng.gamma(2.0, 5.0, n) for c in FEATURES})
    profiles["tenure_days"] = rng.uniform(10, 500, n)
    profiles.loc[::7, "tenure_days"] = np.nan  # customers without history
    profiles.loc[::5, FEATURES[0]] = np.nan  # a feature to fill
    treatment = rng.choice(["(holdout)", "p1", "p2"], n)
    y = profiles[FEATURES[1]].fillna(0) + (treatment == "p1") + rng.normal(0, 1, n)

    fill = profiles[FEATURES].median()
    fill[HAS_HISTORY] = 1.0
    X = (
        profiles[FEATURES]
        .fillna(fill)
        .assign(**{HAS_HISTORY: profiles["tenure_days"].notna().astype(float)})
    )
    model = TwoModelLearner(control="(holdout)", outcome="continuous").fit(
        X, treatment, y.to_numpy()
    )

    learned = LearnedUplift(
        campaign_id="spring",
        exposed_at=pd.Timestamp("2024-03-01", tz="UTC"),
        window_days=28,
        arms=["p1", "p2"],
        learner_name="T-learner (ridge)",
        model=model,
        fill_values=fill,
        heldout=pd.DataFrame(),
        groups={},
    )
    profiles[C.customer_id] = [f"c{i}" for i in range(n)]
    return learned, profiles


def test_learned_uplift_matches_its_predict():
    learned, profiles = learned_uplift_and_profiles()

    got = pd.concat(score_batches(learned, profiles, batch_size=33), ignore_index=True)
    long = learned.predict(profiles)
    wide = long.pivot(
        index=C.customer_id, columns=C.promotion_id, values="predicted_uplift"
    ).reindex(profiles[C.customer_id])
    assert list(got.columns) == [C.customer_id, "p1", "p2"]
    np.testing.assert_allclose(
        got[["p1", "p2"]], wide[["p1", "p2"]], rtol=0, atol=1e-12
    )


def test_learned_uplift_rejects_missing_feature_column():
    learned, profiles = learned_uplift_and_profiles()
    profiles = profiles.drop(columns=FEATURES[2])

    with pytest.raises(InputError, match=FEATURES[2]):
        next(score_batches(learned, profiles, batch_size=50))


def test_written_file_has_one_row_group_per_batch(learner, features, tmp_path):
    path = tmp_path / "scores.parquet"
    summary = write_scores(learner, features, path, batch_size=30)
    file = pq.ParquetFile(path)
    assert file.num_row_groups == 4
    assert summary.rows == N_ROWS
    assert summary.batches == 4
    assert file.schema_arrow == pa.schema(
        [(C.customer_id, pa.string()), ("a", pa.float64()), ("b", pa.float64())]
    )
    written = pq.read_table(path).to_pandas()
    expected = learner.predict(features[["frequency", "monetary", "region"]])
    np.testing.assert_allclose(written[["a", "b"]], expected, rtol=0, atol=1e-12)
    assert written[C.customer_id].tolist() == features[C.customer_id].tolist()


def test_empty_input_writes_schema_only(learner, features, tmp_path):
    empty = features.iloc[:0]
    assert list(score_batches(learner, empty)) == []
    path = tmp_path / "scores.parquet"
    summary = write_scores(learner, empty, path)
    assert summary.rows == 0
    table = pq.read_table(path)
    assert table.num_rows == 0
    assert table.schema.names == [C.customer_id, "a", "b"]


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True, "10"])
def test_invalid_batch_size_raises(learner, features, batch_size):
    with pytest.raises(InputError, match="invalid value of argument 'batch_size'"):
        score_batches(learner, features, batch_size=batch_size)
    with pytest.raises(InputError, match="invalid value of argument 'batch_size'"):
        write_scores(learner, features, "unused.parquet", batch_size=batch_size)


def test_wrong_prediction_width_raises(learner, features):
    frames = score_batches(learner, features, score_columns=["only"])
    with pytest.raises(InputError, match=r"returned shape \(101, 2\)"):
        next(frames)


def test_model_without_predict_raises(features):
    with pytest.raises(InputError, match="has no predict method"):
        score_batches(object(), features)


def test_missing_columns_raise(learner, features, tmp_path):
    with pytest.raises(InputError, match=r"missing column\(s\) \['monetary'\]"):
        score_batches(learner, features.drop(columns="monetary"))
    with pytest.raises(InputError, match=r"missing column\(s\) \['customer_id'\]"):
        score_batches(learner, features.drop(columns=C.customer_id))
    with pytest.raises(InputError, match="Parquet input not found"):
        score_batches(learner, tmp_path / "none.parquet")
