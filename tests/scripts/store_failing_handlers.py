"""The store's error handling when it fails itself: a program fails
(BadBlockError) and retiring the block then raises, as importing
ovl.store.damage (LogStore.__getattr__) does on a near-full heap; a
streamed transaction fails and ending its stream raises likewise.
After it the store keeps working, a remount shows the tree before the
failed transaction plus what came after, and fsck finds nothing: no
half-written node left for the next write to build on, no node counted
live that is not, no block left pinned.  Then the overlay's write-back:
a file's writes committed by another operation's flush that fails with
a MemoryError or an interrupt.  Then what a failed write leaves around
it: a checkpoint whose block goes bad under it, GC's second copy write
failing, a transaction voided after a bad block while GC churns.
Labelled results (tests/test_store_failing_handlers.py checks each
label on both runtimes).

    micropython store_failing_handlers.py LOWER_DIR
"""
import sys

from checklib import (create_file, errno_outcome, file_content, outcome,
                      report)
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore, NoSpace, ROOT_INO, checkpoint, collect
from ovl.store.blocks import BAD
from ovl.store.format import F_PROV
from ovl_sim.simflash import SimFlash

class Starved:
    """A module of the store as a near-full heap imports it: every name
    looked up in it raises MemoryError (so does the import itself on a
    board: the module's code is allocated as it loads, and so does
    LogStore.__getattr__'s lookup, which allocates ~3 KB)."""

    def __getattr__(self, name):
        raise MemoryError()


class ShortFlash(SimFlash):
    """Fails on demand.  armed: an exception type raised at the next
    program but `skip` (a MemoryError: a heap that ran out part way
    through a commit or a spill; a KeyboardInterrupt: a Ctrl-C).  bad: a
    block that goes bad (its programs and erases fail from then on) at
    its program after ok_left more passed; then: (type, skip) armed when
    it does."""
    armed = None
    skip = 0
    bad = None
    ok_left = 0
    then = None

    def program(self, addr, data):
        if self.bad is not None and addr // self.erase_size == self.bad:
            if self.ok_left:
                self.ok_left -= 1
            else:
                self.mark_bad(self.bad)     # SimFlash raises BadBlockError
                self.bad = None
                if self.then is not None:
                    self.armed, self.skip = self.then
        elif self.armed is not None:
            if self.skip:
                self.skip -= 1
            else:
                fail = self.armed
                self.armed = None
                raise fail()
        SimFlash.program(self, addr, data)


def unbound(name):
    """LogStore's lazy method `name` as a session that never called it
    has it: not on the class yet (LogStore.__getattr__ looks it up)."""
    if name in LogStore.__dict__:
        delattr(LogStore, name)


def starved(module, fn, *args):
    """outcome(fn, *args) while ovl.store.<module> cannot be imported, so
    a method of it not yet on LogStore cannot be looked up."""
    name = "ovl.store." + module
    real = sys.modules.get(name)
    sys.modules[name] = Starved()
    try:
        return outcome(fn, *args)
    finally:
        if real is None:
            del sys.modules[name]
        else:
            sys.modules[name] = real


def tree(store):
    """name -> content, of the root's files."""
    return {name: file_content(store, ino).decode()
            for name, ino in sorted(store.listdir(ROOT_INO))}


def after(store, flash):
    """What the store answers after the failure: the next file written,
    its tree and fsck's errors, then the same of a remount."""
    state = [outcome(create_file, store, "c", b"c" * 300),
             outcome(tree, store)]
    state.append(tree(store) if state[-1] == "ok" else None)
    state.append(store.fsck()["errors"] if state[-1] else None)
    again = LogStore.mount(flash)
    return state + [tree(again), again.fsck()["errors"]]


def churn(store, rounds, name="c"):
    """File `name` rewritten rounds times: GC erases and reuses every
    block."""
    ino = store.lookup(ROOT_INO, name)
    for i in range(rounds):
        t = store.begin()
        t.truncate(ino, 0)
        t.write(ino, 0, b"c" * 3000)
        t.commit()


def summary(results):
    """after()'s figures with the files' content cut to its first byte
    and length, so the expected values stay short."""
    out = []
    for r in results:
        if isinstance(r, dict):
            r = sorted("%s=%s%d" % (k, v[:1], len(v)) for k, v in r.items())
        out.append(r)
    return out


out = {}

# The open block's program fails, retiring it runs out of heap, and the
# block programs again later (a program that failed once may pass the
# next time: nothing stops the store but its own table).  The bytes of
# the failed page stayed in pending, and the next commit programmed them
# ahead of its own nodes, indexed where their bytes are not.
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
create_file(s, "a", b"a" * 1000)
f.mark_bad(s.wblock, on="program")
unbound("_retire")
failed = starved("damage", create_file, s, "b", b"b" * 5000)
f.bad_blocks.clear()
out["the open block fails, its retirement runs out of heap, then it "
    "programs again"] = [failed] + summary(after(s, f))

