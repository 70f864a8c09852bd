"""Batch scoring throughput: top-10 lists and uplift scores for 10M customers.

One process runs these steps and times each one:

1. Fit ``ALSRecommender`` (64 factors) on the purchases of a synthetic shop
   (``promoloop.benchmarks.synthetic_events``, ``--train-customers``
   customers, ``--items`` items, one year).
2. Fold in ``--customers`` new customers. Each one's purchase history is a
   training customer's history, drawn at random, with a share of its items
   (``--swap-share``) replaced by draws from item popularity. Their factors
   come from implicit's ``recalculate_user`` (one least-squares solve per
   customer against the fitted item factors), in chunks. The model is then
   extended with these customers, their matrix rows and their factors.
3. Write the requested ids, in random order, to a Parquet file.
4. Write exact top-k lists (``write_recommendations`` without an index,
   which is ``Recommender.recommend`` batch by batch) for the first
   ``--exact-customers`` ids, and approximate lists (``FaissItemIndex``,
   faiss ``IndexIVFFlat``) for every id. Recall@k compares the approximate
   lists with the exact ones on the exact customers. An ``nprobe`` sweep
   on ``--sweep-customers`` ids shows the trade-off.
5. Fit a learned uplift model (``fit_campaign_model``) on a simulated
   randomized campaign, write a features Parquet file for every customer,
   and score it with ``write_scores``.

Peak RSS is the largest resident set of the process, sampled every 50 ms
with psutil during each step. "RSS before" is the resident set when the
step starts, mostly the model with its ``--customers`` factors.

Usage::

    python benchmarks/batch_scoring.py [--customers 10000000] [--items 5000]
        [--exact-customers 1000000] [--out DIR] [--markdown FILE]

Needs the ``bench`` and ``ann`` extras (psutil, faiss-cpu).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from promoloop.benchmarks.synthetic_events import EventGenerator, ShopConfig
from promoloop.config import UpliftConfig
from promoloop.recommend import ALSRecommender, IdMap, InteractionMatrix
from promoloop.recommend.batch import (
    FaissItemIndex,
    recommend_batches,
    write_recommendations,
)
from promoloop.recommend.interactions import interactions_from_events, sum_matrix
from promoloop.targeting.batch import write_scores
from promoloop.targeting.learned import CONTROL, fit_campaign_model, model_features
from promoloop.vocabulary import Columns as C
from promoloop.vocabulary import EventType

HERE = Path(__file__).resolve().parent
SAMPLE_SECONDS = 0.05
MIB = 2**20

# ALS settings: implicit 0.7's defaults, with 64 factors.
ALS_SETTINGS = {"factors": 64, "regularization": 0.01, "alpha": 1.0, "iterations": 15}


class PeakMemory:
    """Sample this process's resident set in a thread and keep the maximum."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def rss(self) -> int:
        return self._process.memory_info().rss

    def cpu_seconds(self) -> float:
        """Return the user and system CPU time of the process, all threads."""
        times = self._process.cpu_times()
        return times.user + times.system

    def reset(self) -> int:
        """Start a new step: return the current RSS and make it the peak."""
        with self._lock:
            self._peak = self.rss()
            return self._peak

    def peak(self) -> int:
        with self._lock:
            return max(self._peak, self.rss())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        # The lock keeps a sample taken before a reset from landing after it.
        while not self._stop.wait(SAMPLE_SECONDS):
            with self._lock:
                self._peak = max(self._peak, self.rss())


@contextlib.contextmanager
def step(name: str, memory: PeakMemory, results: dict, customers: int | None = None):
    """Time a step and record its seconds, CPU seconds, customers/s and memory."""
    before = memory.reset()
    cpu_before = memory.cpu_seconds()
    started = time.perf_counter()
    record: dict = {}
    yield record
    seconds = time.perf_counter() - started
    record.update(
        seconds=seconds,
        cpu_seconds=memory.cpu_seconds() - cpu_before,
        rss_before_mib=before / MIB,
        peak_rss_mib=memory.peak() / MIB,
    )
    if customers:
        record.update(customers=customers, customers_per_second=customers / seconds)
    results[name] = record
    print(
        f"{name}: {seconds:.1f} s ({record['cpu_seconds']:.1f} CPU s), "
        f"peak RSS {record['peak_rss_mib']:,.0f} MiB"
    )


# Step 1: the training shop and the model


