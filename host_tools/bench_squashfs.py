"""Benchmark: ovl's SquashFS reader against its peers on one image, one run.

    python -m host_tools.bench_squashfs [--src DIR | --image IMG] [-b 128K]
        [--repeat 3] [--mpy] [--mpy-heap]

Reads every regular file of the image and prints throughput (MB of file
data per second) for:
  ovl            ovl.squashfs.SquashFS walking the tree, read(entry, 0, size)
  PySquashfsImage  the pure-Python peer (pinned in requirements-dev.txt)
  unsquashfs     the C tool, extracting to a temporary directory
  zlib floor     zlib.decompress of exactly the data and fragment blocks the
                 files use, each once, with nothing else: what no reader on
                 this Python can beat
and the ratios ovl/peer.  --mpy runs the reader under MicroPython against
`deflate` alone on the same blocks.  --mpy-heap finds the smallest free heap
(in one contiguous piece, the rest of the heap filled) in which MicroPython
walks and reads a 4 KiB-block image, per metadata cache size.  Without
--src/--image the tree is this Python's standard library (minus caches and
site-packages), close to a firmware root's mix of text, binaries and many
small files.  Images live in RAM for every reader but unsquashfs.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

import host_tools  # noqa: F401  (puts firmware/ on sys.path from a checkout)
from ovl import squashfs_format as F
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS

HERE = os.path.dirname(os.path.abspath(__file__))
FIRMWARE = os.path.join(os.path.dirname(HERE), "firmware")


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


def best_of(repeat, fn, clock=time.process_time):
    """Fastest of `repeat` runs.  In-process readers are timed in CPU time
    (less disturbed by other work on a shared 2-core machine)."""
    best = None
    result = None
    for _ in range(repeat):
        start = clock()
        result = fn()
        took = clock() - start
        best = took if best is None or took < best else best
    return best, result


def read_all_ovl(data):
    """Stream every file as cat or extract would: one block per read, or
    256 KiB for blocks under 64 KiB (fewer calls; larger reads of large
    blocks only add copying)."""
    fs = SquashFS(BytesSource(data))
    step = fs.block_size if fs.block_size >= 1 << 16 else 1 << 18
    total = 0
    for _, e in fs.walk("/"):
        if e.mode & F.S_IFMT == F.S_IFREG:
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


def used_blocks(data):
    """[(pos, size word)] of every data and fragment block the files use,
    each once, in the order a tree walk first needs them."""
    fs = SquashFS(BytesSource(data))
    seen = set()
    blocks = []
    for _, e in fs.walk("/"):
        if e.mode & F.S_IFMT != F.S_IFREG:
            continue
        f = e.loc
        if f.nblocks:
            pos = f.start
            for word in fs._block_words(f, 0, f.nblocks):
                size = word & F.DATA_SIZE_MASK
                if size and pos not in seen:
                    seen.add(pos)
                    blocks.append((pos, word))
                pos += size
        if f.fragment != F.FRAGMENT_NONE:
            pos, word = fs._fragment(f.fragment)
            if pos not in seen:
                seen.add(pos)
                blocks.append((pos, word))
    return blocks


def inflate_floor(data, blocks):
    total = 0
    for pos, word in blocks:
        size, compressed = F.split_block_word(word)
        chunk = data[pos:pos + size]
        total += len(zlib.decompress(chunk) if compressed else chunk)
    return total


MPY_THROUGHPUT = r"""
import sys, io, json, time, deflate
sys.path.insert(0, %(firmware)r)
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
data = open(%(image)r, "rb").read()
blocks = json.load(open(%(blocks)r))
wbits = %(wbits)d

def ours():
    fs = SquashFS(BytesSource(data))
    total = 0
    for p, e in fs.walk("/"):
        if e.mode & 0o170000 == 0o100000:
            total += len(fs.read(e, 0, e.size))
    return total

def floor():
    total = 0
    for pos, word in blocks:
        size = word & 0xFFFFFF
        chunk = data[pos:pos + size]
        if word & 0x1000000:
            total += len(chunk)
        else:
            total += len(deflate.DeflateIO(io.BytesIO(chunk), deflate.ZLIB,
                                           wbits).read())
    return total

