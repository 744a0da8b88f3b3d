"""A checkpoint in the log (docs/STORE.md, "Checkpoint"): sync() writes
one, mount loads it when it ends the log, and the store it gives is the
store a full scan gives -- tables, block accounting, tree, and the same
bytes on flash after the same writes.  Anything after it, or a damaged
piece, falls back to the scan.  Every script runs under CPython and the
real micropython."""

from test_checkpoint import SAME_TABLES

HELPERS = SAME_TABLES + """
from ovl.store import checkpoint

def scan_mount(f):
    # the mount of a tree without checkpoints: the loader stood aside
    real = checkpoint.mount_from
    checkpoint.mount_from = lambda s, before: False
    try:
        return LogStore.mount(f)
    finally:
        checkpoint.mount_from = real

def same_state(a, b):
    same_tables(a, b)
    # the checkpoint keeps the data-block sets as the writer had pruned
    # them (blocks of dead nodes only dropped): a subset, the same once
    # every map has been loaded (and so pruned) on both sides
    for ino, rec in a.inodes.items():
        ba, bb = a.data_blocks.blocks(ino), b.data_blocks.blocks(ino)
        assert not [x for x in ba if x not in bb], ino
        a._load(ino)
        b._load(ino)
    assert a.data_blocks.sets == b.data_blocks.sets

"""

SCRIPT = HELPERS + """
def more(s, seed):
    rng = Xorshift(seed)
    for k in range(40):
        t = s.begin()
        try:
            ino = t.new_ino()
            t.put_inode(ino, mode=0o100644)
            t.link(ROOT_INO, 'm%d_%d' % (seed, k), ino)
            t.write(ino, 0, bytes(rng.below(600)))
            t.commit()
        except OSError as e:
            assert compat.error_code(e) == compat.ENOSPC
            t.abort()

out = []
for seed in SEEDS:
    f = SimFlash(256 * 1024, 4096, 256)
    s = random_ops(f, seed, STEPS, 100000)
    s.sync()                    # writes the checkpoint
    snap = f.snapshot()
    ck = LogStore.mount(f)
    assert ck.stats['mount_checkpoint'] == 1, getattr(ck, 'ckpt_why', '')
    f2 = SimFlash(256 * 1024, 4096, 256)
    f2.restore(snap)
    full = scan_mount(f2)
    same_state(ck, full)
    tree = dump(ck)
    assert tree == dump(full) == dump(s)
    assert not ck.fsck()['errors']
    r_ck = ck.stats['mount_bytes_read']
    r_full = full.stats['mount_bytes_read']
    assert r_ck < r_full, (r_ck, r_full)
    # both go on alike: the same bytes on flash (GC included)
    more(ck, seed)
    more(full, seed)
    assert bytes(f.mem) == bytes(f2.mem)
    # written after the checkpoint: the scan, and the same tree
    again = LogStore.mount(f)
    assert again.stats['mount_checkpoint'] == 0
    assert again.ckpt_why
    assert dump(again) == dump(ck)
    # every byte of the checkpoint damaged in turn (a sample): the scan
    f.restore(snap)
    ends = []
    for b in range(f.size // 4096):
        raw = f.mem[b * 4096:(b + 1) * 4096]
        at = raw.find(b'oN\\x0c')
        while at >= 0:
            ends.append(b * 4096 + at)
            at = raw.find(b'oN\\x0c', at + 1)
    assert ends
    fell = 0
    for k in range(0, len(ends), max(1, len(ends) // 6)):
        for d in (5, 30, 70):
            f.restore(snap)
            f.mem[ends[k] + d] ^= 0x04
            m = LogStore.mount(f)
            fell += m.stats['mount_checkpoint'] == 0
            assert dump(m) == tree, (k, d)
    out.append((seed, r_ck, r_full, fell))
print(out)
"""


def test_checkpoint_mount_is_the_scanned_store(runtime):
    from test_logstore import COMMON, RANDOM_OPS
    prog = COMMON + RANDOM_OPS + "SEEDS = (1, 2, 3)\nSTEPS = 200\n" + SCRIPT
    out = runtime(prog, timeout=600, heap="16M")
    print(out)
    got = eval(out.strip().splitlines()[-1])
    assert [g[0] for g in got] == [1, 2, 3]
    for seed, r_ck, r_full, fell in got:
        assert r_ck < r_full
        assert fell > 0


EDGES = """
def same_after_checkpoint(make, first):
    f = make()
    s = random_ops(f, 5, 200, 100000, first=first)
    assert checkpoint.write(s, True)
    snap = f.snapshot()
    ck = LogStore.mount(f)
    assert ck.stats['mount_checkpoint'] == 1, ck.ckpt_why
    f2 = make()
    f2.restore(snap)
    full = scan_mount(f2)
    same_state(ck, full)
    assert dump(ck) == dump(full)
    for st in (ck, full):
        create(st, ROOT_INO, 'q', b'x' * 3000)
    assert bytes(f.mem) == bytes(f2.mem)
    return ck.stats['mount_bytes_read'], full.stats['mount_bytes_read']

# NAND (whole pages, the commit padded to the page end), and versions and
# txn ids past 2**32 (wide headers)
print(same_after_checkpoint(
    lambda: SimFlash(1024 * 1024, 16384, 512, kind='nand', nop=2), 1))
print(same_after_checkpoint(lambda: SimFlash(256 * 1024, 4096, 256),
                            2 ** 32 - 100))
"""


def test_checkpoint_mount_on_nand_and_past_32_bit_counters(runtime):
    from test_logstore import COMMON, RANDOM_OPS
    out = runtime(COMMON + RANDOM_OPS + HELPERS + EDGES, timeout=600,
                  heap="16M")
    print(out)
    for line in out.strip().splitlines()[-2:]:
        r_ck, r_full = eval(line)
        assert r_ck < r_full, line


OLD_LAYOUT = """
from ovl.store import checkpoint_write
f = SimFlash(256 * 1024, 4096, 256)
s = random_ops(f, 7, 120, 100000)
tree = dump(s)
# the state section under the numbers checkpoints carried while the
# tables were chained hashes (7) and while entry rows were 4 words (8): a
# reader of today's layout refuses either
checkpoint_write.SEC_STATE = OLD
assert checkpoint.write(s, True)
checkpoint_write.SEC_STATE = checkpoint.SEC_STATE
m = LogStore.mount(f)
print(m.stats['mount_checkpoint'], repr(m.ckpt_why))
assert dump(m) == tree and not m.fsck()['errors']
# the next checkpoint is of today's layout, and is used
assert checkpoint.write(m, True)
again = LogStore.mount(f)
print(again.stats['mount_checkpoint'], checkpoint.SEC_STATE)
same_state(again, scan_mount(f))
assert dump(again) == tree
"""


def test_a_checkpoint_of_the_old_layout_is_refused_and_mount_scans(runtime):
    """A checkpoint written before the tables' layout changed numbers its
    state section 7 (before inode pages and open addressing, 2026-12-06)
    or 8 (before 3-word entry rows, that afternoon): mount refuses it
    cleanly (never reads its tables as today's), scans, and gives the
    same tree; the next checkpoint is today's and is used."""
    from test_logstore import COMMON, RANDOM_OPS
    for old in (7, 8):
        out = runtime(COMMON + RANDOM_OPS + HELPERS + "OLD = %d\n" % old +
                      OLD_LAYOUT, timeout=600,
                      heap="16M").strip().splitlines()
        assert out[-2:] == ["0 'checkpoint section %d'" % old, "1 9"], out
