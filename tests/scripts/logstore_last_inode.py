"""Inode 0xFFFFFFFF is a dirent's whiteout (docs/FORMAT.md), never an
inode: Txn.new_ino hands out 0xFFFFFFFE, the last number, then refuses
with ENOSPC instead of 0xFFFFFFFF, and the store stays usable.  Reports
labelled results."""
from checklib import errno_outcome, report
from ovl.store import LogStore, ROOT_INO
from ovl_sim.simflash import SimFlash


def make(store, name, ino):
    t = store.begin()
    t.put_inode(ino, mode=0o100644, size=0, mtime=1)
    t.link(ROOT_INO, name, ino)
    t.commit()


flash = SimFlash(64 * 1024, 4096, 256)
store = LogStore.format(flash)
make(store, "high", 0xFFFFFFFD)
store = LogStore.mount(flash)       # numbers go on above the largest
out = {}
t = store.begin()
out["new_ino after 0xFFFFFFFD"] = "0x%x" % t.new_ino()
t.abort()
make(store, "top", 0xFFFFFFFE)
t = store.begin()
out["new_ino after 0xFFFFFFFE"] = errno_outcome(t.new_ino)
out["asked again"] = errno_outcome(t.new_ino)
t.abort()
t = store.begin()
t.unlink(ROOT_INO, "top")
t.delete_inode(0xFFFFFFFE)
t.commit()
out["names after removing one"] = [n for n, v in store.listdir(ROOT_INO)]
out["fsck errors"] = LogStore.mount(flash).fsck()["errors"]
report(out)
