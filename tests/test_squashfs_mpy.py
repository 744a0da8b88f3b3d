"""The reader under real MicroPython gives what CPython (and the source) give.

A script walks a mksquashfs image, hashes every file read in small chunks,
and prints one JSON line per entry; both runtimes must print the same lines,
and those must match the source tree.
"""

import json
import os

import pytest

from test_squashfs_interop import (build_small_tree, mksquashfs, settle_times,
                                   source_view, write)

WALK = r"""
import json, hashlib, binascii
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
f = open(%r, "rb")
fs = SquashFS(BytesSource(f), cache_blocks=%d)
for path, e in fs.walk("/"):
    kind = e.mode & 0o170000
    payload = None
    size = e.size
    if kind == 0o100000:
        h = hashlib.sha256()
        off = 0
        while off < e.size:
            h.update(fs.read(e, off, 1000))
            off += 1000
        payload = binascii.hexlify(h.digest()).decode()
    elif kind == 0o120000:
        payload = fs.readlink(e)
    elif kind == 0o040000:
        size = None
    print(json.dumps([path, e.mode, e.uid, e.gid, e.mtime, size, e.nlink,
                      e.rdev, payload]))
print(json.dumps(["identity", fs.identity()]))
"""


def walk_lines(run, image, cache_blocks=2, heap=None):
    out = run(WALK % (image, cache_blocks), heap=heap)
    return [json.loads(line) for line in out.strip().splitlines()]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("mpy")
    root = str(base / "src")
    os.makedirs(root)
    build_small_tree(root)
    write(os.path.join(root, "dir", "multi"), os.urandom(70_000))
    settle_times(root)
    return str(base), root


@pytest.mark.parametrize("options", [
    ("-b", "4096"), ("-b", "128K"), ("-b", "4096", "-noI", "-noD", "-noF"),
    ("-b", "4096", "-no-fragments"),
], ids=["4k", "128k", "uncompressed", "no_fragments"])
def test_micropython_reads_like_cpython(tree, mpy, cpy, options):
    base, root = tree
    image = os.path.join(base, "img-%s.sqfs" % "_".join(options))
    mksquashfs(root, image, *options)
    on_mpy = walk_lines(mpy, image)
    on_cpy = walk_lines(cpy, image)
    assert on_mpy == on_cpy
    expected = source_view(root)
    got = dict((row[0], tuple(row[1:])) for row in on_mpy[:-1])
    assert sorted(got) == sorted(expected)
    for path in expected:
        assert got[path] == expected[path], path


def test_micropython_names_unsupported_compressor(tree, mpy):
    base, root = tree
    image = os.path.join(base, "img-xz.sqfs")
    mksquashfs(root, image, "-comp", "xz")
    out = mpy("""
from ovl.flash import BytesSource
from ovl import squashfs
try:
    squashfs.SquashFS(BytesSource(open(%r, "rb")))
except squashfs.UnsupportedCompressorError as e:
    print("unsupported:", e)
""" % image)
    assert out.startswith("unsupported:") and "xz" in out and "MicroPython" in out
