"""The gate: ovl must fit the MCU boards it names (issue 10, docs/FIT.md).

For each board JSON with a `heap` figure, the board job of
host_tools/bench/fit.py (format, write 500 files, remount, list three
directories, read a lower and an upper file, write a file, sync, remount
and verify; over a 2,000-file lower built with `mkimage --board`) runs under
`micropython -X heapsize=...` with the code loaded as .mpy (esp32-4mb: from
a ROMFS image, its bytes not counted) and the chip in a file.

Two heaps per board:
- TODAY_BUDGET: the smallest heap the job passes in with today's store
  and the board's gc_threshold (a 1 KiB scan, see docs/FIT.md) plus 8
  KiB, a regression guard that fails if the job needs more heap than
  today, and checks that 24 KiB less does fail (the figure means
  something).
- the board's own figure (esp32-4mb 96 KiB, pico 160 KiB), the goal: both
  boards pass it since 2026-12-06 (BOARD_HEAP_GATE); a board that does
  not yet is a strict xfail, which fails the day it passes.
"""

import json
import os

import pytest

from conftest import find_micropython
from host_tools.bench.fit import Setup, run_job, code_size, code_totals
from host_tools.boards import board_names, load_board
from host_tools.image import romfs

# Per board, True once its job passes in the board's own `heap` figure
# (issue 10): pico since 2026-12-06 (passes from 153 KiB, goal 160),
# esp32-4mb since that afternoon's seventh round (3-word entry rows in
# chunks of 32, inode pages of 32, the index laid out in one run at
# mount, the summary bodies read into one lent buffer, the shared
# modules' rare parts lazy, the write path's churn: passes from 95 KiB,
# goal 96); a board still False is a strict xfail, which fails the day
# it passes.
BOARD_HEAP_GATE = {"esp32-4mb": True, "pico": True}

# Smallest working heap with the board's gc_threshold (16 KiB, set by
# ovl.boot and by the job, docs/FIT.md "Fragmentation"), + 8 KiB.
# With .mpy files compiled without line numbers (2026-12-06, night): pico
# passes from 135 KiB (fails 130-134); after that night's merges (one
# release helper, the failing handlers, damaged block headers, fsck and
# upgrade fixes: mount path code smaller, the ROMFS image larger)
# esp32-4mb passes from 90-91 KiB, pico from 136-137 (the image's size
# moves the job's heap layout): pinned at 91 and 137 KiB + 8 KiB.
# With the store's writer imported at the first begin() (2026-12-07,
# docs/FIT.md "The store's writer loaded at the first write"): esp32-4mb
# passes from 92 KiB (91 on the tree before, scanned the same day), pico
# from 139 KiB (138): pinned at 92 and 139 KiB + 8 KiB.
# Scanned (tests/scripts/heap_scan.py, 1 KiB steps) on 2026-12-06's
# evening after the eighth round (the store's, the overlay's and the
# reader's import heap, the store's set-up released after the mount):
# esp32-4mb passes from 90 KiB (fails 87-89), pico from 140 KiB (fails
# 136-139): pinned at 91 and 141 KiB + 8 KiB.
# After the seventh round (see BOARD_HEAP_GATE) and its review's fixes:
# esp32-4mb passed from 95 KiB, pico from 148 KiB (pinned at 96 and 148
# KiB + 8 KiB).  After the sixth round
# (raw lower metadata and streamed blocks, the mount's
# code released after it, the names under five qstr pools, the index
# and the writer without growing buffers): esp32-4mb passes from 103 KiB
# (fails at every KiB from 96 to 102; 104-106 in the runs before the
# last merges), pico from 153 KiB (fails 144-152): pinned at 106 and 156
# KiB + 8 KiB (the layout moves an edge by a KiB or two with the paths'
# lengths).  Before: 119 and 173 KiB (the fifth round, pinned at 120
# and 176 + 8 KiB); 136 and 191 KiB (2026-12-06, morning, pinned at 144
# and 192 + 16 KiB); 154 and 217 KiB (2026-12-06, early morning, then pinned
# + 64 KiB); 176 and 256 KiB (2026-12-06, night); 224 and 288 KiB
# (2026-12-05); before the names left RAM: 272 and 336 KiB; without a
# threshold, before that: 1,728 and 1,712 KiB; with the first store of
# format 4 3,153,920 and 3,107,840 B, with format 3 2,779,136 and
# 2,636,800.
# With the overlay's write half imported at the first write
# (ovl.overlay.writing, 2026-12-07): esp32-4mb passes from 93 KiB (fails
# 88-92), pico from 137 (fails 130-136); with the store's writer too
# (ovl.store.write): 92 and 139 KiB, each measured alone.  Pinned at
# 93 and 139 KiB + 8 KiB.  With both, the encoders and name rules off the
# mount path and the store's table of rare methods lazy (1-KiB scans):
# 93 (fails 89-92) and 141 KiB (fails 134-140): pinned at those + 8 KiB.
TODAY_BUDGET = {"esp32-4mb": 93 * 1024 + 8192,
                "pico": 141 * 1024 + 8192}

