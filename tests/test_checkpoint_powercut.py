"""Power cuts while a checkpoint is written, and GC after one: every cut
at every flash operation of a checkpoint write, in every torn mode,
leaves a store whose mount (from the checkpoint or, when it is torn, by
the scan) is the store a full scan gives, with the tree as before (a
checkpoint changes no file); one more commit and a remount keep it so.
A collection that erases a block the checkpoint describes makes the
next mount scan.  Both runtimes."""

from test_checkpoint_mount import HELPERS
from test_logstore import COMMON, RANDOM_OPS

SCRIPT = """
from ovl_sim.simflash import TORN_MODES
MODES = TORN_MODES

def check(f, tree):
    m = LogStore.mount(f)
    snap = f.snapshot()
    f2 = SimFlash(f.size, 4096, 256)
    f2.restore(snap)
    same_state(m, scan_mount(f2))
    assert dump(m) == tree
    assert not m.fsck()['errors']
    return m

f = SimFlash(192 * 1024, 4096, 256)
s = random_ops(f, 7, STEPS, 100000)
tree = dump(s)
before = f.snapshot()
ops0 = f.ops
assert checkpoint.write(s)
nops = f.ops - ops0
assert nops > 3, nops
used = {}
for at in range(nops):
    for mode in MODES:
        f.restore(before)
        s = scan_mount(f)
        f.arm_power_cut(at, torn=mode, seed=at)
        try:
            checkpoint.write(s)
            raise AssertionError('no power cut')
        except PowerCut:
            pass
        f.power_on()
        m = check(f, tree)
        k = m.stats['mount_checkpoint']
        used[k] = used.get(k, 0) + 1
        # the decision sticks: one more commit, then the same store again
        ino = create(m, ROOT_INO, 'after')
        again = check(f, dump(m))
        assert again.get(ino) is not None

# GC after a checkpoint: a collection erases blocks it describes
f.restore(before)
s = scan_mount(f)
assert checkpoint.write(s)
m = LogStore.mount(f)
assert m.stats['mount_checkpoint'] == 1, m.ckpt_why
erased = m.stats['erases']
m.gc(4)
assert m.stats['erases'] > erased
g = check(f, tree)
assert g.stats['mount_checkpoint'] == 0 and g.ckpt_why
print(nops, used.get(0, 0), used.get(1, 0))
"""


def test_cut_at_every_operation_of_a_checkpoint_write(runtime):
    prog = COMMON + RANDOM_OPS + HELPERS + \
        "STEPS = 150\n" + SCRIPT
    out = runtime(prog, timeout=900, heap="16M")
    print(out)
    nops, scanned, from_ckpt = [int(x) for x in out.split()[-3:]]
    # the cuts before the end piece's program leave it torn (a scan);
    # a cut at the last program, 'done', leaves it whole
    assert scanned > 0 and from_ckpt > 0, out
