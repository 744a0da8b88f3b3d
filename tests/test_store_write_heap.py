"""What writing a file asks of the heap (docs/FIT.md, "The write path's
heap"): a failed commit's handler imports nothing, and a plain file's
transaction keeps few attributes of its own."""

import json
import sys

from ovl.store import LogStore, ROOT_INO, Txn
from ovl_sim.simflash import SimFlash
from test_store_write_errors import new_file


class InterruptedFlash(SimFlash):
    """Raises KeyboardInterrupt at its next program once armed (as a
    MemoryError or an interrupt would arrive part way through a commit)."""
    armed = False

    def program(self, addr, data):
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt()
        SimFlash.program(self, addr, data)


def test_a_commit_failing_part_way_imports_no_module():
    # MicroPython raises MemoryError where the heap is short: a handler
    # that imported (ovl.store.damage, for _discard) raised another one
    # before it gave the open block up, and the next commit programmed
    # the failed node's bytes left in pending
    f = InterruptedFlash(128 * 1024, 4096, 256)
    s = LogStore.format(f)
    new_file(s, "a", b"A" * 100)
    saved = LogStore.__dict__.get("_discard")
    if saved is not None:
        delattr(LogStore, "_discard")
    mod = sys.modules.pop("ovl.store.damage", None)
    try:
        f.armed = True
        try:
            new_file(s, "b", b"B" * 300)
            raise AssertionError("the program was not interrupted")
        except KeyboardInterrupt:
            pass
        assert "ovl.store.damage" not in sys.modules
        assert "_discard" not in LogStore.__dict__
    finally:
        if mod is not None:
            sys.modules["ovl.store.damage"] = mod
        if saved is not None:
            LogStore._discard = saved
    new_file(s, "c", b"C" * 50)
    s.sync()
    m = LogStore.mount(f)
    assert m.lookup(ROOT_INO, "b") is None
    ino = m.lookup(ROOT_INO, "c")
    assert b"".join(p[2] for p in m.read(ino, 0, 50)) == b"C" * 50
    assert m.fsck()["errors"] == []


def test_a_plain_files_txn_sets_few_attributes():
    # each attribute an instance sets grows its table (MicroPython: 2, 4,
    # 6, 8, 10, 12, 17 ... slots, each a new allocation): a file created
    # and written sets at most 8 (a table of 8 slots, 4 allocations)
    s = LogStore.format(SimFlash(128 * 1024, 4096, 256))
    t = s.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644, mtime=2, ctime=2)
    t.link(ROOT_INO, "f", ino)
    t.write(ino, 0, b"F" * 100)
    t.write(ino, 100, b"G" * 20)
    t.commit()
    assert len(vars(t)) <= 7, sorted(vars(t))
    assert isinstance(t, Txn) and t.cuts == {} and not t.spilled


# What one small file's write through the VFS allocated (the mean and the
# most of 20, micropython.mem_total(): frames too), with a margin; before
# this round's cuts (the Txn's 13 attributes, open() walking its path
# twice, Inode records nobody kept, a copy of the data) 48,026 / 51,068 B
# (64-bit unix port)
WRITE_BUDGET = {"mean": 42496, "most": 45056}   # measured 38,100 / 41,056


def test_a_files_write_through_the_vfs_allocates_little(mpy, tmp_path):
    chip = tmp_path / "chip.bin"
    chip.write_bytes(b"\xff" * (1 << 20))
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "motd").write_bytes(b"hello\n")
    out = mpy.run_file("overlay_write_alloc.py", args=[str(chip), str(lower)])
    got = json.loads(out.strip().splitlines()[-1])
    print(got)
    over = ["%s: %d B (budget %d)" % (k, got[k], v)
            for k, v in WRITE_BUDGET.items() if got[k] > v]
    assert not over, "\n".join(over) + "\n%r" % got
    # the store's caches hold the extent maps and attributes of 2 files
    # (4 kept 1.7 KB more through the board job's write)
    assert got["cached"] == [2, 2], got
