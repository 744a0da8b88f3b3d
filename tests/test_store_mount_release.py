"""A store's state is set up by ovl.store.mount's init (LogStore.__init__
calls it), so that code leaves the heap with the mount module
(docs/STORE.md, "Code layout"): a mount or format loads the module once
and constructs the store with it held; a store constructed directly
(LogStore(flash): tests, tools, a checkpoint restored into a fresh
store) loads it for the call and releases it, on MicroPython, even when
the set-up refuses the flash.  Run on both runtimes (CPython keeps the
module: ovl.store._release)."""

SCRIPT = r'''
import builtins
import gc
import json
import sys

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


def content(s, ino):
    return b"".join(p[2] for p in s.read(ino, 0, 1 << 20))


out = {}
flash = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(flash)
t = s.begin()
ino = t.new_ino()
t.put_inode(ino, mode=0o100644)
t.link(ROOT_INO, "f", ino)
t.write(ino, 0, b"kept" * 100)
t.commit()
s.sync()
out["format: one load, released"] = [loads[0], loaded() and MICROPYTHON]
# (CPython keeps the module: a runtime that loaded it once loads it no more)
KEPT = 0 if not MICROPYTHON else 1

loads[0] = 0
s = LogStore.mount(flash)
out["mount: one load (init ran with it held), released"] = [
    loads[0] == KEPT, loaded() and MICROPYTHON]
out["the mounted store reads its file"] = [
    s.lookup(ROOT_INO, "f") == ino, content(s, ino) == b"kept" * 100]

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
print(json.dumps(out))
'''


def test_store_state_set_up_by_the_released_mount_module(runtime):
    lines = runtime(SCRIPT).strip().splitlines()
    print(lines[:-1])
    import json
    got = json.loads(lines[-1])
    assert got == {
        "format: one load, released": [1, False],
        "mount: one load (init ran with it held), released": [True, False],
        "the mounted store reads its file": [True, True],
        "constructed directly: its state set up, the module released": [
            True, False, 4096, 16, 16, 32, 4088, 0, 2, 0, True, None, False],
        "a flash too small: refused, the module released": [
            "log store needs at least 5 erase blocks, flash has 4", False],
        "a store keeps the same with the module released or held": True,
    }, got