MCU_BOARDS = sorted(b for b in board_names() if load_board(b).heap)

# The mount path's code (issue 10 item 5): the modules the board job
# imports, their .mpy bytes, and the heap importing them keeps from .mpy
# files and from a ROMFS image.  Measured on 2026-12-05 with
# `python -m host_tools.bench.fit --code` (docs/FIT.md, "Code size"),
# after its third round (the reader, compat, the overlay), the hashed
# store index (ovl.store.index, imported by the store: counted in its line;
# names read from flash), GC's file-by-file liveness check, the restored
# free-block reserve and the 37-byte mount records: 84,690 B of .mpy,
# 149,600 B of heap from .mpy, 72,672 B from ROMFS (83,641 / 147,776 /
# 71,648 before the last three); after the fourth round (the overlay, the
# VFS, flash, the format's layouts): 81,674 / 144,544 / 70,208 B; with the
# store split into ovl.store (fsck imported at first use, the block table
# its own module) and the lower's kept metadata buffers: 81,297 / 144,256
# / 71,072 B; with damage handling, GC, reset and long transactions
# imported at first use (ovl.store.damage, .collect, .reset, .stream):
# 74,278 / 134,432 / 68,416 B (GC's loop when a write does not fit too);
# with the reader's round and the store's checkpoints merged, off on these
# boards ("store_checkpoints": false: the loader is not imported): 73,908
# / 133,920 / 68,000 B; with the store's and the overlay's never-run code
# out of the mount path (GC bookkeeping, bad blocks, torn tails, fsck;
# truncation, statvfs, symlinks, links), the lower's CPython-only code in
# ovl.squashfs_cpython and the store's kept read buffer: 70,427 / 126,848
# / 63,840 B (845 interned names); after the reader's, the overlay's, the
# format's and the store's names rounds (each off the mount path: the
# layouts and error messages of the reader, an open file's rarer calls,
# what GC, damage, fsck and rewrites alone use) and the index rows
# without versions: 59,961 / 107,552 / 53,792 B (688 interned names);
# after the fifth names round (the store's one-caller methods inlined,
# its rare txn calls in ovl.store.txn_rare, the format's private consts,
# the overlay's and the reader's cuts, a ROMFS module's source name its
# __file__): 59,399 / 99,520 / 45,760 B (603 interned names, 5 pools);
# after the sixth round (the mount and format in ovl.store.mount, released
# after use; the overlay's names; the reader's raw-metadata path and its
# rare paths in ovl.squashfs_rare; a .mpy module's source name its
# __file__): 53,927 / 92,256 / 45,696 B (549 names); after the seventh
# round (the errno numbers one string, the flash checks' messages and
# write_blocks in ovl.flash_rare, the metadata inflate in squashfs_rare,
# 3-word entry rows, the Txn's fixed values on its class, summary entries
# packed in place): 53,737 / 91,008 / 43,008 B (547 names); after the
# eighth (the store's rare calls and error messages lazy, the overlay's
# mixins and write-back merged, its rare names lazy, the store's set-up
# in its mount module; 14 modules): 49,179 / 82,784 / 37,952 B (511
# names); with .mpy files compiled without line numbers (mpy-cross -O3;
# the ROMFS image keeps them): 45,044 / 78,784 / 37,952 B; with the
# reader's open released after it (compat.call_released): 44,551 /
# 78,176 / 37,952 B (513 names); with the copy-up's check of a lower
# path over 240 characters (ENAMETOOLONG past meta_rare.ORIGIN_PATH_MAX,
# the message's sizes from the store's E2BIG): 45,325 / 79,680 / 38,688 B
# (+71 .mpy bytes; the budget's margin had 23 left). After the edges'
# second round of 2026-12-07 (dot names and the VFS's paths, the failed
# write's lost buffer, names looked up by their bytes, and read-only
# calls that commit no other handle's writes, a pending file's size and
# time answered from its buffer): 45,397 / 79,808 / 38,752 B, what the
# job imported then.  Since 2026-12-07 the writers (ovl.overlay.writing,
# ovl.store.write) are imported at the first write, so the mount path is
# what a boot imports to mount, list, read and unmount a written store
# (host_tools.bench.fit.code_paths), and the writers are budgeted apart
# (WRITERS_BUDGET): 36,658 / 67,168 / 34,464 B, and the writers 10,387 /
# 14,528 / 5,856 B (docs/FIT.md, "The mount path is a boot's").  With the
# writers' last pieces off the mount path (the node encoder, the name
# rule and an origin's encoding: docs/FIT.md, "The mount path sheds the
# writers' last pieces"): 35,830 / 65,632 / 33,728 B, and the writers
# 11,092 / 15,520 / 6,176 B.  With the store's table of rare methods in
# ovl.store.lazy and the hostile-image checks of the same day (unknown
# node types, loops, names the format forbids): 35,083 / 64,960 /
# 33,728 B, the writers 11,328 / 16,160 / 6,624 B.
# CODE_BUDGET is that + a small margin, a regression guard;
# CODE_TARGET is the issue's goal: the .mpy bytes meet it (asserted), the
# import heaps are a strict xfail until they do on this 64-bit port.
CODE_BUDGET = {"mpy_bytes": 35083 + 512, "import_mpy": 64960 + 2048,
               "import_romfs": 33728 + 1024}
