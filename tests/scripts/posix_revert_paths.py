"""revert, and a reset's keep list, of a path Linux would refuse or that
only spells "/" through "." or "..": each was a factory reset (revert) or
kept everything (keep), since the path was normalised before any lookup.
Through the API and the agent's FS_REVERT.

Arguments: LOWER_DIR (with etc/hostname and f).  Reports labelled
results."""
import json
import sys

from checklib import errno_outcome, overlay_and_agent, report

fs, agent, remount = overlay_and_agent(sys.argv[1])


def change():
    fs.write_bytes("/etc/wifi", b"psk")
    fs.chmod("/etc/hostname", 0o600)


def agent_revert(path):
    agent.fs_revert(json.dumps({"path": path}).encode())


results = {}
change()
for path in ("", ".", "/nope/..", "/f/..", "/etc/..", "/etc/.", "etc/.."):
    results["revert %r" % path] = errno_outcome(fs.revert, path)
    results["agent revert %r" % path] = errno_outcome(agent_revert, path)
results["changes after the refusals"] = fs.diff()
for keep in ("/nope/..", "/etc/..", "/etc/./wifi"):
    results["reset, keep %r" % keep] = errno_outcome(fs.reset, [keep])
    results["request_reset, keep %r" % keep] = errno_outcome(
        fs.request_reset, True, [keep])
results["changes after the refused keeps"] = fs.diff()
results["reset requested"] = fs.reset_requested()
results["revert '/etc/wifi'"] = errno_outcome(fs.revert, "/etc/wifi")
results["changes after a revert of one file"] = fs.diff()
results["revert '/'"] = errno_outcome(fs.revert, "/")
results["changes after revert '/'"] = fs.diff()
change()
results["revert '//'"] = errno_outcome(fs.revert, "//")
results["changes after revert '//'"] = fs.diff()
report(results)
