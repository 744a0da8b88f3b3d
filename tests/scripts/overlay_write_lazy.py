"""The overlay's write half (ovl.overlay.writing) is imported at the first
write, never by a mount and reads; a MemoryError while importing it is
the error of the call that needed it, with nothing changed, and the same
calls work once it can be imported (tests/test_overlay_lazy.py checks each
label on both runtimes).

Arguments: IMAGE (a SquashFS lower holding etc/config).
"""
import builtins
import sys

from checklib import create_file, errno_outcome, report, read_text, write_file
from ovl.flash_host import BytesSource
from ovl.squashfs import SquashFS
from ovl.store import LogStore, ROOT_INO
from ovl.overlay import mount
from ovl.vfs import OvlVfs
from ovl_sim.simflash import SimFlash

WRITING = "ovl.overlay.writing"


def tree(fs, ovl):
    """What a failed call must leave as it was: the merged listings, the
    upper root's names, the pending writes."""
    return [sorted(e[0] for e in fs.ilistdir(d)) for d in ("/", "/etc")] + \
        [sorted(n for n, _ in ovl.store.listdir(ROOT_INO)),
         len(ovl.writeback.buffers)]


real_import = builtins.__import__


def import_refusing_writing(name, *rest):
    # (rest: globals, locals, fromlist, level, as the runtime passes them)
    fromlist = rest[2] if len(rest) > 2 else None
    if name == WRITING or (name == "ovl.overlay" and fromlist and
                           "writing" in fromlist):
        raise MemoryError
    return real_import(name, *rest)


with open(sys.argv[1], "rb") as f:
    image = f.read()
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
store = LogStore.mount(flash)
create_file(store, "up", b"upper file")     # through the store, not the
store.sync()                                # overlay's write half
ovl = mount(SquashFS(BytesSource(image)), flash)
fs = OvlVfs(ovl)
out = {}
# a board's read-only work: listings, reads of lower and upper files,
# stat, a sync
out["reads"] = [read_text(fs, "/etc/config"), read_text(fs, "/up"),
                fs.stat("/up")[6]]
before = tree(fs, ovl)
fs.umount()
out["write half after mount and reads"] = WRITING in sys.modules
# the rules only a change applies are the write half's, not meta's (a
# board that mounts and reads keeps none of their code)
from ovl.overlay import meta
out["meta after mount and reads: name rule, origin encoder"] = [
    hasattr(meta, "upper_name"), hasattr(meta, "strict_utf8"),
    hasattr(meta.Origin, "encode")]

builtins.__import__ = import_refusing_writing
out["refused import"] = [
    # (the VFS looks mkdir, rename and remove up at the call, as
    # MicroPython's os calls do)
    errno_outcome(lambda: fs.mkdir("/made")),
    errno_outcome(write_file, fs, "/etc/new", b"new"),       # created
    errno_outcome(write_file, fs, "/etc/config", b"more", "ab"),   # copied up
    errno_outcome(write_file, fs, "/up", b"cut"),            # truncated
    errno_outcome(lambda: fs.rename("/etc/config", "/moved")),
    errno_outcome(lambda: fs.remove("/up"))]
out["unchanged"] = tree(fs, ovl) == before
out["write half after refused imports"] = WRITING in sys.modules
builtins.__import__ = real_import

# the same calls, the write half imported at the first
fs.mkdir("/made")
out["write half after a mkdir"] = WRITING in sys.modules
write_file(fs, "/etc/new", b"new")
write_file(fs, "/etc/config", b"more", "ab")
write_file(fs, "/up", b"cut")
with fs.open("/up", "rb") as f:
    out["write to a file open for reading"] = errno_outcome(f.write, b"x")
fs.umount()
fs = OvlVfs(mount(SquashFS(BytesSource(image)), flash))
out["after a remount"] = [read_text(fs, p) for p in
                          ("/etc/new", "/etc/config", "/up")] + \
    [sorted(e[0] for e in fs.ilistdir("/"))]
report(out)