WRITERS = ("ovl.overlay.writing", "ovl.store.write")
WRITERS_BUDGET = {"mpy_bytes": 11328 + 256, "import_mpy": 16160 + 1024,
                  "import_romfs": 6624 + 512}
CODE_TARGET = {"mpy_bytes": 60 * 1024, "import_mpy": 48 * 1024,
               "import_romfs": 24 * 1024}
# Imported at first use, never by a boot's mount and file IO
LAZY_MODULES = ("ovl.overlay.verbs", "ovl.overlay.hostops",
                "ovl.store.lazy",
                "ovl.overlay.unlink", "ovl.upgrade",
                "ovl.squashfs_errors", "ovl.flash_host",
                "ovl.squashfs_writer_format", "ovl.compat_cpython",
                "ovl.store.check", "ovl.store.damage", "ovl.store.collect",
                "ovl.store.reset", "ovl.store.stream",
                "ovl.store.format_rare", "ovl.store.supersede",
                "ovl.store.txn_rare", "ovl.store.read_rare",
                "ovl.store.errors",
                "ovl.squashfs_format", "ovl.squashfs_rare", "ovl.flash_rare",
                "ovl.squashfs_cpython", "ovl.squashfs_walk",
                "ovl.overlay.fileops", "ovl.overlay.rare",
                "ovl.overlay.truncate", "ovl.overlay.meta_rare",
                # the MCU boards mount with "store_checkpoints": false
                "ovl.store.checkpoint", "ovl.store.checkpoint_write")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    if not find_micropython():
        pytest.fail("micropython executable missing: run `make test`")
    return str(tmp_path_factory.mktemp("fit"))


