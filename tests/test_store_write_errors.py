"""A commit whose program fails part way (a driver's error, an interrupt)
leaves the store as a power cut there would: the transaction absent after
a remount, the next commits whole, fsck clean (docs/STORE.md, "Writing").
A review of the write path without joined buffers found the pending bytes
left ahead of the write position: the next file read back damaged, or was
missing after a remount with fsck clean."""

import errno

import pytest

from ovl.store import LogStore, ROOT_INO
from ovl_sim.simflash import SimFlash


class FailingFlash(SimFlash):
    """Raises `error` at the fail_at-th program from when it is set."""
    fail_at = None
    calls = 0
    error = None

    def program(self, addr, data):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            self.fail_at = None
            raise self.error
        SimFlash.program(self, addr, data)


def new_file(store, name, data):
    t = store.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644, mtime=1, ctime=1)
    t.link(ROOT_INO, name, ino)
    t.write(ino, 0, data)
    t.commit()
    return ino


def content(store, name, n):
    """The file's first n bytes (LogStore.read gives its pieces)."""
    ino = store.lookup(ROOT_INO, name)
    return b"".join(piece[2] for piece in store.read(ino, 0, n))


@pytest.mark.parametrize("error", [OSError(errno.EIO, "driver"),
                                   KeyboardInterrupt()],
                         ids=["driver", "interrupt"])
def test_a_commit_failing_at_each_program_leaves_the_store_whole(error):
    k = 0
    while True:
        k += 1
        f = FailingFlash(128 * 1024, 4096, 256)
        f.error = error
        s = LogStore.format(f)
        new_file(s, "a", b"A" * 100)
        f.calls = 0
        f.fail_at = k
        try:
            new_file(s, "big", bytes(range(256)) * 12)
        except type(error):
            pass
        if f.fail_at is not None:       # the commit finished before k
            break
        new_file(s, "after", b"C" * 50)
        s.sync()
        assert content(s, "after", 50) == b"C" * 50, k
        m = LogStore.mount(f)
        assert m.lookup(ROOT_INO, "big") is None, k
        assert content(m, "after", 50) == b"C" * 50, k
        assert content(m, "a", 100) == b"A" * 100, k
        assert m.fsck()["errors"] == [], k
    assert k > 10       # the failures reached every program of the commit


def test_an_error_in_gc_leaves_the_running_stores_accounting_true():
    """A commit that runs GC, a driver error at each of its programs (the
    copies, the header GC writes after its erase): the running store's
    fsck is clean, its writes go on, and a remount agrees (a review found
    an erased block whose header program failed still counted FULL with
    the nodes it no longer held: fsck reported a leak until GC chose it
    again)."""
    k = 0
    while True:
        k += 1
        f = FailingFlash(64 * 1024, 4096, 256)
        f.error = OSError(errno.EIO, "driver")
        s = LogStore.format(f)
        names = []
        try:
            while True:
                new_file(s, "g%d" % len(names), bytes([len(names)]) * 700)
                names.append("g%d" % len(names))
        except OSError:
            pass
        for j, name in enumerate(names):
            if j % 4:
                ino = s.lookup(ROOT_INO, name)
                t = s.begin()
                t.unlink(ROOT_INO, name)
                t.delete_inode(ino)
                t.commit()
        for h in range(3):              # the open block full again
            new_file(s, "h%d" % h, bytes([h]) * 700)
        gc_runs = s.stats["gc_runs"]
        f.calls = 0
        f.fail_at = k
        try:
            new_file(s, "big", b"B" * 700)
        except OSError:
            pass
        if f.fail_at is not None:       # the commit finished before k
            assert s.stats["gc_runs"] > gc_runs     # and it ran GC
            break
        assert s.fsck()["errors"] == [], k
        new_file(s, "after", b"C" * 400)
        s.sync()
        assert s.fsck()["errors"] == [], k
        m = LogStore.mount(f)
        assert m.fsck()["errors"] == [], k
        assert content(m, "after", 400) == b"C" * 400, k
    assert k > 5
