"""The store's code run at moments (ovl.store.mount at every format and
mount, .check at fsck, .reset) leaves the heap after the call
(tests/test_store_code_release.py, docs/STORE.md "Code layout"), with the
package loaded as a device loads it: .mpy files, or a ROMFS image.

Arguments: CHIP_FILE MPY_DIR|ROMFS_IMAGE.  Heap figures are gc.mem_alloc()
after gc.collect().  A mount keeps the store's data only when the mount's
module is released: the same mount with the module held (imported before
it, so ovl.compat.call_released leaves it) keeps as much once the module's own
heap is taken off.  A function of the module still referenced anywhere
(a closure in the store, a bound method in a dict) would keep the whole
module, and the first figure would be the module's heap larger.
Prints one JSON line of labelled results.
"""
import gc
import json
import sys

CODE = sys.argv[-1]
CHIP = sys.argv[-2]
if CODE.endswith(".romfs"):
    import vfs
    with open(CODE, "rb") as f:
        rom = f.read()
    vfs.mount(vfs.VfsRom(rom), "/rom")
    sys.path.insert(0, "/rom")
else:
    sys.path.insert(0, CODE)

from ovl.store import LogStore  # noqa: E402
from store_chip import FileFlash, data_for, make_dirs  # noqa: E402

MOMENTS = ("ovl.store.mount", "ovl.store.check", "ovl.store.reset",
           "ovl.store.checkpoint", "ovl.store.checkpoint_write")


def heap():
    gc.collect()
    return gc.mem_alloc()


def loaded():
    import ovl.store
    return [m for m in MOMENTS if m in sys.modules or
            hasattr(ovl.store, m.split(".")[-1])]


out = {}
chip = FileFlash(CHIP)
store = LogStore.format(chip)
dirs = make_dirs(store, 4)
for i in range(40):
    t = store.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644)
    t.link(dirs[i % 4], "f%02d" % i, ino)
    t.write(ino, 0, data_for(i))
    t.commit()
store.sync()
out["loaded after format and writes"] = loaded()
out["the code is .mpy"] = LogStore.__module__ == "ovl.store" and \
    sys.modules["ovl.store"].__file__.endswith(".mpy")
store = t = None

base = heap()
store = LogStore.mount(chip, checkpoints=False)
released = heap() - base
out["loaded after a mount"] = loaded()
store = None
again = heap()
out["a mount leaves (almost) no heap once the store goes"] = \
    again - base < 200

import ovl.store.mount  # noqa: E402,F401   (held: call_released leaves it)
held_base = heap()
module = held_base - again
store = LogStore.mount(chip, checkpoints=False)
held = heap() - held_base
out["the mount module's import heap is large"] = module > 1000
out["the store keeps the same with the module released or held"] = \
    abs(released - held) < 200
store = None
del sys.modules["ovl.store.mount"]
del sys.modules["ovl.store"].mount
ovl = None
dropped = heap() - again
out["dropped by hand, the module goes"] = abs(dropped) < 200

store = LogStore.mount(chip, checkpoints=False)
errors = store.fsck()["errors"]     # (fills the store's bounded caches)
before = heap()
errors = store.fsck()["errors"]
out["fsck: no error, its module released, no heap kept"] = [
    errors, loaded(), heap() - before < 200]
print("figures: mount kept %d B released, %d B held; mount module %d B; "
      "after the first mount %+d B, after the held module dropped %+d B"
      % (released, held, module, again - base, dropped))
print(json.dumps(out))
