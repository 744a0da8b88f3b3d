"""A directory loop in the upper (an entry naming a directory that has a
name already: /etc/loop naming /etc, /etc/up naming the root), on both
runtimes: every walk of the upper (diff, fsck, the store's fsck) ends
with an error naming the entry instead of going round forever, and the
store's fsck --repair drops the extra name and puts the directory's
link count right (made one too high, as a writer counting the second
name would).  argv[1]: a lower directory.
Labels: "<case> <what>"."""
import sys

from ovl.store import LogStore, ROOT_INO
from ovl.store.repair import repair
from ovl.overlay import Overlay
from ovl.dirlower import DirLower

from checklib import report, errno_outcome
from hostile_upper import build, etc

LOWER = sys.argv[1]
results = {}

for case, target in (("to /etc", "etc"), ("to the root", "root")):
    f, ovl = build(LOWER)
    s = ovl.store
    d = etc(s)
    named = d if target == "etc" else ROOT_INO
    t = s.begin()
    t.link(d, "loop", named)
    t.put_inode(named, nlink=s.get(named).nlink + 1)
    t.commit()
    results[case + " diff"] = errno_outcome(ovl.diff, "/")
    problems = ovl.fsck()
    results[case + " fsck names it"] = [p for p in problems
                                        if "/etc/loop" in p and "loop" in p
                                        and "store:" not in p] != []
    r = s.fsck()
    results[case + " store fsck"] = [e for e in r["errors"]
                                     if "/etc/loop" in e]
    done = repair(s, r)
    results[case + " repaired"] = done
    m = LogStore.mount(f)
    after = m.fsck()
    results[case + " after"] = [after["errors"], after["warnings"]]
    results[case + " nlink after"] = m.get(named).nlink
    o = Overlay(DirLower(LOWER), m)
    results[case + " listed after"] = sorted(o.listdir("/etc"))
    results[case + " diff after"] = len(o.diff("/"))

report(results)
