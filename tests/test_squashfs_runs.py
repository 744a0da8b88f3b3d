"""Reads that span many data blocks give the file's bytes on both runtimes.

On CPython the reader fetches back-to-back compressed blocks with one source
read (a "run", up to 256 KiB) and inflates slices of it; blocks stored raw,
sparse blocks and the block kept from the previous read break a run.  One
file mixes all of these over more than 256 KiB of compressed data and is
read whole, in 256 KiB steps and at odd offsets; a damaged block inside a
run must raise DecompressionError and leave later reads working.
"""

import hashlib
import json
import os
import random
import zlib

import pytest

from ovl import squashfs_format as F
from test_squashfs_interop import mksquashfs, open_image, write

BLOCK = 4096
# (offset, n) pairs: whole file, a read kept-block then a run over it,
# reads that start and end mid-block, a read past the end.
READS = [(0, None), (5000, 10), (4096, 300_000), (1, 4095 * 70),
         (700_000, 1 << 20), (-3, 100)]

SCRIPT = r"""
import json, hashlib, binascii
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS, DecompressionError
data = open(%(image)r, "rb").read()
fs = SquashFS(BytesSource(data))
e = fs.lookup("/mixed")
out = []
for off, n in %(reads)r:
    if off < 0:
        off = e.size + off
    if n is None:
        n = e.size
    out.append(binascii.hexlify(hashlib.sha256(fs.read(e, off, n)).digest()).decode())
steps = hashlib.sha256()
off = 0
while off < e.size:
    steps.update(fs.read(e, off, 1 << 18))
    off += 1 << 18
out.append(binascii.hexlify(steps.digest()).decode())
print(json.dumps(out))
"""

DAMAGED = r"""
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS, DecompressionError
data = open(%(image)r, "rb").read()
fs = SquashFS(BytesSource(data))
e = fs.lookup("/mixed")
try:
    fs.read(e, 0, e.size)
    print("no error")
except DecompressionError:
    print("DecompressionError")
print(fs.read(e, 0, 100) == %(head)r)
print(fs.read(e, %(after)d, 4096) == %(tail)r)
"""


def mixed_content(nblocks=400, seed=7):
    """Blocks cycling through: stored raw (random), sparse (zeros), and
    compressible text of random words (about a third of its size)."""
    rnd = random.Random(seed)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"flash", b"overlay",
             b"squash", b"block", b"run", b"inode"]
    out = []
    for i in range(nblocks):
        kind = i % 5
        if kind == 0:
            out.append(rnd.randbytes(BLOCK))
        elif kind == 1:
            out.append(bytes(BLOCK))
        else:
            text = b" ".join(rnd.choice(words) + b"%d" % rnd.randrange(1000)
                             for _ in range(800))
            out.append(text[:BLOCK])
    out.append(b"tail in a fragment")
    return b"".join(out)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    root = base / "src"
    os.makedirs(root)
    content = mixed_content()
    write(str(root / "mixed"), content)
    path = str(base / "img.sqfs")
    data = mksquashfs(str(root), path, "-b", str(BLOCK))
    return path, data, content


def expected_hashes(content):
    out = []
    for off, n in READS:
        if off < 0:
            off = len(content) + off
        if n is None:
            n = len(content)
        out.append(hashlib.sha256(content[off:off + n]).hexdigest())
    out.append(hashlib.sha256(content).hexdigest())
    return out


def test_image_has_long_runs_and_breaks(image):
    # The file must exercise what it claims: >256 KiB compressed, raw and
    # sparse blocks between compressed ones.
    _, data, _ = image
    fs = open_image(data)
    f = fs.lookup("/mixed").loc
    words = fs._block_words(f, 0, f.nblocks)
    compressed = [w for w in words if w and w < F.DATA_UNCOMPRESSED]
    assert sum(compressed) > 1 << 18
    assert any(w & F.DATA_UNCOMPRESSED for w in words)
    assert words.count(0) >= 50


def test_multi_block_reads(image, runtime):
    path, _, content = image
    got = json.loads(runtime(SCRIPT % {"image": path, "reads": READS},
                             heap="32m")
                     .strip().splitlines()[-1])
    assert got == expected_hashes(content)


def test_damaged_block_inside_a_run(image, runtime, tmp_path):
    _, data, content = image
    fs = open_image(data)
    f = fs.lookup("/mixed").loc
    words = fs._block_words(f, 0, f.nblocks)
    # The 13th block is compressed text with compressed neighbours.
    assert 0 < words[12] < F.DATA_UNCOMPRESSED
    assert 0 < words[13] < F.DATA_UNCOMPRESSED
    pos = f.start + sum(w & F.DATA_SIZE_MASK for w in words[:12])
    bad = bytearray(data)
    bad[pos:pos + 2] = b"\x00\x00"        # not a zlib header
    damaged = str(tmp_path / "bad.sqfs")
    write(damaged, bytes(bad))
    after = 40 * BLOCK
    out = runtime(DAMAGED % {"image": damaged, "head": content[:100],
                             "after": after,
                             "tail": content[after:after + BLOCK]},
                  heap="32m")
    assert out.split() == ["DecompressionError", "True", "True"]


