"""A factory reset's keep list holds absolute paths: an empty or relative
one is EINVAL and nothing changes (normalize("") is "/", and keeping "/"
keeps everything, so `--keep "$EMPTY"` made a reset that reset nothing),
for reset now, at the next boot, and through the agent's FS_RESET.

Arguments: LOWER_DIR (with etc/hostname).  Reports labelled results."""
import io
import json
import sys

from checklib import errno_outcome, report
from ovl.agent import Agent
from ovl.board import Board
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
board = Board.from_dict({"name": "t", "flash": {
    "size": 1 << 18, "erase_size": 4096, "page_size": 256}})
agent = Agent(io.BytesIO(), board, flash, fs=fs)
fs.write_bytes("/etc/wifi", b"psk")


def agent_reset(when, keep):
    agent.fs_reset(json.dumps({"when": when, "keep": keep}).encode())


results = {}
for keep in ([""], ["etc/wifi"], ["/etc/wifi", ""]):
    label = "keep %s" % json.dumps(keep)
    results["reset, " + label] = errno_outcome(fs.reset, keep)
    results["request_reset, " + label] = errno_outcome(fs.request_reset,
                                                       True, keep)
    results["agent now, " + label] = errno_outcome(agent_reset, "now", keep)
    results["agent boot, " + label] = errno_outcome(agent_reset, "boot",
                                                    keep)
results["changes after the refusals"] = fs.diff()
results["reset requested"] = fs.reset_requested()
results["reset, keep [\"/etc/wifi\"]"] = errno_outcome(fs.reset, ["/etc/wifi"])
results["changes kept"] = fs.diff()
results["reset, keep []"] = errno_outcome(fs.reset, [])
results["changes after a full reset"] = fs.diff()
report(results)