@pytest.fixture(scope="module")
def setups(work):
    return {}


def setup_for(setups, work, board):
    if board not in setups:
        setups[board] = Setup(board, work)
    return setups[board]


def figures(res):
    return ("board job at -X heapsize=%d (+ ROMFS image): %s; stopped in "
            "step %r; heap above the start (gc.mem_alloc after a collect): "
            "%s; usable heap %s" % (
                res["heapsize"], res.get("error", "passed"), res["step"],
                json.dumps(res["heap"], sort_keys=True), res.get("usable")))


def test_mcu_boards_name_heap_and_block_size():
    assert MCU_BOARDS == ["esp32-4mb", "pico"]
    assert load_board("esp32-4mb").heap == 96 * 1024
    assert load_board("pico").heap == 160 * 1024
    for b in MCU_BOARDS:
        assert load_board(b).lower_block_size == 4096
        # set by ovl.boot before it mounts, and by the job (run_job)
        assert load_board(b).gc_threshold == 16384
        # no checkpoint code on their mount path (docs/STORE.md)
        assert load_board(b).store_checkpoints is False
    assert load_board("router-16mb").store_checkpoints is True
    assert sorted(TODAY_BUDGET) == MCU_BOARDS


@pytest.mark.slow
@pytest.mark.parametrize("board", MCU_BOARDS)
def test_board_job_within_todays_budget(board, work, setups):
    setup = setup_for(setups, work, board)
    res = run_job(setup, TODAY_BUDGET[board])
    assert res["ok"], figures(res)
    assert res["listed"] == [50, 50, 50], figures(res)
    # the job ran the way the gate says: ROMFS on esp32-4mb, .mpy on pico
    assert (setup.romfs is not None) == (board == "esp32-4mb")
    # and 24 KiB less does fail (the figure means something), past the
    # imports (pico's keep about 92 KB, esp32-4mb's 44 KB: half the budget
    # failed at the start, before the job can trace)
    small = run_job(setup, TODAY_BUDGET[board] - 24 * 1024, trace=True)
    assert not small["ok"] and small["error"].startswith("MemoryError"), \
        figures(small)
    # where it ran out, formatted once the job has unmounted (formatted at
    # the failure itself, the report ran out of heap too and was lost)
    assert small["trace"].rstrip().splitlines()[-1].startswith(
        "MemoryError"), small["trace"]


@pytest.mark.parametrize("board", [
    board if BOARD_HEAP_GATE[board] else pytest.param(
        board, marks=pytest.mark.xfail(
            strict=True, reason="issue 10: the job does not fit this "
            "board's heap yet; set BOARD_HEAP_GATE[board] when it does"))
    for board in MCU_BOARDS])
@pytest.mark.slow
def test_board_job_fits_the_boards_heap(board, work, setups):
    setup = setup_for(setups, work, board)
    res = run_job(setup, setup.board.heap)
    assert res["ok"], figures(res)


# MicroPython interns names in pools, each new one twice the last: on this
# port five pools hold 620 names and the sixth costs 7 KB at once, about
# 9 KiB of the job's smallest heap (docs/FIT.md, "Overlay names round").
NAME_POOLS = 5

POOLS_PROBE = r"""
import micropython
micropython.qstr_info()
for i in range(1000):
    getattr(micropython, "probe%d" % i, None)
    micropython.qstr_info()
"""


def job_names_each(lines):
    """[(pools, names)] of each micropython.qstr_info() line."""
    out = []
    for line in lines:
        line = line.lstrip("| ")
        if line.startswith("qstr pool:"):
            fields = dict(x.strip().split("=") for x in
                          line[len("qstr pool:"):].split(","))
            out.append((int(fields["n_pool"]), int(fields["n_qstr"])))
    return out


