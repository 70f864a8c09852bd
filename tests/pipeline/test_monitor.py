import time

import numpy as np

from promoloop.pipeline.monitor import StageMonitor


def test_stage_records_time_and_memory():
    monitor = StageMonitor(interval=0.01)
    with monitor.stage("allocate"):
        block = np.ones(64 * 2**20 // 8)  # 64 MiB
        # Long enough for the sampling thread to run on a busy machine.
        time.sleep(0.5)
        del block
    (record,) = monitor.records
    assert record.name == "allocate"
    assert record.seconds >= 0.05
    assert record.peak_rss_mb - record.start_rss_mb >= 60


def test_total_row_sums_stages():
    monitor = StageMonitor()
    with monitor.stage("a"):
        time.sleep(0.01)
    with monitor.stage("b"):
        time.sleep(0.01)
    rows = monitor.to_list()
    assert [r["name"] for r in rows] == ["a", "b", "total"]
    assert rows[2]["seconds"] == round(rows[0]["seconds"] + rows[1]["seconds"], 3)
