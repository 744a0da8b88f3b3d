"""Raw metadata and streamed data blocks (docs/SQUASHFS.md, "Raw metadata"
and "Data blocks as streams").

`ovl mkimage` stores every metadata block uncompressed for a board whose
JSON says "lower_metadata": "raw"; MicroPython's reader then reads what a
lookup needs where it lies, through a 256-byte window, and keeps no 8 KiB
buffer (it allocates one at the first compressed metadata block only:
images of stock mksquashfs, or mixed ones).  Data and fragment blocks are
inflated as streams from flash on MicroPython, a read allocating the
decoder and the bytes it returns, not a block.  These tests check that
images of each kind read alike on both runtimes and as the reference
tools read them, what the streams cost, and a heap the old reader did not
fit in.
"""

import binascii
import json
import os
import subprocess
import zlib

import pytest

from conftest import ROOT, SCRIPTS
from host_tools import cli
from host_tools.bench.fit import make_lower_tree
from host_tools.image import mkimage, romfs
from ovl import squashfs_format as fmt
from ovl.flash_host import BytesSource
from ovl.squashfs import SquashFS
from test_squashfs_interop import (build_small_tree, image_view, source_view,
                                   write)
from test_squashfs_mpy import walk_lines

MTIME = 1700000000


def build_mixed(src, out, **kw):
    """An image whose metadata tables alternate compressed and raw blocks
    (as mksquashfs leaves a block raw where packing does not shrink it)."""
    flush = mkimage.MetadataWriter._flush

    def alternating(self, n):
        self.raw = len(self.block_starts) % 2 == 0
        flush(self, n)
    mkimage.MetadataWriter._flush = alternating
    try:
        return mkimage.build_image(src, out, **kw)
    finally:
        mkimage.MetadataWriter._flush = flush


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A tree of every kind of entry with multi-block files (text, random
    and sparse), built three ways: metadata compressed, raw, and mixed."""
    base = tmp_path_factory.mktemp("raw")
    root = str(base / "src")
    os.makedirs(root)
    build_small_tree(root)
    write(os.path.join(root, "big.txt"), b"".join(
        b"line %05d of a long file\n" % i for i in range(3000)))
    write(os.path.join(root, "noise.bin"), os.urandom(9000))
    with open(os.path.join(root, "holes"), "wb") as f:
        f.write(b"head")
        f.truncate(5 * 4096 + 7)
    os.makedirs(os.path.join(root, "many"))
    for i in range(400):        # a listing and inode table of a few blocks
        write(os.path.join(root, "many", "entry-%04d" % i), b"%d\n" % i * i)
    out = {"root": root}
    for kind in ("compressed", "raw", "mixed"):
        path = str(base / ("%s.sqfs" % kind))
        build = build_mixed if kind == "mixed" else mkimage.build_image
        build(root, path, block_size=4096, raw_metadata=kind == "raw")
        out[kind] = path
    return out


def metadata_words(path):
    """The header word of every metadata block of the image: the inode and
    directory tables, and the fragment and id tables' blocks."""
    with open(path, "rb") as f:
        data = f.read()
    fs = SquashFS(BytesSource(data))
    words = []
    pos, end = fs.inode_table_start, fs._dir_end
    while pos < end:
        word = int.from_bytes(data[pos:pos + 2], "little")
        words.append(word)
        pos += 2 + (word & fmt.METADATA_SIZE_MASK)
    id_start, ids, frag_start, frags = fs._tables
    for start, count, size in ((id_start, ids, 4), (frag_start, frags, 16)):
        for i in range((count * size + fmt.METADATA_SIZE - 1)
                       // fmt.METADATA_SIZE):
            at = int.from_bytes(data[start + 8 * i:start + 8 * i + 8],
                                "little")
            words.append(int.from_bytes(data[at:at + 2], "little"))
    return words


def test_raw_image_stores_every_metadata_block_raw(images):
    raw = [w & fmt.METADATA_UNCOMPRESSED != 0
           for w in metadata_words(images["raw"])]
    assert len(raw) >= 6 and all(raw), raw
    # (a block packing does not shrink, such as the one-id table, stays
    # raw in any image)
    compressed = [w & fmt.METADATA_UNCOMPRESSED == 0
                  for w in metadata_words(images["compressed"])]
    assert compressed.count(True) >= len(raw) - 2, compressed
    mixed = [w & fmt.METADATA_UNCOMPRESSED != 0
             for w in metadata_words(images["mixed"])]
    assert True in mixed and False in mixed, mixed


@pytest.mark.parametrize("kind", ["raw", "mixed"])
def test_unsquashfs_reads_raw_and_mixed_metadata(images, tmp_path, kind):
    out = str(tmp_path / "out")
    proc = subprocess.run(["unsquashfs", "-no-progress", "-d", out,
                           images[kind]], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = source_view(images["root"])
    got = source_view(out)
    assert sorted(got) == sorted(want)
    for path in want:           # (unsquashfs runs as root: owners kept)
        assert got[path][-1] == want[path][-1], path
    if kind == "raw":
        stats = subprocess.run(["unsquashfs", "-s", images[kind]],
                               capture_output=True, text=True).stdout
        assert "Inodes are uncompressed" in stats, stats
        assert "Data is compressed" in stats, stats


@pytest.mark.parametrize("kind", ["raw", "mixed", "compressed"])
def test_micropython_reads_each_kind_like_cpython(images, mpy, cpy, kind):
    """Every entry, its data read in 1000-byte steps (streams continued
    across reads on MicroPython), as CPython and the source give them;
    the same entries whatever the metadata's storage."""
    image = images[kind]
    on_mpy = walk_lines(mpy, image, cache_blocks=1)
    assert on_mpy == walk_lines(cpy, image, cache_blocks=16)
    want = image_view(SquashFS(BytesSource(
        open(images["compressed"], "rb").read())))
    got = dict((row[0], tuple(row[1:])) for row in on_mpy[:-1])
    assert sorted(got) == sorted(want)
    for path in want:
        assert got[path][-1] == want[path][-1], path


METADATA_BUFFERS = r"""
import sys
sys.path.insert(0, %(scripts)r)
from image_file_source import FileSource
from ovl.squashfs import SquashFS
from ovl import squashfs_walk
fs = SquashFS(FileSource(sys.argv[-1]))
opened = len(fs._cache) + len(getattr(fs, "_free", ()))
n = 0
for path, e in squashfs_walk.walk(fs, "/"):
    n += 1
print(opened, len(fs._cache) + len(getattr(fs, "_free", ())), n)
"""


def test_raw_metadata_needs_no_block_buffer_on_micropython(images, mpy):
    """The 8 KiB buffer is allocated at the first compressed metadata
    block: never for a raw image, at the open (the root inode) for a
    compressed one, and once for a mixed one."""
    got = {}
    for kind in ("raw", "compressed", "mixed"):
        got[kind] = mpy(METADATA_BUFFERS % {"scripts": SCRIPTS},
                        args=[images[kind]]).split()
    assert got["raw"][:2] == ["0", "0"], got
    assert got["compressed"][:2] == ["1", "1"], got
    assert got["mixed"][1] == "1", got
    assert got["raw"][2] == got["compressed"][2] == got["mixed"][2], got


STREAMS = r"""
import binascii, sys
sys.path.insert(0, %(scripts)r)
if %(in_place)r:
    import inflate_in_place     # no room for a copy of a packed block
from image_file_source import FileSource
from ovl import compat
from ovl.squashfs import SquashFS
opened = []
inflate_stream = compat.inflate_stream
def counting(read, pos, size, wbits):
    opened.append(pos)
    return inflate_stream(read, pos, size, wbits)
compat.inflate_stream = counting
fs = SquashFS(FileSource(sys.argv[-1]))
e = fs.lookup("/big.txt")
step = 100
forward = 0
for o in range(0, e.size, step):
    forward = binascii.crc32(fs.read(e, o, step), forward)
ahead = len(opened)
dropped = fs._stream is None
del opened[:]
pieces = [fs.read(e, o, step) for o in reversed(range(0, e.size, step))]
backward = 0
for piece in reversed(pieces):
    backward = binascii.crc32(piece, backward)
print(forward, backward, ahead, len(set(opened)), len(opened), dropped,
      fs._stream is None)
"""


@pytest.mark.parametrize("in_place", [False, True],
                         ids=["copied", "in_place"])
def test_a_file_read_in_order_inflates_each_block_once(images, mpy,
                                                        in_place):
    """Reading big.txt forwards in 100-byte steps opens one stream per
    compressed block (the fragment's included): each read continues the
    stream the last one left.  Backwards, each read starts its block
    again (a stream runs forwards only), and the file's end drops the
    stream.  The same, with the same bytes, where the heap has no room for
    a copy of a packed block and the decoder reads it from the source."""
    data = open(os.path.join(images["root"], "big.txt"), "rb").read()
    fs = SquashFS(BytesSource(open(images["raw"], "rb").read()))
    e = fs.lookup("/big.txt")
    blocks = e.loc.nblocks + (e.loc.fragment != fmt.FRAGMENT_NONE)
    assert blocks >= 5
    out = mpy(STREAMS % {"scripts": SCRIPTS, "in_place": in_place},
              args=[images["raw"]]).split()
    crc = str(binascii.crc32(data))
    steps = (len(data) + 99) // 100
    assert out[:2] == [crc, crc], out
    assert int(out[2]) == blocks, out
    # backwards: a stream per read, and one more for each read that
    # crosses into the next block (4096 is no multiple of 100)
    assert int(out[3]) == blocks, out
    assert int(out[4]) == steps + blocks - 1, out
    # the stream went at the file's end, and stays after a read short of it
    assert out[5:] == ["True", "False"], out


DAMAGED = r"""
import sys
sys.path.insert(0, %(scripts)r)
from image_file_source import FileSource
from ovl.squashfs import SquashFS
for path in sys.argv[-2:]:
    fs = SquashFS(FileSource(path))
    e = fs.lookup("/big.txt")
    try:
        off = 0
        while off < e.size:
            off += len(fs.read(e, off, 700))
        print("read")
    except ValueError as err:
        print(type(err).__name__)
    print(fs.read(fs.lookup("/noise.bin"), 0, 4) != b"", fs._stream is None)
"""


def test_a_damaged_data_block_raises_the_readers_error(images, runtime,
                                                       tmp_path):
    """Bytes flipped inside big.txt's second data block, or its size word
    cut to half (the stream runs out): the reader's DecompressionError on
    both runtimes, mid-file through a stream on MicroPython, and the
    reader reads on afterwards."""
    data = open(images["raw"], "rb").read()
    fs = SquashFS(BytesSource(data))
    e = fs.lookup("/big.txt")
    words = fs._block_words(e.loc, 0, 2)
    pos = e.loc.start + (words[0] & fmt.DATA_SIZE_MASK)
    size = words[1] & fmt.DATA_SIZE_MASK
    assert not words[1] & fmt.DATA_UNCOMPRESSED
    bad = bytearray(data)
    for i in range(pos + size // 3, pos + size - 4):
        bad[i] ^= 0x5A
    # the block list lies raw after the inode (block header at loc.pos,
    # the list at loc.off in it): its second word, halved
    cut = bytearray(data)
    at = e.loc.pos + 2 + e.loc.off + 4
    assert data[at:at + 4] == words[1].to_bytes(4, "little")
    cut[at:at + 4] = (size // 2).to_bytes(4, "little")
    paths = []
    for name, content in (("bad", bad), ("cut", cut)):
        path = tmp_path / name
        path.write_bytes(bytes(content))
        paths.append(str(path))
    out = runtime(DAMAGED % {"scripts": SCRIPTS}, args=paths).split()
    assert out == ["DecompressionError", "True", "True"] * 2, out


CUT_SHORT = r"""
import sys
sys.path.insert(0, %(scripts)r)
from image_file_source import FileSource
from ovl import compat
from ovl.squashfs import SquashFS
inflate_stream = compat.inflate_stream
fail = [False]
class Failing:
    # a decoder whose read(n) fails as MicroPython's does when the heap has
    # no room for its result or its window: after the decoder moved on
    def __init__(self, d):
        self.d = d
    def readinto(self, buf):
        return self.d.readinto(buf)
    def read(self, n):
        if fail[0]:
            self.d.read(50)
            raise MemoryError("memory allocation failed")
        return self.d.read(n)
compat.inflate_stream = lambda *a: Failing(inflate_stream(*a))
fs = SquashFS(FileSource(sys.argv[-1]))
e = fs.lookup("/big.txt")
print(fs.read(e, 0, 100) == open(sys.argv[-2], "rb").read(100))
fail[0] = True
try:
    fs.read(e, 200, 3000)
except MemoryError:
    print("MemoryError")
fail[0] = False
print(fs.read(e, 200, 100) == open(sys.argv[-2], "rb").read(300)[200:])
# two size words for one block position (a hostile image's two files):
# the second read starts a stream of its own, cut short at half the block
word = fs._block_words(e.loc, 1, 1)[0]
pos = e.loc.start + (fs._block_words(e.loc, 0, 1)[0] & 0xFFFFFF)
fs._block_bytes(pos, word, "whole", 0, 100, 4096)
try:
    fs._block_bytes(pos, (word & 0xFFFFFF) // 2, "half", 100, 4096, 4096)
    print("continued")
except ValueError as err:
    print(type(err).__name__)
"""


def test_a_stream_cut_short_is_not_kept(images, mpy):
    """A MemoryError out of a stream read part way (the decoder ahead of
    where the reader last left it) leaves no stream kept: the next read
    starts the block again and returns the right bytes.  A kept stream is
    matched by its block's position and size word: another size word at
    the same position starts a stream of its own."""
    out = mpy(CUT_SHORT % {"scripts": SCRIPTS},
              args=[os.path.join(images["root"], "big.txt"),
                    images["raw"]]).split()
    assert out == ["True", "MemoryError", "True", "DecompressionError"], out


def damaged_fragment(root, out):
    """An image of eight small files (their tails in one fragment block)
    whose fragment block has one bit flipped so that it still inflates to
    a block of the same length, different in the first file's bytes: only
    the stream's Adler-32 tells."""
    os.makedirs(root)
    for i in range(8):
        write(os.path.join(root, "small%d.txt" % i), b"".join(
            b"file %d line %d\n" % (i, j) for j in range(30)))
    mkimage.build_image(root, out, block_size=4096, raw_metadata=True)
    data = bytearray(open(out, "rb").read())
    fs = SquashFS(BytesSource(bytes(data)))
    e = fs.lookup("/small0.txt")
    pos, word = fs._fragment(e.loc.fragment)
    assert not word & fmt.DATA_UNCOMPRESSED
    packed = bytes(data[pos:pos + (word & fmt.DATA_SIZE_MASK)])
    good = zlib.decompress(packed)
    for i in range(2, len(packed) - 4):
        for bit in range(8):
            bad = bytearray(packed)
            bad[i] ^= 1 << bit
            try:
                got = zlib.decompressobj(-15).decompress(bytes(bad[2:]))
            except zlib.error:
                continue
            if len(got) == len(good) and got[:e.size] != good[:e.size]:
                data[pos + i] ^= 1 << bit
                open(out, "wb").write(bytes(data))
                return
    pytest.fail("no bit of the fragment block inflates to wrong bytes")


TO_THE_END = r"""
import sys
sys.path.insert(0, %(scripts)r)
from image_file_source import FileSource
from ovl.squashfs import SquashFS
fs = SquashFS(FileSource(sys.argv[-1]))
e = fs.lookup("/small0.txt")
try:
    print(len(fs.read(e, 0, e.size)))
except ValueError as err:
    print(type(err).__name__)
"""


def test_a_damaged_fragment_block_is_refused_at_the_files_end(runtime,
                                                              tmp_path):
    """A file read to its end through a fragment block whose bytes fail
    its Adler-32: the reader's DecompressionError on both runtimes
    (MicroPython reads the rest of the block's stream to check it)."""
    path = str(tmp_path / "bad.sqfs")
    damaged_fragment(str(tmp_path / "src"), path)
    out = runtime(TO_THE_END % {"scripts": SCRIPTS}, args=[path]).split()
    assert out == ["DecompressionError"], out


def damaged_block_beside_a_raw_fragment(root, out):
    """File a: two whole 4 KiB blocks, the last byte of block 0 (its
    Adler-32) damaged; file b: 300 random bytes, its fragment block
    stored raw (it does not compress)."""
    import random
    os.makedirs(root)
    write(os.path.join(root, "a"), b"".join(
        b"line %05d of a\n" % i for i in range(600))[:8192])
    rnd = random.Random(1)
    write(os.path.join(root, "b"), bytes(rnd.getrandbits(8)
                                         for _ in range(300)))
    mkimage.build_image(root, out, block_size=4096, raw_metadata=True)
    data = bytearray(open(out, "rb").read())
    fs = SquashFS(BytesSource(bytes(data)))
    a = fs.lookup("/a")
    word = fs._block_words(a.loc, 0, 1)[0]
    assert fs._fragment(fs.lookup("/b").loc.fragment)[1] & \
        fmt.DATA_UNCOMPRESSED
    data[a.loc.start + (word & fmt.DATA_SIZE_MASK) - 1] ^= 0xFF
    open(out, "wb").write(bytes(data))


OTHER_FILES_STREAM = r"""
import sys
sys.path.insert(0, %(scripts)r)
from image_file_source import FileSource
from ovl.squashfs import SquashFS
fs = SquashFS(FileSource(sys.argv[-1]))
a = fs.lookup("/a")
b = fs.lookup("/b")
for e, n in ((a, 100), (b, b.size)):
    try:
        print(len(fs.read(e, 0, n)))
    except ValueError as err:
        print(type(err).__name__)
"""


def test_a_files_end_checks_only_its_own_fragment_stream(runtime, tmp_path):
    """Reading a file to its end drains the kept stream only if it is
    that file's fragment: a raw fragment keeps none, and the stream kept
    from another file's partial read is left alone (a review found b's
    read raising a's block's DecompressionError on MicroPython).  A
    partial read of a's damaged block: bytes on MicroPython (its
    checksum comes at the block's end), the error on CPython (which
    inflates the block whole); b reads whole on both."""
    path = str(tmp_path / "img.sqfs")
    damaged_block_beside_a_raw_fragment(str(tmp_path / "src"), path)
    out = runtime(OTHER_FILES_STREAM % {"scripts": SCRIPTS},
                  args=[path]).split()
    assert out[1] == "300", out
    assert out[0] in ("100", "DecompressionError"), out


def long_fragment(root, out):
    """An image of one 2,000-byte file whose tail, at fragment offset 3500
    of 4 KiB blocks, runs past the block size, into a fragment block that
    inflates to 6,000 bytes."""
    os.makedirs(root)
    write(os.path.join(root, "t"), os.urandom(2000))
    mkimage.build_image(root, out, block_size=4096, raw_metadata=True)
    data = bytearray(open(out, "rb").read())
    fs = SquashFS(BytesSource(bytes(data)))
    e = fs.lookup("/t")
    pos, word = fs._fragment(e.loc.fragment)
    packed = zlib.compress((bytes(range(256)) * 24)[:6000], 9)
    assert len(packed) <= word & fmt.DATA_SIZE_MASK
    data[pos:pos + len(packed)] = packed
    # the fragment table's entry (its one raw metadata block: the index
    # points at the block's header) and the inode's frag_offset, both raw
    block = int.from_bytes(data[fs._tables[2]:fs._tables[2] + 8], "little")
    at = block + 2 + 16 * e.loc.fragment + 8
    assert int.from_bytes(data[at:at + 4], "little") == word
    data[at:at + 4] = len(packed).to_bytes(4, "little")
    at = e.loc.pos + 2 + e.loc.off - 8      # frag_offset, file_size
    assert data[at:at + 8] == (e.loc.frag_offset.to_bytes(4, "little")
                               + (2000).to_bytes(4, "little"))
    data[at:at + 4] = (3500).to_bytes(4, "little")
    open(out, "wb").write(bytes(data))


TAIL = r"""
import sys
sys.path.insert(0, %(scripts)r)
from image_file_source import FileSource
from ovl.squashfs import SquashFS
fs = SquashFS(FileSource(sys.argv[-1]))
try:
    print(len(fs.read(fs.lookup("/t"), 0, 2000)))
except ValueError as err:
    print(type(err).__name__)
"""


def test_a_tail_past_the_fragment_block_is_refused(runtime, tmp_path):
    """A file whose tail would run past its fragment block's block size
    (inside a fragment stream that inflates too far) is a BadInodeError
    on both runtimes (MicroPython's stream returned the bytes past it)."""
    path = str(tmp_path / "long.sqfs")
    long_fragment(str(tmp_path / "src"), path)
    out = runtime(TAIL % {"scripts": SCRIPTS}, args=[path]).split()
    assert out == ["BadInodeError"], out


OTHER_TABLE = r"""
import sys
sys.path.insert(0, %(scripts)r)
from image_file_source import FileSource
from ovl.squashfs import SquashFS
fs = SquashFS(FileSource(sys.argv[-1]))
e = fs.lookup("/hello")         # its inode block read (kept or windowed)
try:
    print(len(fs.read(e, 0, e.size)))
except ValueError as err:
    print(type(err).__name__, "outside its table" in str(err))
"""


def test_a_table_pointer_into_another_table_is_refused(images, runtime,
                                                       tmp_path):
    """The fragment table's index pointing at the inode table's first
    block, which the reader has just read (MicroPython's raw window,
    CPython's cache): OutOfRangeError on both runtimes, as when the block
    is not at hand, not the inode bytes read as fragment entries."""
    data = bytearray(open(images["raw"], "rb").read())
    sb = fmt.decode(fmt.SUPERBLOCK, data)
    fs = SquashFS(BytesSource(bytes(data)))
    e = fs.lookup("/hello")
    assert e.loc.fragment != fmt.FRAGMENT_NONE
    assert e.loc.pos == sb["inode_table_start"]
    at = sb["fragment_table_start"]
    data[at:at + 8] = sb["inode_table_start"].to_bytes(8, "little")
    path = tmp_path / "pointer.sqfs"
    path.write_bytes(bytes(data))
    out = runtime(OTHER_TABLE % {"scripts": SCRIPTS},
                  args=[str(path)]).split()
    assert out == ["OutOfRangeError", "True"], out


@pytest.fixture(scope="module")
def fit_images(tmp_path_factory):
    """The board job's lower (2,000 files), metadata raw and compressed,
    and the firmware as .mpy (the boards' code is not compiled on the
    heap, which cutting it up would make fail)."""
    base = tmp_path_factory.mktemp("fitraw")
    tree = str(base / "tree")
    make_lower_tree(tree)
    out = {}
    for raw in (True, False):
        path = str(base / ("raw.sqfs" if raw else "compressed.sqfs"))
        mkimage.build_image(tree, path, block_size=4096, mtime=MTIME,
                            all_root=True, raw_metadata=raw)
        out[raw] = path
    out["mpy"] = str(base / "mpy")
    romfs.compile_package(out["mpy"])
    return out


# The heap the cut-up heap test runs in, and the free stretches it leaves
# (squashfs_small_heap.py): 55 KB free, none longer than about 3 KB.  The
# job's lower reads need stretches of 1,400 B (1,200 fail in the read:
# the decoder's state), measured with the code as .mpy on the 64-bit unix
# port.  The reader before this one allocated its 8 KiB buffer at the
# open whatever the image, and failed there with either.
CUT_HEAP = "128k"
HOLE = 3000


def cut_heap_run(mpy, fit_images, raw, hole=HOLE):
    env = dict(os.environ, MICROPYPATH=fit_images["mpy"] + ":" + SCRIPTS)
    proc = subprocess.run(
        [mpy.argv0[0], "-X", "heapsize=" + CUT_HEAP,
         os.path.join(SCRIPTS, "squashfs_small_heap.py"), fit_images[raw],
         str(hole)], capture_output=True, text=True, env=env, timeout=120)
    return (proc.stdout + proc.stderr).strip().splitlines()[-1].split()


def test_raw_metadata_reads_in_a_heap_cut_into_3_kb_pieces(fit_images, mpy):
    """The board job's lower reads with 55 KB free in pieces of 3 KB at
    most: with the metadata raw they need no piece larger (no 8 KiB
    buffer, no block-sized data buffer); with it compressed the open fails
    allocating the metadata buffer."""
    ok, size, buffers, free = cut_heap_run(mpy, fit_images, True)
    assert (ok, size, buffers) == ("ok", "141", "0")
    assert int(free) > 6 * fmt.METADATA_SIZE, free
    assert cut_heap_run(mpy, fit_images, False)[:2] == ["MemoryError",
                                                        "open"]
    # with pieces of 12 KB the compressed image reads too
    assert cut_heap_run(mpy, fit_images, False, 12000)[:3] == [
        "ok", "141", "1"]


def test_mkimage_board_writes_raw_metadata(tmp_path, capfd):
    """`ovl mkimage --board esp32-4mb` stores metadata raw (its JSON says
    "lower_metadata": "raw"); a board without the field compresses it; a
    board naming another value is refused in one line."""
    src = str(tmp_path / "src")
    os.makedirs(src)
    build_small_tree(src)
    words = {}
    for board in ("esp32-4mb", "pico", "sim"):
        out = str(tmp_path / ("%s.sqfs" % board))
        assert cli.main(["mkimage", "-q", "--board", board, src, out]) == 0
        words[board] = set(w & fmt.METADATA_UNCOMPRESSED
                           for w in metadata_words(out))
    capfd.readouterr()
    assert words["esp32-4mb"] == words["pico"] == {
        fmt.METADATA_UNCOMPRESSED}, words
    assert 0 in words["sim"], words       # compressed (but the id table)
    spec = json.load(open(os.path.join(ROOT, "boards", "pico.json")))
    spec["lower_metadata"] = "zipped"
    odd = str(tmp_path / "odd.json")
    with open(odd, "w") as f:
        json.dump(spec, f)
    status = cli.main(["mkimage", "-q", "--board", odd, src,
                       str(tmp_path / "odd.sqfs")])
    err = capfd.readouterr().err
    assert status == 1 and err.count("\n") == 1, err
    assert "lower_metadata 'zipped' is not compressed or raw" in err, err
    assert not os.path.exists(str(tmp_path / "odd.sqfs"))


# The board job's lower reads (tests/scripts/lower_job_cost.py: the open,
# two listings, a file read whole, a miss), then the reader's modules
RARE_UNUSED = r"""
import sys
sys.path.insert(0, %(scripts)r)
from image_file_source import FileSource
from ovl.squashfs import SquashFS
fs = SquashFS(FileSource(sys.argv[-1]))
for d in ("/d00", "/d17"):
    for _name, _entry in fs.readdir(fs.lookup(d)):
        pass
e = fs.lookup("/d17/f1217.txt")
got = 0
while got < e.size:
    got += len(fs.read(e, got, 512))
try:
    fs.lookup("/d05/new.txt")
except OSError:
    pass
fs.identity()
print(got, sorted(m for m in sys.modules if "squashfs" in m))
"""


def test_board_job_reads_leave_the_rare_paths_unimported(fit_images, mpy):
    """With the metadata raw (the MCU boards' images) the job's lower
    reads never import ovl.squashfs_rare; compressed metadata imports it
    at the open (the root inode's block)."""
    got = {}
    for raw in (True, False):
        got[raw] = mpy(RARE_UNUSED % {"scripts": SCRIPTS},
                       args=[fit_images[raw]]).strip()
    size = got[True].split()[0]
    assert int(size) > 0, got
    assert got[True] == size + " ['ovl.squashfs']", got
    assert got[False] == size + " ['ovl.squashfs', 'ovl.squashfs_rare']", \
        got
