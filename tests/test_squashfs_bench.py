"""Smoke test: the SquashFS benchmark runs end to end on a tiny tree."""

import os

from host_tools.bench import squashfs as bench_squashfs
from test_squashfs_interop import build_small_tree


def test_bench_squashfs_runs(tmp_path, capsys):
    root = str(tmp_path / "src")
    os.makedirs(root)
    build_small_tree(root)
    bench_squashfs.main(["--src", root, "-b", "4K", "--rounds", "2", "--mpy"])
    out = capsys.readouterr().out
    assert "block size 4096" in out
    for row in ("ovl", "PySquashfsImage", "unsquashfs", "zlib floor",
                "MicroPython: ovl"):
        assert row in out, out
    # Every reader read the same number of bytes: no warning printed.
    assert "warning" not in out


def test_bench_squashfs_isolated(tmp_path, capsys):
    # --isolate times each Python reader in a child process: the rows and
    # byte-count check must come out the same way.
    root = str(tmp_path / "src")
    os.makedirs(root)
    build_small_tree(root)
    bench_squashfs.main(["--src", root, "-b", "4K", "--rounds", "1",
                         "--isolate"])
    out = capsys.readouterr().out
    assert "each Python reader in a fresh process" in out
    for row in ("ovl", "PySquashfsImage", "zlib floor"):
        assert row in out, out
