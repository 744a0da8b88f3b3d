"""The VFS adapter (ovl.vfs.OvlVfs) mounted with MicroPython's vfs.mount,
beside what VfsLfs2 and Linux do: a trailing "/" or a final "/." reaches
the overlay's own checks; ".." is resolved after the symlink before it;
a read-only mount leaves the Overlay it shares writable; ilistdir of a
missing directory raises at the call; readinto takes a count; an error
names its errno once.  Run by tests/test_vfs.py under MicroPython only
(CPython has no vfs module); argv[1] is an empty directory, the lower."""
import os
import sys

import vfs
from checklib import errno_outcome, report
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.paths import S_IFMT
from ovl.store import LogStore
from ovl.vfs import OvlVfs
from ovl_sim.simflash import SimFlash

flash = SimFlash(1 << 19, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
for d in ("/d", "/e", "/fw", "/fw/sub"):
    fs.mkdir(d)
for path, data in (("/f", b"F"), ("/keep", b"top"), ("/fw/keep", b"fw"),
                   ("/fw/sub/f", b"inner")):
    fs.write_bytes(path, data)
fs.symlink("fw/sub", "/link")
fs.symlink("/fw/sub", "/alink")
vfs.mount(OvlVfs(fs), "/ovl")


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def create(path):
    open(path, "w").close()


out = {}

# -- a trailing "/" and a final "/.": the overlay's errors, as Linux ------
out["stat f/"] = errno_outcome(os.stat, "/ovl/f/")
out["open f/"] = errno_outcome(read, "/ovl/f/")
out["open new/ for writing"] = errno_outcome(create, "/ovl/new/")
out["remove f/"] = errno_outcome(os.remove, "/ovl/f/")
out["rename f/"] = errno_outcome(os.rename, "/ovl/f/", "/ovl/g")
out["rename f to g/"] = errno_outcome(os.rename, "/ovl/f", "/ovl/g/")
out["stat f/."] = errno_outcome(os.stat, "/ovl/f/.")
out["remove f/."] = errno_outcome(os.remove, "/ovl/f/.")
out["rmdir d/."] = errno_outcome(os.rmdir, "/ovl/d/.")
out["rmdir d/./"] = errno_outcome(os.rmdir, "/ovl/d/./")
out["rmdir d/.."] = errno_outcome(os.rmdir, "/ovl/d/..")
out["rename e/."] = errno_outcome(os.rename, "/ovl/e/.", "/ovl/e2")
out["mkdir n/."] = errno_outcome(os.mkdir, "/ovl/n/.")
out["mkdir d/."] = errno_outcome(os.mkdir, "/ovl/d/.")
out["open new/. for writing"] = errno_outcome(create, "/ovl/new/.")
out["open f/.. (f a file)"] = errno_outcome(read, "/ovl/f/../keep")
out["names left"] = sorted(os.listdir("/ovl"))
out["type of d/ and d/."] = [os.stat(p)[0] & S_IFMT
                             for p in ("/ovl/d/", "/ovl/d/.")]
os.rmdir("/ovl/d/")                 # a directory's trailing "/" is fine
out["rmdir d/ then"] = "d" in os.listdir("/ovl")

# -- ".." after a symlink: the parent of where the link led ---------------
out["read link/../keep"] = read("/ovl/link/../keep")
out["read alink/../keep"] = read("/ovl/alink/../keep")
os.chdir("/ovl/link")
out["getcwd in link"] = os.getcwd()
out["listdir . in link"] = os.listdir(".")
out["read ../keep from link"] = read("../keep")
with open("../new", "w") as f:
    f.write("n")
out["written ../new from link"] = [sorted(fs.listdir("/")),
                                   sorted(fs.listdir("/fw"))]
os.chdir("..")
out["chdir .. from link"] = os.getcwd()
os.chdir("sub/")
out["chdir sub/"] = os.getcwd()
# ".." at the mount's root stays there, as "/.." does on Linux (a VFS is
# handed paths with its mount point cut off: it cannot step out of it)
out["read /ovl/../keep"] = read("/ovl/../keep")
os.chdir("/ovl/fw")
os.chdir("../..")
out["chdir ../.. from /ovl/fw"] = os.getcwd()
out["chdir f (a file)"] = errno_outcome(os.chdir, "/ovl/f")
out["chdir nope"] = errno_outcome(os.chdir, "/ovl/nope")
os.chdir("/")

# -- a read-only mount refuses writes; the Overlay stays writable ---------
vfs.mount(OvlVfs(fs), "/ro", readonly=True)
out["read-only mount: open for writing"] = [
    errno_outcome(open, "/ro/a", mode) for mode in ("w", "a", "r+", "xb")]
out["read-only mount: mkdir, remove, rmdir, rename"] = [
    errno_outcome(os.mkdir, "/ro/m"), errno_outcome(os.remove, "/ro/f"),
    errno_outcome(os.rmdir, "/ro/e"),
    errno_outcome(os.rename, "/ro/f", "/ro/g")]
out["read-only mount: read, listdir, statvfs"] = [
    read("/ro/keep"), "keep" in os.listdir("/ro"), len(os.statvfs("/ro"))]
out["API and writable mount while /ro is mounted"] = [
    errno_outcome(fs.write_bytes, "/b", b"b"),
    errno_outcome(create, "/ovl/c")]
vfs.umount("/ro")
out["API and writable mount after /ro"] = [
    errno_outcome(fs.write_bytes, "/b2", b"b"),
    errno_outcome(create, "/ovl/c2")]
# mkfs: ignored, as VfsLfs2 does (a store is formatted by LogStore.format)
vfs.mount(OvlVfs(fs), "/mk", mkfs=True)
out["mkfs=True keeps the files"] = read("/mk/keep")
vfs.umount("/mk")

# -- smaller: as VfsLfs2 --------------------------------------------------
out["ilistdir of a missing directory, not iterated"] = errno_outcome(
    os.ilistdir, "/ovl/nope")
out["ilistdir of a file, not iterated"] = errno_outcome(
    os.ilistdir, "/ovl/f")
out["ilistdir bytes"] = sorted(t[0].decode() for t in os.ilistdir(b"/ovl/fw"))
with open("/ovl/keep", "rb") as f:
    buf = bytearray(5)
    n = f.readinto(buf, 2)
    out["readinto(buf, 2): count, buffer"] = [n, list(buf)]
    f.seek(0)
    out["readinto(buf, 9) of a 2-byte buffer: count"] = f.readinto(
        bytearray(2), 9)
try:
    os.stat("/ovl/nope")
except OSError as e:
    out["message of ENOENT"] = str(e)
try:
    os.rmdir("/ovl/e/..")
except OSError as e:
    out["ENOTEMPTY named once"] = str(e).count("ENOTEMPTY")
report(out)
