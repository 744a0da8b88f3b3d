"""Damaged and hostile images: each gives its own CorruptImageError subclass.

Hostile images are made by patching real mksquashfs images.  Images built
with -noI keep inodes and listings uncompressed, so a field can be changed
in place at the position the reader itself reports.  The fuzz test applies
thousands of seeded mutations and accepts only the documented errors.
"""

import errno
import json
import os
import random
import struct
import time
import zlib

import pytest

from ovl import squashfs
from ovl import squashfs_walk
from ovl import squashfs_format as F
from ovl.paths import S_IFMT, S_IFREG, S_IFLNK
from ovl.flash import BytesSource
from test_squashfs_interop import build_small_tree, mksquashfs, write


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    base = tmp_path_factory.mktemp("corrupt")
    root = str(base / "src")
    os.makedirs(root)
    build_small_tree(root)
    write(os.path.join(root, "raw4k"), random.Random(5).randbytes(4096))
    gzip = mksquashfs(root, str(base / "gzip.img"), "-b", "4096",
                      "-no-xattrs")
    noi = mksquashfs(root, str(base / "noi.img"), "-b", "4096", "-noI",
                     "-no-xattrs")
    plain = mksquashfs(root, str(base / "plain.img"), "-b", "4096", "-noI",
                       "-noD", "-noF", "-no-xattrs")
    return {"gzip": gzip, "noi": noi, "plain": plain, "dir": str(base)}


def open_fs(data):
    return squashfs.SquashFS(BytesSource(bytes(data)))


def read_everything(fs, limit=1 << 20):
    """Walk, stat, read and readlink all of an image (bounded per file)."""
    count = 0
    for path, e in squashfs_walk.walk(fs, "/"):
        count += 1
        kind = e.mode & S_IFMT
        if kind == S_IFREG:
            off = 0
            while off < min(e.size, limit):
                off += max(1, len(fs.read(e, off, 65536)))
        elif kind == S_IFLNK:
            fs.readlink(e)
        fs.lookup(path)
        if count > 5000:
            break
    return count


def inode_pos(fs, path):
    """Absolute position of an inode in an uncompressed (-noI) image."""
    ref = fs.lookup(path).loc.ref
    block, off = ref >> 16, ref & 0xFFFF
    pos = fs.inode_table_start + block
    assert F.split_metadata_header(
        struct.unpack_from("<H", fs.source.read(pos, 2))[0])[1] is False
    return pos + 2 + off


def dir_entry_pos(data, fs, name):
    """Position of the 8-byte dir entry before `name` in a -noI image."""
    raw = name.encode()
    pos = data.find(raw, fs.directory_table_start)
    assert pos > 0 and data.find(raw, pos + 1) == -1
    entry = pos - F.DIR_ENTRY_SIZE
    assert struct.unpack_from("<H", data, entry + 6)[0] == len(raw) - 1
    return entry


def expect(data, error, everything=True):
    with pytest.raises(error) as info:
        fs = open_fs(data)
        if everything:
            read_everything(fs)
    assert str(info.value)          # a message naming the cause
    return info.value


def test_pristine_images_read_fully(images):
    for key in ("gzip", "noi", "plain"):
        assert read_everything(open_fs(images[key])) > 40


def test_wrong_magic(images):
    data = bytearray(images["gzip"])
    data[0:4] = b"hsqt"
    expect(data, squashfs.BadMagicError, False)
    expect(b"\0" * 4096, squashfs.BadMagicError, False)


