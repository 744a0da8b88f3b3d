"""Entry names that break the format's name rule (docs/FORMAT.md,
NODE_DIRENT: 1..255 bytes, no "/" or NUL, not "." or ".."), as a
hostile or damaged upper holds them, on both runtimes: the overlay's
listing skips such an entry, a lookup never finds it, diff ends with
EIO naming it (as for a directory loop) and the overlay's fsck names it;
the store's fsck reports it as an error and --repair unlinks it, its
inode put in /lost+found.  argv[1]: a lower directory; argv[2], if
given: the image of the "root dotdot" case is written there.  Labels "<case>
<what>".  (A name over 255 bytes is a malformed node, refused by the
parser: ovl.store.format.)"""
import sys

from ovl.paths import S_IFREG
from ovl.store import LogStore, ROOT_INO
from ovl.store.repair import repair
from ovl.overlay import Overlay
from ovl.dirlower import DirLower

from checklib import report, errno_outcome
from hostile_upper import build, etc, link_unchecked, rename_on_flash

LOWER = sys.argv[1]
results = {}


def check(case, f, ovl, listed_dir):
    s = ovl.store
    results[case + " listed"] = sorted(ovl.listdir(listed_dir))
    results[case + " diff"] = errno_outcome(ovl.diff, "/")
    results[case + " fsck names it"] = len(
        [p for p in ovl.fsck() if "name rule" in p and "store:" not in p])
    r = s.fsck()
    results[case + " store fsck"] = [e for e in r["errors"]
                                     if "name rule" in e]
    results[case + " repaired"] = repair(s, r)
    m = LogStore.mount(f)
    after = m.fsck()
    results[case + " after"] = [after["errors"], after["warnings"]]
    o = Overlay(DirLower(LOWER), m)
    results[case + " lost+found after"] = sorted(o.listdir("/lost+found"))
    results[case + " diff after"] = len(o.diff("/"))


# a new file in /etc named only by the bad name
for case, raw in (("dotdot", b".."), ("dot", b"."), ("empty", b""),
                  ("slashes", b"../../ab"), ("nul", b"a\x00b")):
    f, ovl = build(LOWER)
    s = ovl.store
    t = s.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=S_IFREG | 0o644, nlink=1)
    link_unchecked(t, etc(s), raw, ino)
    t.commit()
    if case == "nul":
        results[case + " lookup"] = errno_outcome(ovl.lstat, "/etc/a\x00b")
    check(case, f, ovl, "/etc")

# a second, bad name of an inode a good name reaches too, its link count
# counting both (as a writer counting every name would): the repair
# drops the bad name and puts the count right, so fsck after is clean
for case, where, raw, target in (("file too", "/etc", b"..", "Q7"),
                                 ("dir too", "/", b"a/b", "etc")):
    f, ovl = build(LOWER)
    s = ovl.store
    parent = etc(s) if where == "/etc" else ROOT_INO
    ino = s.lookup(parent, target)
    t = s.begin()
    link_unchecked(t, parent, raw, ino)
    t.put_inode(ino, nlink=s.get(ino).nlink + 1)
    t.commit()
    results[case + " repaired"] = repair(s, s.fsck())
    m = LogStore.mount(f)
    after = m.fsck()
    results[case + " after"] = [after["errors"], after["warnings"]]
    results[case + " nlink after"] = m.get(ino).nlink

# the root's entry etc renamed "..": the directory is reached by no
# other name
f2, ovl = build(LOWER)
s = ovl.store
d = etc(s)
t = s.begin()
t.unlink(ROOT_INO, "etc")
link_unchecked(t, ROOT_INO, b"..", d)
t.commit()
if len(sys.argv) > 2:
    with open(sys.argv[2], "wb") as out:   # (for the CLI's test)
        out.write(bytes(f2.mem))
check("root dotdot", f2, ovl, "/")

# /etc/Q7 renamed ".." on flash, CRCs fixed (as an outside reviewer did)
f, ovl = build(LOWER)
rename_on_flash(f, b"Q7", b"..")
ovl = Overlay(DirLower(LOWER), LogStore.mount(f))
check("flash edit", f, ovl, "/etc")

report(results)
