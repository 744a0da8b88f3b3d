"""A factory reset cut by a power cut, after a write big enough to stream
(provisional nodes and a NODE_COMMIT, older than the RESET): at every
flash operation of the reset, in every torn mode, the store mounts as
before or after it, and fsck finds its dead-byte accounting right at
once, after GC has erased every block the reset left, and after a
remount (docs/STORE.md, "Factory reset").  Both runtimes.
Labels: what the mounts after the cuts showed, and the fsck errors found
at each stage, as "<torn mode> <op>: <error>" (none expected)."""
from ovl_sim.simflash import SimFlash, PowerCut, TORN_MODES
from ovl.store import LogStore, ROOT_INO

from checklib import create_file, report

BIG = bytes(range(256)) * 80    # 20,480 bytes: over a Txn's 4 KiB of RAM


def names(s):
    return [n for n, _ in s.listdir(ROOT_INO)]


f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
create_file(s, "big", BIG)
good = f.snapshot()
before = names(LogStore.mount(f))
f.restore(good)
s = LogStore.mount(f)
ops = f.ops
s.reset()
ops = f.ops - ops
after = names(LogStore.mount(f))

results = {"before, after": [before, after], "reset's flash operations":
           ops > 2}
seen = {}
errors = {"at mount": [], "after GC": [], "after a remount": []}
for mode in TORN_MODES:
    for k in range(ops):
        f.restore(good)
        s = LogStore.mount(f)
        f.arm_power_cut(k, torn=mode, seed=k)
        try:
            s.reset()
        except PowerCut:
            pass
        f.power_on()
        s = LogStore.mount(f)
        got = names(s)
        seen["before" if got == before else "after" if got == after
             else repr(got)] = True
        where = "%s %d: " % (mode, k)
        errors["at mount"] += [where + e for e in s.fsck()["errors"]]
        # every block the reset left is collected (the provisional nodes'
        # blocks erased one by one, the commit's among them)
        s.gc(2 * s.nblocks)
        errors["after GC"] += [where + e for e in s.fsck()["errors"]]
        errors["after a remount"] += [
            where + e for e in LogStore.mount(f).fsck()["errors"]]
results["states seen"] = sorted(seen)
for stage in errors:
    found = errors[stage]       # the first few name the cuts
    results["fsck errors " + stage] = found[:3] + (
        ["... %d more" % (len(found) - 3)] if len(found) > 3 else [])

report(results)
