"""The board job's pass/fail pattern every 0.25 KiB (docs/FIT.md).

    .venv/bin/python tests/scripts/heap_scan_fine.py BOARD LO_KIB HI_KIB

heap_scan.py's job (host_tools.bench.fit.run_job) at every quarter KiB
from LO_KIB to HI_KIB: near the edge a heap passes or fails by where its
requests land, so one change can move a 1 KiB scan's edge either way by
chance; four times the heaps count how often each step fails.  Prints
the passes, the lowest heap from which every larger one passed, the
failures per step, and the pattern (+ pass, - fail), one character a
heap.
"""

import sys
import tempfile

sys.path.insert(0, ".")
from host_tools.bench.fit import Setup, run_job  # noqa: E402


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    board = argv[0]
    lo, hi = int(float(argv[1]) * 4), int(float(argv[2]) * 4)
    setup = Setup(board, tempfile.mkdtemp(prefix="ovl-scan-"))
    results = []            # (KiB, passed, step it failed in)
    for quarter in range(lo, hi + 1):
        res = run_job(setup, quarter * 256)
        results.append((quarter / 4, res["ok"], res.get("step")))
    edge = None
    for kib, ok, _ in reversed(results):
        if not ok:
            break
        edge = kib
    failed = {}
    for _, ok, step in results:
        if not ok:
            failed[step] = failed.get(step, 0) + 1
    print("%s: %d of %d pass; passes from %s KiB; failures %s" % (
        board, sum(ok for _, ok, _ in results), len(results), edge, failed))
    print("".join("+" if ok else "-" for _, ok, _ in results))


if __name__ == "__main__":
    main(sys.argv[1:])
