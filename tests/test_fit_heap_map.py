"""The board job's heap maps (run_job(report="map"), fit.free_runs): the
free stretches they sum up are the heap's free bytes, step by step, as
MicroPython's own mem_info counts them (docs/FIT.md, "Heap slack")."""

import re

import pytest

from conftest import find_micropython
from host_tools.bench.fit import Setup, free_runs, run_job


def test_free_runs_reads_a_map():
    # 143 blocks of 16 bytes; the free line joins the stretches around it
    lines = ["@step", "GC: total: 2288, used: 96, free: 2192",
             "00000000: hh=.....Sh.",
             "       (2 lines all free)",
             "00000c00: ..h=",
             "@failure", "GC: total: 100000, used: 50, free: 50",
             "00000000: ..h"]
    assert free_runs(lines) == [("step", [5, 1 + 2 * 64 + 2], 16),
                                ("failure", [2], 32)]


def test_free_runs_match_mem_info_on_the_board_job(tmp_path):
    if not find_micropython():
        pytest.fail("micropython executable missing: run `make test`")
    res = run_job(Setup("esp32-4mb", str(tmp_path)), 256 << 10, files=100,
                  report="map")
    assert res["ok"], res.get("error")
    free = [int(re.search(r"free: (\d+)", line).group(1))
            for line in res["report"] if line.startswith("GC: total: ")]
    runs = free_runs(res["report"])
    assert sorted(step for step, _, _ in runs) == sorted(res["heap"]), runs
    assert len(free) == len(runs)
    for (step, stretches, block), nbytes in zip(runs, free):
        assert block == 32, (step, block)   # the 64-bit unix port
        assert block * sum(stretches) == nbytes, step
