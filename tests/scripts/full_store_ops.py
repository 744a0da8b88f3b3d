"""What works on a full store, and what needs room (README, "A full store
never wedges"; docs/OVERLAY.md; docs/STORE.md, "Reserve").

The store is filled to ENOSPC (one big file, then empty files, so not
even a name fits).  Then an operation that copies a firmware (lower)
file or directory up first needs room for the new names and gets
ENOSPC, leaving the tree and the store as they were: chmod, truncate
and rename of a firmware file, opening it "w", a rename into a firmware
directory not yet copied up.  Removing (firmware files too), renaming,
truncating and chmod of upper files work, and the space they free is
usable at once.

Runs under CPython and MicroPython (tests/test_full_store.py).  Argument:
LOWER_DIR, holding /etc/config and /fw/keep.
"""
import sys

from checklib import errno_outcome, report
from ovl import compat
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

CONFIG = b"option=1\n"


def write(fs, path, data, mode="wb"):
    with fs.open(path, mode) as f:
        f.write(data)


def fill(fs):
    """Appends to /big, then empty files, each until ENOSPC: the number of
    empty files made."""
    chunk = b"B" * 4000
    try:
        while True:
            write(fs, "/big", chunk, "ab")
    except OSError as e:
        if compat.error_code(e) != compat.ENOSPC:
            raise
    n = 0
    try:
        while True:
            write(fs, "/e%d" % n, b"")
            n += 1
    except OSError as e:
        if compat.error_code(e) != compat.ENOSPC:
            raise
    return n


def open_w(fs, path):
    fs.open(path, "wb").close()


def lower_untouched(fs):
    """Where the firmware paths come from and what they hold."""
    return [fs.layer_of("/etc/config"), fs.layer_of("/etc"),
            fs.layer_of("/fw"), fs.read_bytes("/etc/config") == CONFIG,
            "%o" % (fs.stat("/etc/config")[0] & 0o777),
            fs.listdir("/fw")]


def main(lower):
    results = {}
    flash = SimFlash(64 * 1024, 4096, 256)
    LogStore.format(flash)
    fs = mount(DirLower(lower), flash)
    for name in ("/u1", "/u2", "/u3"):
        write(fs, name, b"upper file " + name.encode() * 100)
    fs.mkdir("/ud")
    fs.sync()
    fill(fs)
    results["full: a new empty file"] = errno_outcome(write, fs, "/more", b"")
    # needs a copy-up, which adds names: no room
    results["chmod of a firmware file"] = errno_outcome(
        fs.chmod, "/etc/config", 0o600)
    results["truncate of a firmware file"] = errno_outcome(
        fs.truncate, "/etc/config", 3)
    results["open 'w' of a firmware file"] = errno_outcome(
        open_w, fs, "/etc/config")
    results["rename of a firmware file"] = errno_outcome(
        fs.rename, "/etc/config", "/etc/config2")
    results["rename into a firmware directory"] = errno_outcome(
        fs.rename, "/u1", "/fw/u1")
    results["[layer config, layer etc, layer fw, config same, perm, fw] "
            "after the refusals"] = lower_untouched(fs)
    results["fsck after the refusals"] = fs.fsck()
    # no new names, no data: the store's reserve takes them, each on the
    # full store (a firmware file's removal, a whiteout, too)
    results["chmod of an upper file"] = errno_outcome(fs.chmod, "/u2", 0o600)
    results["remove of a firmware file"] = errno_outcome(fs.remove,
                                                         "/fw/keep")
    results["truncate of an upper file"] = errno_outcome(
        fs.truncate, "/u2", 5)
    results["rename of an upper file"] = errno_outcome(
        fs.rename, "/u1", "/u1b")
    results["rename into an upper directory"] = errno_outcome(
        fs.rename, "/u1b", "/ud/u1")
    results["remove of an upper file"] = errno_outcome(fs.remove, "/u3")
    results["remove of the big file"] = errno_outcome(fs.remove, "/big")
    results["[u2, ud, fw] after them"] = [fs.read_bytes("/u2").decode(),
                                          fs.listdir("/ud"), fs.listdir("/fw")]
    # the space freed is usable at once: the firmware file copies up now
    results["chmod of a firmware file, after the removals"] = errno_outcome(
        fs.chmod, "/etc/config", 0o600)
    results["fsck at the end"] = fs.fsck()
    fs.sync()
    fs = mount(DirLower(lower), flash)
    results["[layer config, perm] remounted"] = [
        fs.layer_of("/etc/config"), "%o" % (fs.stat("/etc/config")[0] & 0o777)]
    results["fsck remounted"] = fs.fsck()
    report(results)


main(sys.argv[1])