def job_names(lines):
    """(pools, names) at the most of a run_job(report=True) report."""
    return max(job_names_each(lines))


@pytest.mark.slow
@pytest.mark.parametrize("board", MCU_BOARDS)
def test_board_job_names_fit_their_pools(board, work, setups, mpy):
    """The job's interned names stay within NAME_POOLS pools: one name too
    many opens the next pool (7 KB here), so this guards the names rounds'
    work as the heap budgets guard the bytes.  The pools' capacity is
    measured in the same run: names interned one at a time until a sixth
    pool opens."""
    setup = setup_for(setups, work, board)
    res = run_job(setup, 4 << 20, report=True)
    assert res["ok"], figures(res)
    pools, names = job_names(res["report"])
    counts = job_names_each(mpy(POOLS_PROBE).splitlines())
    capacity = max(n for p, n in counts if p <= NAME_POOLS)
    print("%s: %d names in %d pools at the most; %d pools hold %d" % (
        board, names, pools, NAME_POOLS, capacity))
    assert names <= capacity and pools <= NAME_POOLS, (names, capacity)


@pytest.fixture(scope="module")
def code_sizes(work, setups):
    """code_size of the mount path and the job's writers (pico)."""
    return code_size(setup_for(setups, work, "pico"))


@pytest.fixture(scope="module")
def mount_code(code_sizes):
    """(modules of the mount path, {figure: total bytes}, per module)."""
    modules = code_sizes["mount"]
    return modules, code_totals(code_sizes, modules), code_sizes


def code_figures(totals, per_module):
    return "mount path: %s; budget %s; issue 10 target %s; per module %s" % (
        json.dumps(totals, sort_keys=True), json.dumps(CODE_BUDGET),
        json.dumps(CODE_TARGET), json.dumps(per_module, sort_keys=True))


@pytest.mark.slow
def test_mount_path_code_within_budget(mount_code):
    modules, totals, per_module = mount_code
    # what a boot's mount and file IO never run stays out of its heap
    for lazy in LAZY_MODULES:
        assert lazy not in modules, modules
    assert "ovl.overlay.file" in modules and "ovl.vfs" in modules, modules
    for figure in CODE_BUDGET:
        assert totals[figure] <= CODE_BUDGET[figure], code_figures(
            totals, per_module)


@pytest.mark.slow
def test_writers_are_the_first_writes_and_within_budget(code_sizes):
    # a boot that mounts and reads never imports the writers; the job's
    # writes import exactly them, at their budget
    extra = sorted(m for m in code_sizes["mpy_bytes"]
                   if m not in code_sizes["mount"])
    assert extra == sorted(WRITERS), extra
    totals = code_totals(code_sizes, extra)
    for figure in WRITERS_BUDGET:
        assert totals[figure] <= WRITERS_BUDGET[figure], (totals,
                                                          WRITERS_BUDGET)


@pytest.mark.slow
def test_mount_path_mpy_bytes_meet_the_issue_target(mount_code):
    modules, totals, per_module = mount_code
    assert totals["mpy_bytes"] <= CODE_TARGET["mpy_bytes"], code_figures(
        totals, per_module)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 10 item 5's import-heap "
                   "targets hold on the boards' 32-bit word size, not on "
                   "this 64-bit port, where pointers are twice as wide "
                   "(docs/FIT.md, 'The mount path is a boot's'); when "
                   "this passes, make the targets the budget")
def test_mount_path_import_heap_meets_issue_targets(mount_code):
    modules, totals, per_module = mount_code
    for figure in ("import_mpy", "import_romfs"):
        assert totals[figure] <= CODE_TARGET[figure], code_figures(
            totals, per_module)


