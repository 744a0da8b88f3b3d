"""Workloads for the crash campaign: fixtures, the op catalogue, generated
sequences, and scripts of `ovl shell` commands.

A workload is a fixture name plus a list of ops.  An op is a tuple
(verb, args...) that both the oracle model (model.py) and the overlay
adapter (engine.py) understand.  Its key is the fixture and the ops' names
joined by "+": a catalogue name, or "=" + the shell line in urlsafe base64
for anything else, so every workload, even a user's shrunk script, has a
self-contained, replayable key such as "std:write_lower+sync+rename_dir".
"""

import base64
import os
import random
import shlex

from host_tools.commands.fs_format import split_command, write_args
from host_tools.crash.model import DIR, FILE, SYMLINK

T0 = 1000000       # mtime of every lower object in the fixtures

# The lower tree: a file, a hard-linked pair, a directory with children,
# a symlink, an empty directory, a directory emptied by whiteouts (merged),
# a name whited out by the setup, and a directory made opaque by the setup.
STD_LOWER = {
    "/": {"kind": DIR, "perm": 0o755, "mtime": T0},
    "/lf": {"kind": FILE, "perm": 0o644, "data": b"lower file: 0123456789abcdef\n",
            "mtime": T0},
    "/hl1": {"kind": FILE, "perm": 0o640, "data": b"hard-linked pair\n",
             "mtime": T0},
    "/hl2": {"link": "/hl1"},
    "/ld": {"kind": DIR, "perm": 0o755, "mtime": T0},
    "/ld/a": {"kind": FILE, "perm": 0o644, "data": b"a in ld\n", "mtime": T0},
    "/ld/b": {"kind": FILE, "perm": 0o600, "data": b"b in ld\n", "mtime": T0},
    "/ld/sub": {"kind": DIR, "perm": 0o755, "mtime": T0},
    "/ld/sub/c": {"kind": FILE, "perm": 0o644, "data": b"c\n", "mtime": T0},
    "/lsym": {"kind": SYMLINK, "target": "lf", "mtime": T0},
    "/ed": {"kind": DIR, "perm": 0o755, "mtime": T0},
    "/md": {"kind": DIR, "perm": 0o755, "mtime": T0},
    "/md/y": {"kind": FILE, "perm": 0o644, "data": b"y\n", "mtime": T0},
    "/wh": {"kind": FILE, "perm": 0o644, "data": b"whited out\n", "mtime": T0},
    "/od": {"kind": DIR, "perm": 0o755, "mtime": T0},
    "/od/old": {"kind": FILE, "perm": 0o644, "data": b"old\n", "mtime": T0},
}

# Made through the overlay once per worker, then snapshotted: an upper-only
# file and dir, a whiteout (/wh), a merged dir holding only a whiteout
# (/md), and an opaque dir (/od) replacing a lower one.
STD_SETUP = [
    ("unlink", "/wh"),
    ("write", "/uf", "wb", 0, b"upper file\n"),
    ("mkdir", "/ud", 0o755),
    ("unlink", "/md/y"),
    ("unlink", "/od/old"),
    ("rmdir", "/od"),
    ("mkdir", "/od", 0o755),
    ("write", "/od/new", "wb", 0, b"new\n"),
    ("sync",),
]

