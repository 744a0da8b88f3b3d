"""fsck over a directory one of whose entries is damaged on flash (a byte
of its dirent node flipped), on both runtimes: the entries that still
read reach their inodes, the inode of the damaged entry is not an orphan
(a repair that deletes orphans keeps it), the damaged entry is named, and
the union's fsck reports the damage instead of raising.  Then the same
for the root's own inode and for the directory's own inode damaged.
argv[1]: a lower directory (DirLower).  Labels: "<case> <what>"."""
import sys

from ovl.dirlower import DirLower
from ovl.overlay import Overlay
from ovl.store import LogStore, ROOT_INO

from checklib import report
from damaged_dirs import CASES, build, damage, newest_inode_node, read

LOWER = sys.argv[1]
results = {}


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


for case, victim, first, at in CASES:
    f, ino, labels, closed = build(LOWER, victim, first)
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
f, ino, labels, closed = build(LOWER, "victim-e", True)
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
f, ino, labels, closed = build(LOWER, "victim-f", True)
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