def test_lazy_parts_named_through_the_device_modules(runtime):
    # what only hosts and writers use is imported at its first use, and
    # still answers to its old names (tests/scripts/lazy_parts.py)
    runtime.run_checks("lazy_parts.py", {
        "lazy modules after import": [],
        "reader's names": [0x73717368, 96, 8192],
        "FLAG_NOI, INODE_HEADER_SIZE": [1, 16],
        "encode then decode": [["guid", 1], ["inode_number", 9],
                               ["inode_type", 2], ["mode", 0o644],
                               ["mtime", 7], ["uid", 0]],
        "block_word split": [100, False],
        "unknown format name": "AttributeError",
        "BytesSource read": [6, "bcd"],
        "BytesSource out of range": "FlashRuleError",
        "unknown flash name": "AttributeError",
        "unknown private flash name": "AttributeError",
        "Region outside its flash": "ValueError",
        "a bad flash kind": "ValueError",
        "erase outside the region": [
            "FlashRuleError", "erase of block 2 outside region of 2 blocks"],
        "a rule error is a flash error": [True, "FlashRuleError"],
        "write_blocks is the agent's": True,
        "lazy modules after use": ["ovl.flash_host", "ovl.flash_rare",
                                   "ovl.squashfs_writer_format"],
    })


IMPORT_ROM = r"""
import sys, vfs
rom = open(%(image)r, "rb").read()
vfs.mount(vfs.VfsRom(rom), "/rom")
sys.path.insert(0, "/rom")
import ovl.squashfs, ovl.overlay
print(ovl.squashfs.__file__, ovl.overlay.__file__)
print(sorted(vfs.VfsRom(rom).ilistdir("/ovl"))[0][0])
"""

IMPORT_MPY = r"""
import sys
sys.path.insert(0, %(dir)r)
import ovl.squashfs, ovl.store
print(ovl.squashfs.__file__, ovl.store.__file__)
"""

# appended to both: the files a traceback names (each module's source
# name, compile_package's -s)
TRACEBACK_FILES = r"""
import io
t = io.StringIO()
try:
    ovl.squashfs.SquashFS(None)
except Exception as e:
    sys.print_exception(e, t)
print([x.split('"')[1] for x in t.getvalue().splitlines() if "File" in x])
"""


@pytest.mark.slow
def test_mpy_and_romfs_images_load(work, setups, mpy):
    setup = setup_for(setups, work, "esp32-4mb")
    with open(setup.romfs, "rb") as f:
        image = f.read()
    files = romfs.parse_image(image)
    expected = {}
    for name in romfs.device_modules():
        path = "ovl/" + name[:-3] + ".mpy"
        with open(os.path.join(setup.mpy_dir, *path.split("/")), "rb") as f:
            expected[path] = f.read()
    assert files == expected
    assert "ovl/simflash.mpy" not in files and "ovl/squashfs.mpy" in files
    assert len(image) % 2 == 0
    # this unix port has vfs.VfsRom: import the package from the image
    out = mpy((IMPORT_ROM + TRACEBACK_FILES) % {"image": setup.romfs}).split("\n")
    assert out[0] == "/rom/ovl/squashfs.mpy /rom/ovl/overlay/__init__.mpy"
    assert out[1] == "__init__.mpy"
    # a traceback names the module by its __file__ (one interned name a
    # module, not two: romfs.compile_package(rom=True))
    assert "/rom/ovl/squashfs.mpy" in out[2], out[2]
    # the .mpy files are of the format this micropython loads
    out = mpy((IMPORT_MPY + TRACEBACK_FILES) % {"dir": setup.mpy_dir}).split("\n")
    assert out[0] == "%s/ovl/squashfs.mpy %s/ovl/store/__init__.mpy" % (
        setup.mpy_dir, setup.mpy_dir)
    # the .mpy board's modules name their path from the job's sys.path
    # entry, "mpy" (its __file__ there): compile_package(load_dir="mpy")
    pico = setup_for(setups, work, "pico")
    out = mpy((IMPORT_MPY + TRACEBACK_FILES) % {"dir": pico.mpy_dir}).split("\n")
    assert "mpy/ovl/squashfs.mpy" in out[1], out[1]


