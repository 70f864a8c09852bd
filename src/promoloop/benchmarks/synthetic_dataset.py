"""Write a synthetic shop to Parquet in chunks of days, and read it back.

Layout of a shop folder::

    ROOT/manifest.json                      settings and event counts
    ROOT/items.parquet                      the items table
    ROOT/events/date=YYYY-MM-DD/*.parquet   canonical events, hive partitioned

Only one chunk of days is in memory at a time, so the size of a shop is
bounded by the disk, not by memory. A chunk contains about
``chunk_days * events per day`` rows (roughly 150 bytes each in Arrow).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from promoloop.benchmarks.synthetic_events import (
    EVENT_SCHEMA,
    EventGenerator,
    ShopConfig,
    generate_items,
)
from promoloop.errors import InputError
from promoloop.vocabulary import Columns as C

logger = logging.getLogger(__name__)

EVENTS_DIR = "events"
ITEMS_FILE = "items.parquet"
MANIFEST_FILE = "manifest.json"
PARTITION_COLUMN = "date"


@dataclass(frozen=True)
class ShopDataset:
    """A synthetic shop written to a folder.

    Attributes
    ----------
    root : Path
        The shop folder.
    config : ShopConfig
        Settings the shop was generated with.
    n_events : int
        Rows of the events table.
    event_counts : dict of str to int
        Rows per event type.
    n_customers_seen : int
        Distinct customer ids in the events.
    """

    root: Path
    config: ShopConfig
    n_events: int
    event_counts: dict[str, int]
    n_customers_seen: int

    @property
    def events_path(self) -> Path:
        """Folder of the hive-partitioned events dataset."""
        return self.root / EVENTS_DIR

    @property
    def items_path(self) -> Path:
        """Parquet file of the items table."""
        return self.root / ITEMS_FILE


def write_shop(
    config: ShopConfig,
    root: str | Path,
    *,
    chunk_days: int = 7,
    overwrite: bool = False,
    show_progress: bool = False,
) -> ShopDataset:
    """Generate a shop and write its items and events under ``root``.

    Parameters
    ----------
    config : ShopConfig
        The shop to generate.
    root : str or Path
        Output folder; created when missing.
    chunk_days : int, default 7
        Days generated and written together. The data do not depend on it.
    overwrite : bool, default False
        Replace the events, items and manifest already in ``root``.
    show_progress : bool, default False
        Show a progress bar over the chunks.

    Returns
    -------
    ShopDataset

    Raises
    ------
    InputError
        If ``root`` already contains a shop and ``overwrite`` is False, or if
        ``chunk_days`` is below 1.
    """
    root = Path(root)
    if chunk_days < 1:
        raise InputError(
            "chunk_days must be at least 1",
            value=chunk_days,
            fix="pass a whole number of days such as 7",
        )
    if (root / EVENTS_DIR).exists() or (root / MANIFEST_FILE).exists():
        if not overwrite:
            raise InputError(
                "the folder already contains a synthetic shop",
                file=str(root),
                fix="pass overwrite=True or choose an empty folder",
            )
        shutil.rmtree(root / EVENTS_DIR, ignore_errors=True)
        (root / MANIFEST_FILE).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)

    # Items
    items = generate_items(config)
    items.to_parquet(root / ITEMS_FILE, index=False)

    # Events, one chunk of days at a time
    generator = EventGenerator(config)
    counts: dict[str, int] = {}
    customers: set[str] = set()
    n_chunks = -(-config.days // chunk_days)
    chunk: list[pa.Table] = []
    progress = tqdm(total=n_chunks, desc="events", disable=not show_progress)
    for day, table in generator.days():
        _count(table, counts, customers)
        chunk.append(_with_partition(day, table))
        if len(chunk) == chunk_days:
            _write_chunk(root / EVENTS_DIR, chunk, progress.n)
            progress.update()
            chunk = []
    if chunk:
        _write_chunk(root / EVENTS_DIR, chunk, progress.n)
        progress.update()
    progress.close()

    shop = ShopDataset(
        root=root,
        config=config,
        n_events=sum(counts.values()),
        event_counts=dict(sorted(counts.items())),
        n_customers_seen=len(customers),
    )
    _write_manifest(shop)
    logger.info("wrote %d events of a synthetic shop to %s", shop.n_events, root)
    return shop


def cached_shop(
    config: ShopConfig, root: str | Path, *, show_progress: bool = False
) -> ShopDataset:
    """Return the shop in ``root`` if it was made with ``config``, else write it.

    Parameters
    ----------
    config : ShopConfig
        The shop wanted.
    root : str or Path
        Folder of the cached shop.
    show_progress : bool, default False
        Show a progress bar while writing.

    Returns
    -------
    ShopDataset
    """
    root = Path(root)
    if (root / MANIFEST_FILE).is_file():
        shop = open_shop(root)
        if shop.config == config:
            logger.info("reusing the synthetic shop in %s", root)
            return shop
    return write_shop(config, root, overwrite=True, show_progress=show_progress)


def open_shop(root: str | Path) -> ShopDataset:
    """Read a shop's manifest.

    Raises
    ------
    InputError
        If ``root`` has no manifest.
    """
    root = Path(root)
    path = root / MANIFEST_FILE
    if not path.is_file():
        raise InputError(
            "synthetic shop manifest not found",
            file=str(path),
            fix="write the shop first with write_shop",
        )
    manifest = json.loads(path.read_text())
    settings = manifest["config"]
    settings["discount_rate_range"] = tuple(settings["discount_rate_range"])
    return ShopDataset(
        root=root,
        config=ShopConfig(**settings),
        n_events=manifest["n_events"],
        event_counts=manifest["event_counts"],
        n_customers_seen=manifest["n_customers_seen"],
    )


def read_events(root: str | Path, *, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a shop's events into pandas, sorted by timestamp.

    Parameters
    ----------
    root : str or Path
        The shop folder.
    columns : list of str, optional
        Columns to read; all canonical columns by default. The partition
        column ``date`` is left out.

    Returns
    -------
    DataFrame
        Canonical events table.
    """
    dataset = ds.dataset(Path(root) / EVENTS_DIR, format="parquet", partitioning="hive")
    table = dataset.to_table(columns=columns or EVENT_SCHEMA.names)
    frame = table.to_pandas()
    if C.timestamp in frame.columns:
        # Each day is one file, already in generation order; a stable sort
        # orders the days and keeps that order for equal timestamps.
        frame = frame.sort_values(C.timestamp, kind="stable", ignore_index=True)
    return frame


