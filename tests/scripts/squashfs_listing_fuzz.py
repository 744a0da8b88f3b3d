"""Flip bits in an image's directory table and walk it; the outcomes.

    python|micropython squashfs_listing_fuzz.py IMAGE SEED COUNT

Each of COUNT mutants (1-3 bits flipped in the directory table, seeded)
is opened, walked and looked up in through one cached metadata block (the
listing parsed from windows of its bytes on MicroPython).  Prints one JSON
line: {outcome: count}, where an outcome is "ok", the reader's error class,
"oserror" (a damaged listing can make a path vanish), or "bug: ..." for
any other exception.
"""

import json
import random
import sys

from ovl import squashfs
from ovl import squashfs_walk
from ovl.flash_host import BytesSource

original = open(sys.argv[1], "rb").read()
top = squashfs.SquashFS(BytesSource(original))
low, high = top.directory_table_start, top._dir_end
random.seed(int(sys.argv[2]))
out = {}
for _ in range(int(sys.argv[3])):
    data = bytearray(original)
    for _ in range(1 + random.getrandbits(2) % 3):
        data[low + random.getrandbits(24) % (high - low)] ^= \
            1 << random.getrandbits(3)
    try:
        fs = squashfs.SquashFS(BytesSource(bytes(data)), 1)
        for _path, _entry in squashfs_walk.walk(fs, "/"):
            pass
        for path in ("/many/entry-00700", "/wide/sub/leaf"):
            try:
                fs.lookup(path)
            except OSError:
                pass
        kind = "ok"
    except squashfs.CorruptImageError as e:
        kind = type(e).__name__
    except OSError:
        kind = "oserror"
    except Exception as e:  # anything else is a reader bug
        kind = "bug: %s: %s" % (type(e).__name__, e)
    out[kind] = out.get(kind, 0) + 1
print(json.dumps(out))
