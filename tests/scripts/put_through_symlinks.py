"""The agent's put to a symlink path (ovl.agent.PutJob) writes the file
the link names, as open() for writing does (Overlay.write_target): the
link stays, a chain and a relative target in another directory are
followed, a dangling link's file is made, a loop is ELOOP and a path
that is no link is put at itself.

Arguments: LOWER_DIR (with etc/ and bin/sh).  Reports labelled results."""
import sys

from checklib import errno_outcome, report
from ovl import compat
from ovl.agent import PutJob
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
fs.mkdir("/data")
fs.symlink("sh", "/bin/ash")
fs.symlink("../bin/ash", "/etc/cfg")
fs.symlink("/data/new", "/etc/dangle")
fs.symlink("loop", "/etc/loop")


def put(path, data):
    job = PutJob(fs, path, len(data), compat.sha256(data).digest())
    job.write(data)
    return job.finish()


results = {}
for path in ("/etc/cfg", "/etc/dangle", "/etc/plain", "/bin/sh"):
    results["write_target " + path] = fs.write_target(path)
results["put through a chain"] = errno_outcome(put, "/etc/cfg", b"chain")
results["put through a dangling link"] = errno_outcome(put, "/etc/dangle",
                                                       b"made")
results["put through a loop"] = errno_outcome(put, "/etc/loop", b"x")
results["put at a plain path"] = errno_outcome(put, "/etc/plain", b"plain")
results["links kept"] = [fs.readlink(p) for p in
                         ("/bin/ash", "/etc/cfg", "/etc/dangle")]
results["/bin/sh"] = fs.read_bytes("/bin/sh").decode()
results["/data/new"] = fs.read_bytes("/data/new").decode()
results["/etc/plain"] = fs.read_bytes("/etc/plain").decode()
results["etc"] = sorted(fs.listdir("/etc"))
results["fsck"] = mount(DirLower(sys.argv[1]), flash).fsck()
report(results)