FRAGMENTS = r"""
from ovl.flash import BytesSource
from ovl.paths import is_reg
from ovl.squashfs import SquashFS
from ovl import squashfs_walk
fs = SquashFS(BytesSource(open(%(image)r, "rb").read()))
inflated = []
decompress = getattr(fs, "_inflate", None)   # CPython's decompressor
def counting(raw, limit):
    inflated.append(limit)
    return decompress(raw, limit)
fs._inflate = counting
from ovl import compat
if hasattr(compat, "inflate_stream"):
    # MicroPython: a data or fragment block is inflated as a stream from
    # flash, kept while reads continue it
    inflate_stream = compat.inflate_stream
    def counting_stream(read, pos, size, wbits):
        inflated.append(fs.block_size)
        return inflate_stream(read, pos, size, wbits)
    compat.inflate_stream = counting_stream
most = 0
for path, e in squashfs_walk.walk(fs, "/"):
    if is_reg(e.mode):
        data = fs.read(e, 0, e.size)
        assert data == (b"%%s\n" %% path.encode()) * 300 or \
            (path in ("/a_first", "/z_same") and data == b"same tail\n" * 50)
        # (MicroPython keeps no fragment cache: one block of either kind)
        most = max(most, len(getattr(fs, "_frags", ())))
print(len([n for n in inflated if n == fs.block_size]), most,
      getattr(fs, "_frag_limit", 0))
"""


def test_shared_fragment_kept_on_cpython(tmp_path, runtime):
    # a_first and z_same have equal contents, so mksquashfs stores one tail
    # in one fragment block; 40 files between them fill other fragments.
    root = tmp_path / "src"
    os.makedirs(root)
    write(str(root / "a_first"), b"same tail\n" * 50)
    write(str(root / "z_same"), b"same tail\n" * 50)
    for i in range(40):
        path = "/m%02d" % i
        write(str(root) + path, (path.encode() + b"\n") * 300)
    image = str(tmp_path / "img.sqfs")
    fs = open_image(mksquashfs(str(root), image, "-b", str(BLOCK)))
    frags = set(fs._fragment(fs.lookup(p).loc.fragment)[0]
                for p in ["/a_first", "/z_same"] + ["/m%02d" % i
                                                    for i in range(40)])
    assert fs.lookup("/a_first").loc.fragment == \
        fs.lookup("/z_same").loc.fragment
    assert len(frags) > 2
    inflates, most, limit = map(int, runtime(FRAGMENTS % {"image": image})
                                .split())
    assert most <= limit
    if runtime.name == "micropython":
        # No fragment cache: a fragment block's stream goes once a file is
        # read to its end (its decoder and window would stay pinned
        # otherwise), so each of the 42 files inflates its fragment block.
        assert most == 0 and inflates == 42
    else:
        assert limit == (1 << 19) // BLOCK and inflates == len(frags)


# A stretch of compressed blocks only, ending in a short block (no
# fragments): whole reads take the one-run path, and its length check must
# accept the short last block and refuse a short one anywhere else.
STRETCH = r"""
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS, OutOfRangeError
import hashlib, binascii
fs = SquashFS(BytesSource(open(%(image)r, "rb").read()))
e = fs.lookup("/stretch")
def digest(b):
    return binascii.hexlify(hashlib.sha256(b).digest()).decode()
for off, n in [(0, e.size), (0, 1 << 18), (1 << 18, 1 << 18), (4095, 9000),
               (e.size - 5000, 1 << 18)]:
    try:
        print(digest(fs.read(e, off, n)))
    except OutOfRangeError:
        print("OutOfRangeError")
"""


def stretch_image(tmp_path, short_block=None):
    """(image path, content) of one 100.5-block text file, without
    fragments; short_block: index of a block replaced by a valid stream of
    100 bytes (padded to the block's stored size)."""
    rnd = random.Random(3)
    words = [b"north", b"south", b"east", b"west", b"up", b"down"]
    content = b" ".join(rnd.choice(words) + b"%d" % rnd.randrange(10000)
                        for _ in range(60000))[:BLOCK * 100 + 2048]
    root = tmp_path / "src"
    os.makedirs(root, exist_ok=True)
    write(str(root / "stretch"), content)
    path = str(tmp_path / "stretch.sqfs")
    data = mksquashfs(str(root), path, "-b", str(BLOCK), "-no-fragments")
    if short_block is not None:
        fs = open_image(data)
        f = fs.lookup("/stretch").loc
        words = fs._block_words(f, 0, f.nblocks)
        pos = f.start + sum(words[:short_block])
        stream = zlib.compress(b"x" * 100)
        assert len(stream) < words[short_block]
        bad = bytearray(data)
        bad[pos:pos + len(stream)] = stream      # the rest: ignored trailer
        write(path, bytes(bad))
    return path, content


