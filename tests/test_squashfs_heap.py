"""What the lower allocates per metadata block on a board (docs/FIT.md,
"Where the heap goes", "The lower's metadata buffers").

A board's heap is cut into short free runs once the upper's index has
grown, so the reader must not ask for 8 KiB at each metadata block: on
MicroPython it inflates into buffers allocated at open, and `ovl mkimage`
writes metadata streams whose zlib header names a 2 KiB window, which
MicroPython's DeflateIO then allocates instead of 8 KiB.
"""

import json
import os

import pytest

from host_tools.bench.fit import make_lower_tree
from host_tools.image import mkimage
from ovl import squashfs_format as fmt
from ovl.flash_host import BytesSource
from ovl.squashfs import SquashFS

# One metadata read on MicroPython: the decoder's state (about 1.4 KB on
# the 64-bit unix port), its 2 KiB window and small objects (the stream,
# memoryviews, the 2-byte header read): 4,787 B measured.  Inflating into
# new bytes instead took 14,835 B (an 8 KiB output besides the window).
MAX_PER_BLOCK = 5120


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    base = tmp_path_factory.mktemp("heap")
    tree = str(base / "tree")
    make_lower_tree(tree, files=600, dirs=12)
    path = str(base / "lower.sqfs")
    mkimage.build_image(tree, path, block_size=4096, mtime=1700000000,
                        all_root=True)
    with open(path, "rb") as f:
        return path, f.read()


def metadata_blocks(data):
    """(position, header word, packed bytes) of every metadata block of the
    inode and directory tables."""
    fs = SquashFS(BytesSource(data))
    pos, end = fs.inode_table_start, fs._dir_end
    while pos < end:
        word = int.from_bytes(data[pos:pos + 2], "little")
        size = word & fmt.METADATA_SIZE_MASK
        yield pos, word, data[pos + 2:pos + 2 + size]
        pos += 2 + size


def test_mkimage_metadata_names_a_small_window(image):
    _, data = image
    compressed = 0
    for pos, word, packed in metadata_blocks(data):
        if word & fmt.METADATA_UNCOMPRESSED:
            continue
        compressed += 1
        # zlib header: CINFO (high nibble of CMF) = log2(window) - 8
        wbits = (packed[0] >> 4) + 8
        assert wbits == mkimage.METADATA_WBITS, (pos, wbits)
    assert compressed >= 4      # the tables span several blocks
    assert mkimage.METADATA_WBITS <= 11


def test_metadata_block_read_allocates_little_on_micropython(image, mpy):
    path, _ = image
    out = json.loads(mpy.run_file("squashfs_meta_alloc.py", args=[path])
                     .strip().splitlines()[-1])
    assert out["blocks"] >= 4, out
    assert out["max"] <= MAX_PER_BLOCK, out
    # the open keeps the buffers: two 8 KiB blocks and the packed block's
    assert out["kept"] >= 3 * fmt.METADATA_SIZE, out