def test_romfs_encoding():
    # varints: 7-bit groups, big-endian, bit 7 = more
    assert romfs.encode_uint(0) == b"\x00"
    assert romfs.encode_uint(127) == b"\x7f"
    assert romfs.encode_uint(128) == b"\x81\x00"
    assert romfs.encode_uint(300) == b"\x82\x2c"
    for v in (0, 1, 127, 128, 300, 1 << 20, (1 << 35) + 5):
        assert romfs.decode_uint(romfs.encode_uint(v), 0) == (
            v, len(romfs.encode_uint(v)))
    with pytest.raises(romfs.RomfsError):
        romfs.parse_image(b"\xd2\xcd\x31\x05\x05")
    with pytest.raises(romfs.RomfsError):
        romfs.parse_image(b"hsqs")


@pytest.mark.slow
def test_bench_fit_smoke(capsys):
    from host_tools.bench import fit as bench_fit
    bench_fit.main(["--board", "pico", "--counts", "0,20", "--no-bisect"])
    out = capsys.readouterr().out.split("\n")
    assert out[0].startswith("board pico (heap figure 160.0 KiB; code from "
                             ".mpy files)")
    assert out[1].startswith("mount path: ")
    rows = [line.split() for line in out if line[:1].isdigit()]
    assert [r[:2] for r in rows] == [["0", "ovl"], ["0", "littlefs"],
                                     ["20", "ovl"], ["20", "littlefs"],
                                     ["0", "ovl/lfs"], ["20", "ovl/lfs"]]
    # mount reads grow with the upper files for both stores
    assert int(rows[2][4]) > int(rows[0][4]) > 0


def test_code_costs_table(tmp_path):
    # `fit --code-costs` (docs/FIT.md, "Code size and import heap"): what
    # one more item of each kind keeps, from .mpy and from ROMFS
    from host_tools.bench.fit import code_costs
    costs = code_costs(str(tmp_path))
    for kind in ("mpy", "romfs"):
        assert costs["function"][kind] > 0
        assert costs["class"][kind] > costs["function"][kind]
        # a private const folds away: no name, no object
        assert abs(costs["const, _private name"][kind]) < 8


@pytest.mark.slow
def test_heap_scan_script_reports_the_pattern_and_edge(capsys):
    # tests/scripts/heap_scan.py, which docs/FIT.md quotes: half today's
    # budget fails, today's budget passes, so the edge it names is the top
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "heap_scan", os.path.join(os.path.dirname(__file__), "scripts",
                                  "heap_scan.py"))
    scan = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scan)
    top = TODAY_BUDGET["pico"] // 1024
    scan.main(["pico", str(top // 2), str(top), str(top - top // 2)])
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == "pattern: %d- %d+" % (top // 2, top), out
    assert out[-1].startswith("passes from %d KiB on" % top), out
    with pytest.raises(SystemExit):
        scan.main(["pico"])


@pytest.mark.slow
def test_linux_row_meets_the_issue_goals():
    # issue 10 item 8: 20,000 upper files on a 16 MiB NOR (64 KiB
    # blocks), mounted from the checkpoint sync wrote: the mount reads at
    # most 600 KB (581,614 B measured: the open block's nodes read as
    # headers, the tables in pages and open-addressed rows) and keeps at
    # most 4 MB of heap (about 982 KB).  Deterministic figures; the time
    # is reported by `python -m host_tools.bench.fit --linux`, not tested.
    from host_tools.bench.fit import (linux_row, LINUX_GOAL_READ,
                                      LINUX_GOAL_KEPT)
    lx = linux_row()
    assert lx["files"] == 20000
    assert lx["mount_read"] <= LINUX_GOAL_READ, lx
    assert lx["kept"] <= LINUX_GOAL_KEPT, lx
