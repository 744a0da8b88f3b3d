"""Benchmark: ovl's SquashFS reader against its peers on one image.

    python -m host_tools.bench.squashfs [--src DIR | --image IMG] [-b 128K]
        [--rounds 5] [--isolate] [--mpy] [--mpy-heap]

Reads every regular file of the image and prints throughput (MB of file
data per second) for:
  ovl            ovl.squashfs.SquashFS walking the tree and streaming each
                 file (one block per read, 256 KiB for blocks under 64 KiB)
  PySquashfsImage  the pure-Python peer (pinned in requirements-dev.txt),
                 reading the same files fully (byte counts must agree)
  unsquashfs     the C tool, extracting to a temporary directory (wall time)
  zlib floor     the data and fragment blocks, inflated with zlib.decompress,
                 no Python parsing: every distinct data and fragment block
                 the files use, each once (listed before timing, sliced from
                 the image in RAM); what no reader here can beat
The contenders run interleaved in --rounds rounds (each round in a rotated
order, after a gc.collect), from the same image in RAM in one process, so
load changes on a shared machine hit all of them alike.  Each is reported by
its best (minimum) CPU time and the spread of its times ((max - min) / min);
ratios ovl/peer are given from the best times and as the lowest, median
and highest of the per-round ratios.  Readers sharing a process share
glibc's allocator state, and one's pattern changes another's time (after
a reader that inflates with zlib.decompressobj, PySquashfsImage takes
twice the page faults); --isolate runs each Python reader in a fresh
interpreter every round instead (one untimed read, then the timed one).  --mpy times the reader under
MicroPython (one block per read) against `deflate` alone on the same
blocks, interleaved the same way, both reading the image file in an 8 MB
heap (see MPY_THROUGHPUT for why).  --mpy-heap finds the smallest free
heap (in one contiguous piece, the rest of the heap filled) in which
MicroPython walks and reads a 4 KiB-block image, per metadata cache
size.  Without --src/--image the tree is this Python's standard library
(minus caches and site-packages), close to a firmware root's mix of text,
binaries and many small files.
"""

import argparse
import gc
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

from host_tools import FIRMWARE, ROOT  # (also puts firmware/ on sys.path)
from ovl import squashfs_format as F
from ovl.paths import is_reg
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
from ovl import squashfs_walk


def parse_size(text):
    text = text.strip().upper()
    mult = 1
    if text.endswith("K"):
        mult, text = 1024, text[:-1]
    elif text.endswith("M"):
        mult, text = 1 << 20, text[:-1]
    return int(text) * mult


def build_image(src, out, block_size):
    cmd = ["mksquashfs", src, out, "-noappend", "-quiet", "-no-progress",
           "-b", str(block_size), "-no-xattrs", "-wildcards",
           "-e", "... __pycache__", "... site-packages", "... dist-packages"]
    subprocess.run(cmd, check=True, capture_output=True)


class ChildRun:
    """A contender's result and CPU seconds, as measured in a child."""

    def __init__(self, seconds, result):
        self.seconds = seconds
        self.result = result


def interleaved(contenders, rounds):
    """Run each (name, fn, clock) once per round, rotating the order each
    round; return {name: [seconds per round]} and {name: fn's last result}.
    In-process readers are timed in CPU time (less disturbed by other work
    on a shared 2-core machine); child processes in wall time, unless they
    report their own time (ChildRun)."""
    times = dict((c[0], []) for c in contenders)
    results = {}
    for r in range(rounds):
        k = r % len(contenders)
        for name, fn, clock in contenders[k:] + contenders[:k]:
            gc.collect()
            start = clock()
            out = fn()
            elapsed = clock() - start
            if isinstance(out, ChildRun):
                elapsed, out = out.seconds, out.result
            results[name] = out
            times[name].append(elapsed)
    return times, results


def run_child(name, image):
    """Time contender `name` in a fresh interpreter (see --isolate)."""
    proc = subprocess.run([sys.executable, "-m", "host_tools.bench.squashfs",
                           "--child", name, "--image", image],
                          capture_output=True, text=True,
                          cwd=ROOT)
    if proc.returncode:
        raise SystemExit("child %s failed:\n%s" % (name, proc.stderr))
    seconds, result = json.loads(proc.stdout.strip().splitlines()[-1])
    return ChildRun(seconds, result)


