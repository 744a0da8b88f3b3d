"""A file's buffered writes committed by another operation's flush
(WriteBack.flush_all: every open, listdir, rename ... commits the
pending writes first) fail with an error that is no OSError (a
MemoryError, an interrupt): the operation raises it, and the file's own
handle raises it too at its close, as it does an OSError; before, the
buffer was gone and the close answered success for writes that never
reached flash (tests/test_store_failing_handlers.py).

    micropython writeback_failing_flush.py LOWER_DIR
"""
import sys

from checklib import outcome, report
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash


class ShortFlash(SimFlash):
    """Raises MemoryError at its next program once armed."""
    armed = False

    def program(self, addr, data):
        if self.armed:
            self.armed = False
            raise MemoryError()
        SimFlash.program(self, addr, data)


def content(ovl, path):
    with ovl.open(path, "rb") as f:
        return f.read().decode()


flash = ShortFlash(256 * 1024, 4096, 256)
LogStore.format(flash)
o = mount(DirLower(sys.argv[-1]), flash, checkpoints=False)
with o.open("/a", "wb") as f:
    f.write(b"old")
res = {}
a = o.open("/a", "wb")
a.write(b"new" * 100)          # buffered: committed at a flush
flash.armed = True
res["another file's open commits it and runs out of heap"] = \
    outcome(o.open, "/b", "wb")
res["the file's handle, closed"] = outcome(a.close)
res["the file"] = content(o, "/a")
with o.open("/c", "wb") as f:
    f.write(b"c" * 300)
res["a file written after"] = content(o, "/c") == "c" * 300
again = mount(DirLower(sys.argv[-1]), flash, checkpoints=False)
res["remounted"] = [content(again, "/a"), sorted(again.listdir("/"))]
res["fsck"] = again.store.fsck()["errors"]
report(res)
