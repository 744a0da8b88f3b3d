"""Where the board job's heap goes (docs/FIT.md, "Where the heap goes").

    .venv/bin/python tests/scripts/heap_budget.py BOARD HEAP_KIB [BELOW_KIB]

1. Runs the board job (host_tools.bench.fit, 500 upper files, the board's
   gc_threshold) with run_job(report=True) at HEAP_KIB: heap in use and
   mem_peak per step, the mem_info heap summary and qstr pools.
2. The same at BELOW_KIB (a heap that fails): what was free at the
   MemoryError and the largest free block.
   For both: the heap map (mem_info(1)) after each step summed up as free
   stretches: bytes free, how many stretches, the largest, and the bytes
   in stretches too short for a 2 KiB request (an inflate window).
3. An instrumented copy of the job (large heap, so it cannot fail) that
   records the heap after each part of the mount (lower, overlay, VFS) and,
   after the verify, the bytes each attribute of the mounted objects
   retains: it sets them to None one at a time, deepest first, and counts
   what a collection frees (a shared object counts where first dropped).
   It reports "OSError: [Errno 22] EINVAL" at its end: the job's last
   umount finds /fw unmounted already, by the probe.
"""

import json
import sys
import tempfile

sys.path.insert(0, ".")
from host_tools.bench import fit  # noqa: E402

PROBE = r'''
def MARK(key):
    gc.collect()
    heap["mount%d.%s" % (len(MOUNTS), key)] = gc.mem_alloc() - BASE


MOUNTS = []


FS = []
OWNERS = []


def kind_of(obj, name):
    return type(getattr(obj, name)).__name__


def child(obj, name):
    return getattr(obj, name)


def drop(obj, name):
    setattr(obj, name, None)


def in_use():
    gc.collect()
    return gc.mem_alloc()


# A dropped object must not stay on a live frame's value stack (the
# collector scans it conservatively): values are only touched in helpers.
def retained(obj, prefix, depth, seen):
    if getattr(obj, "__dict__", None) is None or id(obj) in seen:
        return
    seen.add(id(obj))
    for name in sorted(obj.__dict__):
        kind = kind_of(obj, name)
        if kind in ("module", "type", "function", "bound_method",
                    "closure", "int", "str", "bool", "NoneType"):
            continue        # code and scalars: counted with the imports
        if depth:
            retained(child(obj, name), prefix + name + ".", depth - 1, seen)
        a = in_use()
        drop(obj, name)
        OWNERS.append([prefix + name, a - in_use(), kind])


def PROBE_OWNERS():
    gc.collect()
    heap["owners.start"] = gc.mem_alloc() - BASE
    fs = FS[0]
    FS.clear()
    import vfs
    vfs.umount("/fw")       # syncs; the mount table no longer holds fs
    gc.collect()
    heap["owners.unmounted"] = gc.mem_alloc() - BASE
    retained(fs, "vfs.", 4, set())
    fs = None
    gc.collect()
    heap["owners.end"] = gc.mem_alloc() - BASE
    out["owners"] = OWNERS
'''


def instrumented_job():
    job = fit.JOB
    pairs = [
        ('\ndef note(key):', PROBE + '\n\ndef note(key):'),
        ('''            lower = SquashFS(Region(chip, P["lower"][0], P["lower"][1], "fw"),
                             max_block_size=P["lower_block_size"])
            fs = OvlVfs(mount(lower, upper, checkpoints=P["checkpoints"]))''',
         '''            FS.clear()
            MOUNTS.append(1)
            MARK("before")
            lower = SquashFS(Region(chip, P["lower"][0], P["lower"][1], "fw"),
                             max_block_size=P["lower_block_size"])
            MARK("lower")
            ov = mount(lower, upper, checkpoints=P["checkpoints"])
            MARK("overlay")
            fs = OvlVfs(ov)
            ov = None'''),
        ('        vfs.mount(fs, "/fw")\n',
         '        vfs.mount(fs, "/fw")\n        FS[:] = [fs]\n        MARK("vfs")\n'),
        ('    note("verified")\n',
         '    note("verified")\n    PROBE_OWNERS()\n'),
    ]
    for old, new in pairs:
        assert job.count(old) == 1, old
        job = job.replace(old, new)
    return job


def show(title, res):
    print("==", title, "ok" if res.get("ok") else res.get("error"),
          "step:", res.get("step"), "usable:", res.get("usable"))
    for k, v in res["heap"].items():
        print("  %-24s %10d" % (k, v))
    if res.get("trace"):
        print(res["trace"])
    for step, runs, bs in fit.free_runs(res.get("report", [])):
        print("  free %-12s %7d B in %4d stretches, largest %6d B, %6d B "
              "in stretches under 2 KiB" % (
                  step, bs * sum(runs), len(runs), bs * max(runs or [0]),
                  bs * sum(n for n in runs if n * bs < 2048)))
    for line in res.get("report", []):
        if line[8:10] != ": " and "lines all free" not in line:
            # (the maps' lines: summed up above)
            print("  |", line)
    for name, n, kind in res.get("owners", []):
        print("  owner %-44s %-12s %8d" % (name, kind, n))


def main():
    board, heap_kib = sys.argv[1], int(sys.argv[2])
    below = int(sys.argv[3]) if len(sys.argv) > 3 else None
    # a fresh directory: Setup compiles the code only into an empty one
    work = tempfile.mkdtemp(prefix="heap-budget-%s-" % board)
    setup = fit.Setup(board, work)
    show("%s at %d KiB" % (board, heap_kib),
         fit.run_job(setup, heap_kib << 10, report="map"))
    if below:
        show("%s at %d KiB" % (board, below),
             fit.run_job(setup, below << 10, report="map", trace=True))
    fit.JOB = instrumented_job()
    probe = fit.Setup(board, work + "-probe")
    res = fit.run_job(probe, 4 << 20)
    show("%s instrumented, 4 MiB" % board, res)
    with open(work + ".json", "w") as f:     # for a closer look
        json.dump(res, f)


if __name__ == "__main__":
    main()