def child_main(name, image):
    """Read the image once untimed (imports, heap growth), then once timed
    in CPU time; print [seconds, bytes] as JSON."""
    with open(image, "rb") as f:
        data = f.read()
    if name == "ovl":
        fn = lambda: read_all_ovl(data)  # noqa: E731
    elif name == "PySquashfsImage":
        fn = lambda: read_all_pysquashfs(data)  # noqa: E731
    else:
        blocks = floor_blocks(data)
        fn = lambda: inflate_floor(data, blocks)  # noqa: E731
    fn()
    gc.collect()
    start = time.process_time()
    result = fn()
    print(json.dumps([time.process_time() - start, result]))


def spread(times):
    return (max(times) - min(times)) / min(times) if min(times) > 0 else 0.0


def read_all_ovl(data):
    """Stream every file as cat or extract would: one block per read, or
    256 KiB for blocks under 64 KiB (fewer calls; larger reads of large
    blocks only add copying)."""
    fs = SquashFS(BytesSource(data))
    step = fs.block_size if fs.block_size >= 1 << 16 else 1 << 18
    total = 0
    for _, e in squashfs_walk.walk(fs, "/"):
        if is_reg(e.mode):
            off = 0
            while off < e.size:
                total += len(fs.read(e, off, step))
                off += step
    return total


def read_all_pysquashfs(data):
    from PySquashfsImage import SquashFsImage
    image = SquashFsImage.from_bytes(data)
    total = 0
    for item in image:
        if item.is_file:
            total += len(item.read_bytes())
    image.close()
    return total


