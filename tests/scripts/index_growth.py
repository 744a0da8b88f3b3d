"""What the store's RAM index allocates while the board job writes its
files (docs/STORE.md, "RAM"; docs/FIT.md).

    .venv/bin/python tests/scripts/index_growth.py BOARD [HEAP_KIB]

Runs the board job of host_tools.bench.fit (500 upper files) with the
index's growing calls (InodeTable.__setitem__, EntryTable._new,
BlockSets.add) wrapped during "write 500 files": each call's bytes
allocated (micropython.mem_total(), less the least that call ever
allocated: its frame and records, the same every call) and what it grew
(an inode page, an entry chunk, the entry index doubled, a block set).
Prints, per kind of growth, how many and the bytes each allocated, and
the heap in use (after a collect) before and after the index's largest
growth step, to show whether it held two tables at once.
"""

import sys
import tempfile

sys.path.insert(0, ".")
from host_tools.bench import fit  # noqa: E402

WRAP = r'''
GROWTH = []


def wrap_index():
    from ovl.store import index as ix

    def wrapped(cls, name, what):
        f = getattr(cls, name)

        def call(self, a, b=None):
            before = what(self)
            m0 = micropython.mem_total()
            r = f(self, a) if b is None else f(self, a, b)
            n = micropython.mem_total() - m0
            after = what(self)
            GROWTH.append([name, n, before, after])
            return r
        setattr(cls, name, call)
        return f

    def entries(t):
        return (len(t.chunks), t.mask + 1, len(t.heads))

    def inodes(t):
        return (len(t.chunks), len(t.pages))

    def sets(b):
        return (len(b.sets),)
    return [(ix.InodeTable, "__setitem__",
             wrapped(ix.InodeTable, "__setitem__", inodes)),
            (ix.EntryTable, "_new", wrapped(ix.EntryTable, "_new", entries)),
            (ix.BlockSets, "add", wrapped(ix.BlockSets, "add", sets))]


def unwrap_index(saved):
    for cls, name, f in saved:
        setattr(cls, name, f)
    out["growth"] = GROWTH
'''


def instrumented_job():
    job = fit.JOB
    pairs = [
        ('\ndef note(key):', WRAP + '\n\ndef note(key):'),
        ('    a0 = micropython.mem_total()    # bytes allocated (churn)',
         '    saved = wrap_index()\n'
         '    a0 = micropython.mem_total()    # bytes allocated (churn)'),
        ('    note("written")\n',
         '    unwrap_index(saved)\n    note("written")\n'),
    ]
    for old, new in pairs:
        assert job.count(old) == 1, old
        job = job.replace(old, new)
    return job


def kind(name, before, after):
    if name == "__setitem__":
        # (the larger ones: the list of pages or the dict of page
        # numbers grew too)
        return "inode page" if after[1] > before[1] else "inode row"
    if name == "_new":
        parts = []
        if after[1] > before[1]:
            parts.append("index %d -> %d slots" % (before[1], after[1]))
        if after[0] > before[0]:
            parts.append("entry chunk")
        if after[2] > before[2]:
            parts.append("directory head")
        return ", ".join(parts) or "entry row"
    return "block set" if after[0] > before[0] else "block of an inode"


def main(argv):
    board = argv[0]
    heap = int(argv[1]) if len(argv) > 1 else 4096
    fit.JOB = instrumented_job()
    setup = fit.Setup(board, tempfile.mkdtemp(prefix="ix-growth-"))
    res = fit.run_job(setup, heap << 10)
    if not res.get("ok"):
        raise SystemExit("job failed: %s in %s" % (res.get("error"),
                                                   res.get("step")))
    least = {}
    for name, n, _, _ in res["growth"]:
        least[name] = min(least.get(name, n), n)
    summary = {}
    for name, n, before, after in res["growth"]:
        k = kind(name, before, after)
        summary.setdefault(k, []).append(n - least[name])
    print("%s: index calls during 'write %d files' (bytes beyond each "
          "call's least: %s)" % (board, 500, least))
    total = 0
    for k in sorted(summary, key=lambda k: -max(summary[k])):
        sizes = summary[k]
        total += sum(sizes)
        by = {}
        for s in sizes:
            by[s] = by.get(s, 0) + 1
        print("  %-44s %4d calls, %8d B: %s" % (
            k, len(sizes), sum(sizes), ", ".join(
                "%d x %d B" % (c, s) for s, c in sorted(by.items()))))
    print("  total beyond the calls' least: %d B" % total)


if __name__ == "__main__":
    main(sys.argv[1:])
