"""fsck's repair of a directory with a damaged entry (docs/STORE.md, "A
directory with a damaged entry"), on both runtimes: the directory is made
anew under its inode number in one transaction, the damaged entry
restored when its name and inode are known, its inode put in
/lost+found/#<ino> when not; after a remount the directory lists, a
second fsck finds no error, and a power cut during the repair leaves the
store as before or after it.  argv[1]: a lower directory (DirLower).
Labels: "<case> <what>"."""
import sys

from ovl_sim.simflash import PowerCut, TORN_MODES
from ovl.store import LogStore, ROOT_INO
from ovl.store.repair import repair

from checklib import report
from damaged_dirs import CASES, build, damage, dir_ino, read

LOWER = sys.argv[1]
results = {}


def where(s, ino, victim, parent):
    """Where the victim is: its content under its name, or under
    /lost+found/#<ino>, or what its lookup answers."""
    got = read(s, victim, parent)
    if got == "lost":
        lf = read(s, "#%d" % ino, "/lost+found")
        if lf != "lost" and lf != "ENOENT":
            return "lost+found: " + lf
    return got


def state(f, ino, victim, parent):
    """What a mount of f shows: the directory's listing (its number of
    names, or the errno), where the victim is, fsck's errors."""
    s = LogStore.mount(f)
    try:
        listed = len(list(s.listdir(dir_ino(s, parent))))
    except OSError:
        listed = "EIO"
    return [listed, where(s, ino, victim, parent), len(s.fsck()["errors"])]


# (case, victim, first, byte flipped, the directory): the four of
# damaged_dirs.CASES in /d, and two in the root, whose number is fixed
ALL = [c + ("/d",) for c in CASES] + [
    ("root-closed", "victim-r", True, 7, "/"),
    ("root-open", "victim-s", False, 7, "/")]

for case, victim, first, at, parent in ALL:
    f, ino, labels, closed = build(LOWER, victim, first, parent)
    damage(f, victim, at)
    s = LogStore.mount(f)
    r = s.fsck()
    done = repair(s, r)
    results[case + " repaired"] = len(done) > 0
    s.sync()
    # what the repair left in RAM, then after a remount
    results[case + " in RAM"] = [len(list(s.listdir(dir_ino(s, parent)))),
                                 where(s, ino, victim, parent)]
    m = LogStore.mount(f)
    results[case + " listed"] = len(list(m.listdir(dir_ino(m, parent))))
    results[case + " victim"] = where(m, ino, victim, parent)
    results[case + " others"] = [read(m, "f2", parent), read(m, "f30", parent)]
    orphan = [o for o in labels if labels[o] == "orphan"][0]
    results[case + " orphan"] = "deleted" if m.get(orphan) is None else \
        where(m, orphan, "(none)", parent)
    again = m.fsck()
    results[case + " fsck after"] = [again["errors"], again["orphans"],
                                     again["unlisted"]]
    results[case + " second repair"] = repair(m, again)

# a power cut at every flash operation of the repair, in every torn mode:
# the store is as before (the directory answers EIO) or after it
f, ino, labels, closed = build(LOWER, "victim-p", True)
damage(f, "victim-p", 7)
good = f.snapshot()
before = state(f, ino, "victim-p", "/d")
s = LogStore.mount(f)
ops = f.ops
repair(s, s.fsck())
s.sync()
ops = f.ops - ops
after = state(f, ino, "victim-p", "/d")
results["cut before"] = before
results["cut after"] = after
seen = {}
for mode in TORN_MODES:
    for k in range(ops + 1):
        f.restore(good)
        s = LogStore.mount(f)
        r = s.fsck()
        f.arm_power_cut(k, torn=mode, seed=k)
        try:
            repair(s, r)
            s.sync()
        except PowerCut:
            pass
        f.power_on()
        got = state(f, ino, "victim-p", "/d")
        seen["before" if got == before else "after" if got == after
             else repr(got)] = True
        # and a repair after the cut ends where an uncut one does
        s = LogStore.mount(f)
        repair(s, s.fsck())
        s.sync()
        if state(f, ino, "victim-p", "/d") != after:
            seen["repaired again: %s %d" % (mode, k)] = True
results["cut states"] = sorted(seen)

report(results)
