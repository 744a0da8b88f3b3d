"""An Overlay's stat result and its lazily imported parts, as labelled
results (tests/test_overlay.py checks each label on both runtimes).

Arguments: LOWER_DIR (holding etc/config).
"""
import sys

from checklib import outcome, report
from ovl.dirlower import DirLower
from ovl.store import LogStore
from ovl.overlay import mount
from ovl_sim.simflash import SimFlash

out = {}
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
with fs.open("/etc/new", "w") as f:
    f.write("twelve bytes")
LAZY = ("ovl.overlay.verbs", "ovl.overlay.hostops", "ovl.overlay.unlink")
# a mount, a write and a read import none of the lazy parts
out["lazy modules after mount and IO"] = sorted(
    m for m in LAZY + ("ovl.upgrade",) if m in sys.modules)
st = fs.stat("/etc/new")
out["stat is a 10-tuple"] = [isinstance(st, tuple), len(st)]
out["st_* name its fields"] = [
    st.st_mode == st[0], st.st_ino == st[1], st.st_dev == st[2],
    st.st_nlink == st[3], st.st_uid == st[4], st.st_gid == st[5],
    st.st_size == st[6], st.st_atime == st[7], st.st_mtime == st[8],
    st.st_ctime == st[9]]
out["st_size"] = st.st_size
out["unknown st_ field"] = outcome(getattr, st, "st_blocks")
# the first use of a lazily imported operation loads its module
fs.chmod("/etc/config", 0o600)
out["chmod then lstat mode"] = fs.lstat("/etc/config").st_mode & 0o7777
out["diff"] = [list(d) for d in fs.diff("/etc")]
out["lazy modules after chmod and diff"] = sorted(
    m for m in LAZY if m in sys.modules)
fs.rename("/etc/new", "/etc/newer")
fs.remove("/etc/newer")
out["after rename and remove"] = [fs.listdir("/etc"), sorted(
    m for m in LAZY if m in sys.modules)]
report(out)
