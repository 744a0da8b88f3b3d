"""The overlay's parts a board's plain job never runs, each imported at its
first use, as labelled results (tests/test_overlay_lazy.py checks each
label on both runtimes).

Arguments: IMAGE (a SquashFS lower holding etc/config, etc/passwd with a
second name etc/passwd.lnk, and the symlink etc/cfg -> config).
"""
import sys

from checklib import errno_outcome, report, read_text, write_file
from ovl.flash_host import BytesSource
from ovl.squashfs import SquashFS
from ovl.store import LogStore
from ovl.overlay import mount
from ovl.vfs import OvlVfs
from ovl_sim.simflash import SimFlash

LAZY = ("ovl.overlay.fileops", "ovl.overlay.hostops", "ovl.overlay.rare",
        "ovl.overlay.truncate", "ovl.overlay.unlink", "ovl.overlay.verbs")


def loaded():
    return sorted(m for m in LAZY if m in sys.modules)


def package():
    return sorted(m for m in sys.modules if m.startswith("ovl.overlay"))


with open(sys.argv[1], "rb") as f:
    image = f.read()
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
ovl = mount(SquashFS(BytesSource(image)), flash)
fs = OvlVfs(ovl)
out = {}
# what the board job does: new files in a new and in a lower directory,
# listings, reads of lower and upper files, a remount (its lower has no
# hard links: listing /etc would ask the link index about passwd)
fs.mkdir("/new")
write_file(fs, "/new/a", b"new file")
write_file(fs, "/etc/b", b"in a lower directory")
write_file(fs, "/etc/config", b"option=2\n", "ab")   # a lower file copied up
out["listing"] = [sorted(e[0] for e in fs.ilistdir(d)) for d in ("/", "/new")]
out["reads"] = [read_text(fs, "/etc/config"), read_text(fs, "/new/a"),
                read_text(fs, "/etc/b")]
fs.umount()
ovl = mount(SquashFS(BytesSource(image)), flash)
fs = OvlVfs(ovl)
out["read after remount"] = read_text(fs, "/etc/b")
out["lazy after the board's job"] = loaded()
out["the package after the board's job"] = package()
out["the reader's open after the board's job"] = \
    "ovl.squashfs_open" in sys.modules
# a copied-up file's read asks whether an upgrade marked it: a class
# default, not Overlay.__getattr__
out["lower changed"] = ovl.lower_changed
# reading many files keeps the origins of the last few only
for i in range(20):
    write_file(fs, "/new/f%d" % i, b"%d" % i)
out["20 files read"] = [read_text(fs, "/new/f%d" % i) for i in range(20)] == \
    ["%d" % i for i in range(20)]
out["origins cached"] = len(ovl._origins)

# an open file's rarer operations: lines, positions, n characters of text
write_file(fs, "/new/text", "h\u00e9llo\nw\u00f6rld\n".encode())
with fs.open("/new/text") as f:
    lines = [f.read(2), f.tell(), f.readline(), f.seekable(),
             f.seek(-7, 2), f.read()]
    f.seek(0)
    lines += [f.readlines(), errno_outcome(f.fileno)]
with fs.open("/new/text", "rb") as f:
    lines.append([len(line) for line in f])
with fs.open("/new/text", "ab") as f:
    f.write(b"!")
    f.flush()       # commits: the store holds the new size
    lines.append(ovl.store.get(f.uino).size)
out["an open file's lines"] = lines
# calls a file refuses: closed, or not open for them
with fs.open("/new/text", "rb") as f:
    refused = [errno_outcome(f.write, b"x")]
refused.append(errno_outcome(f.read))
with fs.open("/new/w", "wb") as f:
    refused.append(errno_outcome(f.read))
out["refused"] = refused
out["lazy after lines"] = loaded()

# O_TRUNC of an existing file: its buffer cuts it when it commits
write_file(fs, "/new/a", b"cut")
out["rewritten"] = read_text(fs, "/new/a")
out["lazy after a rewrite"] = loaded()
# writes of the wrong type and a bad mode: their messages are fileops'
with fs.open("/new/w", "wb") as f:
    try:
        f.write("text")
        out["str to a binary file"] = "ok"
    except TypeError as e:
        out["str to a binary file"] = str(e)
with fs.open("/new/t", "w") as f:
    out["bytes to a text file"] = errno_outcome(f.write, b"bytes")
    out["str to a text file"] = f.write("text")
try:
    fs.open("/new/a", "rwb")
    out["a bad mode"] = "ok"
except ValueError as e:
    out["a bad mode"] = str(e)
out["written"] = [read_text(fs, "/new/w"), read_text(fs, "/new/t")]
with fs.open("/new/a", "r+b") as f:
    f.seek(2)
    got = [f.truncate(), errno_outcome(f.truncate, -1), f.truncate(1)]
out["truncated open"] = [got, read_text(fs, "/new/a")]
ovl.truncate("/etc/config", 3)
out["truncated by path"] = [read_text(fs, "/etc/config"),
                            errno_outcome(ovl.truncate, "/etc", 0)]

# O_EXCL: a new name made, an existing one refused
write_file(fs, "/new/x", b"made", "xb")
out["O_EXCL"] = [read_text(fs, "/new/x"),
                 errno_outcome(write_file, fs, "/new/x", b"", "xb")]
out["lazy after O_EXCL"] = loaded()

# a symlink followed in a walk and at open()
out["through a symlink"] = read_text(fs, "/etc/cfg")
out["lazy after a symlink"] = loaded()
# a walk through a symlink to a directory, and a stat following one
ovl.symlink("/etc", "/etc.link")
out["a walk through a symlink"] = [read_text(fs, "/etc.link/cfg"),
                                   fs.stat("/etc.link")[0] & 0o170000]

# a lower file with two names: writing one shows through the other
write_file(fs, "/etc/passwd", b"root:changed", "r+b")
out["hard link"] = [read_text(fs, "/etc/passwd.lnk"), sorted(
    (e[0], e[3]) for e in fs.ilistdir("/etc") if e[0].startswith("passwd"))]
out["statvfs"] = [len(fs.statvfs("/")), fs.statvfs("/")[0]]
out["lazy after statvfs"] = loaded()

# names taken away: a whiteout hides the lower name
fs.remove("/etc/b")
fs.rename("/etc/passwd.lnk", "/etc/pw")
out["after remove and rename"] = [
    sorted(e[0] for e in fs.ilistdir("/etc")),
    errno_outcome(fs.stat, "/etc/passwd.lnk")]
fs.umount()
ovl = mount(SquashFS(BytesSource(image)), flash)
fs = OvlVfs(ovl)
out["after a remount"] = [sorted(e[0] for e in fs.ilistdir("/etc")),
                          read_text(fs, "/etc/pw"),
                          read_text(fs, "/etc/config"),
                          read_text(fs, "/new/a")]
out["lazy at the end"] = loaded()
out["no such operation"] = errno_outcome(getattr, ovl, "no_such_op")
report(out)