def fit_shop_model(customers: int, items: int, seed: int) -> tuple[ALSRecommender, int]:
    """Generate a one-year shop and fit ALS on its purchases."""
    config = ShopConfig(n_customers=customers, n_items=items, seed=seed)
    purchases = []
    for _, day in EventGenerator(config).days():
        bought = day.filter(pc.equal(day[C.event_type], EventType.PURCHASE))
        purchases.append(
            bought.select([C.customer_id, C.item_id, C.event_type, C.timestamp])
        )
    events = pa.concat_tables(purchases).to_pandas()
    interactions = interactions_from_events(events)
    model = ALSRecommender(**ALS_SETTINGS, num_threads=0, random_state=seed)
    model.fit(interactions[interactions[C.customer_id].notna()])
    return model, len(events)


# Step 2: fold-in customers


def customer_ids(start: int, stop: int) -> np.ndarray:
    """Ids of fold-in customers ``start..stop-1``, sortable as strings."""
    numbers = np.arange(start, stop).astype(str)
    return np.char.add("n", np.char.zfill(numbers, 9)).astype(object)


def draw_histories(
    model: ALSRecommender, n: int, swap_share: float, rng: np.random.Generator
) -> sp.csr_matrix:
    """Draw ``n`` purchase histories from the training customers' histories."""
    matrix = model.interactions_.matrix
    lengths_all = np.diff(matrix.indptr)
    active = np.flatnonzero(lengths_all > 0)
    templates = rng.choice(active, n)
    lengths = lengths_all[templates]

    # Positions of the templates' entries in the training matrix.
    starts = np.repeat(
        matrix.indptr[templates] - np.r_[0, np.cumsum(lengths)[:-1]], lengths
    )
    positions = starts + np.arange(lengths.sum())
    items = matrix.indices[positions].astype(np.int64)
    weights = matrix.data[positions]

    # A share of the items is swapped for a draw by popularity.
    swap = rng.random(len(items)) < swap_share
    popularity = np.cumsum(model.popularity_) / model.popularity_.sum()
    drawn = np.searchsorted(popularity, rng.random(int(swap.sum())), side="right")
    items[swap] = np.minimum(drawn, len(popularity) - 1)
    rows = np.repeat(np.arange(n), lengths)
    return sum_matrix(rows, items, weights, (n, matrix.shape[1]))


def fold_in(
    model: ALSRecommender, n: int, chunk: int, swap_share: float, seed: int
) -> ALSRecommender:
    """Return an ALS model of ``n`` new customers with the trained item factors."""
    rng = np.random.default_rng(seed + 1)
    solver = AlternatingLeastSquares(**ALS_SETTINGS, num_threads=0)
    solver.item_factors = np.ascontiguousarray(model.item_factors_, dtype=np.float32)
    factors = np.empty((n, ALS_SETTINGS["factors"]), dtype=np.float32)
    parts = []
    with threadpool_limits(1, "blas"):
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            histories = draw_histories(model, size, swap_share, rng)
            factors[start : start + size] = solver.recalculate_user(
                np.arange(size), histories
            )
            parts.append(histories)

    # The extended model: the new customers' matrix, ids and factors.
    # NOTE: the fitted attributes are set by hand, because the package has no
    # fold-in API. The scoring code reads only these attributes.
    extended = ALSRecommender(**ALS_SETTINGS)
    ids = IdMap(pd.Series(customer_ids(0, n), dtype="string"), name=C.customer_id)
    matrix = sp.vstack(parts, format="csr")
    extended.interactions_ = InteractionMatrix(matrix, ids, model.items_)
    extended.popularity_ = model.popularity_
    extended.customer_factors_ = factors
    extended.item_factors_ = model.item_factors_
    return extended


# Step 3: the requested ids


