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
TABLES = (CATALOGUE, GC_CATALOGUE, LARGE_CATALOGUE, EDGE_CATALOGUE)

OPS = [n for n in CATALOGUE if n != "sync"]


# ----- workload keys ---------------------------------------------------------

def op_by_name(name):
    if name.startswith("="):
        line = base64.urlsafe_b64decode(name[1:] + "=" * (-len(name[1:]) % 4))
        return parse_line(line.decode())
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
    if name.startswith("="):
        return "script:" + op_by_name(name)[0]
    return name


# ----- generation ---------------------------------------------------------------

def generate(size="ci", seed=1, triples=None):
    """Workload keys of a campaign, in a fixed order (shards depend on it).

    every 1-op workload, alone and followed by sync; every 2-op one, with
    and without a sync between; `triples` sampled 3-op ones; the GC ones.
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
    return keys


def shard(keys, index, count):
    """The keys shard index (1-based) of count takes."""
    if count < 1 or not 1 <= index <= count:
        raise ValueError("shard must be I/N with 1 <= I <= N, not %d/%d"
                         % (index, count))
    return [k for i, k in enumerate(keys) if i % count == index - 1]


# ----- `ovl shell` scripts ------------------------------------------------------

def _unescape(text):
    return text.encode("latin-1", "backslashreplace").decode(
        "unicode_escape").encode("latin-1")


def _escape(data):
    out = []
    for b in data:
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def parse_line(line, base_dir="."):
    """One `ovl shell` command -> op, or None for a read-only/blank line.

    The verbs of `ovl shell` (host_tools/commands/overlay.py) that change the
    tree: write PATH MODE OFFSET DATA | put HOSTFILE PATH | truncate PATH
    SIZE | chmod OCTAL PATH | mkdir PATH | rm PATH | rmdir PATH | mv SRC
    DST | ln SRC DST | ln -s TARGET PATH | revert PATH | reset; plus
    chown UID:GID PATH, touch PATH MTIME and sync.  ls, cat, stat, get,
    diff, tree, layer and # comments change nothing.  DATA takes Python
    backslash escapes (\\n, \\x00); HOSTFILE is relative to base_dir.
    """
    words = shlex.split(line, comments=True)
    if not words:
        return None
    verb, args = words[0], words[1:]
    try:
        if verb in ("ls", "cat", "stat", "get", "diff", "tree", "layer"):
            return None
        if verb == "put" and len(args) == 2:
            with open(os.path.join(base_dir, args[0]), "rb") as f:
                return ("write", args[1], "wb", 0, f.read())
        if verb == "write" and len(args) == 4:
            if args[1] not in ("wb", "ab", "r+b"):
                raise ValueError("write MODE must be wb, ab or r+b")
            return ("write", args[0], args[1], int(args[2]), _unescape(args[3]))
        if verb == "truncate" and len(args) == 2:
            return ("truncate", args[0], int(args[1]))
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
        if verb in ("reset", "sync") and not args:
            return (verb,)
    except ValueError as e:
        raise ValueError("bad command %r: %s" % (line.strip(), e))
    raise ValueError("bad command %r (see `ovl crashtest --help`)"
                     % line.strip())


def format_op(op):
    """The `ovl shell` line for an op (parse_line's inverse)."""
    verb, args = op[0], op[1:]
    q = shlex.quote
    if verb == "full":      # shown, never parsed: catalogue ops only
        return "(ENOSPC) " + format_op(args[0])
    if verb == "write":
        path, mode, offset, data = args
        return "write %s %s %d %s" % (q(path), mode, offset, q(_escape(data)))
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


def script_ops(text, base_dir="."):
    """The commands of a script that change the tree: [(line number,
    op)], in order."""
    ops = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            op = parse_line(line, base_dir)
        except ValueError as e:
            raise ValueError("line %d: %s" % (number, e))
        if op is not None:
            ops.append((number, op))
    if not ops:
        raise ValueError("the script has no commands that change anything")
    return ops


def parse_script(text, fixture="std", base_dir="."):
    """A script (one command a line) -> workload key."""
    return workload_key(fixture, [name_of_op(op) for _, op in
                                  script_ops(text, base_dir)])
