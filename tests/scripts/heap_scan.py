"""Where the board job passes, heap size by heap size (docs/FIT.md).

    .venv/bin/python tests/scripts/heap_scan.py BOARD LO_KIB HI_KIB [STEP_KIB]

Runs host_tools.bench.fit's run_job (500 upper files, the board's
gc_threshold) at every STEP_KIB (default 1) from LO_KIB to HI_KIB and
prints one line a heap (pass, or the step and error it stopped at), then
the whole pattern and the lowest heap from which every larger one passed.
Near the edge the job can pass at one heap and fail at the next larger
one (where a request lands in a fragmented heap moves), so the docs quote
the pattern, not a single point.  About 4 s a heap.
"""

import sys
import tempfile

sys.path.insert(0, ".")
from host_tools.bench.fit import Setup, run_job  # noqa: E402


def main(argv):
    if len(argv) not in (3, 4):
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    board = argv[0]
    lo, hi = int(argv[1]), int(argv[2])
    step = int(argv[3]) if len(argv) > 3 else 1
    setup = Setup(board, tempfile.mkdtemp(prefix="ovl-scan-"))
    passed = {}
    for kib in range(lo, hi + 1, step):
        res = run_job(setup, kib * 1024)
        passed[kib] = res["ok"]
        print("%s %d KiB %s" % (board, kib, "pass" if res["ok"] else
                                "fail in %r: %s" % (res["step"],
                                                    res.get("error"))),
              flush=True)
    print("pattern:", " ".join("%d%s" % (k, "+" if ok else "-")
                              for k, ok in sorted(passed.items())))
    edge = None
    for kib in sorted(passed, reverse=True):
        if not passed[kib]:
            break
        edge = kib
    print("passes from %s KiB on (every larger heap scanned passes)" % edge
          if edge is not None else "fails at %d KiB" % hi)


if __name__ == "__main__":
    main(sys.argv[1:])