# A nearly full store: one big upper file takes most of the space, so the
# workload's rewrites force garbage collection (each GC workload erases at
# least one block).  39 KiB: at 40 a format-4 store is full by the last
# rewrite of gc_rewrite_mid+sync+... (ENOSPC, where the model expects the
# write to succeed).
GC_BIG = 39 * 1024
GC_SETUP = STD_SETUP[:-1] + [
    ("write", "/big", "wb", 0, bytes(range(256)) * (GC_BIG // 256)),
    ("sync",),
]

FIXTURES = {
    "std": (STD_LOWER, STD_SETUP),
    "gc": (STD_LOWER, GC_SETUP),
    # the std tree on a chip with room for a 64 KiB write (engine.py's
    # GEOMETRY): the large-write workloads
    "big": (STD_LOWER, STD_SETUP),
    # the gc fixture's nearly full store, for the writes that hit ENOSPC
    # half-way and GC during a large write (its own name: the gc
    # workloads' second-cut test stays as it is)
    "edge": (STD_LOWER, GC_SETUP),
}

# name -> op.  Names say what the op exercises; the campaign's summary
# reports per name.
CATALOGUE = {
    # data: partial copy-up, append, holes, truncate
    "write_lower": ("write", "/lf", "r+b", 5, b"XY"),
    "write_hardlink": ("write", "/hl1", "r+b", 0, b"H"),
    "write_upper": ("write", "/uf", "r+b", 2, b"zz"),
    "write_past_end": ("write", "/ld/a", "r+b", 20, b"far"),
    "append_lower": ("write", "/ld/b", "ab", 0, b"+tail"),
    "append_upper": ("write", "/uf", "ab", 0, b"+more"),
    "truncate_shrink": ("truncate", "/lf", 4),
    "truncate_extend": ("truncate", "/ld/sub/c", 40),
    "truncate_upper": ("truncate", "/uf", 0),
    # metadata copy-up
    "chmod_lower": ("chmod", "/lf", 0o600),
    "chmod_dir": ("chmod", "/ld", 0o700),
    "chown_lower": ("chown", "/ld/a", 5, 6),
    "chown_hardlink": ("chown", "/hl2", 7, 8),
    "utime_lower": ("utime", "/hl1", 5000),
    "utime_via_symlink": ("utime", "/lsym", 6000),
    # creation
    "create_new": ("write", "/new", "wb", 0, b"fresh file\n"),
    "create_in_lower_dir": ("write", "/ld/sub/n", "wb", 0, b"nested\n"),
    "create_over_whiteout": ("write", "/wh", "wb", 0, b"back again\n"),
    "create_over_lower": ("write", "/lf", "wb", 0, b"replaced\n"),
    "create_in_opaque": ("write", "/od/n2", "wb", 0, b"n2\n"),
    "mkdir_new": ("mkdir", "/nd", 0o755),
    "mkdir_over_whiteout": ("mkdir", "/wh", 0o755),
    "mkdir_in_merged": ("mkdir", "/md/z", 0o755),
    "mkdir_existing": ("mkdir", "/ld", 0o755),
    "symlink_new": ("symlink", "ld/a", "/sl"),
    "symlink_over_whiteout": ("symlink", "/lf", "/wh"),
    "link_lower": ("link", "/lf", "/ld/lf_link"),
    "link_upper": ("link", "/uf", "/uf_link"),
    "link_existing": ("link", "/uf", "/lf"),
    # removal
    "unlink_lower": ("unlink", "/lf"),
    "unlink_hardlink": ("unlink", "/hl1"),
    "unlink_upper": ("unlink", "/uf"),
    "unlink_symlink": ("unlink", "/lsym"),
    "unlink_in_opaque": ("unlink", "/od/new"),
    "unlink_whiteout": ("unlink", "/wh"),
    "unlink_dir": ("unlink", "/ld"),
    "rmdir_lower": ("rmdir", "/ed"),
    "rmdir_merged": ("rmdir", "/md"),
    "rmdir_upper": ("rmdir", "/ud"),
    "rmdir_nonempty": ("rmdir", "/ld"),
    # rename
    "rename_lower": ("rename", "/lf", "/lf2"),
    "rename_across": ("rename", "/ld/a", "/ud/a2"),
    "rename_over_lower": ("rename", "/uf", "/ld/b"),
    "rename_lower_over_upper": ("rename", "/ld/b", "/uf"),
    "rename_hardlink": ("rename", "/hl1", "/ld/hl1"),
    "rename_to_own_link": ("rename", "/hl1", "/hl2"),
    "rename_symlink": ("rename", "/lsym", "/ud/lsym"),
    "rename_over_whiteout": ("rename", "/uf", "/wh"),
    "rename_dir_lower": ("rename", "/ld", "/ld2"),
    "rename_dir_upper": ("rename", "/ud", "/ld/ud"),
    "rename_dir_over_empty": ("rename", "/od", "/ed"),
    "rename_dir_into_self": ("rename", "/ld", "/ld/sub/x"),
    # overlay verbs
    "revert_file": ("revert", "/lf"),
    "revert_dir": ("revert", "/ld"),
    "revert_whiteout": ("revert", "/wh"),
    "revert_upper_only": ("revert", "/uf"),
    "reset": ("reset",),
    "sync": ("sync",),
    "checkpoint": ("checkpoint",),
}

# Rewrites of the big file in the nearly full store (fixture "gc"), where
# the commit of each write runs the garbage collector.
GC_CATALOGUE = {
    "gc_rewrite_head": ("write", "/big", "r+b", 0, b"H" * 4000),
    "gc_rewrite_tail": ("write", "/big", "r+b", GC_BIG - 4000, b"T" * 4000),
    "gc_rewrite_mid": ("write", "/big", "r+b", GC_BIG // 2, b"M" * 4000),
    "gc_create_small": ("write", "/g", "wb", 0, b"g" * 3000),
    "gc_unlink_small": ("unlink", "/g"),
}
GC_WORKLOADS = [
    ("gc_rewrite_head", "gc_rewrite_tail", "gc_rewrite_mid"),
    ("gc_rewrite_head", "gc_rewrite_head", "gc_rewrite_head", "gc_rewrite_head"),
    ("gc_rewrite_mid", "sync", "gc_rewrite_tail", "gc_rewrite_mid"),
    ("gc_rewrite_mid", "checkpoint", "gc_rewrite_tail", "gc_rewrite_mid"),
    ("gc_create_small", "gc_rewrite_head", "gc_unlink_small",
     "gc_rewrite_tail"),
]

# Writes of every size around the overlay's 4 KiB write buffer and far
# past it, each one open-write-close: after a cut the file is exactly old
# or new (a new file absent or complete), whatever the size.
LARGE_SIZES = (0, 1, 4095, 4096, 4097, 20000, 65536)


def payload(n, salt):
    """n bytes that differ at every offset and between ops (a torn or
    misplaced piece shows)."""
    return bytes((i * 7 + (i >> 8) + salt) & 255 for i in range(n))


# name, path, mode, offset, sizes: a new file and a rewrite of a lower one
# at every size; rewrites, appends and r+b writes of upper, lower and
# hard-linked files at sizes that straddle the buffer and go far past it
LARGE_WRITES = [
    ("new", "/bn", "wb", 0, LARGE_SIZES),
    ("wb_lower", "/lf", "wb", 0, LARGE_SIZES),
    ("wb_upper", "/uf", "wb", 0, (4097, 20000)),
    ("wb_hardlink", "/hl1", "wb", 0, (4097, 20000)),
    ("ab_upper", "/uf", "ab", 0, (4097, 20000)),
    ("ab_lower", "/ld/b", "ab", 0, (4097, 20000)),
    ("rplus_lower", "/lf", "r+b", 10, (4097, 20000)),
    ("rplus_upper", "/uf", "r+b", 3, (4097, 20000, 65536)),
    ("rplus_hardlink", "/hl2", "r+b", 5, (4097, 20000)),
]
LARGE_CATALOGUE = {}
for _salt, (_name, _path, _mode, _off, _sizes) in enumerate(LARGE_WRITES):
    for _n in _sizes:
        LARGE_CATALOGUE["big_%s_%d" % (_name, _n)] = (
            "write", _path, _mode, _off, payload(_n, _salt))
LARGE_WORKLOADS = [(name,) for name in LARGE_CATALOGUE] + [
    # a rewrite that commits, then one cut in flight; and a big write then
    # a small op that must not tear it
    ("big_new_20000", "big_wb_lower_4097"),
    ("big_wb_upper_20000", "sync", "big_ab_upper_4097"),
    ("big_rplus_lower_20000", "unlink_lower"),
    # a reset cut before it erased the blocks of a streamed write: the
    # stream's commit, older than the RESET, is dead for mount, GC and fsck
    ("big_new_20000", "reset"),
]

# On the nearly full store (fixture "edge"): writes past the 4 KiB buffer
# that run out of space after streaming part of their data, wrapped in
# ("full", op): the model expects ENOSPC and no change, after any cut too
# (the streamed part never counts).  gc_large_rewrite, 8,000 bytes in the
# middle of /big, fits as it is; after a rewrite or a failed write has
# left dead space its streamed data needs GC (those workloads erase during
# it), and it still succeeds.
EDGE_CATALOGUE = {
    "full_new_30000": ("full", ("write", "/fn", "wb", 0, payload(30000, 20))),
    "full_rewrite_big": ("full", ("write", "/big", "wb", 0,
                                  payload(30000, 21))),
    "full_append_big": ("full", ("write", "/big", "ab", 0,
                                 payload(20000, 22))),
    "full_rplus_big": ("full", ("write", "/big", "r+b", GC_BIG - 1000,
                                payload(20000, 23))),
    "gc_large_rewrite": ("write", "/big", "r+b", 8000, payload(8000, 24)),
}
EDGE_WORKLOADS = [(name,) for name in EDGE_CATALOGUE] + [
    # the failed write leaves nothing behind: what follows works
    ("full_new_30000", "gc_create_small"),
    ("full_rewrite_big", "gc_rewrite_head", "sync"),
    ("full_append_big", "unlink_upper", "full_new_30000"),
    ("gc_rewrite_head", "gc_large_rewrite"),
    ("gc_large_rewrite", "full_rplus_big"),
    ("full_new_30000", "gc_large_rewrite", "gc_large_rewrite"),
]

# ----- large directories (fixture "bigdir") ------------------------------------
#
# The edges of a directory index that keeps (parent, hash of the name) in
# RAM and reads names back from flash to tell entries of one hash apart
# (issue 10): a directory of hundreds of entries, names that share a hash,
# removed names and whiteouts sharing a hash with live ones, and GC moving
# dirent nodes (the flash addresses such an index points at) while the
# directory is big.
#
# Pairs of names of equal length with the same CRC-32: equal for any start
# value of the CRC, and for any bytes fed before or after both, so they
# collide in every parent whatever way the parent is mixed in, and under
# any mask of the result (a 28-bit hash).  The first five pairs
# crc32_collisions(8) finds.  For a store that hashes names otherwise, put
# pairs colliding under its hash here (and in the check of
# tests/test_crash_engine.py): the workloads take their twins from this
# list only, and nothing else depends on the names.
COLLIDING_NAMES = [
    ("eabwcit", "jssktqm"),
    ("lvnjyoj", "oxyzoyu"),
    ("blodlte", "abxtzbz"),
    ("hvfddre", "xesmbfu"),
    ("erjcrjl", "vohzbhc"),
]


def crc32_collisions(count, length=7, seed=10):
    """count pairs of lowercase names of one length with equal CRC-32 (a
    birthday search: about 256,000 names for 8 pairs, one second)."""
    import binascii
    rng = random.Random(seed)
    seen, pairs = {}, []
    letters = "abcdefghijklmnopqrstuvwxyz"
    while len(pairs) < count:
        name = "".join(rng.choice(letters) for _ in range(length))
        c = binascii.crc32(name.encode())
        if seen.get(c, name) != name:
            pairs.append((seen[c], name))
        seen.setdefault(c, name)
    return pairs


BIGDIR_ENTRIES = 256    # names made in /D by the setup (some then removed)
BIGDIR_LOWER_ENTRIES = 48


def _bigdir_lower():
    spec = {
        "/": {"kind": DIR, "perm": 0o755, "mtime": T0},
        "/L": {"kind": DIR, "perm": 0o755, "mtime": T0},
        "/M": {"kind": DIR, "perm": 0o755, "mtime": T0},
        "/M/m0": {"kind": FILE, "perm": 0o644, "data": b"m0\n", "mtime": T0},
    }
    for i in range(BIGDIR_LOWER_ENTRIES):
        spec["/L/l%03d" % i] = {"kind": FILE, "perm": 0o644,
                                "data": b"l%03d\n" % i, "mtime": T0}
    for i in (2, 3):    # a lower name whose twin the workloads create
        name = COLLIDING_NAMES[i][0]
        spec["/L/" + name] = {"kind": FILE, "perm": 0o644,
                              "data": name.encode(), "mtime": T0}
    return spec


def _bigdir_setup():
    """A big upper directory /D (empty files told apart by their owner, so
    a lookup that lands on the wrong entry shows), whiteouts and upper
    names in the big lower directory /L, twins, and rewrites of /pad
    between the creates so that every block holding dirents of /D also
    holds dead space: GC picks those blocks and moves the dirents."""
    ops = [("mkdir", "/D", 0o755), ("mkdir", "/D/sub", 0o755),
           ("write", "/D/sub/s", "wb", 0, b"s in sub\n")]
    for i in range(BIGDIR_ENTRIES):
        path = "/D/f%03d" % i
        ops.append(("write", path, "wb", 0, b""))
        ops.append(("chown", path, 1000 + i, i % 8))
        if i % 25 == 24:
            ops.append(("write", "/pad", "wb", 0, payload(600, i)))
    for i in range(9, BIGDIR_ENTRIES, 30):     # removed: rows of dead names
        ops.append(("unlink", "/D/f%03d" % i))
    for i in range(0, BIGDIR_LOWER_ENTRIES, 3):    # whiteouts in /L
        ops.append(("unlink", "/L/l%03d" % i))
    for i in range(12):
        ops.append(("write", "/L/u%02d" % i, "wb", 0, b""))
        ops.append(("chown", "/L/u%02d" % i, 2000 + i, 1))
    a0 = COLLIDING_NAMES[0][0]
    a1, b1 = COLLIDING_NAMES[1]
    ops += [
        ("write", "/D/" + a0, "wb", 0, b"twin 0 a\n"),    # its twin: absent
        ("write", "/D/" + a1, "wb", 0, b"twin 1 a\n"),    # both present
        ("write", "/D/" + b1, "wb", 0, b"twin 1 b\n"),
        ("unlink", "/L/" + COLLIDING_NAMES[2][0]),       # a whiteout with a twin
        ("write", "/D/" + COLLIDING_NAMES[4][0], "wb", 0, b"twin 4 a\n"),
        ("sync",),
    ]
    return ops


BIGDIR_LOWER = _bigdir_lower()
BIGDIR_SETUP = _bigdir_setup()
FIXTURES["bigdir"] = (BIGDIR_LOWER, BIGDIR_SETUP)

_T = COLLIDING_NAMES
BIGDIR_CATALOGUE = {
    # the big upper directory /D: first, middle and last names, names the
    # setup removed, renames in it, out of it and into it
    "bd_create": ("write", "/D/new", "wb", 0, b"new in D\n"),
    "bd_unlink_first": ("unlink", "/D/f000"),
    "bd_unlink_mid": ("unlink", "/D/f150"),
    "bd_unlink_last": ("unlink", "/D/f255"),
    "bd_recreate_mid": ("write", "/D/f150", "wb", 0, b"f150 again\n"),
    "bd_recreate_removed": ("write", "/D/f159", "wb", 0, b"f159 back\n"),
    "bd_rename_within": ("rename", "/D/f100", "/D/g100"),
    "bd_rename_back": ("rename", "/D/g100", "/D/f100"),
    "bd_rename_over": ("rename", "/D/f101", "/D/f102"),
    "bd_rename_out": ("rename", "/D/f103", "/M/f103"),
    "bd_rename_in": ("rename", "/M/m0", "/D/m0"),
    "bd_rename_dir": ("rename", "/D/sub", "/D/sub2"),
    "bd_mkdir": ("mkdir", "/D/nd", 0o755),
    "bd_link": ("link", "/D/f104", "/D/f104b"),
    # rewrites the 600-byte /pad: dead space that makes the next ops
    # collect blocks holding /D's dirents on the nearly full store
    "bd_churn": ("write", "/pad", "wb", 0, payload(600, 7)),
    # the big lower directory /L (a third of it whited out by the setup)
    "bl_whiteout": ("unlink", "/L/l001"),
    "bl_create_over_whiteout": ("write", "/L/l000", "wb", 0, b"l000 back\n"),
    "bl_mkdir_over_whiteout": ("mkdir", "/L/l003", 0o755),
    "bl_rename_lower": ("rename", "/L/l002", "/L/k002"),
    "bl_rename_lower_to_D": ("rename", "/L/l004", "/D/l004"),
    "bl_rename_upper_over_lower": ("rename", "/L/u00", "/L/l005"),
    "bl_unlink_upper": ("unlink", "/L/u01"),
    # twins (COLLIDING_NAMES): names of one hash in one directory
    "hc_create_twin": ("write", "/D/" + _T[0][1], "wb", 0, b"twin 0 b\n"),
    "hc_unlink_twin": ("unlink", "/D/" + _T[0][0]),
    "hc_rename_to_twin": ("rename", "/D/" + _T[0][0], "/D/" + _T[0][1]),
    "hc_unlink_one_of_two": ("unlink", "/D/" + _T[1][0]),
    "hc_rename_over_twin": ("rename", "/D/" + _T[1][1], "/D/" + _T[1][0]),
    "hc_create_twin_of_whiteout": ("write", "/L/" + _T[2][1], "wb", 0,
                                   b"twin 2 b\n"),
    "hc_create_over_whiteout": ("write", "/L/" + _T[2][0], "wb", 0,
                                b"twin 2 a again\n"),
    "hc_create_twin_of_lower": ("write", "/L/" + _T[3][1], "wb", 0,
                                b"twin 3 b\n"),
    "hc_whiteout_twin": ("unlink", "/L/" + _T[3][0]),
    "hc_mkdir_twin": ("mkdir", "/D/" + _T[4][1], 0o755),
}

# Every op of the catalogue in a few long workloads: on the nearly full
# store each collects a block holding /D's dirents about every third op
# (about 19 of a workload's 27 to 48 flash operations are GC copies).
BIGDIR_WORKLOADS = [
    # /D: a name removed and made again, renames in it and back
    ("bd_unlink_mid", "bd_recreate_mid", "bd_rename_within", "bd_rename_back",
     "bd_create", "bd_unlink_first"),
    ("bd_rename_over", "bd_mkdir", "bd_rename_dir", "bd_recreate_removed",
     "bd_link", "bd_rename_out", "bd_rename_in"),
    # /L: whiteouts and names over them in a big merged directory
    ("bl_whiteout", "bl_create_over_whiteout", "bl_rename_lower",
     "bl_rename_lower_to_D", "bl_mkdir_over_whiteout"),
    # twins in /L: beside a whiteout, beside a lower name
    ("bl_rename_upper_over_lower", "bl_unlink_upper",
     "hc_create_twin_of_whiteout", "hc_create_over_whiteout",
     "hc_whiteout_twin", "hc_create_twin_of_lower"),
    # twins in /D: one of a hash goes, the other stays, renames between
    # them; unlinking the renamed one is ENOENT while its twin is there
    ("hc_create_twin", "hc_rename_to_twin", "hc_unlink_twin",
     "hc_unlink_one_of_two", "hc_rename_over_twin", "hc_mkdir_twin",
     "bd_churn"),
    # a cut in the GC that rename_out runs leaves the store with no free
    # block: from then on every write, removals included, fails with
    # ENOSPC (docs/CRASHTEST.md, Findings; KNOWN in test_crash_campaign.py)
    ("bd_rename_in", "bd_rename_out", "bd_link", "bd_create",
     "bd_unlink_first", "bd_unlink_last"),
]
# --size full adds every op alone, and shorter workloads where the
# collections fall on other ops
BIGDIR_FULL_WORKLOADS = [(name,) for name in BIGDIR_CATALOGUE] + [
    ("bd_unlink_mid", "bd_recreate_mid", "bd_rename_within", "bd_create"),
    ("bd_rename_within", "bd_rename_back", "bd_unlink_first",
     "bd_unlink_last"),
    ("bd_rename_out", "bd_rename_in", "bd_recreate_removed", "bd_link"),
    ("bd_rename_over", "bd_mkdir", "bd_rename_dir", "bd_churn"),
    ("bl_whiteout", "bl_create_over_whiteout", "bl_rename_lower",
     "bl_rename_lower_to_D"),
    ("bl_mkdir_over_whiteout", "bl_rename_upper_over_lower",
     "bl_unlink_upper", "bd_churn"),
    ("hc_create_twin", "hc_unlink_twin", "bd_churn"),
    ("hc_create_twin", "hc_rename_to_twin", "bd_churn"),
    ("hc_rename_to_twin", "bd_churn", "hc_create_twin"),
    ("hc_unlink_one_of_two", "hc_rename_over_twin", "bd_churn"),
    ("hc_create_twin_of_whiteout", "hc_create_over_whiteout",
     "hc_whiteout_twin", "hc_create_twin_of_lower"),
    ("hc_mkdir_twin", "hc_create_twin", "bd_churn"),
]
TABLES = (CATALOGUE, GC_CATALOGUE, LARGE_CATALOGUE, EDGE_CATALOGUE,
          BIGDIR_CATALOGUE)

OPS = [n for n in CATALOGUE if n != "sync"]


# ----- workload keys ---------------------------------------------------------

# An inline op (a script's line) named with this before its "=" is one the
# script's first run saw fail with ENOSPC: ("full", op), tested as the
# failure it is (the model knows no space; `ovl crashtest --script`).
FULL_MARK = "!"


def op_by_name(name):
    if name.startswith(FULL_MARK):
        return ("full", op_by_name(name[len(FULL_MARK):]))
    if name.startswith("="):
        try:
            line = base64.urlsafe_b64decode(
                name[1:] + "=" * (-len(name[1:]) % 4)).decode()
            op = parse_line(line)
        except ValueError as e:    # binascii.Error, UnicodeDecodeError too
            raise ValueError("inline op %r in workload: %s"
                             % (short_text(name, OP_TEXT_LIMIT), e))
        if op is None:
            raise ValueError("inline op %r in workload changes nothing"
                             % short_text(name, OP_TEXT_LIMIT))
        return op
    op = None
    for table in TABLES:
        op = op or table.get(name)
    if op is None:
        raise ValueError("unknown op name %r in workload" % name)
    return op


def name_of_op(op):
    """The catalogue name of op, or its inline form."""
    for table in TABLES:
        for name, known in table.items():
            if known == op:
                return name
    if op[0] == "full":
        return FULL_MARK + name_of_op(op[1])
    text = format_op(op).encode()
    return "=" + base64.urlsafe_b64encode(text).decode().rstrip("=")


def workload_key(fixture, names):
    return "%s:%s" % (fixture, "+".join(names))


def parse_workload(key):
    """key -> (fixture, [names], [ops])."""
    fixture, sep, rest = key.partition(":")
    if not sep or fixture not in FIXTURES:
        raise ValueError("workload %r: want FIXTURE:OP+OP..., fixture one of %s"
                         % (key, ", ".join(sorted(FIXTURES))))
    names = rest.split("+") if rest else []
    return fixture, names, [op_by_name(n) for n in names]


def op_label(name):
    """The row an op is counted under in the summary."""
    if name.startswith(FULL_MARK):
        return op_label(name[len(FULL_MARK):]) + " (ENOSPC)"
    if name.startswith("="):
        return "script:" + op_by_name(name)[0]
    return name


# ----- generation ---------------------------------------------------------------

def generate(size="ci", seed=1, triples=None):
    """Workload keys of a campaign, in a fixed order (shards depend on it).

    every 1-op workload, alone and followed by sync; every 2-op one, with
    and without a sync between; `triples` sampled 3-op ones; the GC, large
    write, edge and big directory ones (full: more big directory ones).
    size "ci" takes every pair without a sync, a seeded half of those with
    one and 500 triples (about 100,000 crash cases); "full" takes every
    pair and 2000 triples.
    """
    rng = random.Random(seed)
    keys = []
    for a in OPS:
        keys.append(workload_key("std", [a]))
        keys.append(workload_key("std", [a, "sync"]))
    pairs, synced = [], []
    for a in OPS:
        for b in OPS:
            pairs.append(workload_key("std", [a, b]))
            synced.append(workload_key("std", [a, "sync", b]))
    if size == "full":
        keys += pairs + synced
    else:
        keys += pairs
        keys += rng.sample(synced, len(synced) // 2)
    if triples is None:
        triples = 2000 if size == "full" else 500
    seen = set()
    while len(seen) < triples:
        key = workload_key("std", [rng.choice(OPS) for _ in range(3)])
        if key not in seen:
            seen.add(key)
            keys.append(key)
    for names in GC_WORKLOADS:
        keys.append(workload_key("gc", list(names)))
    for names in LARGE_WORKLOADS:
        keys.append(workload_key("big", list(names)))
    for names in EDGE_WORKLOADS:
        keys.append(workload_key("edge", list(names)))
    for names in BIGDIR_WORKLOADS + (BIGDIR_FULL_WORKLOADS if size == "full"
                                     else []):
        keys.append(workload_key("bigdir", list(names)))
    return keys


def shard(keys, index, count):
    """The keys shard index (1-based) of count takes."""
    if count < 1 or not 1 <= index <= count:
        raise ValueError("shard must be I/N with 1 <= I <= N, not %d/%d"
                         % (index, count))
    return [k for i, k in enumerate(keys) if i % count == index - 1]


# ----- `ovl shell` scripts ------------------------------------------------------

def _escape(data):
    """data as split_command reads a single-quoted DATA."""
    out = []
    for b in data:
        c = chr(b)
        if c in "\\'":
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


# The end of a file a script's write, truncate or put may name: the model
# holds each file's whole data, and every case reads it back (a 50 MB
# truncate cost 2 GB of RAM at a case a second)
SCRIPT_FILE_LIMIT = 1 << 20


def file_size(text, what):
    """A SIZE word: at most SCRIPT_FILE_LIMIT (a negative one is the
    EINVAL the model predicts)."""
    size = int(text)
    if size > SCRIPT_FILE_LIMIT:
        raise ValueError("%s must be at most %d (the crash model holds whole "
                         "files in RAM), not %d"
                         % (what, SCRIPT_FILE_LIMIT, size))
    return size


def host_file(path):
    """put's HOSTFILE: a regular file of at most SCRIPT_FILE_LIMIT bytes."""
    from host_tools.inputs import read_limited
    return read_limited(path, SCRIPT_FILE_LIMIT, "host file", ValueError,
                        regular=True)


def parse_line(line, base_dir="."):
    """One `ovl shell` command -> op, or None for a read-only/blank line.

    The verbs of `ovl shell` (host_tools/commands/overlay.py) that change the
    tree: write PATH MODE OFFSET DATA | put HOSTFILE PATH | truncate PATH
    SIZE | chmod OCTAL PATH | mkdir PATH | rm PATH | rmdir PATH | mv SRC
    DST | ln SRC DST | ln -s TARGET PATH | revert PATH | reset; plus
    chown UID[:GID] PATH, touch PATH MTIME and sync.  ls, cat, stat, get,
    diff, tree, layer and # comments change nothing.  A write is read as
    the shell reads it (fs_format.split_command and write_args: MODE w, a,
    r+ or x, b optional; DATA the rest of the line, UTF-8 text, \\n and
    \\x00 escapes quoted or not); HOSTFILE is relative to base_dir.  No
    file may end past SCRIPT_FILE_LIMIT (ValueError).
    """
    words = split_command(line, comments=True)
    if not words:
        return None
    verb, args = words[0], words[1:]
    try:
        if verb in ("ls", "cat", "stat", "get", "diff", "tree", "layer"):
            return None
        if verb == "put" and len(args) == 2:
            return ("write", args[1], "wb", 0,
                    host_file(os.path.join(base_dir, args[0])))
        if verb == "write" and len(args) == 4:
            return ("write",) + write_args(args, SCRIPT_FILE_LIMIT)
        if verb == "truncate" and len(args) == 2:
            return ("truncate", args[0], file_size(args[1], "truncate SIZE"))
        if verb == "chmod" and len(args) == 2:
            return ("chmod", args[1], int(args[0], 8))
        if verb == "chown" and len(args) == 2:
            uid, _, gid = args[0].partition(":")
            return ("chown", args[1], int(uid), int(gid or -1))
        if verb == "touch" and len(args) == 2:
            return ("utime", args[0], int(args[1]))
        if verb == "mkdir" and len(args) == 1:
            return ("mkdir", args[0], 0o755)
        if verb == "rm" and len(args) == 1:
            return ("unlink", args[0])
        if verb == "rmdir" and len(args) == 1:
            return ("rmdir", args[0])
        if verb == "mv" and len(args) == 2:
            return ("rename", args[0], args[1])
        if verb == "ln" and len(args) == 3 and args[0] == "-s":
            return ("symlink", args[1], args[2])
        if verb == "ln" and len(args) == 2:
            return ("link", args[0], args[1])
        if verb == "revert" and len(args) == 1:
            return ("revert", args[0])
        if verb in ("reset", "sync", "checkpoint") and not args:
            return (verb,)
    except ValueError as e:
        raise ValueError("bad command %r: %s"
                         % (short_text(line.strip(), OP_TEXT_LIMIT), e))
    raise ValueError("bad command %r (see `ovl crashtest --help`)"
                     % short_text(line.strip(), OP_TEXT_LIMIT))


def format_op(op):
    """The `ovl shell` line for an op (parse_line's inverse)."""
    verb, args = op[0], op[1:]
    q = shlex.quote
    if verb == "full":      # shown, never parsed (named with FULL_MARK)
        return "(ENOSPC) " + format_op(args[0])
    if verb == "write":
        path, mode, offset, data = args
        return "write %s %s %d '%s'" % (q(path), mode, offset, _escape(data))
    if verb == "truncate":
        return "truncate %s %d" % (q(args[0]), args[1])
    if verb == "chmod":
        return "chmod %o %s" % (args[1], q(args[0]))
    if verb == "chown":
        return "chown %d:%d %s" % (args[1], args[2], q(args[0]))
    if verb == "utime":
        return "touch %s %d" % (q(args[0]), args[1])
    if verb == "mkdir":
        return "mkdir %s" % q(args[0])
    if verb == "unlink":
        return "rm %s" % q(args[0])
    if verb == "rmdir":
        return "rmdir %s" % q(args[0])
    if verb == "rename":
        return "mv %s %s" % (q(args[0]), q(args[1]))
    if verb == "symlink":
        return "ln -s %s %s" % (q(args[0]), q(args[1]))
    if verb == "link":
        return "ln %s %s" % (q(args[0]), q(args[1]))
    if verb == "revert":
        return "revert %s" % q(args[0])
    return verb


# an op, a key or a message in one line of output: a script's write
# carries its data, a key every op's, tens of kilobytes of them
OP_TEXT_LIMIT = 60
LINE_LIMIT = 300


def short_text(text, limit=LINE_LIMIT):
    """text cut to at most `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    tail = "...(%d chars)" % len(text)
    return text[:limit - len(tail)] + tail


def short_op(op):
    """An op's `ovl shell` line for a message: at most OP_TEXT_LIMIT
    characters."""
    return short_text(format_op(op), OP_TEXT_LIMIT)


def script_ops(text, base_dir=".", name="<script>"):
    """The commands of a script that change the tree: [(line number,
    op)], in order; ValueError "NAME:LINE: what is wrong"."""
    ops = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            op = parse_line(line, base_dir)
        except ValueError as e:
            raise ValueError("%s:%d: %s" % (name, number, e))
        if op is not None:
            ops.append((number, op))
    if not ops:
        raise ValueError("%s: the script has no commands that change "
                         "anything" % name)
    return ops


def parse_script(text, fixture="std", base_dir="."):
    """A script (one command a line) -> workload key."""
    return workload_key(fixture, [name_of_op(op) for _, op in
                                  script_ops(text, base_dir)])
