"""Listings read through one cached metadata block (MicroPython's default).

The reader parses a listing from a window of its bytes (on MicroPython a
copy of at most 1 KiB out of the one kept metadata block), so that reading
each child's inode between entries, which takes that block over, does not
make the listing inflate its block again per entry.  These tests check
that listings of every shape read right through windows and block
boundaries on both runtimes, and what a listing and a walk cost in
metadata blocks inflated (docs/FIT.md, "One metadata block").
"""

import json
import os
import random

import pytest

from host_tools.bench.fit import make_lower_tree
from host_tools.image import mkimage
from test_squashfs_interop import mksquashfs, settle_times, source_view, write
from test_squashfs_mpy import walk_lines


def build_wide_tree(root, seed=7):
    """Directories whose listings span several metadata blocks, with names
    of every length up to the longest (255 bytes), so entries and names
    cross windows and block boundaries at many offsets."""
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_-."
    wide = os.path.join(root, "wide")
    os.makedirs(os.path.join(wide, "sub"))
    names = set()
    while len(names) < 600:
        n = rnd.choice((1, 2, 5, 9, 17, 40, 100, 200, 254, 255)) \
            if rnd.random() < 0.3 else rnd.randint(1, 255)
        name = "".join(rnd.choice(alphabet) for _ in range(n))
        if name not in (".", ".."):
            names.add(name)
    for i, name in enumerate(sorted(names)):
        write(os.path.join(wide, name), b"%d\n" % i * (i % 5))
    many = os.path.join(root, "many")
    os.makedirs(many)
    for i in range(1500):
        write(os.path.join(many, "entry-%05d" % i), b"")
    write(os.path.join(wide, "sub", "leaf"), b"leaf\n")
    settle_times(root)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    base = tmp_path_factory.mktemp("listing")
    root = str(base / "src")
    build_wide_tree(root)
    out = {"root": root}
    path = str(base / "ovl.sqfs")
    mkimage.build_image(root, path, block_size=4096)
    out["ovl"] = path
    # mksquashfs writes extended directories with an index of their runs
    path = str(base / "mksquashfs.sqfs")
    mksquashfs(root, path, "-b", "4096")
    out["mksquashfs"] = path
    return out


@pytest.mark.parametrize("builder", ["ovl", "mksquashfs"])
def test_wide_listings_read_alike_with_one_block(images, mpy, cpy, builder):
    image = images[builder]
    on_mpy = walk_lines(mpy, image, cache_blocks=1)
    assert on_mpy == walk_lines(cpy, image, cache_blocks=1)
    assert on_mpy == walk_lines(cpy, image, cache_blocks=16)
    expected = source_view(images["root"])
    got = dict((row[0], tuple(row[1:])) for row in on_mpy[:-1])
    assert sorted(got) == sorted(expected)
    for path in expected:
        assert got[path] == expected[path], path


@pytest.mark.parametrize("builder", ["ovl", "mksquashfs"])
def test_every_wide_name_looks_up_with_one_block(images, runtime, builder):
    """Each name of the wide directories is found by lookup (a listing
    scan, which on mksquashfs images starts from the directory index)."""
    names = sorted(os.listdir(os.path.join(images["root"], "wide")))
    script = (
        "import sys\n"
        "from ovl.flash_host import BytesSource\n"
        "from ovl.squashfs import SquashFS\n"
        "fs = SquashFS(BytesSource(open(sys.argv[-1], 'rb').read()), 1)\n"
        "bad = 0\n"
        "for name in %r:\n"
        "    if fs.lookup('/wide/' + name).name != name:\n"
        "        bad += 1\n"
        "for i in range(0, 1500, 7):\n"
        "    name = 'entry-%%05d' %% i\n"
        "    if fs.lookup('/many/' + name).name != name:\n"
        "        bad += 1\n"
        "try:\n"
        "    fs.lookup('/wide/' + 'z' * 256)\n"
        "except OSError:\n"
        "    bad -= 1000\n"
        "print(bad)\n" % (names,))
    assert runtime(script, args=[images[builder]]).strip() == "-1000"


