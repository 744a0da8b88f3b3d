"""An open file's write() refuses what is not bytes-like, whatever its
size, before it buffers anything: the file keeps what was written before
and after (tests/test_overlay.py)."""
import sys

import checklib
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

flash = SimFlash(256 * 1024, 4096, 256)
LogStore.format(flash)
o = mount(DirLower(sys.argv[-1]), flash)
res = {}
with o.open("/new", "wb") as f:
    f.write(b"abc")
    for label, data in (("small list", [104, 105]),
                        ("big list", [104] * (o.write_buffer + 1)),
                        ("an int", 7)):
        res[label] = checklib.outcome(f.write, data)
    f.write(b"d")
with o.open("/new", "rb") as f:
    res["content"] = f.read().decode()
checklib.report(res)