def test_truncated(images):
    data = images["gzip"]
    expect(data[:50], squashfs.TruncatedImageError, False)
    expect(data[:len(data) // 2], squashfs.TruncatedImageError, False)


@pytest.mark.parametrize("field,value", [
    ("s_major", 3), ("block_log", 13), ("block_size", 3000),
    ("inode_table_start", 1 << 40), ("directory_table_start", 10),
    ("compression", 99), ("root_inode", 0xFFFF << 16), ("no_ids", 0),
    ("id_table_start", 1 << 40), ("bytes_used", 20),
])
def test_impossible_superblock(images, field, value):
    sb = F.decode(F.SUPERBLOCK, images["gzip"])
    sb[field] = value
    data = F.encode(F.SUPERBLOCK, sb) + images["gzip"][F.SUPERBLOCK_SIZE:]
    expect(data, squashfs.BadSuperblockError, False)


def test_bytes_used_beyond_source_is_truncation(images):
    sb = F.decode(F.SUPERBLOCK, images["gzip"])
    sb["bytes_used"] = len(images["gzip"]) + 1
    data = F.encode(F.SUPERBLOCK, sb) + images["gzip"][F.SUPERBLOCK_SIZE:]
    expect(data, squashfs.TruncatedImageError, False)


@pytest.mark.parametrize("word", [0x7FFF, 0x0000, 0x8000, 0xA001])
def test_corrupt_metadata_header(images, word):
    data = bytearray(images["gzip"])
    itab = F.decode(F.SUPERBLOCK, data)["inode_table_start"]
    struct.pack_into("<H", data, itab, word)
    expect(data, (squashfs.MetadataHeaderError, squashfs.DecompressionError,
                  squashfs.BadInodeError))
    if word in (0x7FFF, 0x0000, 0x8000):
        expect(data, squashfs.MetadataHeaderError)


def test_garbage_in_compressed_metadata(images):
    data = bytearray(images["gzip"])
    itab = F.decode(F.SUPERBLOCK, data)["inode_table_start"]
    data[itab + 4:itab + 12] = b"\xde\xad\xbe\xef" * 2
    expect(data, squashfs.DecompressionError)


def test_file_block_outside_image(images):
    data = bytearray(images["noi"])
    fs = open_fs(data)
    pos = inode_pos(fs, "/random")
    struct.pack_into("<I", data, pos + 16, len(data) + 4096)   # start_block
    with pytest.raises(squashfs.OutOfRangeError):
        fs2 = open_fs(data)
        fs2.read(fs2.lookup("/random"), 0, 100)


def test_fragment_index_out_of_range(images):
    data = bytearray(images["noi"])
    fs = open_fs(data)
    assert fs.lookup("/dir/sub/tiny").loc.fragment != F.FRAGMENT_NONE
    pos = inode_pos(fs, "/dir/sub/tiny")
    assert struct.unpack_from("<H", data, pos)[0] == F.REG_TYPE
    struct.pack_into("<I", data, pos + 20, 5000)               # fragment
    fs = open_fs(data)
    with pytest.raises(squashfs.OutOfRangeError):
        fs.read(fs.lookup("/dir/sub/tiny"), 0, 5)


def test_unknown_inode_type(images):
    data = bytearray(images["noi"])
    pos = inode_pos(open_fs(data), "/hello")
    struct.pack_into("<H", data, pos, 99)
    expect(data, squashfs.BadInodeError)


def listing_pos(fs, path):
    """Position of a directory's first run header in a -noI image."""
    loc = fs.lookup(path).loc
    return fs.directory_table_start + loc.start_block + 2 + loc.offset


def test_directory_run_too_long(images):
    data = bytearray(images["noi"])
    header = listing_pos(open_fs(data), "/dir")
    assert struct.unpack_from("<I", data, header)[0] < 256
    struct.pack_into("<I", data, header, 400)
    expect(data, squashfs.BadDirectoryError)


def test_directory_listing_overruns(images):
    data = bytearray(images["noi"])
    header = listing_pos(open_fs(data), "/dir")
    struct.pack_into("<H", data, header + 12 + 6, 255)    # first name size
    expect(data, squashfs.BadDirectoryError)


def test_path_traversal_name_rejected(images):
    data = bytearray(images["noi"])
    entry = dir_entry_pos(data, open_fs(data), "sub")
    data[entry + 8:entry + 11] = b"../"
    expect(data, squashfs.BadDirectoryError)


def patch_entry_to(data, fs, name, target_path):
    """Point the dir entry `name` at the inode of target_path."""
    target = fs.lookup(target_path)
    entry = dir_entry_pos(data, fs, name)
    current = [e for p, e in squashfs_walk.walk(fs, "/") if p.endswith("/" + name)][0]
    # The entry stores its inode number as a delta from the run's base.
    delta = struct.unpack_from("<h", data, entry + 2)[0]
    base = current.ino - delta
    ref = target.loc.ref
    assert ref >> 16 == current.loc.ref >> 16      # same metadata block
    struct.pack_into("<Hh", data, entry, ref & 0xFFFF, target.ino - base)


@pytest.mark.parametrize("target,words", [("/dir", "itself"),
                                          ("/", "ancestor")])
def test_directory_loop(images, target, words):
    data = bytearray(images["noi"])
    patch_entry_to(data, open_fs(data), "sub", target)
    err = expect(data, squashfs.DirectoryLoopError)
    assert words in str(err)


def test_decompression_bomb(images):
    data = bytearray(images["noi"])
    fs = open_fs(data)
    entry = fs.lookup("/raw4k")
    loc = entry.loc
    assert loc.nblocks == 1
    word_pos = loc.pos + 2 + loc.off
    word = struct.unpack_from("<I", data, word_pos)[0]
    assert word == F.block_word(4096, False)          # stored raw
    bomb = zlib.compress(b"\0" * 1_000_000, 9)
    data[loc.start:loc.start + 4096] = bomb + b"\0" * (4096 - len(bomb))
    struct.pack_into("<I", data, word_pos, F.block_word(4096, True))
    fs = open_fs(data)
    with pytest.raises(squashfs.DecompressionBombError):
        fs.read(fs.lookup("/raw4k"), 0, 10)


def test_corrupt_data_block(images):
    data = bytearray(images["gzip"])
    fs = open_fs(data)
    e = fs.lookup("/dir/text")
    assert e.loc.nblocks >= 1
    data[e.loc.start + 3:e.loc.start + 40] = b"\x55" * 37
    fs = open_fs(data)
    with pytest.raises(squashfs.DecompressionError):
        fs.read(fs.lookup("/dir/text"), 0, 10)


HOSTILE_SCRIPT = r"""
from ovl.flash import BytesSource
from ovl import squashfs
from ovl import squashfs_walk
from ovl.paths import is_reg
import json
out = []
for path in %r:
    try:
        fs = squashfs.SquashFS(BytesSource(open(path, "rb").read()))
        for p, e in squashfs_walk.walk(fs, "/"):
            if is_reg(e.mode):
                fs.read(e, 0, e.size)
        out.append("ok")
    except squashfs.CorruptImageError as e:
        out.append(type(e).__name__)
print(json.dumps(out))
"""


def test_hostile_images_on_both_runtimes(images, runtime):
    """The same hostile images give the same error classes on MicroPython."""
    cases = []
    data = bytearray(images["gzip"])
    data[0] ^= 1
    cases.append(bytes(data))
    cases.append(images["gzip"][:300])
    data = bytearray(images["noi"])
    pos = inode_pos(open_fs(data), "/hello")
    struct.pack_into("<H", data, pos, 77)
    cases.append(bytes(data))
    data = bytearray(images["noi"])
    patch_entry_to(data, open_fs(data), "sub", "/dir")
    cases.append(bytes(data))
    data = bytearray(images["gzip"])
    itab = F.decode(F.SUPERBLOCK, data)["inode_table_start"]
    struct.pack_into("<H", data, itab, 0x7FFF)
    cases.append(bytes(data))
    paths = []
    for i, case in enumerate(cases):
        path = os.path.join(images["dir"], "hostile%d.img" % i)
        with open(path, "wb") as f:
            f.write(case)
        paths.append(path)
    got = json.loads(runtime(HOSTILE_SCRIPT % paths).strip().splitlines()[-1])
    assert got == ["BadMagicError", "TruncatedImageError", "BadInodeError",
                   "DirectoryLoopError", "MetadataHeaderError"]


INTERESTING = (0, 1, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 8192, 0xFFFFFFFF,
               0x1000000, 0x7FFFFFFF)


def mutate(rnd, data, sb):
    data = bytearray(data)
    used = sb["bytes_used"]
    meta = sb["inode_table_start"]
    how = rnd.random()
    if how < 0.08:
        return data[:rnd.randrange(len(data))], "truncate"
    for _ in range(rnd.randint(1, 4)):
        r = rnd.random()
        if r < 0.1:
            pos = rnd.randrange(F.SUPERBLOCK_SIZE)
        elif r < 0.85:
            pos = rnd.randrange(meta, used)
        else:
            pos = rnd.randrange(used)
        if how < 0.6:
            data[pos] ^= 1 << rnd.randrange(8)
        elif how < 0.8:
            data[pos] = rnd.randrange(256)
        else:
            value = rnd.choice(INTERESTING)
            width = rnd.choice((2, 4))
            if pos + width <= len(data):
                data[pos:pos + width] = (value & ((1 << 8 * width) - 1)
                                         ).to_bytes(width, "little")
    return data, "mutate"


@pytest.mark.slow
def test_seeded_mutation_fuzz(images):
    """Thousands of mutants: only documented errors, none slow or unbounded."""
    rnd = random.Random(20240611)
    outcomes = {}
    budget_per_image = 2000
    worst = 0.0
    for key in ("gzip", "noi", "plain"):
        original = images[key]
        sb = F.decode(F.SUPERBLOCK, original)
        for i in range(budget_per_image):
            data, how = mutate(rnd, original, sb)
            start = time.perf_counter()
            try:
                fs = open_fs(data)
                fs.identity()           # what a mount reads first
                read_everything(fs)
                outcome = "ok"
            except squashfs.CorruptImageError as e:
                outcome = type(e).__name__
            except squashfs.UnsupportedCompressorError:
                outcome = "unsupported"
            except OSError as e:
                # A damaged listing can make a path vanish or change type.
                assert e.errno in (errno.ENOENT, errno.ENOTDIR, errno.EINVAL,
                                   errno.EISDIR), (key, i, e)
                outcome = "oserror"
            except Exception as e:  # anything else is a reader bug
                pytest.fail("%s mutant %d (%s): %r" % (key, i, how, e))
            worst = max(worst, time.perf_counter() - start)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print("fuzz outcomes:", sorted(outcomes.items()), "slowest %.3fs" % worst)
    kinds = set(outcomes) - {"ok", "oserror", "unsupported"}
    assert len(kinds) >= 7, outcomes      # the causes really are told apart
    assert sum(outcomes.values()) == 3 * budget_per_image
