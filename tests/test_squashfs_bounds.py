"""The lower's bounds on a board: identity() reads at most 4 KiB and still
changes with the image; an image whose blocks are over the board's limit is
refused at open (API: BlockSizeLimitError; a booted board: its note; the
CLI: one line); MicroPython keeps at most one inflated block.
"""

import json
import os
import shutil

import pytest

from host_tools.bench.fit import make_lower_tree
from host_tools.image.mkimage import build_image

MTIME = 1700000000

IDENTITY = r"""
import json
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS

class Counting(BytesSource):
    read_bytes = 0
    def read(self, addr, n):
        Counting.read_bytes += n
        return BytesSource.read(self, addr, n)

out = []
for path in %(images)r:
    src = Counting(open(path, "rb"))
    fs = SquashFS(src)
    before = Counting.read_bytes
    ident = fs.identity()
    out.append([ident, Counting.read_bytes - before])
print(json.dumps(out))
"""


def build(tmp_path, name, tree, block_size="4K", raw_metadata=False,
          comp="gzip"):
    out = str(tmp_path / (name + ".sqfs"))
    build_image(tree, out, block_size=block_size, mtime=MTIME,
                raw_metadata=raw_metadata, comp=comp)
    return out


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """A 2,000-file image (metadata far over 4 KiB), a rebuild of it, and
    images that differ from it in one way each; each also with its
    metadata stored raw (name + "-raw", as for the MCU boards)."""
    base = tmp_path_factory.mktemp("ident")
    tree = str(base / "tree")
    make_lower_tree(tree)
    images = {}

    def both(name, tree):
        images[name] = build(base, name, tree)
        images[name + "-raw"] = build(base, name + "-raw", tree,
                                      raw_metadata=True)
        # xz: a block's last 4 bytes are the stream's footer, the same in
        # every block, so identity rests on the digest entry there too
        images[name + "-xz"] = build(base, name + "-xz", tree, comp="xz")
    both("base", tree)
    both("again", tree)

    def variant(name, change):
        copy = str(base / ("tree-" + name))
        shutil.copytree(tree, copy)
        change(copy)
        both(name, copy)

    # a rename keeping the name's length, deep in the tree
    variant("rename", lambda t: os.rename(os.path.join(t, "d07", "f0007.txt"),
                                          os.path.join(t, "d07", "g0007.txt")))
    # a mode change of one file
    variant("chmod", lambda t: os.chmod(os.path.join(t, "d03", "f0003.txt"),
                                        0o600))

    def edit(t):
        path = os.path.join(t, "d11", "f0011.txt")
        data = bytearray(open(path, "rb").read())
        data[5:9] = b"EDIT"
        data += b"!"
        open(path, "wb").write(bytes(data))
    variant("content", edit)

    def same_size(t):
        # new bytes, the same size (every mtime is MTIME): only the data
        # block or fragment bytes differ, perhaps their packed sizes
        path = os.path.join(t, "d13", "f0013.txt")
        data = open(path, "rb").read()
        open(path, "wb").write(b"X" + data[1:])
    variant("same-size", same_size)
    both("small", os.path.join(tree, "d00"))
    return images


@pytest.mark.slow
def test_identity_reads_4k_and_sees_changes(variants, runtime):
    # (MicroPython reads no xz image: it refuses one at open)
    names = sorted(n for n in variants
                   if runtime.name == "cpython" or not n.endswith("-xz"))
    got = json.loads(runtime(IDENTITY % {"images": [variants[n] for n in names]},
                             heap="2m").strip().splitlines()[-1])
    ident = {}
    # the reader's private const (inlined by mpy-cross: the script cannot
    # name it under MicroPython)
    from ovl.squashfs import _IDENTITY_READ_LIMIT
    assert _IDENTITY_READ_LIMIT == 4096 - 96
    for name, (digest, read_bytes) in zip(names, got):
        assert read_bytes <= _IDENTITY_READ_LIMIT, (name, read_bytes)
        ident[name] = digest
    for kind in ("", "-raw", "-xz")[:3 if runtime.name == "cpython" else 2]:
        assert ident["again" + kind] == ident["base" + kind]
        for name in ("rename", "chmod", "content", "small", "same-size"):
            assert ident[name + kind] != ident["base" + kind], name + kind
    # the 2,000-file image's metadata is far larger than what was read
    size = os.path.getsize(variants["base"])
    assert size > 4 * 4096


