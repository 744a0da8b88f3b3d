"""What moved off the mount path's import heap in the reader's, flash's and
compat's third round (docs/FIT.md, "The reader's and shared modules'
import heap, third round") still works, on both runtimes, and is still
left out of a board's imports until it is needed.
"""

import os

from ovl import flash, squashfs, squashfs_errors
from host_tools.image import mkimage

HERE = os.path.dirname(os.path.abspath(__file__))


def test_inflate_error_rows_are_the_readers_consts():
    # squashfs_errors.inflate_error picks FAILURES' rows by consts of its
    # own: they must be the reader's
    assert squashfs_errors._E_INFLATES_TOO_FAR == \
        squashfs._E_INFLATES_TOO_FAR
    assert squashfs_errors._E_BAD_STREAM == squashfs._E_BAD_STREAM


def test_inflate_error_names_the_failure():
    bomb = squashfs_errors.inflate_error(
        ValueError("inflated data exceeds 4096 bytes"), 4096, "gzip")
    assert type(bomb) is squashfs_errors.DecompressionBombError
    assert str(bomb) == "block inflates beyond 4096 bytes"
    bad = squashfs_errors.inflate_error(ValueError("bad zlib stream: x"),
                                        4096, "gzip")
    assert type(bad) is squashfs_errors.DecompressionError
    assert str(bad) == "gzip block: bad zlib stream: x"


DAMAGED = r"""
import sys
sys.path.insert(0, %(scripts)r)
from image_file_source import FileSource
from ovl import flash
from ovl.squashfs import SquashFS
out = {}
fs = SquashFS(FileSource(sys.argv[-1]))
out["good"] = len(fs.read(fs.lookup("/good.txt"), 0, 10000))
out["rare modules before"] = sorted(
    m for m in ("ovl.squashfs_errors", "ovl.squashfs_rare", "ovl.flash_rare",
                "ovl.flash_host") if m in sys.modules)
e = fs.lookup("/bad.txt")
try:
    fs.read(e, 0, e.size)
    out["bad"] = "read"
except Exception as x:
    out["bad"] = [type(x).__name__, str(x).split(":")[0]]
try:
    flash.NoSuchName
    out["unknown flash name"] = "found"
except AttributeError:
    out["unknown flash name"] = "AttributeError"
out["host source"] = [flash.BytesSource(b"abc").read(1, 2).decode(),
                      "ovl.flash_host" in sys.modules]
print(out)
"""


def damaged_image(tmp_path):
    """An image of two files of a compressed data block each (no fragments:
    5,000 bytes with a 4 KiB block, the tail stored apart), the second's
    first block overwritten in the middle so that it does not inflate."""
    root = tmp_path / "src"
    root.mkdir()
    text = b"".join(b"line %d of a compressible file\n" % i
                    for i in range(200))
    (root / "good.txt").write_bytes(text[:5000])
    (root / "bad.txt").write_bytes(text[-5000:])     # (not the same block)
    image = str(tmp_path / "img.sqfs")
    mkimage.build_image(str(root), image, block_size=4096, mtime=1700000000,
                        all_root=True, raw_metadata=True)
    data = bytearray(open(image, "rb").read())
    fs = squashfs.SquashFS(flash.BytesSource(bytes(data)))
    loc = fs.lookup("/bad.txt").loc
    word = fs._block_words(loc, 0, 1)[0]
    start = loc.start
    stored = word & 0xFFFFFF
    assert not word & 0x1000000 and stored > 40, word
    data[start + 10:start + 30] = b"\xff" * 20
    open(image, "wb").write(bytes(data))
    return image


def test_a_damaged_block_is_named_through_the_moved_error(runtime, tmp_path):
    image = damaged_image(tmp_path)
    out = runtime(DAMAGED % {"scripts": os.path.join(HERE, "scripts")},
                  args=[image])
    got = eval(out.strip().splitlines()[-1])
    assert got["good"] == 5000
    if runtime.name == "micropython":
        # a sound read imports none of them (CPython's reader loads its
        # own parts: not counted there)
        assert got["rare modules before"] == []
    assert got["bad"] == ["DecompressionError", "gzip block"], got
    assert got["unknown flash name"] == "AttributeError"
    assert got["host source"] == ["bc", True]


def _image(tmp_path, files):
    root = tmp_path / "tree"
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    image = str(tmp_path / "img.sqfs")
    mkimage.build_image(str(root), image, block_size=4096, mtime=1700000000,
                        all_root=True)
    with open(image, "rb") as f:
        return flash.BytesSource(f.read())


RELOADED = r"""
import importlib, sys
import ovl.squashfs
from ovl import flash
fresh = importlib.reload(ovl.squashfs)
fs = fresh.SquashFS(flash.BytesSource(open(sys.argv[1], "rb").read()))
data = bytes(range(256)) * 64
print("_load_block" in fresh.SquashFS.__dict__,
      fresh.SquashFS._read_blocks.__module__,
      fs.read(fs.lookup("/big"), 0, len(data)) == data)
"""


def test_a_reloaded_reader_gets_cpythons_methods(tmp_path):
    # squashfs_cpython's methods reach the reader's class at open, so a
    # class made again (a reload of ovl.squashfs, in a process of its own)
    # reads runs of blocks as before
    import subprocess
    import sys
    data = bytes(range(256)) * 64          # 16 KiB: four 4 KiB blocks
    _image(tmp_path, {"big": data})
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "firmware"))
    out = subprocess.run([sys.executable, "-c", RELOADED,
                          str(tmp_path / "img.sqfs")], capture_output=True,
                         text=True, env=env, check=True).stdout
    assert out.split() == ["True", "ovl.squashfs_cpython", "True"]


def test_a_name_no_utf8_can_spell_is_absent(tmp_path):
    # a lone surrogate outside U+DC80-DCFF encodes to nothing: ENOENT, as
    # any other name the image does not hold (not UnicodeEncodeError)
    import errno
    import pytest
    fs = squashfs.SquashFS(_image(tmp_path, {"a": b"x"}))
    with pytest.raises(OSError) as e:
        fs.lookup("/\ud800")
    assert e.value.errno == errno.ENOENT
