"""A write that fails for space through a handle that goes on writing
(tests/test_full_store.py): the failure aborts the handle's transaction,
so what it held before the failed write (earlier writes, open()'s
creation, the truncation of open "w") is lost with it.  The error is
raised once; later writes on that handle are refused (EIO), since they
would land on the old content, and its close succeeds.  The file keeps its
old content (a file being created stays absent), also after a remount.
A handle whose transaction held only the failed write goes on writing.

Argument: a lower directory holding etc/lines.
"""
import sys

import checklib
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

LOWER = sys.argv[-1]
OLD = b"OLD-CONTENT-OLD-CONTENT\n"
BIG = b"N" * 60000      # more than the filled store holds
res = {}


def full_store(**options):
    """A 64 KiB store holding /cfg (OLD) and a 40000-byte fill."""
    flash = SimFlash(64 * 1024, 4096, 256)
    LogStore.format(flash)
    fs = mount(DirLower(LOWER), flash, **options)
    fs.write_bytes("/cfg", OLD)
    fs.write_bytes("/fill", b"G" * 40000)
    return flash, fs


def content(fs, path):
    """path's content (its size past 64 bytes), None when absent"""
    if not fs.exists(path):
        return None
    data = fs.read_bytes(path)
    return data.decode() if len(data) <= 64 else "%d bytes" % len(data)


def after(label, flash, fs, path):
    """What path holds now and after a remount, and whether fsck is
    clean."""
    res[label + ": content"] = content(fs, path)
    res[label + ": fsck"] = fs.fsck()
    fs = mount(DirLower(LOWER), flash)
    res[label + ": content remounted"] = content(fs, path)


def writes(label, f, *more):
    """The outcome of each write in more, then of close."""
    for i, data in enumerate(more):
        res["%s: write %d" % (label, i + 1)] = \
            checklib.errno_outcome(f.write, data)
    res[label + ": close"] = checklib.errno_outcome(f.close)


# open "w" of an upper file: a write, a failed one, more writes
flash, fs = full_store()
writes("rewrite", fs.open("/cfg", "wb"), b"new", BIG, b"X", b"Y")
after("rewrite", flash, fs, "/cfg")

# open "w" of a firmware file (copied up at open): the first write fails
flash, fs = full_store()
f = fs.open("/etc/lines", "wb")
writes("firmware rewrite", f, BIG, b"XY")
res["firmware rewrite: layer"] = fs.layer_of("/etc/lines")
after("firmware rewrite", flash, fs, "/etc/lines")

# a file created by open "w": a write, then a failed one
flash, fs = full_store()
writes("create", fs.open("/newf", "wb"), b"abc", BIG, b"X")
after("create", flash, fs, "/newf")

# ... and one whose first write fails
flash, fs = full_store()
writes("create, first write fails", fs.open("/newg", "wb"), BIG, b"X")
after("create, first write fails", flash, fs, "/newg")

# r+: the transaction held only the failed write, so nothing else was
# lost and the handle goes on
flash, fs = full_store()
writes("r+, the failed write alone", fs.open("/cfg", "r+b"), BIG, b"Z")
after("r+, the failed write alone", flash, fs, "/cfg")

# r+ with a write before the failed one in the same transaction
flash, fs = full_store()
writes("r+ after a write", fs.open("/cfg", "r+b"), b"ab", BIG, b"Z")
after("r+ after a write", flash, fs, "/cfg")

# two handles share the file's transaction: the other one is told once
# (at its next write), then refused
flash, fs = full_store()
first = fs.open("/cfg", "r+b")
second = fs.open("/cfg", "r+b")
first.write(b"ab")
res["shared: the failed write"] = checklib.errno_outcome(second.write, BIG)
second.close()
writes("shared, the other handle", first, b"Z", b"Z")
after("shared", flash, fs, "/cfg")

# ... told at its close when it writes no more
flash, fs = full_store()
first = fs.open("/cfg", "r+b")
second = fs.open("/cfg", "r+b")
first.write(b"ab")
checklib.errno_outcome(second.write, BIG)
res["shared, closed: close"] = checklib.errno_outcome(first.close)
res["shared, closed: content"] = content(fs, "/cfg")

# the commit fails at another call's commit point (the data buffered in
# RAM; a call that changes the tree: one that only looks commits
# nothing): the call works, the handle is told at its next write, then
# refused
flash, fs = full_store(write_buffer=1 << 20)
f = fs.open("/cfg", "wb")
f.write(BIG)
fs.symlink("cfg", "/link")
res["commit point elsewhere: listdir"] = sorted(fs.listdir("/"))
writes("commit point elsewhere", f, b"X", b"Y")
after("commit point elsewhere", flash, fs, "/cfg")

# the handle's own flush fails: refused after it
flash, fs = full_store(write_buffer=1 << 20)
f = fs.open("/cfg", "wb")
f.write(BIG)
res["own flush: flush"] = checklib.errno_outcome(f.flush)
writes("own flush", f, b"X")
after("own flush", flash, fs, "/cfg")

# the store works on: a new open "w" of the same file rewrites it
res["rewrite after it all"] = checklib.errno_outcome(
    fs.write_bytes, "/cfg", b"fresh")
res["content after it all"] = content(fs, "/cfg")
checklib.report(res)
