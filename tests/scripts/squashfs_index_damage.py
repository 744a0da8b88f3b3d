"""Damage an extended directory's index and look names up in it.

    python|micropython squashfs_index_damage.py IMAGE DIR SEED COUNT

IMAGE stores its metadata raw (`ovl mkimage --board pico`), so the index
entries of DIR's inode lie in the image as they are read.  The lookup
trusts the index to say where a name can first be, so a damaged index
must be refused (BadDirectoryError), never make a name the listing holds
answer ENOENT.

First the reviewer's case: the first name of the middle index entry made
"a", which sorts before every name (later lookups jump to it).  Then
COUNT mutants, 1-2 bytes of the index entries set to seeded random values
(ovl_sim.simflash.Xorshift: the same edits on both runtimes); in each,
the names around every index entry's run and a few others are looked up.
Reports labelled results.
"""
import sys
from struct import unpack_from

from checklib import errno_outcome, report
from ovl import squashfs
from ovl import squashfs_walk
from ovl.flash_host import BytesSource
from ovl_sim.simflash import Xorshift

image = open(sys.argv[1], "rb").read()
top = sys.argv[2]
rng = Xorshift(int(sys.argv[3]))
count = int(sys.argv[4])

fs = squashfs.SquashFS(BytesSource(image))
loc = fs.lookup(top).loc
names = list(squashfs_walk.listdir(fs, fs.lookup(top)))
# the index in the image: a raw block's bytes follow its 2-byte header
header = unpack_from("<H", image, loc.pos)[0]
start = loc.pos + 2 + loc.off
entries = []            # (position, first name)
q = start
for _ in range(loc.index_count):
    size = unpack_from("<III", image, q)[2] + 1
    entries.append((q, image[q + 12:q + 12 + size].decode()))
    q += 12 + size
inside_block = header & 0x8000 and q <= loc.pos + 2 + (header & 0x7FFF)

# names where a jump lands or falls short: each run's first, the one
# before it, and a spread of the others
probes = []
for _, first in entries:
    i = names.index(first)
    probes += [names[i - 1], first]
probes += [names[i] for i in range(0, len(names), len(names) // 10)]


def lookups(data):
    """(outcome of listing DIR, names listed that lookup calls missing,
    outcomes of the probes' lookups by kind)."""
    damaged = squashfs.SquashFS(BytesSource(bytes(data)))
    try:
        listed = set(squashfs_walk.listdir(damaged, damaged.lookup(top)))
    except squashfs.CorruptImageError as e:
        return type(e).__name__, [], {}
    missing = []
    kinds = {}
    for name in probes:
        try:
            damaged.lookup(top + "/" + name)
            kind = "ok"
        except squashfs.CorruptImageError as e:
            kind = type(e).__name__
        except OSError:
            kind = "OSError"
            if name in listed:
                missing.append(name)
        kinds[kind] = kinds.get(kind, 0) + 1
    return "ok", missing, kinds


results = {
    "index entries in one raw block": bool(inside_block),
    "index entries": len(entries),
    "sound image: probes missing": lookups(image)[1],
}

# the reviewer's case (/tmp/rev_image/idxrepro.py)
pos, first = entries[len(entries) // 2]
data = bytearray(image)
data[pos + 12] = ord("a")
# the last name of the run before: the damaged entry now sorts before it
before = names[names.index(first) - 1]
damaged = squashfs.SquashFS(BytesSource(bytes(data)))
results["first name made 'a': lookup of the name before it"] = errno_outcome(
    damaged.lookup, top + "/" + before)
results["first name made 'a': that name still listed"] = \
    before in squashfs_walk.listdir(damaged, damaged.lookup(top))

missing = []
refused = 0
for n in range(count):
    data = bytearray(image)
    for _ in range(1 + rng.below(2)):
        data[start + rng.below(q - start)] = rng.below(256)
    listing, lost, kinds = lookups(data)
    if lost:
        missing.append([n, lost])
    refused += sum(v for k, v in kinds.items() if k not in ("ok", "OSError"))
results["mutants: listed names that lookup calls missing"] = missing
results["mutants: lookups refused as damage"] = refused
report(results)
