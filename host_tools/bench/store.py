"""Benchmark: the ovl log store against MicroPython's littlefs (VfsLfs2).

    python -m host_tools.bench.store [--tiny] [--json]
    python -m host_tools.bench.store --near-full [--chart] [--fills 30,60]
                                     [--ops N] [--timeout S]

Both run in one `micropython` process (W1-W3 and W1s in one, each W5 level
in its own; progress on stderr) on the same simulated chip geometry
(1 MiB NOR, 4 KiB erase blocks, 256-byte pages); littlefs sees the chip
through a block device written here (readblocks/writeblocks with offsets,
ioctl 6 = erase).  Counts are deterministic (seeded workloads, flash
counters), so one run is the measurement:

  W1  50 config files of 200-2000 bytes, then 500 whole-file rewrites
  W2  2,000 appends of 64 bytes to one file, committed (closed) every 10
  W3  one 256 KiB file, then 20 one-byte edits at random offsets
  W1s W1 run on for 5,000 rewrites (the logs wrap: GC, erases)
  W5  near full: files of 100-4,000 B up to 30/60/75/80/85/90% of the
      chip in file data, then 2,000 rewrites and appends at that level
      (bytes programmed and erases per operation, ENOSPC counts)

For each: bytes programmed, write amplification (programmed / user bytes
written), erases, max erases of one block, bytes read by a fresh mount, and
heap held by the mounted store (gc.mem_alloc after a collect).  Format
erases are not counted for either.  The ovl store runs on its API directly
(one transaction per file close, as the overlay does).  A heap table then
shows ovl's RAM per file.  --tiny runs everything scaled down (the smoke
test).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from host_tools import FIRMWARE

HERE = os.path.dirname(os.path.abspath(__file__))   # _counted_reads

DEVICE_SCRIPT = r"""
import sys, gc, vfs, json, time
T0 = time.ticks_ms()

def progress(what):
    # to stderr, so a slow or timed-out run says where it was
    sys.stderr.write('%7.1f s %s\n' % (time.ticks_diff(time.ticks_ms(), T0)
                                        / 1000, what))
from ovl_sim.simflash import SimFlash, Xorshift
from ovl.store import LogStore, ROOT_INO
from ovl.blockdev import FlashBlockDevice
from _counted_reads import CountedReadBlockDevice
from ovl.overlay import mount as overlay_mount

SIZE, ES, PS = 1 << 20, 4096, 256
SCALE = @SCALE@
LOWER = @LOWER@
PART = @PART@             # 'main' (W1-W3, W1s, heap) or a W5 fill level
W5_OPS = @W5_OPS@

def n(x):
    return max(1, int(x * SCALE))

def sizes(rng, count, lo, hi):
    return [lo + rng.below(hi - lo + 1) for _ in range(count)]

# ----- ovl ---------------------------------------------------------------

class OvlRig:
    name = 'ovl'
    def __init__(self, flash):
        self.flash = flash
        self.s = LogStore.format(flash)
        self.inos = {}
    def write_file(self, name, data):
        s = self.s
        t = s.begin()
        ino = self.inos.get(name)
        if ino is None:
            ino = t.new_ino()
            t.put_inode(ino, mode=0o100644, size=0, mtime=1)
            t.link(ROOT_INO, name, ino)
            self.inos[name] = ino
        else:
            t.truncate(ino, 0)
        t.write(ino, 0, data)
        t.put_inode(ino, size=len(data), mtime=2)
        t.commit()
    def append(self, name, chunks):
        s = self.s
        ino = self.inos.get(name)
        t = s.begin()
        if ino is None:
            ino = t.new_ino()
            t.put_inode(ino, mode=0o100644, size=0)
            t.link(ROOT_INO, name, ino)
            self.inos[name] = ino
            size = 0
        else:
            size = s.get(ino).size
        for c in chunks:
            t.write(ino, size, c)
            size += len(c)
        t.put_inode(ino, size=size, mtime=3)
        t.commit()
    def poke(self, name, off, data):
        t = self.s.begin()
        t.write(self.inos[name], off, data)
        t.put_inode(self.inos[name], mtime=4)
        t.commit()
    def read(self, name):
        ino = self.inos[name]
        return b''.join(d for o, k, d in self.s.read(ino, 0, self.s.get(ino).size))
    def remount(self):
        self.s = None
        gc.collect()
        base = gc.mem_alloc()
        self.s = LogStore.mount(self.flash)
        gc.collect()
        return gc.mem_alloc() - base

