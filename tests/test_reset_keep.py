"""Factory reset keeping chosen paths (Overlay.reset(keep)): one
transaction on both runtimes, at once or at the next mount, and a power cut
at any flash operation leaves the old state or the reset-with-kept-files
state."""

import json

from ovl.dirlower import DirLower
from ovl_sim.simflash import PowerCut
from ovl.overlay import mount
from ovl.paths import is_reg

from test_overlay import Rig, build_lower

SCRIPT = """
import json
from ovl.dirlower import DirLower
from ovl.store import LogStore
from ovl.overlay import mount
from ovl_sim.simflash import SimFlash
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(%(lower)r), flash)
fs.write_bytes("/etc/config", b"mine")
fs.mkdir("/etc/kept")
fs.write_bytes("/etc/kept/a", b"A")
fs.remove("/etc/init.d/net")
fs.remove("/etc/init.d/boot")
fs.write_bytes("/lib/mod.py", b"dropped")
fs.write_bytes("/new", b"dropped too")
fs.link("/etc/config", "/cfg-link")
KEEP = ["/etc/config", "/etc/kept", "/etc/init.d/net"]
if %(at_boot)r:
    fs.request_reset(True, KEEP)
    fs.sync()
    fs = mount(DirLower(%(lower)r), flash)
else:
    fs.reset(KEEP)
print(json.dumps([fs.diff(), fs.fsck(), fs.read_bytes("/etc/config").decode(),
                  fs.lstat("/etc/config")[3]]))
fs.sync()
fs = mount(DirLower(%(lower)r), flash)
print(json.dumps([fs.diff(), fs.fsck(), fs.reset_requested()]))
"""

KEPT = [["added", "/etc/kept"], ["added", "/etc/kept/a"],
        ["modified", "/etc/config"], ["deleted", "/etc/init.d/net"]]


def test_reset_keeps_paths_on_both_runtimes(runtime, tmp_path):
    lower = build_lower(str(tmp_path / "lower"))
    for at_boot in (False, True):
        out = runtime(SCRIPT % {"lower": lower, "at_boot": at_boot},
                      heap="8M")
        first, second = [json.loads(line) for line in out.splitlines()]
        diff, problems, config, nlink = first
        assert sorted(diff, key=lambda c: c[1]) == sorted(
            KEPT, key=lambda c: c[1])
        assert problems == [] and config == "mine"
        assert nlink == 1          # its second name, /cfg-link, went
        assert second == [first[0], [], False]


def merged(o):
    return o.diff(), dict((p, o.read_bytes(p)) for k, p in o.diff()
                          if k != "deleted" and is_reg(o.lstat(p)[0]))


def test_a_cut_leaves_old_or_kept_state(tmp_path):
    lower = build_lower(str(tmp_path / "lower"))
    rig = Rig(lower)
    o = rig.ovl
    o.write_bytes("/etc/config", b"keep me " * 600)
    o.mkdir("/etc/kept")
    o.write_bytes("/etc/kept/a", b"A" * 5000)
    o.remove("/etc/init.d/net")
    for i in range(12):
        o.write_bytes("/lib/f%d" % i, b"x" * 3000)
    o.chmod("/lib/mod.py", 0o600)
    o.sync()
    before = merged(o)
    chip = rig.flash.snapshot()
    keep = ["/etc/config", "/etc/kept", "/etc/init.d/net"]
    o.reset(keep)
    after = merged(o)
    assert after != before and len(after[0]) == 4
    seen = set()
    cut = 0
    while True:
        rig.flash.restore(chip)
        o = rig.remount()
        rig.flash.arm_power_cut(cut, ("prefix", "bits")[cut % 2], seed=cut)
        try:
            o.reset(keep)
            done = True
        except PowerCut:
            done = False
        rig.flash.power_on()
        o = mount(o.lower, rig.flash)
        state = merged(o)
        assert state in (before, after), "cut at flash operation %d" % cut
        assert o.fsck() == []
        seen.add(state == after)
        if done:
            break
        cut += 1
    assert seen == {False, True} and cut > 0
    print("%d cut points" % cut)


def test_an_empty_or_relative_keep_path_is_refused(runtime, tmp_path):
    """`reset --keep ""` (an empty shell variable) kept "/", so the reset
    reset nothing and said done; a relative path was taken from "/"."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_bytes(b"router\n")
    expect = {}
    for keep in ('[""]', '["etc/wifi"]', '["/etc/wifi", ""]'):
        for how in ("reset", "request_reset", "agent now", "agent boot"):
            expect["%s, keep %s" % (how, keep)] = "EINVAL"
    expect.update({
        "changes after the refusals": [["added", "/etc/wifi"]],
        "reset requested": False,
        'reset, keep ["/etc/wifi"]': "ok",
        "changes kept": [["added", "/etc/wifi"]],
        "reset, keep []": "ok",
        "changes after a full reset": [],
        "changes after a remount": []})
    runtime.run_checks("reset_keep_paths_checked.py", expect,
                       args=[str(tmp_path)])
