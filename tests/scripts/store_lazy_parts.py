"""The log store's parts a healthy board's mount, reads and writes never
run (ovl.store.damage, .collect, .stream, .supersede, .txn_rare: imported
at first use through LogStore's and Txn's __getattr__ and kept; .reset
and .check: imported for each call and released after it, as
.mount is by every format and mount), each reached and checked, as
labelled results (tests/test_store_lazy.py checks each label on both
runtimes).
"""
import sys

from checklib import create_file, file_content, outcome, report
from ovl.store import LogStore, ROOT_INO
from ovl_sim.simflash import SimFlash

LAZY = ("ovl.store.damage", "ovl.store.collect", "ovl.store.reset",
        "ovl.store.stream", "ovl.store.supersede", "ovl.store.txn_rare",
        "ovl.store.check", "ovl.store.mount")


# released after each call on MicroPython only (CPython keeps them:
# ovl.compat.call_released); the other runtime's view of them is left out, and
# what CPython keeps is reported on its own
RELEASED = ("ovl.store.reset", "ovl.store.check", "ovl.store.mount")
MICROPYTHON = sys.implementation.name == "micropython"


def loaded():
    return sorted(m for m in LAZY if m in sys.modules
                  and (MICROPYTHON or m not in RELEASED))


out = {}
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
small = [create_file(s, "f%d" % i, b"%d" % i * 100) for i in range(20)]
s.sync()
s = LogStore.mount(f)
s.begin().abort()       # an error path's: it must not need an import
out["healthy mount, list, read, write, abort"] = [
    len(list(s.listdir(ROOT_INO))), file_content(s, small[7]) == b"7" * 100,
    file_content(s, create_file(s, "new", b"n" * 300)) == b"n" * 300, loaded()]

# a txn past txn_ram streams its data; reading it back before the commit
t = s.begin()
big = t.new_ino()
t.put_inode(big, mode=0o100644)
t.link(ROOT_INO, "big", big)
t.write(big, 0, b"a" * 3000)
t.write(big, 3000, b"b" * 3000)
back = b"".join(p[2] for p in t.read(big, 2990, 20))
t.commit()
out["a long txn streams, reads back, commits"] = [
    back == b"a" * 10 + b"b" * 10, len(s.streams), file_content(s, big) ==
    b"a" * 3000 + b"b" * 3000, loaded()]

# space and wear figures, then collections
for i in range(0, 20, 2):
    t = s.begin()
    t.unlink(ROOT_INO, "f%d" % i)
    t.delete_inode(small[i])
    t.commit()
free = s.free_bytes()
st = s.statvfs()
c = s.counters()
from ovl.store import collect   # (loaded by the calls above)
out["free_bytes, statvfs, counters"] = [
    0 < free, st[0] == 4096 and st[2] == 14,
    st[3] == min(collect.file_bytes(s) // 4096, 14) and st[3] * 4096 < free,
    c["blocks"], c["bytes_free"] == free, loaded()]
runs = s.gc(20)
out["gc collects, data survive"] = [
    runs > 0, s.counters()["gc_runs"] >= runs,
    file_content(s, small[7]) == b"7" * 100, file_content(s, big) ==
    b"a" * 3000 + b"b" * 3000, loaded()]

# a factory reset, and a mount after it
s.reset(mode=0o40700)
m = LogStore.mount(f)
out["reset empties the store"] = [
    list(s.listdir(ROOT_INO)), list(m.listdir(ROOT_INO)),
    oct(m.get(ROOT_INO).mode), loaded()]

# one bit flipped in a block header: mended at mount, reported as damage
create_file(m, "after", b"z" * 50)
m.sync()
b = m.inodes.get(ROOT_INO)[2] // 4096
f.mem[b * 4096 + 6] ^= 0x08
d = LogStore.mount(f)
out["a flipped header bit is mended and reported"] = [
    [rec[3] for rec in d.damage], len(list(d.listdir(ROOT_INO))), loaded()]
# (the block holding the root's node, B: where it lies depends on how
# big the checkpoints before it were)
out["fsck names it, and nothing else"] = [
    e.replace("block %d:" % b, "block B:") for e in d.fsck()["errors"]]
out["fsck's and reset's modules released after the call"] = [
    loaded(), [n for n in ("check", "reset", "mount")
               if MICROPYTHON and hasattr(sys.modules["ovl.store"], n)]]
out["CPython keeps them"] = MICROPYTHON or all(m in sys.modules
                                               for m in RELEASED)
out["an unknown attribute"] = outcome(getattr, d, "no_such_part")
# a lazy method reached once is kept on the class, a method from then on
# (appends stamp through _stamp_add each time: no second lookup)
d._stamp_add
out["a lazy method is kept once reached"] = hasattr(type(d), "_stamp_add")
# a txn's rare calls (ovl.store.txn_rare) answer on a Txn only, and a
# store's on a store only
t = d.begin()
ino = t.new_ino()
t.put_inode(ino, mode=0o100644, size=10)
t.truncate(ino, 4)
out["a txn's rare calls, each on its own class"] = [
    t.size(ino), outcome(getattr, d, "truncate"), outcome(getattr, t, "gc"),
    outcome(getattr, t, "no_such_part"), t.abort(), t.done]
report(out)