# The transaction fills the open block, and the next one fails to
# program; retiring it runs out of heap.  The nodes written in the first
# block were never counted dead: fsck found a leak.
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
create_file(s, "a", b"a" * 1000)
bad = s.wblock + 1
f.mark_bad(bad, on="program")
unbound("_retire")
failed = starved("damage", create_file, s, "b", b"b" * 5000)
out["the txn's second block fails, its retirement runs out of heap"] = \
    [failed] + summary(after(s, f)) + [s.counters()["blocks_retired"]]
# the block given up fails again once GC erased it and the writer took
# it: retired then, the heap there
churn(s, 40)
out["it is retired at its next failure"] = [
    s.counters()["blocks_retired"], s.blocks.state[bad] == BAD,
    [k for k in sorted(tree(s).items())] == [("a", "a" * 1000),
                                             ("c", "c" * 3000)],
    s.fsck()["errors"]]

# With the heap there, the same failure retires the block and writes
# the transaction again elsewhere, as ever
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
create_file(s, "a", b"a" * 1000)
f.mark_bad(s.wblock + 1, on="program")
failed = outcome(create_file, s, "b", b"b" * 5000)
out["the same with the heap there: retired, written elsewhere"] = \
    [failed] + summary(after(s, f)) + [s.counters()["blocks_retired"]]



# A transaction past txn_ram streams its data to flash as provisional
# nodes, pinning their blocks; when it fails, ending its stream counts
# them dead and unpins the blocks (store._end_stream, of ovl.store.stream).
# The first time, that method was looked up in the handler (~3 KB
# allocated): out of heap, the blocks stayed pinned (GC never took them
# again) and the nodes counted live.
def streamed(fail):
    """What a streamed txn's failure leaves (fail(store, flash, ino, txn)
    makes it fail): its outcome, the pins left, the file, fsck's errors,
    a big write after, fsck again, then a remount's tree and fsck."""
    f = ShortFlash(64 * 1024, 4096, 256)
    s = LogStore.format(f)
    x = create_file(s, "x", b"x" * 1000)
    unbound("_end_stream")
    t = s.begin()
    t.write(x, 0, b"y" * 6000)      # past txn_ram: streamed to flash
    f.armed = MemoryError
    failed = starved("stream", fail, t, x)
    state = [failed, sorted(s.pins), file_content(s, x) == b"x" * 1000,
             s.fsck()["errors"], outcome(create_file, s, "z", b"z" * 7000),
             s.fsck()["errors"]]
    again = LogStore.mount(f)
    return state + summary([tree(again), again.fsck()["errors"]])


def commit_streamed(t, x):
    t.commit()


def write_more_then_abort(t, x):
    try:
        t.write(x, 6000, b"y" * 6000)   # its next spill fails
    except BaseException:
        t.abort()       # as the overlay's write-back drops the file's txn
        raise


out["a streamed txn's commit fails, ending its stream out of heap"] = \
    streamed(commit_streamed)
out["a streamed txn's spill fails, aborted, ending its stream out of heap"] = \
    streamed(write_more_then_abort)


# The overlay's write-back: every call that changes the tree (mkdir,
# rename, an open that creates ...) commits the pending writes of every
# file first (WriteBack.flush_all).  One whose
# commit fails with an error that is no OSError (a MemoryError, an
# interrupt) raises it in that operation, and in the file's own handle at
# its close, as an OSError is kept for it; before, the buffer was gone and
# the close answered success for writes that never reached flash.
def content(ovl, path):
    with ovl.open(path, "rb") as f:
        return f.read().decode()


flash = ShortFlash(64 * 1024, 4096, 256)
LogStore.format(flash)
o = mount(DirLower(sys.argv[-1]), flash, checkpoints=False)
with o.open("/a", "wb") as f:
    f.write(b"old")
a = o.open("/a", "wb")
a.write(b"new" * 100)          # buffered: committed at a flush
flash.armed = MemoryError
out["another file's open commits it and runs out of heap"] = \
    outcome(o.open, "/b", "wb")
out["the file's handle, closed"] = outcome(a.close)
out["the file"] = content(o, "/a")
with o.open("/c", "wb") as f:
    f.write(b"c" * 300)
out["a file written after"] = content(o, "/c") == "c" * 300
again = mount(DirLower(sys.argv[-1]), flash, checkpoints=False)
out["remounted"] = [content(again, "/a"), sorted(again.listdir("/"))]
out["fsck"] = again.store.fsck()["errors"]


# The same flush interrupted (a Ctrl-C): the operation raises the
# interrupt, and the file's handle a failed write-back, EIO, as Linux
# reports one, at its next write or close.  Before, the handle kept the
# interrupt itself and raised it again: a second Ctrl-C the user never
# pressed.
def interrupted(fn, *args):
    """errno_outcome(), naming an interrupt too (outcome lets it through)."""
    try:
        return errno_outcome(fn, *args)
    except KeyboardInterrupt:
        return "KeyboardInterrupt"