out = {}
for name, fn in (("ovl", ours), ("deflate", floor)):
    best = None
    for _ in range(%(repeat)d):
        t = time.ticks_us()
        n = fn()
        dt = time.ticks_diff(time.ticks_us(), t) / 1e6
        best = dt if best is None or dt < best else best
    out[name] = [best, n]
print(json.dumps(out))
"""

# Fill the heap except one contiguous `budget`-byte hole, then walk and read
# the image: succeeds only if the reader's working set fits in the hole.
MPY_BUDGET = r"""
import sys, gc
sys.path.insert(0, %(firmware)r)
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
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
for p, e in fs.walk("/"):
    if e.mode & 0o170000 == 0o100000:
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
f = open(%(image)r, "rb")
src = BytesSource(f)
gc.collect()
before = gc.mem_alloc()
fs = SquashFS(src, cache_blocks=%(cache)d)
gc.collect()
opened = gc.mem_alloc() - before
for p, e in fs.walk("/"):
    if e.mode & 0o170000 == 0o100000:
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


def bench_mpy(image_path, data, blocks, block_size, repeat):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(blocks, f)
        blocks_path = f.name
    try:
        proc = run_mpy(MPY_THROUGHPUT % {
            "firmware": FIRMWARE, "image": image_path, "blocks": blocks_path,
            "wbits": min(15, block_size.bit_length() - 1), "repeat": repeat})
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--src", help="tree to image (default: the stdlib)")
    p.add_argument("--image", help="use this image instead of building one")
    p.add_argument("-b", "--block-size", default="128K")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--mpy", action="store_true",
                   help="also time the reader under MicroPython")
    p.add_argument("--mpy-heap", action="store_true",
                   help="find the reader's MicroPython heap need (4K image)")
    p.add_argument("--heap-src", help="tree for --mpy-heap (default: the "
                   "stdlib's email package)")
    args = p.parse_args(argv)

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
        print("image: %s, %d bytes, block size %d, %s, %d inodes"
              % (image if args.image else (args.src or "stdlib"), len(data),
                 fs.block_size, fs.compression, fs.inode_count))
        blocks = used_blocks(data)
        t_ovl, total = best_of(args.repeat, lambda: read_all_ovl(data))
        rows = [("ovl", t_ovl)]
        t_floor, floor_total = best_of(args.repeat,
                                       lambda: inflate_floor(data, blocks))
        try:
            t_py, py_total = best_of(args.repeat,
                                     lambda: read_all_pysquashfs(data))
            if py_total != total:
                print("warning: PySquashfsImage read %d bytes, ovl %d"
                      % (py_total, total))
            rows.append(("PySquashfsImage", t_py))
        except ImportError:
            print("PySquashfsImage not installed: pip install -r "
                  "requirements-dev.txt")
        if shutil.which("unsquashfs"):
            # A child process: wall time (it also writes the files out).
            t_unsq, _ = best_of(args.repeat, lambda: run_unsquashfs(image),
                                time.perf_counter)
            rows.append(("unsquashfs (C, to tmpfs)", t_unsq))
        rows.append(("zlib floor (%d blocks)" % len(blocks), t_floor))
        print("file data read: %d bytes (best of %d runs)"
              % (total, args.repeat))
        print("%-28s %10s %10s %12s" % ("reader", "seconds", "MB/s",
                                        "ovl/this"))
        for name, t in rows:
            print("%-28s %10.4f %10.1f %12.2f"
                  % (name, t, mb_per_s(total, t), t / t_ovl))
        if args.mpy:
            res = bench_mpy(image, data, blocks, fs.block_size, args.repeat)
            t_m, n_m = res["ovl"]
            t_d, _ = res["deflate"]
            print("MicroPython: ovl %.2f MB/s, deflate alone %.2f MB/s, "
                  "ovl/deflate %.2f (%d bytes)"
                  % (mb_per_s(n_m, t_m), mb_per_s(total, t_d), t_d / t_m, n_m))
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