def run_unsquashfs(path):
    out = tempfile.mkdtemp(prefix="bench-unsq-",
                           dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        subprocess.run(["unsquashfs", "-f", "-n", "-no-xattrs", "-d",
                        os.path.join(out, "x"), path],
                       check=True, capture_output=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def floor_blocks(data):
    """[(pos, stored size, compressed)] of every distinct data and fragment
    block the regular files use, each once, in the order a walk first
    needs them (sparse blocks cost nothing)."""
    fs = SquashFS(BytesSource(data))
    blocks = []
    seen = set()

    def add(pos, word):
        size, compressed = F.split_block_word(word)
        if size and pos not in seen:
            seen.add(pos)
            blocks.append((pos, size, compressed))
        return size

    for _, e in squashfs_walk.walk(fs, "/"):
        if not is_reg(e.mode):
            continue
        f = e.loc
        if f.nblocks:
            pos = f.start
            for word in fs._block_words(f, 0, f.nblocks):
                pos += add(pos, word)
        if f.fragment != F.FRAGMENT_NONE:
            add(*fs._fragment(f.fragment))
    return blocks


def inflate_floor(data, blocks):
    decompress = zlib.decompress
    total = 0
    for pos, size, compressed in blocks:
        chunk = data[pos:pos + size]
        total += len(decompress(chunk) if compressed else chunk)
    return total


MPY_THROUGHPUT = r"""
import sys, io, json, time, gc, struct, deflate
sys.path.insert(0, %(firmware)r)
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
from ovl import squashfs_walk
from ovl.paths import is_reg
# The image stays in a file (page cache) and the block list is packed, in
# a small heap: MicroPython's collector scans every live word and its
# allocator searches a big fragmented heap for free runs, so an image in
# RAM and a heap of hundreds of MB would swamp what is measured.
f = open(%(image)r, "rb")
blocks = open(%(blocks)r, "rb").read()
wbits = %(wbits)d
limit = %(block_size)d + 1

def ours():
    fs = SquashFS(BytesSource(f))
    step = fs.block_size
    total = 0
    for p, e in squashfs_walk.walk(fs, "/"):
        if is_reg(e.mode):
            off = 0
            while off < e.size:
                total += len(fs.read(e, off, step))
                off += step
    return total

def floor():
    total = 0
    for i in range(0, len(blocks), 12):
        pos, size = struct.unpack_from("<QI", blocks, i)
        f.seek(pos)
        chunk = f.read(size & 0xFFFFFF)
        if not size >> 24:
            # One output buffer of the block size (+1), as compat.inflate
            # asks: read() without a size grows its buffer step by step.
            total += len(deflate.DeflateIO(io.BytesIO(chunk), deflate.ZLIB,
                                           wbits).read(limit))
        else:
            total += len(chunk)
    return total

contenders = [("ovl", ours), ("deflate", floor)]
out = {"ovl": [], "deflate": [], "bytes": {}}
for r in range(%(rounds)d):
    for name, fn in contenders[r %% 2:] + contenders[:r %% 2]:
        gc.collect()
        t = time.ticks_us()
        out["bytes"][name] = fn()
        out[name].append(time.ticks_diff(time.ticks_us(), t) / 1e6)
print(json.dumps(out))
"""

# Fill the heap except one contiguous `budget`-byte hole, then walk and read
# the image: succeeds only if the reader's working set fits in the hole.
MPY_BUDGET = r"""
import sys, gc
sys.path.insert(0, %(firmware)r)
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
from ovl import squashfs_walk
from ovl.paths import is_reg
import hashlib
f = open(%(image)r, "rb")
gc.collect()
before = gc.mem_alloc()
hole = bytearray(%(budget)d)
ballast = [None] * 8000
i = 0
size = 4096
while size >= 16:
    try:
        while i < 8000:
            ballast[i] = bytearray(size - 16)
            i += 1
    except MemoryError:
        pass
    size //= 4
hole = None
gc.collect()
fs = SquashFS(BytesSource(f), cache_blocks=%(cache)d)
gc.collect()
resident = gc.mem_alloc()
for p, e in squashfs_walk.walk(fs, "/"):
    if is_reg(e.mode):
        h = hashlib.sha256()
        off = 0
        while off < e.size:
            h.update(fs.read(e, off, 4096))
            off += 4096
print("ok")
"""

MPY_RESIDENT = r"""
import sys, gc
sys.path.insert(0, %(firmware)r)
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
from ovl import squashfs_walk
from ovl.paths import is_reg
f = open(%(image)r, "rb")
src = BytesSource(f)
gc.collect()
before = gc.mem_alloc()
fs = SquashFS(src, cache_blocks=%(cache)d)
gc.collect()
opened = gc.mem_alloc() - before
for p, e in squashfs_walk.walk(fs, "/"):
    if is_reg(e.mode):
        fs.read(e, 0, 4096)
gc.collect()
print(opened, gc.mem_alloc() - before)
"""


def micropython_exe():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else shutil.which("micropython")


def run_mpy(script, heap="256m"):
    exe = micropython_exe()
    if not exe:
        raise SystemExit("micropython not found (make venv installs it)")
    return subprocess.run([exe, "-X", "heapsize=" + heap, "-c", script],
                          capture_output=True, text=True)


def bench_mpy(image_path, blocks, block_size, rounds):
    with tempfile.NamedTemporaryFile("wb", suffix=".bin", delete=False) as f:
        for pos, size, compressed in blocks:
            f.write(struct.pack("<QI", pos, size | (0 if compressed
                                                    else 1 << 24)))
        blocks_path = f.name
    try:
        proc = run_mpy(MPY_THROUGHPUT % {
            "firmware": FIRMWARE, "image": image_path, "blocks": blocks_path,
            "wbits": min(15, block_size.bit_length() - 1), "rounds": rounds,
            "block_size": block_size},
            heap="8m")
    finally:
        os.unlink(blocks_path)
    if proc.returncode:
        raise SystemExit("micropython failed:\n" + proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def smallest_budget(image_path, cache, low=4096, high=262144):
    """Smallest contiguous free heap (bytes, to 512) the walk succeeds in."""
    def fits(budget):
        proc = run_mpy(MPY_BUDGET % {"firmware": FIRMWARE, "image": image_path,
                                     "budget": budget, "cache": cache},
                       heap="2m")
        return proc.returncode == 0 and proc.stdout.strip().endswith("ok")
    if not fits(high):
        return None
    while high - low > 512:
        mid = (low + high) // 2
        if fits(mid):
            high = mid
        else:
            low = mid
    return high


def mb_per_s(nbytes, seconds):
    return nbytes / seconds / 1e6 if seconds > 0 else float("inf")


def round_ratios(t_ovl, t_peer):
    """Per-round ovl/peer throughput ratios: (lowest, median, highest)."""
    ratios = sorted(p / o for o, p in zip(t_ovl, t_peer))
    return ratios[0], ratios[len(ratios) // 2], ratios[-1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--src", help="tree to image (default: the stdlib)")
    p.add_argument("--image", help="use this image instead of building one")
    p.add_argument("-b", "--block-size", default="128K")
    p.add_argument("--rounds", type=int, default=5,
                   help="interleaved rounds (best of them is reported)")
    p.add_argument("--mpy", action="store_true",
                   help="also time the reader under MicroPython")
    p.add_argument("--mpy-heap", action="store_true",
                   help="find the reader's MicroPython heap need (4K image)")
    p.add_argument("--heap-src", help="tree for --mpy-heap (default: the "
                   "stdlib's email package)")
    p.add_argument("--isolate", action="store_true",
                   help="time each Python reader in a fresh process every "
                   "round (none inherits another's allocator state)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child_main(args.child, args.image)
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")

    block_size = parse_size(args.block_size)
    work = tempfile.mkdtemp(prefix="bench-sqfs-")
    try:
        image = args.image
        if not image:
            image = os.path.join(work, "bench.sqfs")
            src = args.src or os.path.dirname(os.__file__)
            build_image(src, image, block_size)
        with open(image, "rb") as f:
            data = f.read()
        fs = SquashFS(BytesSource(data))
        from ovl import squashfs_format as F
        inodes = F.decode(F.SUPERBLOCK, data[:F.SUPERBLOCK_SIZE])["inodes"]
        print("image: %s, %d bytes, block size %d, %s, %d inodes"
              % (image if args.image else (args.src or "stdlib"), len(data),
                 fs.block_size, fs.compression, inodes))
        blocks = floor_blocks(data)
        floor_name = "zlib floor (%d blocks)" % len(blocks)
        cpu = time.process_time

        def reader(name, fn):
            if args.isolate:
                return lambda: run_child(name, image)
            return fn
        contenders = [("ovl", reader("ovl", lambda: read_all_ovl(data)), cpu)]
        try:
            import PySquashfsImage  # noqa: F401
            contenders.append(("PySquashfsImage", reader(
                "PySquashfsImage", lambda: read_all_pysquashfs(data)), cpu))
        except ImportError:
            print("PySquashfsImage not installed: pip install -r "
                  "requirements-dev.txt")
        if shutil.which("unsquashfs"):
            contenders.append(("unsquashfs (C, to tmpfs)",
                               lambda: run_unsquashfs(image),
                               time.perf_counter))
        contenders.append((floor_name, reader(
            "floor", lambda: inflate_floor(data, blocks)), cpu))
        times, results = interleaved(contenders, args.rounds)
        total = results["ovl"]
        py_total = results.get("PySquashfsImage")
        if py_total is not None and py_total != total:
            raise SystemExit("PySquashfsImage read %d bytes, ovl %d: not the "
                             "same files" % (py_total, total))
        t_ovl = times["ovl"]
        print("file data read: %d bytes; %d interleaved rounds%s, best "
              "time of each" % (total, args.rounds, ", each Python reader in "
                                "a fresh process" if args.isolate else ""))
        print("%-26s %8s %8s %7s %9s  %s" % (
            "reader", "best s", "MB/s", "spread", "ovl/this",
            "per round: low/median/high"))
        for name, _, _ in contenders:
            t = times[name]
            print("%-26s %8.4f %8.1f %6.0f%% %9.2f  %.2f/%.2f/%.2f"
                  % ((name, min(t), mb_per_s(total, min(t)), 100 * spread(t),
                      min(t) / min(t_ovl)) + round_ratios(t_ovl, t)))
        if args.mpy:
            res = bench_mpy(image, blocks, fs.block_size, args.rounds)
            t_m, t_d = res["ovl"], res["deflate"]
            n_m = res["bytes"]["ovl"]
            if n_m != total:
                raise SystemExit("MicroPython read %d bytes, CPython %d"
                                 % (n_m, total))
            print("MicroPython: ovl %.2f MB/s (spread %.0f%%), deflate alone "
                  "%.2f MB/s (spread %.0f%%), ovl/deflate %.2f "
                  "(per round %.2f/%.2f/%.2f)"
                  % ((mb_per_s(total, min(t_m)), 100 * spread(t_m),
                      mb_per_s(total, min(t_d)), 100 * spread(t_d),
                      min(t_d) / min(t_m)) + round_ratios(t_m, t_d)))
        if args.mpy_heap:
            heap_image = os.path.join(work, "heap4k.sqfs")
            heap_src = args.heap_src or os.path.join(
                os.path.dirname(os.__file__), "email")
            build_image(heap_src, heap_image, 4096)
            print("MicroPython heap, 4 KiB-block image of %s:" % heap_src)
            for cache in (1, 2, 4):
                proc = run_mpy(MPY_RESIDENT % {"firmware": FIRMWARE,
                                               "image": heap_image,
                                               "cache": cache})
                opened, after = proc.stdout.split()
                need = smallest_budget(heap_image, cache)
                print("  cache_blocks=%d: resident after open %s B, after "
                      "reading %s B; walks+reads in %s B of free heap"
                      % (cache, opened, after, need))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
