"""The log store's writer (ovl.store.write) is imported at the first
begin(), not by a mount, a listing, a read or a sync; with "heap" as the
argument (MicroPython only: a heap filled but for 3 KiB), a begin() that
cannot import it raises MemoryError with nothing programmed, and the
next begin() imports it and writes.  Labelled results
(tests/test_store_lazy.py checks them)."""
import gc
import sys

from checklib import create_file, file_content, report
from ovl_sim.simflash import SimFlash

WRITER = "ovl.store.write"


def fresh():
    """ovl imported anew, its classes as a boot finds them (the format
    below loaded the writer into the modules it leaves)."""
    for m in [m for m in sys.modules if m == "ovl" or m.startswith("ovl.")]:
        del sys.modules[m]
    from ovl.store import LogStore
    return LogStore


def names(store):
    from ovl.store import ROOT_INO
    return [n for n, _ in store.listdir(ROOT_INO)]


def fill_heap_but(kib):
    """Everything allocated but kib 1 KiB holes: (the big, the small)."""
    gc.collect()
    big = []
    try:
        while True:
            big.append(bytearray(1024))
    except MemoryError:
        pass
    small = []
    try:
        while True:
            small.append(bytearray(16))
    except MemoryError:
        pass
    del big[-kib:]
    gc.collect()
    return big, small


out = {}
f = SimFlash(64 * 1024, 4096, 256)
LogStore = fresh()
s = LogStore.format(f)
inos = [create_file(s, "f%d" % i, b"%d" % i * 50) for i in range(3)]
s.sync()

LogStore = fresh()
s = LogStore.mount(f)
listed = names(s)
same = file_content(s, inos[1]) == b"1" * 50
s.sync()
out["mount, list, read, sync: no writer (loaded, on the class)"] = [
    listed, same, WRITER in sys.modules, hasattr(LogStore, "_commit")]
# the format's encoders only writing runs are the writer's, not on the
# mount path (a board that mounts and reads keeps none of their code)
from ovl.store import format as fmt
out["the mount path's format: no encoder, no builder's pack or parts"] = [
    hasattr(fmt, "pack_node"), hasattr(fmt, "summary_entry_size"),
    hasattr(fmt.SummaryBuilder, "pack"), hasattr(fmt.SummaryBuilder, "parts")]

if sys.argv[-1] == "heap":
    programs = f.programs
    hogs = fill_heap_but(3)
    try:
        s.begin()
        got = "ok"
    except MemoryError:
        got = "MemoryError"
    hogs = None
    gc.collect()
    out["begin() on a full heap: error, programs, writer loaded"] = [
        got, f.programs - programs, WRITER in sys.modules]

ino = create_file(s, "new", b"n" * 300)
from ovl.store import Txn
out["the first begin loads it; the txn commits"] = [
    WRITER in sys.modules, isinstance(s.begin(), Txn),
    file_content(s, ino) == b"n" * 300]
s = LogStore.mount(f)
out["remounted"] = [names(s), s.fsck()["errors"]]
report(out)
