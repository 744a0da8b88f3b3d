"""Flash bytes programmed per overlay operation, against a full copy-up.

    .venv/bin/python -m host_tools.bench.overlay

The peer, measured in the same run on the same store, is what a classic
copy-up (kernel overlayfs without metacopy, unionfs) programs: the whole
lower file written into the upper.  Counts come from the SimFlash
counters, so they are exact and repeatable (no timing).
"""

import os
import tempfile

from ovl.dirlower import DirLower
from ovl.logstore import LogStore
from ovl.overlay import mount
from ovl_sim.simflash import SimFlash

BIG = 1 << 20


def build(root):
    os.makedirs(os.path.join(root, "lib"))
    os.makedirs(os.path.join(root, "share/a/b"))
    with open(os.path.join(root, "lib/big.bin"), "wb") as f:
        f.write(bytes(range(256)) * (BIG // 256))
    for i in range(20):
        with open(os.path.join(root, "share/a/b/f%d" % i), "wb") as f:
            f.write(b"x" * 5000)


def main():
    root = os.path.join(tempfile.mkdtemp(prefix="ovl-bench-"), "lower")
    build(root)
    flash = SimFlash(4 << 20, 4096, 256)
    LogStore.format(flash)
    o = mount(DirLower(root), flash)

    def cost(fn):
        before = flash.counters()["bytes_programmed"]
        fn()
        o.sync()
        return flash.counters()["bytes_programmed"] - before

    def full_copy():
        o.write_bytes("/copy.bin", o.read_bytes("/lib/big.bin"))

    def edit():
        with o.open("/lib/big.bin", "r+b") as f:
            f.seek(BIG // 2)
            f.write(b"\xee")

    peer = cost(full_copy)
    rows = [
        ("1-byte edit of a 1 MiB lower file", cost(edit)),
        ("truncate a 1 MiB lower file to 1000 bytes",
         cost(lambda: o.truncate("/lib/big.bin", 1000))),
        ("chmod of a lower file", cost(lambda: o.chmod("/lib", 0o700))),
        ("rename of a lower dir holding 100 KB",
         cost(lambda: o.rename("/share", "/share2"))),
        ("unlink of a lower file (whiteout)",
         cost(lambda: o.remove("/share2/a/b/f0"))),
    ]
    # a put's rename over a firmware file records what it hides
    o.write_bytes("/share2/a/b/.new", b"y" * 5000)
    rows.append(("rename of a new file over a lower file",
                 cost(lambda: o.rename("/share2/a/b/.new",
                                       "/share2/a/b/f1"))))
    print("peer: full copy-up of the 1 MiB file programs %d bytes" % peer)
    for label, n in rows:
        print("%-44s %7d bytes  (%.5f of the peer)" % (label, n, n / peer))


if __name__ == "__main__":
    main()