# ----- stores driven through a file API (open/write/close) ---------------

class FileApiRig:
    # write_file/append/poke/read through self.fs.open, as programs write.
    # A file is closed even when a write fails (ENOSPC near full): left
    # open, littlefs would sync it whenever the GC finalised it, so its W5
    # rows changed with the heap size (at 60%: 443 ENOSPC in a 32 MB heap
    # through SimFlash.readinto, 496 through the cheaper reads, 1,349 with
    # 64 MB)
    def write_file(self, name, data):
        f = self.fs.open('/' + name, 'wb')
        try:
            f.write(data)
        finally:
            f.close()
    def append(self, name, chunks):
        f = self.fs.open('/' + name, 'ab')
        try:
            for c in chunks:
                f.write(c)
        finally:
            f.close()
    def poke(self, name, off, data):
        f = self.fs.open('/' + name, 'r+b')
        try:
            f.seek(off)
            f.write(data)
        finally:
            f.close()
    def read(self, name):
        f = self.fs.open('/' + name, 'rb')
        d = f.read()
        f.close()
        return d

class OverlayRig(FileApiRig):
    # the whole overlay (empty lower): the store as programs use it
    name = 'ovl-fs'
    def __init__(self, flash):
        from ovl.dirlower import DirLower
        self.flash = flash
        self.lower = DirLower(LOWER)
        LogStore.format(flash)
        self.fs = overlay_mount(self.lower, flash)
        self.s = self.fs.store
    def remount(self):
        self.fs = None
        self.s = None
        gc.collect()
        base = gc.mem_alloc()
        self.fs = overlay_mount(self.lower, self.flash)
        self.s = self.fs.store
        gc.collect()
        return gc.mem_alloc() - base

class LfsRig(FileApiRig):
    name = 'littlefs'
    def __init__(self, flash):
        self.flash = flash
        self.bdev = CountedReadBlockDevice(flash)
        vfs.VfsLfs2.mkfs(self.bdev)
        self.fs = vfs.VfsLfs2(self.bdev)
    def remount(self):
        self.fs = None
        gc.collect()
        base = gc.mem_alloc()
        self.fs = vfs.VfsLfs2(self.bdev)
        self.fs.stat('/')
        gc.collect()
        return gc.mem_alloc() - base

# ----- workloads -----------------------------------------------------------

def w1(rig, rng, rewrites=500):
    nfiles = n(50)
    user = 0
    expect = {}
    for i, size in enumerate(sizes(rng, nfiles, 200, 2000)):
        data = bytes([i & 255]) * size
        rig.write_file('cfg%d' % i, data)
        expect['cfg%d' % i] = data
        user += size
    for j in range(n(rewrites)):
        i = rng.below(nfiles)
        data = bytes([(i + j) & 255]) * (200 + rng.below(1801))
        rig.write_file('cfg%d' % i, data)
        expect['cfg%d' % i] = data
        user += len(data)
    return user, expect

def w2(rig, rng):
    user = 0
    data = bytearray()
    for j in range(n(200)):
        chunks = [bytes([(j * 10 + k) & 255]) * 64 for k in range(10)]
        rig.append('log', chunks)
        for c in chunks:
            data += c
        user += 640
    return user, {'log': bytes(data)}