def test_identity_same_on_both_runtimes(variants, mpy, cpy):
    script = IDENTITY % {"images": [variants["base"], variants["small"]]}
    assert json.loads(mpy(script).strip().splitlines()[-1]) == \
        json.loads(cpy(script).strip().splitlines()[-1])


LIMIT = r"""
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS, BlockSizeLimitError
try:
    SquashFS(BytesSource(open(%(big)r, "rb")), max_block_size=4096)
    print("opened")
except BlockSizeLimitError as e:
    print("refused:", e)
fs = SquashFS(BytesSource(open(%(small)r, "rb")), max_block_size=4096)
print("ok", fs.block_size)
"""


def test_block_size_over_the_limit_is_refused_at_open(variants, tmp_path,
                                                      runtime):
    tree = str(tmp_path / "t")
    make_lower_tree(tree, files=20, dirs=2)
    big = build(tmp_path, "big", tree, "128K")
    out = runtime(LIMIT % {"big": big, "small": variants["small"]}).split("\n")
    assert out[0] == ("refused: lower image has 128 KiB blocks, over this "
                      "board's limit of 4 KiB: rebuild it with `ovl mkimage "
                      "--board` (or -b 4K)")
    assert out[1] == "ok 4096"


KEPT = r"""
import gc
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
fs = SquashFS(BytesSource(open(%(image)r, "rb")))
files = [fs.lookup(p) for p in %(paths)r]
gc.collect()
base = gc.mem_alloc()
for e in files:
    assert len(fs.read(e, 0, e.size)) == e.size
    gc.collect()
    print(e.size, gc.mem_alloc() - base)
"""


def test_micropython_keeps_one_block(tmp_path, mpy):
    # a file of two data blocks and a fragment tail, then a small file in
    # another fragment block: each read leaves one inflated block behind
    tree = str(tmp_path / "t")
    os.makedirs(tree)
    with open(os.path.join(tree, "big"), "wb") as f:
        f.write(bytes(range(256)) * 40)          # 10,240 B: 2 blocks + tail
    for i in range(40):                          # fill a fragment block
        with open(os.path.join(tree, "s%02d" % i), "wb") as f:
            f.write(os.urandom(150))
    image = build(tmp_path, "img", tree)
    out = mpy(KEPT % {"image": image, "paths": ["/big", "/s39", "/big"]},
              heap="256k")
    rows = [tuple(map(int, line.split())) for line in out.split("\n") if line]
    assert [r[0] for r in rows] == [10240, 150, 10240]
    for size, kept in rows:
        # one 4 KiB block plus its object header; two would be over 8 KiB
        assert kept <= 4096 + 512, rows


BOARD = r"""
import json
from ovl.board import Board
from ovl_sim.simflash import SimFlash
from ovl import fwslot
from ovl_sim import board_runner
board = Board.from_dict(json.load(open(%(board)r)))
flash = SimFlash(board.size, board.erase_size, board.page_size)
slot = fwslot.slots(board, flash)[0]
data = open(%(image)r, "rb").read()
for at in range(0, len(data), 4096):
    flash.program(slot.offset + at, data[at:at + 4096])
try:
    fs, note = board_runner.mount_overlay(board, flash, slot)
except board_runner.LowerError as e:    # boot tries another slot
    fs, note = None, "slot refused: %%s" %% e
print(fs, board.lower_block_size, board.heap)
print(note)
"""


