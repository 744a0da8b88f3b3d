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

def walk_lines(run, image, cache_blocks=1, heap=None):
    """The lines of tests/scripts/squashfs_walk.py, parsed."""
    out = run.run_file("squashfs_walk.py", args=[image, str(cache_blocks)],
                       heap=heap)
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
    lines = walk_lines(mpy, image)
    assert len(lines) == 1 and lines[0][0] == "unsupported", lines
    message = lines[0][1]
    assert "xz" in message and "MicroPython" in message, message
