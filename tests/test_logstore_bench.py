"""Smoke test: the store benchmark runs (scaled down) and its counts hold.

The counts are deterministic (seeded workloads on the simulated chip), so
the write-amplification goals can be checked even at this size.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_bench_store_tiny_runs_and_meets_write_goals():
    p = subprocess.run([sys.executable, "-m", "host_tools.bench.store",
                        "--tiny", "--json"], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    for w in ("W1", "W2", "W3", "W1s"):
        for peer in ("ovl", "ovl-fs", "littlefs"):
            r = res[w][peer]
            assert r["bytes_programmed"] >= r["user_bytes"] > 0
            assert r["mount_bytes_read"] > 0 and r["heap"] > 0
    assert res["W2"]["ovl"]["wa"] <= 1.5
    assert res["W3"]["ovl"]["wa"] <= 1.5
    assert res["W2"]["ovl"]["wa"] < res["W2"]["littlefs"]["wa"]
    # the overlay writes what the store API writes, plus directory times
    for w in ("W1", "W2", "W3"):
        assert res[w]["ovl-fs"]["wa"] <= 1.1 * res[w]["ovl"]["wa"], w
    counts = [c for c, h in res["heap_per_files"]]
    heaps = [h for c, h in res["heap_per_files"]]
    assert counts == sorted(counts) and heaps[-1] > heaps[0]
