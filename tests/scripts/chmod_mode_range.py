"""chmod takes a mode of permission bits only, 0 to 0o7777: anything else
(negative, wider, file-type bits) is EINVAL and changes nothing, as chown
refuses ids the format cannot hold; the agent's fs_op (what a restore
over serial sends) reaches the same check.

Arguments: LOWER_DIR (with etc/hostname).  Reports labelled results."""
import json
import sys

from checklib import errno_outcome, overlay_and_agent, report

fs, agent, remount = overlay_and_agent(sys.argv[1])


def perm(path):
    return "%o" % (fs.stat(path)[0] & 0o7777)


def agent_chmod(path, mode):
    agent.fs_op(json.dumps({"op": "chmod", "args": [path, mode]}).encode())


results = {}
fs.chmod("/etc/hostname", 0o640)
for mode in (-1, -2, 0o10000, 0o77777777, 0o107777):
    results["chmod %o" % mode] = errno_outcome(fs.chmod, "/etc/hostname",
                                               mode)
results["agent chmod -1"] = errno_outcome(agent_chmod, "/etc/hostname", -1)
results["mode after the refusals"] = perm("/etc/hostname")
results["chmod 7777"] = errno_outcome(fs.chmod, "/etc/hostname", 0o7777)
results["mode after 7777"] = perm("/etc/hostname")
results["chmod 0"] = errno_outcome(fs.chmod, "/etc/hostname", 0)
results["mode after 0"] = perm("/etc/hostname")
results["agent chmod 644"] = errno_outcome(agent_chmod, "/etc/hostname",
                                           0o644)
results["mode after agent 644"] = perm("/etc/hostname")
results["fsck"] = remount().fsck()
report(results)
