"""The upper stores strict UTF-8 names only: a name holding a surrogate,
an overlong form or a code point past U+10FFFF is refused with EINVAL
and writes nothing, on both runtimes (MicroPython's str and its bytes
decode let all three through; CPython's str cannot encode them), through
OvlVfs with bytes paths and through the overlay API; proper UTF-8 names
of 2, 3 and 4 bytes a character are made.

Arguments: LOWER_DIR (holding etc/a).  Reports labelled results."""
import sys

from checklib import errno_outcome, report
from ovl import compat
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.vfs import OvlVfs

BAD = {"surrogate": b"\xed\xa0\x80", "overlong 2": b"\xc0\xaf",
       "overlong 3": b"\xe0\x80\xaf", "overlong 4": b"\xf0\x80\x80\xaf",
       "past U+10FFFF": b"\xf4\x90\x80\x80", "cut short": b"a\xe2\x82",
       "not a lead byte": b"\xff"}
GOOD = {"2 bytes": "caf\u00e9", "3 bytes": "\u20ac", "4 bytes": "\U0001d11e"}


def as_str(raw):
    """The str a runtime makes of raw: MicroPython's loose decode, or
    CPython's with surrogateescape (None: MicroPython refuses it)."""
    try:
        return raw.decode()
    except UnicodeError:
        if compat.MICROPYTHON:
            return None
        return raw.decode("utf-8", "surrogateescape")


flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
fs.write_bytes("/etc/new", b"new\n")
vfs = OvlVfs(fs)
programmed = flash.counters()["bytes_programmed"]
results = {}
for label in BAD:
    raw = b"/etc/x" + BAD[label]
    for op, fn, args in (("vfs open w", vfs.open, (raw, "w")),
                         ("vfs mkdir", vfs.mkdir, (raw,)),
                         ("vfs rename to", vfs.rename, (b"/etc/new", raw))):
        results[op + ": " + label] = errno_outcome(fn, *args)
    path = as_str(raw)
    if path is None:
        continue
    for op, fn, args in (("write_bytes", fs.write_bytes, (path, b"x")),
                         ("open x", fs.open, (path, "x")),
                         ("mkdir", fs.mkdir, (path,)),
                         ("symlink", fs.symlink, ("new", path)),
                         ("link", fs.link, ("/etc/new", path)),
                         ("rename to", fs.rename, ("/etc/new", path))):
        results[op + ": " + label] = errno_outcome(fn, *args)
# a surrogate written as an escape in the source: on MicroPython its str
# holds the surrogate's three bytes
results["mkdir: escaped surrogate"] = errno_outcome(fs.mkdir, "/\udcff")
results["programmed by the refusals"] = \
    flash.counters()["bytes_programmed"] - programmed
for label in GOOD:
    results["write_bytes: " + label] = errno_outcome(
        fs.write_bytes, "/etc/" + GOOD[label], b"x")
results["etc"] = sorted(fs.listdir("/etc"))
results["fsck"] = mount(DirLower(sys.argv[1]), flash).fsck()
report(results)
