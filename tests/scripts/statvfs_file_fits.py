"""statvfs's f_bavail * f_bsize is a file that fits: on a fresh store and
after rounds of small-file rewrites, a new file of that many bytes is
written whole (one write, and 4 KiB writes), each try on the state the
round left (snapshot, remount).  Labels "GEOMETRY round N" -> [avail,
one write fits, 4 KiB writes fits, twice avail plus a block fits].

Runs under CPython and MicroPython (tests/test_statvfs.py).  Arguments:
LOWER_DIR, then geometries as SIZE:ERASE:PAGE:KIND.
"""
import sys

import checklib
from ovl import compat
from ovl_sim.simflash import SimFlash, Xorshift
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

LOWER = sys.argv[1]
ROUNDS = 3


def write(fs, size, step):
    """Whether a new file of size bytes, written step bytes at a time,
    fits (ENOSPC: it does not)."""
    chunk = b"p" * min(step, size)
    try:
        with fs.open("/probe", "wb") as f:
            left = size
            while left > 0:
                f.write(chunk[:min(step, left)])
                left -= step
    except OSError as e:
        if compat.error_code(e) != compat.ENOSPC:
            raise
        return False
    return True


def tries(flash, snap, size, step):
    flash.restore(snap)
    return write(mount(DirLower(LOWER), flash), size, step)


results = {}
for geometry in sys.argv[2:]:
    size, erase, page, kind = geometry.split(":")
    size, erase, page = int(size), int(erase), int(page)
    flash = SimFlash(size, erase, page, kind)
    LogStore.format(flash)
    fs = mount(DirLower(LOWER), flash)
    rng = Xorshift(size // erase)
    for rnd in range(ROUNDS + 1):
        # small files (up to 3 KB) rewritten: dead bytes spread over
        # blocks that also hold live ones
        for _ in range(rnd and 12 + rng.below(size // erase)):
            try:
                with fs.open("/c%d" % rng.below(31), "wb") as f:
                    f.write(b"c" * (10 + rng.below(3000)))
            except OSError as e:
                if compat.error_code(e) != compat.ENOSPC:
                    raise
        snap = flash.snapshot()
        st = fs.statvfs("/")
        avail = st[0] * st[4]
        results["%s round %d" % (geometry, rnd)] = [
            avail, tries(flash, snap, avail, 1 << 20),
            tries(flash, snap, avail, 4096),
            tries(flash, snap, 2 * avail + erase, 1 << 20)]
        flash.restore(snap)
        fs = mount(DirLower(LOWER), flash)
checklib.report(results)
