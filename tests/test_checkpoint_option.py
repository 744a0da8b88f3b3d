"""The store option `checkpoints` (docs/STORE.md, "Checkpoint"): off (the
MCU boards' "store_checkpoints": false), mount and sync never import the
checkpoint code and never write one, and a store holding checkpoints
still mounts (by the scan, which kills their pieces); on, a store written
with it off mounts and then writes its checkpoint.  Both runtimes."""

from test_logstore import COMMON

SCRIPT = COMMON + """
import sys

def loaded():
    return [m for m in ('ovl.store.checkpoint', 'ovl.store.checkpoint_write')
            if m in sys.modules]

f = SimFlash(256 * 1024, 4096, 256)
LogStore.format(f)
off = LogStore.mount(f, checkpoints=False)
for k in range(60):
    create(off, ROOT_INO, 'a%d' % k, bytes(range(k % 200)) * 3)
off.sync()
tree = dump(off)
again = LogStore.mount(f, checkpoints=False)
assert dump(again) == tree
again.sync()
assert loaded() == [], loaded()
off_read = again.stats['mount_bytes_read']

# on: no checkpoint was written with it off, so the scan; then one
on = LogStore.mount(f)
assert on.stats['mount_checkpoint'] == 0, on.ckpt_why
assert dump(on) == tree
assert on.stats['mount_bytes_read'] > off_read    # the probes, then the scan
from ovl.store import checkpoint
assert checkpoint.write(on, True)
ck = LogStore.mount(f)
assert ck.stats['mount_checkpoint'] == 1, ck.ckpt_why
assert dump(ck) == tree

# off again over the checkpoint: the scan, its pieces dead, no new one
scanned = LogStore.mount(f, checkpoints=False)
assert 'mount_checkpoint' not in scanned.stats
assert dump(scanned) == tree
assert not scanned.fsck()['errors']
dead_ck = sum(scanned.blocks.dead)
dead_on = sum(LogStore.mount(f).blocks.dead)   # from the checkpoint
assert dead_ck == dead_on, (dead_ck, dead_on)
for k in range(60):
    create(scanned, ROOT_INO, 'b%d' % k, bytes(300))
programmed = scanned.stats['bytes_programmed']
scanned.sync()
assert scanned.stats['bytes_programmed'] == programmed
tree = dump(scanned)
# written after the checkpoint: on mounts by the scan, the same tree
later = LogStore.mount(f)
assert later.stats['mount_checkpoint'] == 0 and later.ckpt_why
assert dump(later) == tree
print('ok', off_read, on.stats['mount_bytes_read'],
      ck.stats['mount_bytes_read'], scanned.stats['mount_bytes_read'])
"""


def test_checkpoints_off_never_loads_or_writes_them_and_both_ways_mount(
        runtime):
    out = runtime(SCRIPT, timeout=300, heap="8M")
    print(out)
    last = out.strip().splitlines()[-1].split()
    assert last[0] == "ok", out
    off_read, on_read, ck_read, scanned_read = map(int, last[1:])
    assert ck_read < scanned_read, last
