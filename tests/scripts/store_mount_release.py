"""A store's state set up by ovl.store.mount's init, its module loaded
for it and released after, as labelled results
(tests/test_store_mount_release.py checks each label on both runtimes).
"""
import builtins
import gc
import sys

from checklib import create_file, file_content, report

from ovl.store import LogStore, ROOT_INO
from ovl_sim.simflash import SimFlash

MICROPYTHON = sys.implementation.name == "micropython"
NAME = "ovl.store.mount"
loads = [0]
_import = builtins.__import__


def counting_import(name, *args):
    # a load is an import after which the module is there and was not
    before = NAME in sys.modules
    try:
        return _import(name, *args)
    finally:
        if not before and NAME in sys.modules:
            loads[0] += 1


builtins.__import__ = counting_import


def loaded():
    import ovl.store
    return NAME in sys.modules or hasattr(ovl.store, "mount")


def heap():
    gc.collect()
    return gc.mem_alloc() if MICROPYTHON else 0


out = {}
flash = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(flash)
ino = create_file(s, "f", b"kept" * 100)
s.sync()
out["format: one load, released"] = [loads[0], loaded() and MICROPYTHON]
# (CPython keeps the module: a runtime that loaded it once loads it no more)
KEPT = 0 if not MICROPYTHON else 1

loads[0] = 0
s = LogStore.mount(flash)
out["mount: one load (init ran with it held), released"] = [
    loads[0] == KEPT, loaded() and MICROPYTHON]
out["the mounted store reads its file"] = [
    s.lookup(ROOT_INO, "f") == ino, file_content(s, ino) == b"kept" * 100]

loads[0] = 0
bare = LogStore(flash)
out["constructed directly: its state set up, the module released"] = [
    loads[0] == KEPT, loaded() and MICROPYTHON,
    bare.es, bare.nblocks, bare.blocks.nblocks, bare.data_start,
    bare.log_end, len(bare.inodes), bare.next_ino, bare.stats["erases"],
    bare.blocks.stats is bare.stats, bare.wblock, bare.mounting]

try:
    LogStore(SimFlash(4 * 4096, 4096, 256))
    refused = None
except ValueError as e:
    refused = str(e)
out["a flash too small: refused, the module released"] = [
    refused, loaded() and MICROPYTHON]

# the store made with the module released keeps what one made with it
# held keeps (no string or function of the module kept by the store)
s = bare = None
base = heap()
bare = LogStore(flash)
released = heap() - base
bare = None
import ovl.store.mount  # noqa: E402,F401   (held: _release leaves it)
base = heap()
bare = LogStore(flash)
held = heap() - base
out["a store keeps the same with the module released or held"] = \
    abs(released - held) < 64
print("store made: %d B released, %d B held" % (released, held))
report(out)
