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


def run_bench(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "host_tools.bench.store"] +
                          list(args), capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


@pytest.mark.slow
def test_bench_store_runs_the_w5_levels_asked_with_fewer_operations():
    p = run_bench("--near-full", "--fills", "30,90", "--ops", "40", "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert "W1" not in res
    rows = res["W5"]
    assert [(r["fill"], r["store"]) for r in rows] == [
        (30, "ovl"), (30, "littlefs"), (90, "ovl"), (90, "littlefs")]
    assert all(r["ops"] == 40 for r in rows)
    at30 = rows[:2]
    # the same seeded files: both stores hold all of them at 30%
    assert at30[0]["data"] == at30[1]["data"] and at30[0]["enospc"] == 0
    # at 90% ovl holds more file data than littlefs can
    assert rows[2]["data"] > rows[3]["data"]
    # each level's progress line, on stderr
    assert "W5 90% littlefs" in p.stderr


@pytest.mark.slow
def test_bench_store_names_the_part_that_did_not_finish():
    # ten million operations cannot finish in 2 s: the part is named in
    # one line, no traceback
    p = run_bench("--near-full", "--fills", "30", "--ops", "10000000",
                  "--timeout", "2")
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last == ("bench_store: W5 at 30% did not finish in 2 s "
                    "(--timeout; --ops for fewer W5 operations)"), p.stderr
    assert "Traceback" not in p.stderr


def test_bench_store_report_of_w5_alone_prints_ratios_to_littlefs():
    from host_tools.bench.store import report
    row = {"fill": 60, "files": 300, "ops": 2000}
    res = {"W5": [dict(row, store="ovl", data=600, programmed_per_op=1500,
                       erases_per_op=0.3, enospc=0),
                  dict(row, store="littlefs", data=400,
                       programmed_per_op=1000, erases_per_op=0.6,
                       enospc=500)]}
    lines = report(res).splitlines()
    assert lines[-1].split() == ["60%", "ovl/lfs", "1.500", "1.000",
                                 "1.500", "0.500", "0.000"], lines


@pytest.mark.slow
def test_bench_fit_linux_row_scaled_down_against_littlefs_and_the_goal():
    # bench_fit's Linux row (the store at scale, CPython) and its littlefs
    # peer (micropython), at 2,000 upper files instead of 20,000
    from host_tools.bench.fit import linux_lfs_peer, linux_report, linux_row
    lx = linux_row(files=2000, lower_files=100)
    lf = lx["littlefs"] = linux_lfs_peer(files=2000)
    assert "error" not in lf, lf
    # littlefs's mount walks every 64 KiB metadata pair; ovl reads summaries
    # and node bodies: less, at this size as at 20,000 files
    assert 0 < lx["mount_read"] < lf["mount_read"]
    assert lx["peak"] >= lx["kept"] > 0
    text = "\n".join(linux_report(lx))
    assert "<= 600,000" in text and "<= 4,000,000" in text
    assert "ovl/littlefs: mount read %.2f" % (
        lx["mount_read"] / lf["mount_read"]) in text