def read_items(root: str | Path) -> pd.DataFrame:
    """Read a shop's items table."""
    return pq.read_table(Path(root) / ITEMS_FILE).to_pandas()


def _with_partition(day: pd.Timestamp, table: pa.Table) -> pa.Table:
    label = pa.array([day.strftime("%Y-%m-%d")] * table.num_rows, pa.string())
    return table.append_column(PARTITION_COLUMN, label)


def _write_chunk(folder: Path, chunk: list[pa.Table], index: int) -> None:
    ds.write_dataset(
        pa.concat_tables(chunk),
        folder,
        format="parquet",
        partitioning=ds.partitioning(
            pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive"
        ),
        basename_template=f"chunk-{index:05d}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        preserve_order=True,
    )


def _count(table: pa.Table, counts: dict[str, int], customers: set[str]) -> None:
    for row in table.group_by(C.event_type).aggregate([([], "count_all")]).to_pylist():
        counts[row[C.event_type]] = counts.get(row[C.event_type], 0) + row["count_all"]
    customers.update(table.column(C.customer_id).unique().drop_null().to_pylist())


def _write_manifest(shop: ShopDataset) -> None:
    manifest = {
        "config": dataclasses.asdict(shop.config),
        "n_events": shop.n_events,
        "event_counts": shop.event_counts,
        "n_customers_seen": shop.n_customers_seen,
        "pyarrow": pa.__version__,
    }
    (shop.root / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
