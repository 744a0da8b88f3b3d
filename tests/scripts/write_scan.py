"""Where the board job's 500-file write passes, in steps under a KiB
(docs/FIT.md, "The write path's heap").

    .venv/bin/python tests/scripts/write_scan.py BOARD LO_KIB HI_KIB STEP_BYTES

heap_scan.py's run at every STEP_BYTES from LO_KIB to HI_KIB (KiB may be
fractional), one character a heap: "+" the job passed, "." the write
passed and a later step failed, else the first letter of the step it
failed in ("w": the write); then the lowest heap from which every larger
one passed the write, and the job.  A fragmented heap's edge moves by a
few hundred bytes with the layout, so a fine scan tells a shift of the
write's edge from that noise.
"""

import sys
import tempfile

sys.path.insert(0, ".")
from host_tools.bench.fit import Setup, run_job  # noqa: E402

WRITE = "write %d files"


def lowest_from(heaps, ok):
    """The lowest heap from which every larger one is ok, or None."""
    low = None
    for heap in sorted(heaps, reverse=True):
        if not ok[heap]:
            break
        low = heap
    return low


def main(argv):
    if len(argv) != 4:
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    board = argv[0]
    lo, hi, step = float(argv[1]), float(argv[2]), int(argv[3])
    setup = Setup(board, tempfile.mkdtemp(prefix="ovl-wscan-"))
    heaps = list(range(int(lo * 1024), int(hi * 1024) + 1, step))
    wrote, passed, line = {}, {}, []
    for heap in heaps:
        res = run_job(setup, heap)
        passed[heap] = res["ok"]
        wrote[heap] = res["ok"] or res["step"] != WRITE % 500
        line.append("+" if res["ok"] else "." if wrote[heap]
                    else res["step"][0])
    print("".join(line))
    for what, ok in (("the write", wrote), ("the job", passed)):
        low = lowest_from(heaps, ok)
        print("%s passes at %d of %d heaps, from %s on" % (
            what, sum(ok.values()), len(heaps),
            "%.2f KiB" % (low / 1024) if low is not None else "none"))


if __name__ == "__main__":
    main(sys.argv[1:])
