"""The log store's heap under MicroPython (docs/STORE.md, "RAM" and
"Mount"): heap kept after a mount, and the peak during it, at 0, 100 and
500 files, measured by tests/scripts/store_ram.py under the real
micropython with a fixed heap.

Goal (issue 10): kept <= 16 KiB + 24 B per upper inode, peak <= 1.5 x
kept.  The tables of ovl.store.index (inode rows in pages by number,
entry rows found by open addressing; names, an entry's inode number,
versions and births read from flash) keep about 33 B a file, within the
24 B a file over 16 KiB at 500 files (the base is about 11 KiB, not 16:
see docs/STORE.md "RAM"); the test asserts that goal and
KEPT_BUDGET pins today's figures as a regression budget besides: it
fails when the store keeps more than today.  The
peak is what is kept plus what the mount holds beside the whole index at
the end of its second pass: the summary being read, the pass's own
state, the replay of one bucket of inodes, and the packed data records
still waiting (ovl.store.mount.MountData: 22 B a data node, each
replayed once the last block holding a node of its bucket of inodes is
read, so few wait in a store written once).  With all records kept to
the end it was 16,352 B above kept at 500 files (1.49 x with the chained
hashes' rows, 1.59 x with the paged rows); now about 6.8 KB (7.8 KB
with a first piece of 75 records).  It is held
to the goal, and PEAK_BUDGET pins it as well.
"""

import json

import pytest

HEAP = "4M"
KEPT_GOAL_BASE = 16 * 1024
KEPT_GOAL_PER_INODE = 24
# measured by `.venv/bin/python -m pytest -s tests/test_store_ram.py`
# (64-bit unix port) + 1 KiB: kept 9,632 / 13,088 / 26,784 (inode pages and open
# addressing), peak 13,696 / 18,432 / 33,568 (MountData's first piece of
# 8 records, not 75: 13,696 / 19,744 / 34,880 before, 1.51 x kept at 100
# files once the rows shrank; 14,240 / 20,192 / 35,488 with mount records
# replayed as blocks are read);
# with every data record kept to the end of the mount: peak 13,728 /
# 20,352 / 43,904; with the chained hashes kept 11,168 / 15,296 /
# 33,664, peak 14,112 / 21,568 / 49,952 (rows of 28 and 24 B holding
# versions and births, 27-byte mount records: kept 11,424 / 17,088 /
# 41,856, peak 14,336 /
# 22,848 / 59,520; before the churn round kept 12,320 / 17,984 / 42,752,
# peak 15,776 / 24,352 / 61,024; with the block table's used and ec
# columns as lists:
# kept 14,880 / 20,544 / 45,312, peak 20,352 / 29,120 / 66,592; rows of
# 36 and 32 B, 37-byte mount records: kept
# 15,136 / 22,336 / 53,504, peak 20,544 / 31,872 / 79,872; 64-byte mount
# records: peak 22,208 / 38,016 / 96,224; the packed tables with names in
# dicts kept 17,504 / 34,688 / 99,296, the dict index 18,080 / 62,208 /
# 236,416)
KEPT_BUDGET = {0: 9632 + 1024, 100: 13088 + 1024, 500: 26784 + 1024}
PEAK_BUDGET = {0: 13696 + 1024, 100: 18432 + 1024, 500: 33568 + 1024}
PEAK_PER_KEPT = 1.5     # the goal


def measure(mpy, tmp_path, files, checkpoints=False):
    chip = tmp_path / "chip.bin"
    chip.write_bytes(b"\xff" * (1 << 20))
    out = mpy.run_file("store_ram.py", args=[str(chip), str(files)] + (
        ["checkpoints"] if checkpoints else []), heap=HEAP, timeout=300)
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("files", sorted(KEPT_BUDGET))
def test_store_heap_after_and_during_mount(mpy, tmp_path, files):
    got = measure(mpy, tmp_path, files)
    inodes = files + 11             # the files, 10 directories, the root
    goal = KEPT_GOAL_BASE + KEPT_GOAL_PER_INODE * inodes
    print("files %d: kept %d B (goal %d, budget %d), peak %d B (%.2f x"
          " kept, goal %.1f x), mount read %d B"
          % (files, got["kept"], goal, KEPT_BUDGET[files], got["peak"],
             got["peak"] / got["kept"], PEAK_PER_KEPT, got["mount_read"]))
    assert got["kept"] <= KEPT_BUDGET[files], got
    # the goal, met at every count since the rows went to pages
    # and open addressing (500 files: 26,784 B against 28,648)
    assert got["kept"] <= goal, got
    assert got["peak"] <= PEAK_BUDGET[files], got
    assert got["peak"] <= PEAK_PER_KEPT * got["kept"], got


# The same store with a checkpoint written at its last sync and loaded by
# the mount (the default off the MCU boards; docs/STORE.md "Checkpoint"),
# measured the same way: kept 10,848 / 11,968 / 25,664, peak 13,760 /
# 16,960 / 30,688 (a list column's words decoded in _In.column, not by a
# call of _In.value each: 13,760 / 18,272 / 32,000 before, 1.53 x kept
# at 100 files; 13,792 / 18,240 / 32,064 with inode pages and open
# addressing; with the chained
# hashes kept 11,232 / 13,280 / 31,648, peak 14,176 /
# 19,520 / 38,080; 0 files: too small for a checkpoint, the mount scans;
# with the 28/24-byte rows kept 11,488 / 15,072 / 39,840, peak 14,400 /
# 22,400 / 47,456).  At 100 files the peak is 1.47 x kept, most of it
# fixed (per block, not per file): the restore reads the block table's
# columns into place, keeps the header erase counts in the block table's
# own column (set before the restore, the headers' flags then dropped),
# drops the restored summary of a block the checkpoint does not end in,
# holds the pieces ending the log as small tuples, and the tables come
# in pieces of several chunks (fewer pieces to hold and read: peak
# 27,392 = 1.82 x kept before the first of these; 20,608 = 1.55 x once
# the rows shrank, before the last three).
CKPT_KEPT_BUDGET = {0: 9696 + 1024, 100: 11968 + 1024, 500: 25664 + 1024}
CKPT_PEAK_BUDGET = {0: 13760 + 1024, 100: 16960 + 1024, 500: 30688 + 1024}


@pytest.mark.parametrize("files", [0, 100, 500])
def test_store_heap_of_a_checkpoint_mount(mpy, tmp_path, files):
    got = measure(mpy, tmp_path, files, checkpoints=True)
    print("checkpoint mount, files %d: kept %d B, peak %d B (%.2f x kept), "
          "mount read %d B" % (files, got["kept"], got["peak"],
                               got["peak"] / got["kept"], got["mount_read"]))
    assert got["kept"] <= CKPT_KEPT_BUDGET[files], got
    assert got["peak"] <= CKPT_PEAK_BUDGET[files], got
    assert got["peak"] <= PEAK_PER_KEPT * got["kept"], got
