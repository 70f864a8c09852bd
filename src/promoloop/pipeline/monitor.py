"""Wall time and peak resident memory of each pipeline stage."""

from __future__ import annotations

import logging
import os
import resource
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_bytes() -> int:
    """Return the resident set size of this process in bytes (Linux /proc)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE_SIZE
    except OSError:
        # NOTE: without /proc the peak since process start is the best available.
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class StageRecord:
    """Timing and memory of one stage."""

    name: str
    seconds: float
    peak_rss_mb: float
    start_rss_mb: float


@dataclass
class StageMonitor:
    """Record per-stage wall time and peak RSS, sampled every ``interval`` seconds.

    A background thread samples the process RSS while a stage runs, because
    ``ru_maxrss`` only gives the peak since the process started, not per stage.
    """

    interval: float = 0.05
    records: list[StageRecord] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str):
        """Time the enclosed block as stage ``name``."""
        start_rss = current_rss_bytes()
        peak = [start_rss]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(self.interval):
                peak[0] = max(peak[0], current_rss_bytes())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        logger.info("stage %s started", name)
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            stop.set()
            sampler.join()
            peak[0] = max(peak[0], current_rss_bytes())
            record = StageRecord(
                name,
                round(elapsed, 3),
                round(peak[0] / 2**20, 1),
                round(start_rss / 2**20, 1),
            )
            self.records.append(record)
            logger.info(
                "stage %s finished in %.1f s, peak RSS %.0f MiB",
                name,
                elapsed,
                record.peak_rss_mb,
            )

    def to_list(self) -> list[dict]:
        """Return the records as JSON-ready dicts, plus a total row."""
        rows = [vars(r).copy() for r in self.records]
        if self.records:
            rows.append(
                {
                    "name": "total",
                    "seconds": round(sum(r.seconds for r in self.records), 3),
                    "peak_rss_mb": max(r.peak_rss_mb for r in self.records),
                    "start_rss_mb": self.records[0].start_rss_mb,
                }
            )
        return rows
