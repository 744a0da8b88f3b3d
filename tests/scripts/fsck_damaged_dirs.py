"""fsck over a directory one of whose entries is damaged on flash (a byte
of its dirent node flipped), on both runtimes: the entries that still
read reach their inodes, the inode of the damaged entry is not an orphan
(a repair that deletes orphans keeps it), the damaged entry is named, and
the union's fsck reports the damage instead of raising.  Then the same
for the root's own inode and for the directory's own inode damaged.
argv[1]: a lower directory (DirLower).  Labels: "<case> <what>"."""
import struct
import sys

from ovl_sim.simflash import SimFlash
from ovl.dirlower import DirLower
from ovl.overlay import Overlay
from ovl.store import LogStore, ROOT_INO

from checklib import report

LOWER = sys.argv[1]
results = {}


def build(victim, victim_first):
    """A store holding /d with 30 files (the victim first or last: in a
    closed block with a summary, or in the open one) and an orphan (an
    inode no name reaches)."""
    f = SimFlash(64 * 1024, 4096, 256)
    ovl = Overlay(DirLower(LOWER), LogStore.format(f))
    ovl.mkdir("/d")
    names = ["f%d" % i for i in range(2, 31)]
    names = [victim] + names if victim_first else names + [victim]
    for name in names:
        with ovl.open("/d/" + name, "w") as fh:
            fh.write("hello " + name)
    s = ovl.store
    t = s.begin()
    orphan = t.new_ino()
    t.put_inode(orphan, mode=0o100644, nlink=1)
    t.write(orphan, 0, b"no name")
    t.commit()
    d = s.lookup(ROOT_INO, "d")
    ino = s.lookup(d, victim)
    labels = {orphan: "orphan", ino: "victim", s.lookup(d, "f2"): "f2",
              s.lookup(d, "f30"): "f30"}
    if victim_first:
        s.sync()        # (a sync closes the open block: last stays open)
    closed = _node_block(f, victim) != s.wblock
    return f, ino, labels, closed


def _node_block(f, name):
    return bytes(f.mem).find(name.encode()) // 4096


def repaired(f, s, r, labels):
    """What `ovl fsck --repair` does with fsck's report r: the orphans
    deleted in one txn; the store mounted again, and the labels of the
    inodes it still has."""
    if r["orphans"]:
        t = s.begin()
        for o in r["orphans"]:
            t.delete_inode(o)
        t.commit()
    s.sync()
    s = LogStore.mount(f)
    return s, sorted(labels[i] for i in labels if s.get(i) is not None)


def newest_inode_node(f, ino):
    """Where the last inode node of ino is, the blocks' nodes walked in
    order (magic "oN", type 1 an inode node, body length; its body starts
    with the inode number)."""
    found = None
    mem = bytes(f.mem)
    for base in range(0, len(mem), 4096):
        off = base + 32
        while mem[off:off + 2] == b"oN":
            n = struct.unpack_from("<I", mem, off + 4)[0]
            if mem[off + 2] == 1 and \
                    struct.unpack_from("<I", mem, off + 24)[0] == ino:
                found = off
            off += (24 + n + 3) & ~3
    return found


def damage(f, name, at):
    """Flip a bit of the name in the victim's dirent node (its first
    occurrence: the node, not the summary's copy at the block's end)."""
    i = bytes(f.mem).find(name.encode())
    f.mem[i + at] ^= 8


def read(s, name):
    """/d/name's content, "lost" or the errno of its lookup."""
    try:
        ino = s.lookup(s.lookup(ROOT_INO, "d"), name)
    except OSError as e:
        from ovl import compat
        return compat.errno_name(compat.error_code(e))
    if ino is None or s.get(ino) is None:
        return "lost"
    return b"".join(p[2] for p in s.read(ino, 0, 100)).decode()


# (case, the victim's name, first or last, the byte of its name flipped:
# in the header's CRC (its first 4 name bytes) or past it, in the body's)
CASES = (("closed-header", "victim-a", True, 0),
         ("closed-body", "victim-b", True, 7),
         ("open-header", "victim-c", False, 0),
         ("open-body", "victim-d", False, 7))

for case, victim, first, at in CASES:
    f, ino, labels, closed = build(victim, first)
    results[case + " in a closed block"] = closed
    damage(f, victim, at)
    s = LogStore.mount(f)
    results[case + " reads by name"] = read(s, "f2")
    r = s.fsck()
    results[case + " orphans"] = [labels.get(o, o) for o in r["orphans"]]
    results[case + " unlisted"] = [labels.get(o, o)
                                   for o in r.get("unlisted", ())]
    results[case + " entry named"] = [e for e in r["errors"]
                                      if ("inode %d" % ino) in e
                                      and "damaged" in e] != []
    results[case + " inodes reached"] = r["inodes"]
    s, results[case + " inodes kept"] = repaired(f, s, r, labels)
    results[case + " after repair"] = [read(s, "f2"), read(s, "f30")]
    # the union's fsck: the store's findings and its own, no exception
    try:
        problems = Overlay(DirLower(LOWER), s).fsck()
    except OSError as e:
        problems = ["raised %s" % e]
    results[case + " union"] = [
        [p for p in problems if p.startswith("raised")],
        [p for p in problems if p.startswith("/d: ") and "EIO" in p] != [],
        [p for p in problems if p.startswith("store: inode %d: " % ino)]
        != []]

# the root's own inode damaged (its newest inode node): the store's fsck
# names "/", and the union's reports it instead of raising
f, ino, labels, closed = build("victim-e", True)
i = newest_inode_node(f, ROOT_INO)
f.mem[i + 5] ^= 8           # a byte of its header (its length)
s = LogStore.mount(f)
results["root store"] = [e.split(":")[0] for e in s.fsck()["errors"]
                         if "inode %d" % ROOT_INO in e]
try:
    problems = Overlay(DirLower(LOWER), s).fsck()
except OSError as e:
    problems = ["raised %s" % e]
results["root union"] = [p.split(":")[0] for p in problems
                         if not p.startswith("store: ")]

# the directory's own inode damaged (not its entries): its mode is
# unknown, but its entries still reach their inodes
f, ino, labels, closed = build("victim-f", True)
s = LogStore.mount(f)
i = newest_inode_node(f, s.lookup(ROOT_INO, "d"))
f.mem[i + 24 + 20] ^= 8     # a byte of its body past the key
s = LogStore.mount(f)
r = s.fsck()
results["dir inode store"] = [[e.split(":")[0] for e in r["errors"]
                               if "EIO" in e],
                              [labels.get(o, o) for o in r["orphans"]],
                              r.get("unlisted", [])]
results["dir inode kept"] = repaired(f, s, r, labels)[1]

report(results)
