"""Benchmark: how much of what statvfs reports does one new file get?
(docs/STORE.md, "What statvfs says")

    python -m host_tools.bench.statvfs [--rounds 3]

For each geometry (128 KiB and 1 MiB NOR with 4 KiB sectors, 1 MiB NOR
with 64 KiB blocks, 2 MiB NAND with 128 KiB blocks and 2 KiB pages),
on a fresh store and after each round of small-file rewrites (1-20 files
of 10-3,000 bytes among 31 names, Xorshift(3)): f_bavail * f_bsize, and
the largest new file written in one write that fits (binary search, each
try on the round's state: snapshot, remount).  CPython, the simulated
chip, an empty lower.
"""
import argparse
import tempfile

from host_tools import FIRMWARE  # noqa: F401  (firmware/ on sys.path)
from ovl import compat
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash, Xorshift

GEOMETRIES = [(128 << 10, 4096, 256, "nor"), (1 << 20, 4096, 256, "nor"),
              (1 << 20, 65536, 256, "nor"), (2 << 20, 128 << 10, 2048, "nand")]


def fits(lower, flash, snap, size):
    flash.restore(snap)
    try:
        with mount(DirLower(lower), flash).open("/probe", "wb") as f:
            f.write(b"p" * size)
    except OSError as e:
        if compat.error_code(e) != compat.ENOSPC:
            raise
        return False
    return True


def largest(lower, flash, snap, hi):
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(lower, flash, snap, mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    print("| geometry | round | statvfs avail | largest file | reported/fits |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as lower:
        for size, erase, page, kind in GEOMETRIES:
            flash = SimFlash(size, erase, page, kind)
            LogStore.format(flash)
            fs = mount(DirLower(lower), flash)
            rng = Xorshift(3)
            for rnd in range(args.rounds + 1):
                for _ in range(rnd and 1 + rng.below(20)):
                    try:
                        with fs.open("/c%d" % rng.below(31), "wb") as f:
                            f.write(b"c" * (10 + rng.below(2991)))
                    except OSError as e:
                        if compat.error_code(e) != compat.ENOSPC:
                            raise
                snap = flash.snapshot()
                st = fs.statvfs("/")
                avail = st[0] * st[4]
                most = largest(lower, flash, snap, avail * 2 + 4 * erase)
                print("| %d KiB %s, %d KiB blocks | %d | %d | %d | %.1f%% |" % (
                    size >> 10, kind.upper(), erase >> 10, rnd, avail, most,
                    100.0 * avail / most if most else 0))
                flash.restore(snap)
                fs = mount(DirLower(lower), flash)


if __name__ == "__main__":
    main()
