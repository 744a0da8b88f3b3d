"""A factory reset's keep list holds absolute paths: an empty or relative
one is EINVAL and nothing changes (normalize("") is "/", and keeping "/"
keeps everything, so `--keep "$EMPTY"` made a reset that reset nothing),
for reset now, at the next boot, and through the agent's FS_RESET.

Arguments: LOWER_DIR (with etc/hostname).  Reports labelled results."""
import json
import sys

from checklib import errno_outcome, overlay_and_agent, report

fs, agent, remount = overlay_and_agent(sys.argv[1])
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
results["changes after a remount"] = remount().diff()
report(results)