def test_board_refuses_a_lower_over_its_block_size(tmp_path, mpy):
    tree = str(tmp_path / "t")
    make_lower_tree(tree, files=20, dirs=2)
    big = build(tmp_path, "big", tree, "128K")
    board = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "boards", "esp32-4mb.json")
    out = mpy(BOARD % {"board": board, "image": big}, heap="16m").split("\n")
    assert out[0] == "None 4096 98304"
    assert out[1] == ("slot refused: lower image has 128 KiB blocks, "
                      "over this board's limit of 4 KiB: rebuild it with `ovl "
                      "mkimage --board` (or -b 4K)")


def test_mkimage_board_sets_the_block_size(tmp_path, capfd):
    from host_tools import cli
    from ovl.flash import BytesSource
    from ovl.squashfs import SquashFS
    tree = str(tmp_path / "t")
    make_lower_tree(tree, files=5, dirs=1)
    for board, bs in (("pico", 4096), ("esp32-4mb", 4096),
                      ("router-16mb", 131072)):
        out = str(tmp_path / (board + ".sqfs"))
        assert cli.main(["mkimage", "-q", "--board", board, tree, out]) == 0
        with open(out, "rb") as f:
            assert SquashFS(BytesSource(f)).block_size == bs
    capfd.readouterr()
    out = str(tmp_path / "over.sqfs")
    assert cli.main(["mkimage", "-q", "--board", "pico", "-b", "8K", tree,
                     out]) == 1
    err = capfd.readouterr().err
    assert err == ("ovl: error: block size 8 KiB is over board pico's "
                   "lower_block_size of 4 KiB\n")
    assert not os.path.exists(out)


@pytest.mark.slow
def test_remote_verbs_name_the_block_size_limit(tmp_path):
    """On the simulated esp32-4mb (micropython), a 128 KiB-block lower
    boots the agent only, and an overlay verb says why in one line."""
    from sim_board import flash_then_remote
    tree = str(tmp_path / "t")
    make_lower_tree(tree, files=20, dirs=2)
    image = build(tmp_path, "big", tree, "128K")
    board = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "boards", "esp32-4mb.json")
    with open(image, "rb") as f:
        status, err = flash_then_remote(board, str(tmp_path / "flash.bin"),
                                        f.read(), ["ls", "/"])
    assert status == 1 and len(err.splitlines()) == 1, err
    assert "lower image has 128 KiB blocks, over this board's limit of " \
        "4 KiB" in err


def test_raw_image_ends_its_id_table_with_a_digest(variants):
    """A raw-metadata image of `ovl mkimage` ends its id table with the
    CRC-32 of the bytes between the superblock and the id table, within
    the image's last _IDENTITY_TAIL_MIN bytes (identity() hashes at least
    those); a compressed one too (every image `ovl mkimage` writes)."""
    import struct
    import zlib
    from ovl import squashfs_format as fmt
    from ovl.squashfs import _IDENTITY_TAIL_MIN
    counts = {}
    for name in ("base", "base-raw", "base-xz"):
        data = open(variants[name], "rb").read()
        sb = fmt.decode(fmt.SUPERBLOCK, data)
        used, no_ids = sb["bytes_used"], sb["no_ids"]
        first = struct.unpack_from("<Q", data, sb["id_table_start"])[0]
        nblocks = (no_ids * 4 + fmt.METADATA_SIZE - 1) // fmt.METADATA_SIZE
        assert sb["id_table_start"] + 8 * nblocks == used
        # the id block stored raw (a few ids do not compress): the last
        # entry just before the index
        last = struct.unpack_from("<I", data, sb["id_table_start"] - 4)[0]
        crc = zlib.crc32(data[fmt.SUPERBLOCK_SIZE:first])
        assert last == crc, name
        counts[name] = no_ids
        assert used - (sb["id_table_start"] - 4) <= _IDENTITY_TAIL_MIN
    assert counts["base"] == counts["base-raw"] == counts["base-xz"]
