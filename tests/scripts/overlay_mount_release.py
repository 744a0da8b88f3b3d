"""The overlay's mount code (ovl.overlay.mounting) imported for a mount
and released after it, as labelled results
(tests/test_overlay_mount_release.py checks each label on both runtimes).

Arguments: IMAGE_A IMAGE_B (two SquashFS lowers holding etc/config, with
different contents: a firmware and its successor).
"""
import gc
import sys

from checklib import errno_outcome, report
from ovl import overlay
from ovl.flash_host import BytesSource
from ovl.squashfs import SquashFS
from ovl.store import LogStore, ROOT_INO
from ovl_sim.simflash import SimFlash


def lower(path):
    with open(path, "rb") as f:
        return SquashFS(BytesSource(f.read()))


def held():
    """Where the mount's code is still held: sys.modules, the package."""
    return [name for name, there in (
        ("sys.modules", "ovl.overlay.mounting" in sys.modules),
        ("ovl.overlay", "mounting" in dir(overlay))) if there]


def recorded(ovl, lower):
    """Whether the upper records lower's identity."""
    ident = lower.identity()
    return bytes(ovl.store.get_meta(ROOT_INO, "lower_id")) == (
        ident if isinstance(ident, bytes) else str(ident).encode())


def read(ovl, path):
    with ovl.open(path, "rb") as f:
        return f.read().decode()


a, b = lower(sys.argv[1]), lower(sys.argv[2])
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
out = {"before a mount": held()}
# a read-only Overlay without a store (ovl.boot's view of the firmware
# alone, also after a mount that ran out of heap) imports nothing: held()
# stays empty on CPython too, which keeps a module once imported
out["read-only, no store, first"] = [overlay.Overlay(a, None).readonly,
                                     held()]
# a first mount records the lower's identity and gives the root its modes
ovl = overlay.mount(a, flash)
out["after the first mount"] = held()
out["identity recorded"] = recorded(ovl, a)
out["root mode"] = oct(ovl.stat("/").st_mode)
with ovl.open("/etc/config", "ab") as f:
    f.write(b"mine=1\n")
ovl.sync()
# a remount over the same lower, keyword and positional options
ovl = overlay.mount(a, flash, False, None, True, write_buffer=1024)
out["remount"] = [read(ovl, "/etc/config"), ovl.lower_changed,
                  ovl.write_buffer]
out["after a remount"] = held()
# a new firmware: ovl.upgrade rebases the upper over it
ovl = overlay.mount(b, flash)
# (the file changed over the old firmware's bytes reads EIO: ovl.upgrade)
out["new lower"] = [ovl.lower_changed, ovl.conflicts,
                    errno_outcome(read, ovl, "/etc/config")]
out["after a new lower"] = held()
# a reset asked for the next boot, performed by the mount
ovl.request_reset(True)
ovl = overlay.mount(b, flash)
out["reset at mount"] = [ovl.reset_requested(), read(ovl, "/etc/config")]
out["after a reset at mount"] = held()
# an Overlay made directly (a host's, a test's) checks the lower too
store = LogStore.mount(flash, readonly=True)
direct = overlay.Overlay(a, store, uid=5)
out["direct"] = [direct.lower_changed, direct.readonly, direct.uid]
out["after a direct Overlay"] = held()
out["read-only, no store"] = overlay.Overlay(a, None).readonly
# back to the first firmware; a reset records its identity (the mount
# code's bytes of it, imported for the reset)
ovl = overlay.mount(a, flash)
ovl.reset()
out["reset"] = [ovl.lower_changed, sorted(ovl.listdir("/etc")),
                recorded(ovl, a), read(ovl, "/etc/config")]
out["after a reset"] = held()
gc.collect()
report(out)
