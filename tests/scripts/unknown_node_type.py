"""A node of a type this code does not know (docs/FORMAT.md, "Node
types": a reader meeting one must refuse the image), CRCs right, at the
end of the log, in its middle, and listed by a closed block's summary,
on both runtimes: mount refuses the image naming the type and the
address (before, the one at the end was taken for a torn tail and its
transaction dropped).  argv[1]: a lower directory; argv[2], if given: a
file the "end" case's flash is written to (for the CLI's test).
Labels: "<case> mount": [the exception's class, its message with the
node's address written ADDR]."""
import sys

from ovl.store import LogStore

from checklib import report
from hostile_upper import build, unknown_type

LOWER = sys.argv[1]
results = {}

for case in ("end", "middle", "summary"):
    f, ovl = build(LOWER)
    addr = unknown_type(f, ovl.store, case)
    if case == "end" and len(sys.argv) > 2:
        with open(sys.argv[2], "wb") as out:
            out.write(bytes(f.mem))
    try:
        LogStore.mount(f)
        got = ["mounted", None]
    except Exception as e:
        got = [type(e).__name__, str(e).replace("0x%x" % addr, "ADDR")]
    results[case + " mount"] = got

report(results)
