"""Flash bytes programmed per overlay operation, against a full copy-up.

    .venv/bin/python -m host_tools.bench.overlay

The peer, measured in the same run on the same store, is what a classic
copy-up (kernel overlayfs without metacopy, unionfs) programs: the whole
lower file written into the upper.  Counts come from the store's
counters, so they are exact and repeatable (no timing).

An operation's cost is its nodes plus the entries they add to their
block's summary.  The summary is programmed when the block closes, by
whichever write fills it: counting what is programmed meanwhile would
charge one operation a whole block's summary (about 500 bytes after a
few metadata changes) depending only on where the log head happens to
be.  So each row is bytes programmed (nodes, summaries of blocks closed
in between) plus the change in the open block's summary_due; the nodes
column leaves the summaries out.
"""

import os
import tempfile

from ovl.dirlower import DirLower
from ovl.store import LogStore
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

    def spent():
        c = o.store.counters()
        return (c["bytes_programmed"] + c["summary_due"],
                c["bytes_programmed"] - c["bytes_summary"])

    def cost(fn):
        before = spent()
        fn()
        o.sync()
        after = spent()
        return after[0] - before[0], after[1] - before[1]

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
        ("chmod of a lower directory",
         cost(lambda: o.chmod("/lib", 0o700))),
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
    print("peer: full copy-up of the 1 MiB file programs %d bytes "
          "(nodes %d)" % peer)
    for label, (n, nodes) in rows:
        print("%-44s %7d bytes  (%.5f of the peer)  nodes %d"
              % (label, n, n / peer[0], nodes))


if __name__ == "__main__":
    main()