def interrupted_flush(then):
    """Another operation's flush of /a interrupted: its outcome, then
    then(handle)'s outcomes, then /a's content."""
    a = o.open("/a", "wb")
    a.write(b"new" * 100)
    flash.armed = KeyboardInterrupt
    # a call that changes the tree commits every pending write first (a
    # read-only one, listdir, commits none: docs/OVERLAY.md); the mkdir
    # itself never happens, its flush interrupted before it
    return [interrupted(o.mkdir, "/m")] + then(a) + [content(o, "/a")]


out["an interrupted flush, the handle closed"] = interrupted_flush(
    lambda a: [interrupted(a.close)])
out["an interrupted flush, the handle written to, then closed"] = \
    interrupted_flush(lambda a: [interrupted(a.write, b"x"),
                                 interrupted(a.close)])
out["fsck after the interrupts"] = o.store.fsck()["errors"]


# A checkpoint written into the open block whose second program fails:
# the block is retired and the writer writes the txn again elsewhere.
# The checkpoint's state, captured before, still said the retired block
# was open and no garbage: a mount used it and fsck found "block 13:
# damaged node at offset 724" for ever (the block never erased).  A store
# with a bad block takes no checkpoint (checkpoint.refused): given up.
f = ShortFlash(128 * 1024, 4096, 256)
LogStore.format(f)
s = LogStore.mount(f, checkpoints=True)
for i in range(30):
    create_file(s, "f%d" % i, bytes([65 + i]) * 1500)
files = summary([tree(s)])
f.bad = s.wblock
f.ok_left = 1
written = checkpoint.write(s, True)
state = [written, s.counters()["blocks_retired"], s.fsck()["errors"]]
f.bad_blocks.clear()    # it programs again (a failed program may pass later)
again = LogStore.mount(f, checkpoints=True)
state += [again.stats.get("mount_checkpoint"), summary([tree(again)]) == files,
          again.fsck()["errors"]]
churn(again, 60, "f0")
out["a checkpoint's write fails in the open block"] = state + [
    again.fsck()["errors"]]


# GC copies a block's live nodes in two writes: its provisional nodes
# (they keep their stream's txn id), then the rest.  When the second
# fails (NoSpace: bad blocks ate the room the check counted; or any other
# error), the first one's copies are indexed nowhere: they must count
# dead.  Before, fsck found "block 3: 0 live bytes but the accounting
# says 3892 (leak)".
def gc_second_write_fails(fail):
    """collect() of a block holding provisional nodes, its second write
    raising fail: its result, the writes, fsck's errors, a file written
    after, then a remount's root and fsck."""
    f = SimFlash(64 * 1024, 4096, 256)
    s = LogStore.format(f)
    create_file(s, "big", b"B" * 6000)      # streamed: provisional nodes
    small = create_file(s, "s", b"s" * 300)
    for i in range(3):      # dead bytes make its block worth collecting
        t = s.begin()
        t.truncate(small, 0)
        t.write(small, 0, b"t" * 300)
        t.commit()
    victim = [b for b in range(s.nblocks) if b != s.wblock and
              [nd for nd in s._scan(b)[0] if nd.flags & F_PROV]][0]
    real = LogStore._write_nodes
    calls = [0]

    def second_fails(store, fill, txn, keep, prov=False):
        calls[0] += 1
        if calls[0] == 2:
            raise fail()
        return real(store, fill, txn, keep, prov)
    result = []
    LogStore._write_nodes = second_fails
    try:
        failed = outcome(lambda: result.append(collect.collect(s, victim)))
    finally:
        LogStore._write_nodes = real
    state = [result[0] if result else failed, calls[0], s.fsck()["errors"],
             outcome(create_file, s, "n", b"n" * 500), s.fsck()["errors"]]
    again = LogStore.mount(f)
    return state + [sorted(n for n, i in again.listdir(ROOT_INO)),
                    again.fsck()["errors"]]


out["GC's second copy write runs out of space"] = gc_second_write_fails(
    NoSpace)
out["GC's second copy write runs out of heap"] = gc_second_write_fails(
    MemoryError)


# A block goes bad part way through a txn (three of its pages programmed
# in the open block, the fourth fails) and the txn's retry runs out of
# heap: the txn is voided, and its first nodes stay readable in the
# retired block, which is never erased.  The void must outlive them: a
# void record is kept while a garbage block may hold a node it voids, and
# the retired block stays in garbage_blocks for that.  (Before a3f5ace,
# GC erased the other blocks, the void was dropped, and a remount showed
# a file b of 3072 bytes with no data, fsck clean.)
f = ShortFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
create_file(s, "a", b"a" * 1000)
bad = f.bad = s.wblock
f.ok_left = 3
f.then = (MemoryError, 2)       # the retry's third program
failed = outcome(create_file, s, "b", bytes(range(256)) * 12)
churn(s, 60, "a")
again = LogStore.mount(f)
out["a txn's block goes bad, its retry runs out of heap, GC churns"] = [
    failed, s.blocks.state[bad] == BAD, bad in s.garbage_blocks,
    sorted(n for n, i in s.listdir(ROOT_INO)), s.fsck()["errors"],
    sorted(n for n, i in again.listdir(ROOT_INO)), again.fsck()["errors"]]

report(out)
