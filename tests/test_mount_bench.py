"""Smoke test: bench_mount runs its steps on every system it finds (ovl
mount, kernel overlayfs, fuse-overlayfs when installed) at a small size."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_bench_mount_quick_runs_and_reports_every_step():
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("mounting needs root and /dev/fuse (CI has both)")
    p = subprocess.run([sys.executable, "-m", "host_tools.bench.mount",
                        "--quick", "--rounds", "1"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    for step in ("read 1 MiB (lower)", "write 1 MiB", "50 small files",
                 "tar -x 100 files", "lstat every file"):
        row = [ln for ln in lines if ln.startswith(step)]
        # ovl mount and at least the kernel, each timed
        assert row and row[0].count(" s ") >= 2, p.stdout
    assert "MB/s" in lines[-1]
    with open("/proc/self/mountinfo") as f:
        assert "ovl-bench-mount-" not in f.read()     # all unmounted
