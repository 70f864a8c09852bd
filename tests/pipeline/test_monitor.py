import mmap
import threading
import time

from promoloop.pipeline import monitor as monitor_module
from promoloop.pipeline.monitor import StageMonitor, current_rss_bytes


def test_stage_records_time_and_memory():
    # A fresh anonymous mapping gets new pages from the kernel, so writing to
    # every page grows the resident set whatever the allocator keeps cached.
    size = 64 * 2**20
    monitor = StageMonitor(interval=0.01)
    with monitor.stage("allocate"):
        block = mmap.mmap(-1, size)
        for offset in range(0, size, mmap.PAGESIZE):
            block[offset] = 1
        time.sleep(0.06)
    # The block is still mapped when the stage ends, so the closing reading
    # includes it even if the sampling thread never ran.
    block.close()
    (record,) = monitor.records
    assert record.name == "allocate"
    assert record.seconds >= 0.05
    assert record.peak_rss_mb - record.start_rss_mb >= 60


def test_peak_comes_from_samples_taken_during_the_stage(monkeypatch):
    # The resident set rises to 5 GiB only while the block runs and is back
    # to 1 GiB when the stage ends, so only the sampling thread can see it.
    inside = threading.Event()
    sampled_high = threading.Event()

    def fake_rss() -> int:
        if inside.is_set():
            sampled_high.set()
            return 5 * 2**30
        return 2**30

    monkeypatch.setattr(monitor_module, "current_rss_bytes", fake_rss)
    monitor = StageMonitor(interval=0.001)
    with monitor.stage("spike"):
        inside.set()
        assert sampled_high.wait(timeout=30)
        inside.clear()
    (record,) = monitor.records
    assert record.start_rss_mb == 1024.0
    assert record.peak_rss_mb == 5 * 1024.0


def test_current_rss_is_positive():
    assert current_rss_bytes() > 0


def test_total_row_sums_stages():
    monitor = StageMonitor()
    with monitor.stage("a"):
        time.sleep(0.01)
    with monitor.stage("b"):
        time.sleep(0.01)
    rows = monitor.to_list()
    assert [r["name"] for r in rows] == ["a", "b", "total"]
    assert rows[2]["seconds"] == round(rows[0]["seconds"] + rows[1]["seconds"], 3)