def write_ids(path: Path, n: int, seed: int, chunk: int = 1_000_000) -> None:
    """Write ids of customers 0..n-1 in random order, one row group per chunk."""
    order = np.random.default_rng(seed + 2).permutation(n)
    schema = pa.schema([(C.customer_id, pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n, chunk):
            numbers = order[start : start + chunk]
            ids = np.char.add("n", np.char.zfill(numbers.astype(str), 9))
            writer.write_table(pa.table({C.customer_id: pa.array(ids, pa.string())}))


def head_of(path: Path, rows: int, out: Path) -> Path:
    """Write the first ``rows`` rows of a Parquet file to ``out``."""
    written = 0
    source = pq.ParquetFile(path)
    with pq.ParquetWriter(out, source.schema_arrow) as writer:
        for batch in source.iter_batches(batch_size=min(rows, 1_000_000)):
            batch = batch.slice(0, rows - written)
            writer.write_batch(batch)
            written += batch.num_rows
            if written >= rows:
                break
    return out


# Step 4: exact against approximate


def recall_of_files(exact: Path, approximate: Path, k: int) -> float:
    """Recall@k of approximate lists against exact ones, row group by row group.

    Both files were written with the same batch size from the same id order,
    so row group i contains the same customers in both. The exact file may
    have fewer row groups.
    """
    exact_file, approx_file = pq.ParquetFile(exact), pq.ParquetFile(approximate)
    hits = total = 0
    for group in range(exact_file.num_row_groups):
        columns = [C.customer_id, C.item_id]
        want = exact_file.read_row_group(group, columns).to_pandas()
        got = approx_file.read_row_group(group, columns).to_pandas()
        hits += len(want.merge(got, on=columns))
        total += want[C.customer_id].nunique() * k
    return hits / total


def recall_of_frames(exact: pd.DataFrame, approximate: pd.DataFrame, k: int) -> float:
    columns = [C.customer_id, C.item_id]
    hits = len(exact[columns].merge(approximate[columns], on=columns))
    return hits / (exact[C.customer_id].nunique() * k)


def sweep_nprobe(model, ids: Path, k: int, batch_size: int, settings: list[str]):
    """Recall@k and customers/s of the index for several ``nprobe``.

    The setting "all" probes every list, an exhaustive search in float32.
    """
    started = time.perf_counter()
    exact = pd.concat(
        recommend_batches(model, ids, k, batch_size=batch_size), ignore_index=True
    )
    n = exact[C.customer_id].nunique()
    nlist = FaissItemIndex().fit(model).index_.nlist
    rows = [
        {
            "nlist": None,
            "nprobe": "exact",
            "recall": 1.0,
            "customers_per_second": n / (time.perf_counter() - started),
        }
    ]
    for setting in settings:
        nprobe = nlist if setting == "all" else int(setting)
        index = FaissItemIndex(nprobe=nprobe).fit(model)
        started = time.perf_counter()
        frames = recommend_batches(model, ids, k, batch_size=batch_size, index=index)
        approximate = pd.concat(frames, ignore_index=True)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "nlist": int(index.index_.nlist),
                "nprobe": int(index.index_.nprobe),
                "recall": recall_of_frames(exact, approximate, k),
                "customers_per_second": n / seconds,
            }
        )
        print(f"  nprobe {nprobe}: recall {rows[-1]['recall']:.4f}")
    return rows


# Step 5: uplift scores


FEATURE_COLUMNS = [
    "recency_days",
    "frequency",
    "monetary",
    "gross_spend",
    "returns_value",
    "return_rate",
    "avg_order_value",
    "basket_size",
    "units_per_order",
    "interpurchase_days",
    "discount_share",
    "tenure_days",
]


