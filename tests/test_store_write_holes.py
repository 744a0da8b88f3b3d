"""The store writes files through a heap cut into small holes (docs/STORE.md,
"Writing"), under the real micropython: tests/scripts/store_holes.py
writes 150 files, fills the free heap with 512-byte objects and frees
every other one, then writes 60 more files and reads all back after a
mount.  The write path needs no free stretch longer than its largest
frame or a file's bytes: no buffer that grows by each node or block, no
block's summary joined whole.  Before (pending grown to 8 pages, the
summary packed into a new buffer and joined to it) it stopped at the 7th
file with a 688-byte request; at 640-byte holes at the 16th (832 B).
"""

import json

HEAP = "320K"
HOLE = 512
WARM, FILES = 150, 60


def test_files_written_into_a_heap_of_small_holes(mpy, tmp_path):
    chip = tmp_path / "chip.bin"
    chip.write_bytes(b"\xff" * (1 << 20))
    out = mpy.run_file("store_holes.py", args=[str(chip), str(HOLE)],
                       heap=HEAP, timeout=300)
    got = json.loads(out.strip().splitlines()[-1])
    print(got)
    # the heap really was cut: many holes, none of the store's old sizes
    assert got["holes"] >= 50, got
    assert got["error"] is None, got
    assert got["written"] == FILES, got
    assert got["read"] == WARM + FILES, got