def listing_cost(run, image, directory, path, cache_blocks=None):
    args = [image, directory, path]
    if cache_blocks is not None:
        args.append(str(cache_blocks))
    out = run.run_file("squashfs_listing_cost.py", args=args)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fit_lower(tmp_path_factory):
    """The board job's lower (docs/FIT.md): 2,000 files in 40 directories."""
    base = tmp_path_factory.mktemp("fitlower")
    root = str(base / "tree")
    make_lower_tree(root)
    path = str(base / "lower.sqfs")
    mkimage.build_image(root, path, block_size=4096, mtime=1700000000,
                        all_root=True)
    return path


def test_one_block_listing_costs(fit_lower, runtime):
    """With one cached block, listing a directory with its inodes (as the
    overlay does) inflates one block more than listing its names (the
    children's inode block), not one per entry; a whole walk about as many
    as two blocks did before the listing window (106 on this lower)."""
    cost = listing_cost(runtime, fit_lower, "/d17", "/d17/f1217.txt", 1)
    # [metadata blocks inflated, image bytes read]
    assert cost["readdir"][0] <= cost["listdir"][0] + 1, cost
    assert cost["listdir"][0] <= 3, cost
    # 2,041 entries: a block per 16 entries at the very most
    assert cost["walk"][0] <= 2041 // 16, cost


def test_micropython_keeps_one_metadata_block_by_default(fit_lower, mpy):
    default = listing_cost(mpy, fit_lower, "/d17", "/d17/f1217.txt")
    assert default == listing_cost(mpy, fit_lower, "/d17", "/d17/f1217.txt",
                                   1)


def test_one_block_long_listing_costs(images, runtime):
    """A listing of many windows (1,500 entries, about 28 KB over four
    metadata blocks): the listing's block is inflated again once per
    window (about 760 bytes of entries) and the children's inode block
    after it, 90 blocks measured, where inflating per entry took 2,589."""
    cost = listing_cost(runtime, images["ovl"], "/many", "/many/entry-00003",
                        1)
    assert cost["listdir"][0] <= 8, cost
    assert cost["readdir"][0] <= 1500 // 12, cost


def test_damaged_listings_raise_the_readers_errors(images, runtime, tmp_path):
    """Bits flipped in the directory table of an image whose tables are
    stored raw (so the damage reaches the listing parser, not the
    decompressor): every mutant walks clean or raises one of the reader's
    errors, through the listing windows on MicroPython."""
    path = str(tmp_path / "raw.sqfs")
    mkimage.build_image(images["root"], path, block_size=4096, comp="none")
    out = json.loads(runtime.run_file(
        "squashfs_listing_fuzz.py", args=[path, "7", "60"],
        timeout=300).strip().splitlines()[-1])
    assert not [k for k in out if k.startswith("bug")], out
    assert sum(out.values()) == 60, out
    assert out.get("BadDirectoryError", 0) >= 10, out


@pytest.fixture(scope="module")
def indexed_raw(tmp_path_factory):
    """An image whose metadata is stored raw (as for the MCU boards)
    holding /big, a directory of 3,000 names: its listing spans several
    metadata blocks, so its inode carries an index of them."""
    base = tmp_path_factory.mktemp("indexed")
    root = str(base / "src")
    os.makedirs(os.path.join(root, "big"))
    for i in range(3000):
        write(os.path.join(root, "big", "f%05d" % i), b"")
    path = str(base / "raw.sqfs")
    mkimage.build_image(root, path, block_size=4096, mtime=1700000000,
                        raw_metadata=True)
    return path


def test_damaged_directory_index_is_refused_not_a_missing_name(
        indexed_raw, runtime):
    """A lookup jumps where the index says; a damaged index must raise
    BadDirectoryError, never make a listed name answer ENOENT (before:
    the middle entry's name made "a" sent the lookups of the run before it
    to its run, which begins after them, and random index edits lost
    listed names that way in 4 of these 50 mutants)."""
    got = runtime.run_checks("squashfs_index_damage.py", {
        "index entries in one raw block": True,
        "sound image: probes missing": [],
        "first name made 'a': lookup of the name before it":
            "BadDirectoryError",
        "first name made 'a': that name still listed": True,
        "mutants: listed names that lookup calls missing": [],
    }, args=[indexed_raw, "/big", "1", "50"])
    assert got["index entries"] >= 4
    assert got["mutants: lookups refused as damage"] > 0