def draw_features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Draw behaviour features of ``n`` customers, 10% of them without history (NaN)."""
    frequency = 1.0 + rng.poisson(rng.gamma(0.5, 6.0, n))
    order_value = rng.lognormal(np.log(40.0), 0.5, n)
    discount_share = rng.beta(1.0, 6.0, n)
    return_rate = rng.beta(1.0, 15.0, n)
    basket = 1.0 + rng.gamma(1.5, 1.0, n)
    tenure = rng.uniform(30.0, 720.0, n)
    monetary = frequency * order_value
    frame = pd.DataFrame(
        {
            "recency_days": tenure * rng.beta(1.0, 3.0, n),
            "frequency": frequency,
            "monetary": monetary,
            "gross_spend": monetary / (1.0 - 0.5 * discount_share),
            "returns_value": monetary * return_rate,
            "return_rate": return_rate,
            "avg_order_value": order_value,
            "basket_size": basket,
            "units_per_order": basket * (1.0 + rng.gamma(0.5, 0.3, n)),
            "interpurchase_days": np.where(frequency > 1, tenure / frequency, np.nan),
            "discount_share": discount_share,
            "tenure_days": tenure,
        }
    )
    frame.loc[rng.random(n) < 0.1, FEATURE_COLUMNS] = np.nan
    return frame


def fit_uplift(n: int, seed: int):
    """Fit the learned uplift of a simulated campaign with two offers.

    The outcome is net margin over 28 days: a base that grows with spend,
    plus an effect that only frequent buyers show, larger for the deeper
    offer, plus noise.
    """
    rng = np.random.default_rng(seed + 3)
    profile = draw_features(rng, n)
    treatment = rng.choice([CONTROL, "10pct", "20pct"], n, p=[0.2, 0.4, 0.4])
    frequent = profile["frequency"].fillna(0).to_numpy() >= 4
    effect = np.select(
        [treatment == "10pct", treatment == "20pct"],
        [np.where(frequent, 3.0, -0.5), np.where(frequent, 5.0, -1.5)],
        0.0,
    )
    base = 0.02 * profile["monetary"].fillna(0).to_numpy()
    y = base + effect + rng.normal(0.0, 8.0, n)
    X = model_features(profile, None)
    exposed_at = pd.Timestamp("2024-06-01", tz="UTC")
    return fit_campaign_model(
        "bench", exposed_at, X, treatment, y, UpliftConfig(), seed
    )


def write_features(path: Path, n: int, seed: int, chunk: int = 1_000_000) -> None:
    """Write features of customers 0..n-1, one row group per chunk."""
    rng = np.random.default_rng(seed + 4)
    writer = None
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        frame = draw_features(rng, size)
        frame.insert(0, C.customer_id, customer_ids(start, start + size))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


# The run


def run(args: argparse.Namespace, out: Path) -> dict:
    memory = PeakMemory()
    steps: dict[str, dict] = {}
    n, k = args.customers, args.k
    exact_n = min(args.exact_customers, n)

    with step("fit ALS on the training shop", memory, steps) as record:
        shop_model, n_purchases = fit_shop_model(
            args.train_customers, args.items, args.seed
        )
        record.update(
            purchase_lines=n_purchases, trained_customers=len(shop_model.customers_)
        )
    with step("fold in customers (recalculate_user)", memory, steps, n) as record:
        model = fold_in(shop_model, n, args.fold_in_chunk, args.swap_share, args.seed)
        record["interactions"] = int(model.interactions_.matrix.nnz)
    del shop_model
    with step("write the requested ids", memory, steps):
        ids = out / "ids.parquet"
        write_ids(ids, n, args.seed)
        exact_ids = head_of(ids, exact_n, out / "exact_ids.parquet")

    print("nprobe sweep")
    sweep_ids = head_of(ids, min(args.sweep_customers, n), out / "sweep_ids.parquet")
    sweep = sweep_nprobe(model, sweep_ids, k, args.batch_size, args.sweep_nprobe)

    exact_out, approx_out = out / "exact.parquet", out / "approximate.parquet"
    with step("exact top-k (Recommender.recommend)", memory, steps, exact_n) as record:
        summary = write_recommendations(
            model, exact_ids, exact_out, k, batch_size=args.batch_size
        )
        record.update(rows=summary.rows, batches=summary.batches)
    with step("build the faiss index", memory, steps) as record:
        index = FaissItemIndex(nprobe=args.nprobe).fit(model)
        record.update(nlist=int(index.index_.nlist), nprobe=args.nprobe)
    with step("approximate top-k (faiss IVF)", memory, steps, n) as record:
        summary = write_recommendations(
            model, ids, approx_out, k, batch_size=args.batch_size, index=index
        )
        record.update(
            rows=summary.rows,
            batches=summary.batches,
            recall=recall_of_files(exact_out, approx_out, k),
            parquet_mib=approx_out.stat().st_size / MIB,
        )
    del model, index

    with step("fit learned uplift on a campaign", memory, steps) as record:
        learned = fit_uplift(args.campaign_customers, args.seed)
        record.update(learner=learned.learner_name, rows=args.campaign_customers)
    with step("write the features", memory, steps):
        features = out / "features.parquet"
        write_features(features, n, args.seed)
    with step("uplift scores (write_scores)", memory, steps, n) as record:
        summary = write_scores(
            learned, features, out / "uplift.parquet", batch_size=args.score_batch_size
        )
        record.update(rows=summary.rows, batches=summary.batches)
    memory.close()
    return {"steps": steps, "nprobe_sweep": sweep}


def environment() -> dict:
    """Return the machine, the library versions and the load behind the figures."""
    packages = ["numpy", "pandas", "pyarrow", "implicit", "faiss-cpu", "lightgbm"]
    return {
        "machine": platform.platform(),
        "cores": psutil.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "python": platform.python_version(),
        "versions": {name: version(name) for name in packages},
        "load_average_at_start": os.getloadavg(),
        "date": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d"),
    }


def markdown(payload: dict) -> str:
    """Format the results as the "Batch scoring" section of docs/benchmarks.md."""
    env, args, steps = payload["environment"], payload["settings"], payload["steps"]
    command = ".venv/bin/python benchmarks/batch_scoring.py"
    if args["customers"] != 10_000_000:
        command += f" --customers {args['customers']}"
    lines = [
        "## Batch scoring",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Measured on {env['date']}: {env['cores']} cores, "
        f"{env['memory_gib']:.0f} GiB, Python {env['python']}, "
        + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
        + ". Load average at the start: "
        + ", ".join(f"{x:.1f}" for x in env["load_average_at_start"])
        + f". Whole run: {payload['total_seconds'] / 60:.1f} minutes.",
        "",
        "| step | customers | seconds | CPU seconds | customers/s "
        "| RSS before (MiB) | peak RSS (MiB) | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, record in steps.items():
        customers = record.get("customers")
        rate = record.get("customers_per_second")
        lines.append(
            f"| {name} | {'' if customers is None else f'{customers:,}'} "
            f"| {record['seconds']:.1f} | {record['cpu_seconds']:.1f} "
            f"| {'' if rate is None else f'{rate:,.0f}'} "
            f"| {record['rss_before_mib']:,.0f} | {record['peak_rss_mib']:,.0f} "
            f"| {_notes(record)} |"
        )
    lines += [
        "",
        f"Retrieval on the first {payload['settings']['sweep_customers']:,} "
        "requested customers, lists in memory:",
        "",
        "| retrieval | nlist | nprobe | recall@10 | customers/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in payload["nprobe_sweep"]:
        if row["nprobe"] == "exact":
            name, nlist, nprobe = "exact (Recommender.recommend)", "", ""
        else:
            name, nlist, nprobe = "faiss IVF", row["nlist"], row["nprobe"]
        lines.append(
            f"| {name} | {nlist} | {nprobe} | {row['recall']:.4f} "
            f"| {row['customers_per_second']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def _notes(record: dict) -> str:
    parts = []
    for key in ("interactions", "rows", "batches", "nlist", "nprobe", "learner"):
        if key in record:
            value = record[key]
            parts.append(
                f"{key} {value:,}" if isinstance(value, int) else f"{key} {value}"
            )
    if "recall" in record:
        parts.append(f"recall@10 against exact {record['recall']:.4f}")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--customers",
        type=int,
        default=10_000_000,
        help="customers folded in and scored (default 10000000)",
    )
    parser.add_argument(
        "--exact-customers",
        type=int,
        default=1_000_000,
        help="customers given exact lists (default 1000000)",
    )
    parser.add_argument(
        "--sweep-customers",
        type=int,
        default=50_000,
        help="customers of the nprobe sweep (default 50000)",
    )
    parser.add_argument(
        "--sweep-nprobe",
        default="1,4,8,16,32,all",
        help="comma-separated nprobe settings of the sweep; all = every list",
    )
    parser.add_argument(
        "--nprobe",
        type=int,
        default=16,
        help="lists probed in the full approximate run (default 16)",
    )
    parser.add_argument(
        "--train-customers",
        type=int,
        default=100_000,
        help="customers of the training shop (default 100000)",
    )
    parser.add_argument(
        "--items", type=int, default=5_000, help="items of the shop (default 5000)"
    )
    parser.add_argument(
        "--swap-share",
        type=float,
        default=0.3,
        help="share of a drawn history's items replaced by "
        "popularity draws (default 0.3)",
    )
    parser.add_argument(
        "--campaign-customers",
        type=int,
        default=20_000,
        help="customers of the simulated campaign (default 20000)",
    )
    parser.add_argument("--k", type=int, default=10, help="items per list (default 10)")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=50_000,
        help="customers per recommendation batch (default 50000)",
    )
    parser.add_argument(
        "--score-batch-size",
        type=int,
        default=200_000,
        help="rows per uplift scoring batch (default 200000)",
    )
    parser.add_argument(
        "--fold-in-chunk",
        type=int,
        default=500_000,
        help="customers per recalculate_user call (default 500000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--out",
        type=Path,
        help="folder of the Parquet files (default: a temporary "
        "folder, removed at the end)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "results" / "batch_scoring.json",
        help="output file of the raw results",
    )
    parser.add_argument(
        "--markdown", type=Path, help="also write the Markdown section to this file"
    )
    args = parser.parse_args()
    args.sweep_nprobe = args.sweep_nprobe.split(",")

    started = time.perf_counter()
    payload = {"environment": environment(), "settings": vars(args).copy()}
    with contextlib.ExitStack() as stack:
        out = args.out
        if out is None:
            out = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        out.mkdir(parents=True, exist_ok=True)
        payload.update(run(args, out))
    payload["total_seconds"] = time.perf_counter() - started
    payload["environment"]["load_average_at_end"] = os.getloadavg()
    payload["settings"] = {
        key: str(value) if isinstance(value, Path) else value
        for key, value in payload["settings"].items()
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, indent=2) + "\n")
    section = markdown(payload)
    if args.markdown is not None:
        args.markdown.write_text(section)
    print(section)


if __name__ == "__main__":
    main()