def stretch_expected(content, bad_block=None):
    out = []
    size = len(content)
    for off, n in [(0, size), (0, 1 << 18), (1 << 18, 1 << 18), (4095, 9000),
                   (size - 5000, 1 << 18)]:
        first, last = off // BLOCK, (min(off + n, size) - 1) // BLOCK
        if bad_block is not None and first <= bad_block <= last:
            out.append("OutOfRangeError")
        else:
            out.append(hashlib.sha256(content[off:off + n]).hexdigest())
    return out


def test_one_run_with_a_short_last_block(tmp_path, runtime):
    path, content = stretch_image(tmp_path)
    fs = open_image(open(path, "rb").read())
    f = fs.lookup("/stretch").loc
    words = fs._block_words(f, 0, f.nblocks)
    # All compressed, under 256 KiB in all: a whole read is one run.
    assert f.fragment == F.FRAGMENT_NONE and f.nblocks == 101
    assert all(0 < w < BLOCK for w in words) and sum(words) < 1 << 18
    got = runtime(STRETCH % {"image": path}, heap="32m").split()
    assert got == stretch_expected(content)


@pytest.mark.parametrize("bad_block", [0, 37, 99])
def test_short_block_inside_a_run(tmp_path, runtime, bad_block):
    path, content = stretch_image(tmp_path, bad_block)
    got = runtime(STRETCH % {"image": path}, heap="32m").split()
    assert got == stretch_expected(content, bad_block)


INFLATE_RUN = r"""
from ovl import compat
buf = open(%(buf)r, "rb").read()
plain = open(%(plain)r, "rb").read()
outs = compat.inflate_run(buf, %(sizes)r, 4096, 12)
print(b"".join(outs) == plain, [len(o) for o in outs] == %(lengths)r)
print(compat.inflate_run(buf, [], 4096, 12) == [])
for cut, sizes in %(errors)r:
    try:
        compat.inflate_run(cut, sizes, 4096, 12)
        print("no-error")
    except ValueError as e:
        print("exceeds" in str(e))
"""


def test_inflate_run(tmp_path, cpy):
    # compat.inflate_run, as the reader calls it for a run of 4 KiB blocks
    # (CPython only: MicroPython's reader inflates into kept buffers with
    # squashfs_rare.inflate_into, test_squashfs_heap): the outputs in order; a stream
    # inflating past the limit, or a damaged one, raises ValueError.  One
    # incompressible block makes a stream over 4 KiB (CPython inflates
    # those with an output-bounded decompressor).
    rnd = random.Random(5)
    plain = [bytes(rnd.choice(b"abc ") for _ in range(rnd.randrange(1, 4097)))
             for _ in range(30)]
    plain[20] = rnd.randbytes(4096)
    streams = [zlib.compress(p) for p in plain]
    assert len(streams[20]) > 4096 > max(len(s) for s in streams[:20])
    small_bomb = zlib.compress(bytes(8192))
    big_bomb = zlib.compress(rnd.randbytes(5000))
    bad = bytearray(streams[1])
    bad[-3] ^= 0xFF                     # in the Adler-32 trailer
    errors = [(streams[0] + tail, [len(streams[0]), len(tail)])
              for tail in (small_bomb, big_bomb, bytes(bad))]
    write(str(tmp_path / "buf"), b"".join(streams))
    for name, count in (("all", 30), ("small", 20)):
        write(str(tmp_path / name), b"".join(plain[:count]))
        out = cpy(INFLATE_RUN % {
            "buf": str(tmp_path / "buf"), "plain": str(tmp_path / name),
            "sizes": [len(s) for s in streams[:count]],
            "lengths": [len(p) for p in plain[:count]],
            "errors": errors}, heap="32m")
        assert out.split() == ["True", "True", "True", "True", "True",
                               "False"], name


def test_cpython_side_imports_on_its_own(tmp_path):
    # ovl.squashfs loads ovl.squashfs_cpython as it loads; importing the
    # latter first must work too (it takes the reader's errors lazily),
    # and a reader opened then reads through its methods
    import subprocess
    import sys
    from host_tools.image.mkimage import build_image
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_bytes(b"x" * 9000)
    build_image(str(tmp_path / "t"), str(tmp_path / "i.sqfs"),
                block_size=4096, mtime=1)
    firmware = os.path.join(os.path.dirname(__file__), "..", "firmware")
    proc = subprocess.run(
        [sys.executable, "-c", "import ovl.squashfs_cpython as c; "
         "import ovl.squashfs as s; from ovl import flash; "
         "fs = s.SquashFS(flash.BytesSource(open(%r, 'rb').read())); "
         "print(s.SquashFS._read_blocks is c._read_blocks, "
         "fs.read(fs.lookup('/f'), 0, 9000) == b'x' * 9000)"
         % str(tmp_path / "i.sqfs")],
        capture_output=True, text=True, cwd=firmware)
    assert proc.stdout.split() == ["True", "True"], proc.stderr
