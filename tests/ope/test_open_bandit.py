"""Open Bandit reader, BTS target policy, truth and the ``promoloop ope`` command."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from promoloop.cli import app
from promoloop.errors import InputError
from promoloop.ope import InversePropensityScoring
from promoloop.ope.open_bandit import (
    load_campaign,
    log_path,
    on_policy_value,
    position_distribution,
    read_log_file,
)
from promoloop.ope.open_bandit_report import (
    ESTIMATE_COLUMNS,
    write_open_bandit_report,
)
from promoloop.warnings import SupportWarning

runner = CliRunner()

# Nine rounds of a uniform random policy over three items: each item once at
# each position, with a click on (item 1, position 1), (item 2, position 2)
# and (item 0, position 3).
RANDOM_ROWS = [
    (0, 1, 0),
    (1, 1, 1),
    (2, 1, 0),
    (0, 2, 0),
    (1, 2, 0),
    (2, 2, 1),
    (0, 3, 1),
    (1, 3, 0),
    (2, 3, 0),
]
# Six BTS rounds as (item, position, click, propensity_score).
BTS_ROWS = [
    (0, 1, 1, 0.6),
    (0, 1, 0, 0.4),
    (1, 1, 0, 0.3),
    (2, 2, 1, 0.5),
    (0, 3, 0, 0.2),
    (1, 3, 0, 0.2),
]


def log_frame(rows: list[tuple], pscore: float | None = None) -> pd.DataFrame:
    """Build a log table in the layout of the Open Bandit files."""
    frame = pd.DataFrame(
        {
            "timestamp": "2019-11-24 00:00:00+00:00",
            "item_id": [row[0] for row in rows],
            "position": [row[1] for row in rows],
            "click": [row[2] for row in rows],
            "propensity_score": [
                pscore if pscore is not None else row[3] for row in rows
            ],
        }
    )
    frame["user_feature_0"] = ["a", "b", "a"] * (len(rows) // 3) + ["a"] * (
        len(rows) % 3
    )
    # One affinity column per item, as in the dataset: three items here.
    for item in range(3):
        frame[f"user-item_affinity_{item}"] = 0.0
    return frame


def write_logs(folder, random_frame, bts_frame, campaign="all"):
    """Write both logs with an unnamed index column, as the dataset does."""
    for policy, frame in (("random", random_frame), ("bts", bts_frame)):
        path = log_path(folder, policy, campaign)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path)
    return folder


@pytest.fixture
def toy_dir(tmp_path):
    return write_logs(tmp_path, log_frame(RANDOM_ROWS, 1 / 3), log_frame(BTS_ROWS))


def test_reader_drops_index_column(toy_dir):
    frame = read_log_file(log_path(toy_dir, "bts", "all"))
    assert "Unnamed: 0" not in frame.columns
    assert frame["item_id"].tolist() == [0, 0, 1, 2, 0, 1]
    assert frame["position"].dtype == np.int64
    assert frame["propensity_score"].tolist() == [0.6, 0.4, 0.3, 0.5, 0.2, 0.2]


def test_campaign_codes_and_context(toy_dir):
    campaign = load_campaign(toy_dir, "all")
    log = campaign.random_log
    assert log.action_names == ("0", "1", "2")
    assert log.position_names == ("1", "2", "3")
    assert log.position.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # user_feature_0 takes "a" and "b": two one-hot columns.
    assert log.context.shape == (9, 2)
    assert log.context[:3].tolist() == [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    assert campaign.bts_log.context is None


def test_target_normalized_mean_pscore(toy_dir):
    target = load_campaign(toy_dir, "all").target_dist
    # Position 1: item 0 mean (0.6 + 0.4) / 2 = 0.5, item 1 0.3, item 2 never
    # logged there; normalized by 0.8. Position 2: only item 2. Position 3:
    # items 0 and 1 at 0.2 each.
    expected = np.array(
        [
            [0.5 / 0.8, 0.0, 0.5],
            [0.3 / 0.8, 0.0, 0.5],
            [0.0, 1.0, 0.0],
        ]
    )
    np.testing.assert_allclose(target, expected)
    np.testing.assert_allclose(target.sum(axis=0), [1.0, 1.0, 1.0])


def test_ips_with_bts_target_hand_computed(toy_dir):
    campaign = load_campaign(toy_dir, "all")
    value = InversePropensityScoring().estimate_policy_value(
        campaign.random_log, campaign.action_dist()
    )
    # Clicked rounds with weight target / (1/3): item 1 at position 1 gets
    # 0.375 * 3, item 2 at position 2 gets 1 * 3, item 0 at position 3 gets
    # 0.5 * 3. IPS is their sum over the nine rounds.
    assert value == pytest.approx((0.375 * 3 + 1.0 * 3 + 0.5 * 3) / 9)


def test_truth_wilson_interval(toy_dir):
    truth = load_campaign(toy_dir, "all").truth
    assert truth.value == pytest.approx(2 / 6)
    assert (truth.n_rounds, truth.n_clicks) == (6, 2)
    # Wilson score interval: center (k + z^2/2) / (n + z^2), half-width
    # z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4).
    z = norm.ppf(0.975)
    center = (2 + z**2 / 2) / (6 + z**2)
    half = z / (6 + z**2) * math.sqrt(2 * 4 / 6 + z**2 / 4)
    assert truth.low == pytest.approx(center - half)
    assert truth.high == pytest.approx(center + half)


def test_truth_interval_follows_alpha(toy_dir):
    narrow = load_campaign(toy_dir, "all", alpha=0.5).truth
    wide = on_policy_value(load_campaign(toy_dir, "all").bts_log, alpha=0.01)
    assert wide.low < narrow.low < narrow.value < narrow.high < wide.high


def test_position_without_rounds_raises(toy_dir):
    bts_log = load_campaign(toy_dir, "all").bts_log
    only_first = [row for row in BTS_ROWS if row[1] == 1]
    write_logs(toy_dir, log_frame(RANDOM_ROWS, 1 / 3), log_frame(only_first))
    with pytest.raises(InputError, match="no round at position 2"):
        load_campaign(toy_dir, "all")
    assert position_distribution(bts_log).shape == (3, 3)


def test_data_dir_parent_is_accepted(tmp_path):
    write_logs(
        tmp_path / "open-bandit", log_frame(RANDOM_ROWS, 1 / 3), log_frame(BTS_ROWS)
    )
    campaign = load_campaign(tmp_path, "all")
    assert campaign.random_log.n_rounds == 9


def set_cell(column, row, value):
    def change(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return change


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (
            set_cell("propensity_score", 1, 0.0),
            r"invalid propensity_score in 1 of 6 rows; at file .*bts"
            r".*all\.csv, row 2, column 'propensity_score'; value 0\.0\. "
            r"Expected the probability, in \(0, 1\]",
        ),
        (
            set_cell("propensity_score", 2, 1.5),
            r"row 3, column 'propensity_score'; value 1\.5",
        ),
        (
            set_cell("propensity_score", 0, "high"),
            r"row 1, column 'propensity_score'; value 'high'",
        ),
        (
            set_cell("propensity_score", 4, None),
            r"row 5, column 'propensity_score'\. Expected the probability",
        ),
        (set_cell("position", 3, 4), r"row 4, column 'position'; value 4\. "),
        (set_cell("click", 5, 2), r"row 6, column 'click'; value 2\. Expected click"),
        (set_cell("item_id", 0, -1), r"row 1, column 'item_id'; value -1"),
        (set_cell("item_id", 2, 1.5), r"row 3, column 'item_id'; value 1\.5"),
        (
            lambda frame: frame.drop(columns="propensity_score"),
            r"no column 'propensity_score'.*Fix: restore the original file",
        ),
        (lambda frame: frame.drop(columns="click"), r"no column 'click'"),
        (lambda frame: frame.iloc[:0], r"has no rows"),
    ],
)
def test_bad_bts_file_raises(tmp_path, change, pattern):
    write_logs(tmp_path, log_frame(RANDOM_ROWS, 1 / 3), change(log_frame(BTS_ROWS)))
    with pytest.raises(InputError, match=pattern):
        load_campaign(tmp_path, "all")


def test_missing_file_error_message(toy_dir):
    log_path(toy_dir, "random", "all").unlink()
    with pytest.raises(InputError) as caught:
        load_campaign(toy_dir, "all")
    message = str(caught.value)
    assert "Open Bandit log file not found" in message
    assert str(log_path(toy_dir, "random", "all")) in message
    assert "Fix: pass --data-dir" in message


def test_unknown_campaign_raises(toy_dir):
    with pytest.raises(InputError, match="unknown Open Bandit campaign 'kids'"):
        load_campaign(toy_dir, "kids")


def simulated_logs(folder, n_rounds=600, n_items=4, seed=0):
    """Write random and BTS logs with known click rates, for the command."""
    rng = np.random.default_rng(seed)
    click_rate = np.array([0.02, 0.05, 0.1, 0.2])[:n_items]
    bts_probability = np.array([0.1, 0.2, 0.3, 0.4])[:n_items]
    frames = {}
    for policy in ("random", "bts"):
        probability = (
            np.full(n_items, 1 / n_items) if policy == "random" else bts_probability
        )
        item = rng.choice(n_items, size=n_rounds, p=probability)
        frames[policy] = pd.DataFrame(
            {
                "item_id": item,
                "position": rng.integers(1, 4, size=n_rounds),
                "click": (rng.random(n_rounds) < click_rate[item]).astype(int),
                "propensity_score": probability[item],
                "user_feature_0": rng.choice(["x", "y", "z"], size=n_rounds),
            }
        )
    return write_logs(folder, frames["random"], frames["bts"])


def test_command_writes_outputs(tmp_path):
    data_dir = simulated_logs(tmp_path / "data")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "ope",
            "--data-dir",
            str(data_dir),
            "--out",
            str(out),
            "--campaigns",
            "all",
            "--n-bootstrap",
            "50",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 6 estimates for 1 campaigns" in result.output
    table = pd.read_csv(out / "estimates.csv")
    assert list(table.columns) == ESTIMATE_COLUMNS
    assert table["estimator"].tolist() == [
        "dm",
        "ips",
        "snips",
        "dr",
        "switch-dr",
        "dr-shrinkage",
    ]
    report = (out / "report.md").read_text()
    assert "## Campaign all" in report
    assert "within the noise" in report


def test_report_quotes_interval_widths(tmp_path):
    shared = {
        "campaign": "men",
        "truth": 0.004,
        "truth_low": 0.003,
        "truth_high": 0.005,
        "ess": 100.0,
        "max_weight": 2.0,
        "n_rounds": 1000,
        "n_clicks": 40,
        "truth_n_rounds": 1000,
        "truth_n_clicks": 60,
    }
    rows = [
        {"estimator": "dm", "value": 0.005, "ci_low": 0.0049, "ci_high": 0.0051},
        {"estimator": "ips", "value": 0.006, "ci_low": 0.002, "ci_high": 0.006},
    ]

    for row, error, covers in zip(rows, [0.25, 0.5], [False, True], strict=True):
        row.update(shared, relative_error=error, covers_truth=covers)
    table = pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)

    csv_path, report_path = write_open_bandit_report(
        table, tmp_path, data_dir="obd", n_bootstrap=10, seed=3
    )
    report = report_path.read_text()

    assert pd.read_csv(csv_path)["estimator"].tolist() == ["dm", "ips"]
    assert "| ips | 0.00600 | 0.00200 to 0.00600 | 50% | yes | 100 | 2.00 |" in report
    assert "between 40 and 60 clicks" in report
    # Truth: (0.005 - 0.003) / 0.004. IPS: (0.006 - 0.002) / 0.004. DM:
    # (0.0051 - 0.0049) / 0.004.
    assert "The truth's 95% interval spans 50% to 50% of its value." in report
    assert "(IPS, SNIPS and the DR family) span 100% to 100% of the truth" in report
    assert "DM's intervals span only 5% to 5% of the truth" in report
    assert "Relative errors here range from 25% to 50%." in report
    assert "10 resamples of rounds, seed 3" in report


@pytest.mark.parametrize(
    ("arguments", "pattern"),
    [
        (["--campaigns", "all,kids"], r"invalid --campaigns 'all,kids'"),
        (["--data-dir", "missing-folder"], r"Open Bandit data folder .* not found"),
        (["--out", "a-file.txt"], r"the output path .*a-file.txt is a file"),
    ],
)
def test_command_bad_input_exits_2(tmp_path, monkeypatch, arguments, pattern):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file.txt").write_text("not a folder")
    data_dir = simulated_logs(tmp_path / "data")
    options = {"--data-dir": str(data_dir), "--out": "out", "--campaigns": "all"}
    options.update(dict(zip(arguments[::2], arguments[1::2], strict=True)))
    flat = [item for pair in options.items() for item in pair]
    result = runner.invoke(app, ["ope", *flat, "--no-progress"])
    assert result.exit_code == 2, result.output
    assert re.search(pattern, result.output), result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_command_on_real_samples(data_dir, tmp_path):
    folder = data_dir / "open-bandit"
    if not folder.is_dir():
        pytest.skip(f"Open Bandit samples not found under {data_dir}")
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(
            app,
            ["ope", "--data-dir", str(folder), "--out", str(out), "--no-progress"],
        )
    assert result.exit_code == 0, result.output
    # The random logs show every item, so the BTS policy is fully supported.
    assert not [w for w in caught if issubclass(w.category, SupportWarning)]
    assert (out / "report.md").is_file()
    table = pd.read_csv(out / "estimates.csv")
    assert len(table) == 3 * 6
    numbers = table.select_dtypes("number").to_numpy()
    assert np.isfinite(numbers).all()

    for campaign in ("all", "men", "women"):
        loaded = load_campaign(folder, campaign)
        bts = pd.read_csv(log_path(folder, "bts", campaign))
        random = pd.read_csv(log_path(folder, "random", campaign))
        rows = table[table["campaign"] == campaign]
        assert rows["truth"].tolist() == pytest.approx([bts["click"].mean()] * 6)
        assert rows["n_clicks"].iloc[0] == random["click"].sum()

        # Sanity identity: the uniform policy's IPS value on the uniform
        # random log is the log's own mean click, since every weight is 1.
        log = loaded.random_log
        uniform = np.full((log.n_rounds, log.n_actions, log.n_positions), 1.0)
        uniform /= log.n_actions
        ips = InversePropensityScoring().estimate_policy_value(log, uniform)
        assert ips == pytest.approx(random["click"].mean(), rel=1e-12)


def test_item_beyond_affinity_columns_raises(tmp_path):
    bts = log_frame(BTS_ROWS)
    bts.loc[4, "item_id"] = 999
    folder = write_logs(tmp_path, log_frame(RANDOM_ROWS, 1 / 3), bts)

    with pytest.raises(InputError, match="item id beyond the file's 3 items") as err:
        load_campaign(folder, "all")

    assert err.value.row == 5
    assert err.value.value == 999
    assert err.value.column == "item_id"
