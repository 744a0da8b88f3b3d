"""Renames, moved and retyped directories, an edited hard link and names
made again, across a firmware upgrade (tests/test_upgrade_kept_changes.py
builds v1.sqfs and v2.sqfs in the directory given last).  how: "keep"
(the keep step `ovl flash` runs through the agent before the old image
goes, then a mount over v2) or "raw" (v2 put in place behind ovl's back:
no keep step)."""
import sys
from ovl.flash import BytesSource
from ovl_sim.simflash import SimFlash
from ovl.squashfs import SquashFS
from ovl.store import LogStore
from ovl.overlay import mount
from ovl import upgrade, compat
import checklib

root, how = sys.argv[-1], sys.argv[-2]


def image(v):
    with open(root + "/" + v + ".sqfs", "rb") as f:
        return SquashFS(BytesSource(f.read()))


def read(fs, path):
    try:
        return fs.read_bytes(path).decode()
    except OSError as e:
        return compat.errno_name(compat.error_code(e))


def read_lower(lower, path):
    try:
        return upgrade.read_lower(lower, path, 0, 100).decode()
    except OSError as e:
        return compat.errno_name(compat.error_code(e))


def listing(fs, path):
    try:
        return sorted(fs.listdir(path))
    except OSError as e:
        return compat.errno_name(compat.error_code(e))


flash = SimFlash(1 << 19, 4096, 256)
LogStore.format(flash)
fs = mount(image("v1"), flash)
fs.rename("/etc/gonelater", "/etc/mine")    # v2 drops it
fs.rename("/etc/renamesrc", "/etc/mine2")   # v2 changes it (same size)
fs.chmod("/etc/modeonly", 0o600)            # v2 changes it
fs.rename("/etc/tmpl", "/etc/mytmpl")       # v2 drops /etc/tmpl
fs.write_bytes("/etc/d2f/new", b"user file\n")  # v2: /etc/d2f a file
fs.chmod("/etc/d2f_ch", 0o700)              # v2: /etc/d2f_ch a file
with fs.open("/bin/tool", "r+b") as f:      # v2 adds /bin/added only
    f.write(b"TOOL")
fs.remove("/etc/dd/x")                      # v1's directory, now a file
fs.rmdir("/etc/dd")
fs.write_bytes("/etc/dd", b"mine\n")
fs.remove("/etc/plain")                     # v1's file, now a directory
fs.mkdir("/etc/plain")
fs.remove("/etc/ff/y")                      # v1's directory made again
fs.rmdir("/etc/ff")
fs.mkdir("/etc/ff")
fs.sync()
r = {"before": [read(fs, "/etc/mine"), read(fs, "/etc/mine2")]}
v1 = image("v1")
v2 = image("v2")
r["ino moved"] = v1.lookup("/bin/tool").ino != v2.lookup("/bin/tool").ino
if how == "keep":
    # what `ovl flash` does (host_tools/commands/serial.py keep_user_files)
    todo = [p for p, lp, n, d in upgrade.scan(fs)
            if upgrade.differs(v2, lp, n, d)]
    r["kept"] = sorted(todo)
    for p in todo:
        upgrade.materialize(fs, p)
    r["again"] = [upgrade.materialize(fs, p) for p in todo]
fs = mount(v2, flash)
r["conflicts"] = [list(c) for c in upgrade.conflicts(fs)]
for p in ("/etc/mine", "/etc/mine2", "/etc/modeonly", "/etc/mytmpl/a.conf",
          "/etc/d2f/new", "/bin/tool", "/bin/tool-alias", "/etc/dd"):
    r["read " + p] = read(fs, p)
r["mode modeonly"] = fs.stat("/etc/modeonly")[0] & 0o777
for p in ("/etc/mytmpl", "/etc/d2f", "/etc/d2f_ch", "/etc", "/etc/plain"):
    r["ls " + p] = listing(fs, p)
r["tool links"] = fs.stat("/bin/tool")[1] == fs.stat("/bin/tool-alias")[1]
for name in ("rel", "via", "abs", "loop", "none"):
    r["lower /lnk/" + name] = read_lower(v2, "/lnk/" + name)
fs = mount(v2, flash)                       # the marks survive a remount
r["conflicts again"] = [list(c) for c in upgrade.conflicts(fs)]
r["read again /bin/tool-alias"] = read(fs, "/bin/tool-alias")
r["fsck"] = fs.fsck()
checklib.report(r)