def w3(rig, rng):
    size = n(256) * 1024
    data = bytearray(bytes(range(256)) * (size // 256))
    rig.write_file('big', bytes(data))
    user = size
    for j in range(n(20)):
        off = rng.below(size)
        rig.poke('big', off, b'!')
        data[off] = 33
        user += 1
    return user, {'big': bytes(data)}

def measure(rig_cls, work, seed):
    flash = SimFlash(SIZE, ES, PS)
    rig = rig_cls(flash)
    flash.reset_counters()
    base = list(flash.erase_counts)
    user, expect = work(rig, Xorshift(seed))
    c = flash.counters()
    wear = [c['erase_counts'][i] - base[i] for i in range(len(base))]
    flash.reset_counters()
    heap = rig.remount()
    mount_read = flash.counters()['bytes_read']
    for name in expect:
        assert rig.read(name) == expect[name], (rig.name, name)
    in_use = rig.s.counters()['bytes_in_use'] if rig.name != 'littlefs' \
        else 0
    return {'user_bytes': user, 'bytes_programmed': c['bytes_programmed'],
            'bytes_in_use': in_use,
            'wa': c['bytes_programmed'] / user, 'erases': c['erases'],
            'max_erases': max(wear), 'mount_bytes_read': mount_read,
            'heap': heap}

def near_full(rig, rng, fill, ops):
    # W5: files of 100-4,000 B up to fill percent of the chip in file data,
    # then rewrites and appends at that level; ENOSPC is counted, not fatal
    target = SIZE * fill // 100
    names = []
    sizes_ = {}
    total = 0
    while total < target:
        name = 'n%d' % len(names)
        size = 100 + rng.below(3901)
        try:
            rig.write_file(name, bytes([len(names) & 255]) * size)
        except OSError as e:
            if e.args[0] != 28:
                raise
            if hasattr(rig, 'inos'):
                rig.inos.pop(name, None)
            break
        names.append(name)
        sizes_[name] = size
        total += size
    flash = rig.flash
    p0 = flash.counters()['bytes_programmed']
    e0 = flash.counters()['erases']
    full = 0
    for j in range(ops):
        name = names[rng.below(len(names))]
        try:
            if rng.below(2) or sizes_[name] > 3600:
                size = 100 + rng.below(3901)
                rig.write_file(name, bytes([j & 255]) * size)
                sizes_[name] = size
            else:
                add = 10 + rng.below(391)
                rig.append(name, [bytes([j & 255]) * add])
                sizes_[name] += add
        except OSError as e:
            if e.args[0] != 28:
                raise
            full += 1
    c = flash.counters()
    return {'fill': fill, 'data': total, 'files': len(names), 'ops': ops,
            'programmed_per_op': (c['bytes_programmed'] - p0) // ops,
            'erases_per_op': (c['erases'] - e0) / ops, 'enospc': full}

def w1_steady(rig, rng):
    # W1 run on until the log has wrapped several times: GC and erases
    # for both stores
    return w1(rig, rng, 5000)

out = {}
if PART == 'main':
    for wname, work in (('W1', w1), ('W2', w2), ('W3', w3),
                        ('W1s', w1_steady)):
        out[wname] = {}
        for rig_cls in (OvlRig, OverlayRig, LfsRig):
            out[wname][rig_cls.name] = measure(rig_cls, work, 12345)
            progress('%s %s' % (wname, rig_cls.name))
    # ovl heap per file: N small files in 3 directories, mounted fresh
    heap = []
    for count in (n(100), n(200), n(400)):
        flash = SimFlash(SIZE, ES, PS)
        rig = OvlRig(flash)
        for i in range(count):
            rig.write_file('file%04d' % i, b'x' * 100)
        h = rig.remount()
        heap.append((count, h))
    out['heap_per_files'] = heap
else:
    # W5 at one fill level (PART), both stores, seeded by the level
    out['W5'] = []
    for rig_cls in (OvlRig, LfsRig):
        rig = None
        gc.collect()            # one 1 MiB chip at a time in the heap
        rig = rig_cls(SimFlash(SIZE, ES, PS))
        r = near_full(rig, Xorshift(PART), PART, W5_OPS)
        r['store'] = rig_cls.name
        out['W5'].append(r)
        progress('W5 %d%% %s' % (PART, rig_cls.name))
print(json.dumps(out))
"""


FILLS = (30, 60, 75, 80, 85, 90)
W5_OPS = 2000
# Seconds one part's micropython run may take: the slowest part (W1-W3
# with W1s) took 95 s on a shared 2-core machine, a W5 level 4-18 s.
PART_TIMEOUT = 1800


def run_part(part, scale, ops, micropython=None, timeout=PART_TIMEOUT):
    """One micropython process: part "main" (W1-W3, W1s and the heap table)
    or a W5 fill level (an int, both stores).  Returns its JSON."""
    exe = micropython or os.environ.get("OVL_MICROPYTHON") or \
        os.path.join(os.path.dirname(sys.executable), "micropython")
    lower = tempfile.mkdtemp(prefix="ovl-bench-lower-")   # empty: all upper
    script = "import sys\nsys.path.insert(0, %r)\nsys.path.insert(0, %r)\n" \
        % (FIRMWARE, HERE) + \
        DEVICE_SCRIPT.replace("@SCALE@", repr(scale)).replace(
            "@LOWER@", repr(lower)).replace("@PART@", repr(part)).replace(
            "@W5_OPS@", repr(ops))
    what = "W1-W3, W1s" if part == "main" else "W5 at %d%%" % part
    # stderr passes through: the script's progress lines (elapsed time per
    # workload and store) and, on failure, its traceback
    try:
        proc = subprocess.run([exe, "-X", "heapsize=32M", "-c", script],
                              stdout=subprocess.PIPE, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit("bench_store: %s did not finish in %d s (--timeout;"
                         " --ops for fewer W5 operations)" % (what, timeout))
    finally:
        os.rmdir(lower)
    if proc.returncode != 0:
        raise SystemExit("bench_store: micropython run of %s failed:\n%s"
                         % (what, proc.stdout))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_device(scale, micropython=None, near_full_only=False, fills=FILLS,
               ops=None, timeout=PART_TIMEOUT):
    """Every part, each in its own micropython process (a timeout then names
    the part, and a 1 MiB chip's garbage does not outlive its part)."""
    ops = ops or max(1, int(W5_OPS * scale))
    res = {} if near_full_only else run_part("main", scale, ops, micropython,
                                             timeout)
    res["W5"] = []
    for fill in fills:
        res["W5"] += run_part(fill, scale, ops, micropython, timeout)["W5"]
    return res


def ratio(a, b):
    if not b:
        return "-" if not a else "inf"
    return "%.3f" % (a / b)


def report(res):
    lines = ["ovl log store vs littlefs (VfsLfs2), 1 MiB NOR, 4 KiB blocks,"
             " same micropython process"]
    if "W1" in res:
        lines.append("%-4s %-10s %12s %6s %7s %6s %10s %8s" % (
            "", "", "programmed", "WA", "erases", "max/bl", "mount rd",
            "heap"))
    for w in ("W1", "W2", "W3", "W1s"):
        if w not in res:
            continue
        for name in ("ovl", "ovl-fs", "littlefs"):
            r = res[w][name]
            lines.append("%-4s %-10s %12d %6.2f %7d %6d %10d %8d" % (
                w, name, r["bytes_programmed"], r["wa"], r["erases"],
                r["max_erases"], r["mount_bytes_read"], r["heap"]))
        l = res[w]["littlefs"]
        for name in ("ovl", "ovl-fs"):
            o = res[w][name]
            lines.append("%-4s %-10s %12s %6s %7s %6s %10s %8s" % (
                w, name + "/lfs",
                ratio(o["bytes_programmed"], l["bytes_programmed"]),
                ratio(o["wa"], l["wa"]), ratio(o["erases"], l["erases"]),
                ratio(o["max_erases"], l["max_erases"]),
                ratio(o["mount_bytes_read"], l["mount_bytes_read"]),
                ratio(o["heap"], l["heap"])))
    if "W1" in res:
        lines.append("ovl mount read / bytes in use: " + ", ".join(
            "%s %d / %d" % (w, res[w]["ovl"]["mount_bytes_read"],
                            res[w]["ovl"]["bytes_in_use"])
            for w in ("W1", "W2", "W3", "W1s")))
    lines.append("W5 near full: files of 100-4,000 B to a share of the"
                 " chip, then rewrites and appends")
    lines.append("%-5s %-10s %9s %6s %12s %9s %8s" % (
        "fill", "store", "data", "files", "programmed/op", "erases/op",
        "ENOSPC"))
    by = {}
    for r in res["W5"]:
        by[(r["fill"], r["store"])] = r
        lines.append("%-5s %-10s %9d %6d %12d %9.3f %5d/%d" % (
            "%d%%" % r["fill"], r["store"], r["data"], r["files"],
            r["programmed_per_op"], r["erases_per_op"], r["enospc"],
            r["ops"]))
        lf = by.get((r["fill"], "littlefs"))
        o = by.get((r["fill"], "ovl"))
        if r["store"] == "littlefs" and o:
            # from 60% littlefs is full and holds less: its costs are
            # those of a full store (data held says how much less)
            lines.append("%-5s %-10s %9s %6s %12s %9s %8s" % (
                "%d%%" % r["fill"], "ovl/lfs", ratio(o["data"], lf["data"]),
                ratio(o["files"], lf["files"]),
                ratio(o["programmed_per_op"], lf["programmed_per_op"]),
                ratio(o["erases_per_op"], lf["erases_per_op"]),
                ratio(o["enospc"], lf["enospc"])))
    heap = res.get("heap_per_files")
    if not heap:
        return "\n".join(lines)
    lines.append("ovl heap after mount (gc.mem_alloc): " + ", ".join(
        "%d files %d B" % (c, h) for c, h in heap))
    (c0, h0), (c1, h1) = heap[0], heap[-1]
    if c1 > c0:
        lines.append("ovl heap per file: %.0f B" % ((h1 - h0) / (c1 - c0)))
    return "\n".join(lines)


def w5_chart(rows, width=40):
    """W5 as plain-text bars (for docs/STORE.md): per fill level and store,
    bytes programmed and erases per operation, each scaled to its largest
    value, and the share of operations that got ENOSPC."""
    most_p = max([r["programmed_per_op"] for r in rows] + [1])
    most_e = max([r["erases_per_op"] for r in rows] + [1e-9])
    half = width // 2
    lines = ["%-4s %-8s %-*s %-*s %s" % (
        "fill", "store", half + 7, "programmed/op", half + 7, "erases/op",
        "ENOSPC")]
    for r in rows:
        p, e = r["programmed_per_op"], r["erases_per_op"]
        lines.append("%-4s %-8s %-*s %6d %-*s %6.3f %3d%%" % (
            "%d%%" % r["fill"], r["store"], half,
            "#" * round(half * p / most_p), p, half,
            "#" * round(half * e / most_e), e,
            round(100 * r["enospc"] / r["ops"])))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_store", description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="scaled down (smoke)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--micropython", help="path of the micropython executable")
    p.add_argument("--near-full", action="store_true",
                   help="W5 only; with --scale S, S x 2,000 operations a level")
    p.add_argument("--scale", type=float, default=None)
    p.add_argument("--fills", default=",".join(map(str, FILLS)),
                   help="W5 fill levels, %% of the chip (default %(default)s)")
    p.add_argument("--ops", type=int, default=None,
                   help="W5 operations a level (default %d x scale)" % W5_OPS)
    p.add_argument("--timeout", type=int, default=PART_TIMEOUT,
                   help="seconds allowed for each micropython run (one a W5 "
                        "level; default %(default)s)")
    p.add_argument("--chart", action="store_true",
                   help="W5 only, as a plain-text chart (docs/STORE.md)")
    args = p.parse_args(argv)
    scale = args.scale or (0.05 if args.tiny else 1.0)
    fills = [int(x) for x in args.fills.split(",") if x]
    res = run_device(scale, args.micropython, args.near_full or args.chart,
                     fills, args.ops, args.timeout)
    if args.chart:
        print(w5_chart(res["W5"]))
    else:
        print(json.dumps(res, indent=2) if args.json else report(res))


if __name__ == "__main__":
    main()
