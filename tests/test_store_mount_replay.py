"""The order in which mount replays an inode's data nodes, and when
(ovl.store.mount.MountData, docs/STORE.md "Mount"): each bucket of
inodes once the last block holding a node of one of them is read."""

SCRIPT = """
from array import array
from ovl.store.mount import MountData
from ovl.store.format import Node, NODE_DATA, NODE_TRUNCATE

# 2 buckets: inodes 7 and 9 share one; the copy (txn 9) sits below its
# original (txn 3) in the address space (a block erased and written
# again); the truncation between two writes lies in yet another block
d = MountData(4, array("H", bytes(4)))     # no block read yet
d.add(Node(300, NODE_DATA, 0, 20, 6, 4, (7, 0, 8, None), None))
d.add(Node(100, NODE_DATA, 0, 20, 5, 9, (7, 0, 8, None), None))
d.add(Node(500, NODE_TRUNCATE, 0, 12, 4, 2, (7, 2), None))
d.add(Node(200, NODE_DATA, 0, 20, 5, 3, (7, 0, 8, None), None))
d.add(Node(400, NODE_DATA, 0, 20, 1, 1, (8, 0, 8, None), None))
d.add(Node(600, NODE_DATA, 0, 20, 2, 2, (9, 0, 8, None), None))
print(sorted((ino, [nd.addr for nd in nodes])
             for ino, nodes in d.per_inode(False, {})))
# the records replayed are free: the next ones reuse them
d.add(Node(700, NODE_DATA, 0, 20, 7, 7, (8, 0, 8, None), None))
print(d.n, d.free, [(ino, [nd.addr for nd in nodes])
                    for ino, nodes in d.per_inode(False, {})])
"""


def test_records_replay_by_inode_in_version_then_txn_order(runtime):
    """A GC copy keeps its node's version and is written in a later
    transaction: it must replay after its original whatever its
    address; each inode's nodes come together, in version order."""
    out = runtime(SCRIPT).strip().splitlines()
    assert out == ["[(7, [500, 200, 100, 300]), (8, [400]), (9, [600])]",
                   "6 2 [(8, [700])]"]


SPREAD = """
from ovl.store import mount as mount_mod

from ovl_sim.simflash import PowerCut


def both(f):
    # the mount as it runs (buckets replayed as their last block is read),
    # and one that holds every record to the end, as mount did before
    early = [0]
    replays = mount_mod.MountData.per_inode

    def counted(self, due, *rest):
        if due:
            early[0] += 1
        return replays(self, due, *rest)
    mount_mod.MountData.per_inode = counted
    try:
        m = LogStore.mount(f, checkpoints=False)
    finally:
        mount_mod.MountData.per_inode = replays
    inode_of = mount_mod.inode_of
    mount_mod.inode_of = lambda nd: None       # no bucket ever due
    try:
        w = LogStore.mount(f, checkpoints=False)
    finally:
        mount_mod.inode_of = inode_of
    return m, w, early[0]


def same(m, w):
    return list(m.blocks.dead) == list(w.blocks.dead) and \\
        dump(m) == dump(w) and not m.fsck()['errors']


f = SimFlash(40 * 1024, 2048, 256)
s = LogStore.format(f)
s.checkpoints = False
x = create(s, ROOT_INO, 'x', b'a' * 900)
y = create(s, ROOT_INO, 'y', b'y' * 300)
z = create(s, ROOT_INO, 'z', b'q' * 500)
n = 0
def others(k):
    global n
    for i in range(k):
        create(s, ROOT_INO, 'f%d' % n, b'%d' % n * 40)
        n += 1
others(8)
t = s.begin()
t.truncate(x, 100)              # a truncation between writes in two blocks
t.commit()
others(8)
t = s.begin()
t.write(x, 0, b'b' * 1500)      # an overwrite spanning blocks: the
                                # first write dead
t.commit()
others(8)
t = s.begin()
t.write(y, 100, b'z' * 50)      # a file rewritten far from its first block
t.write(z, 0, b'r' * 600)       # another, its first node hidden: dead
t.commit()
for i in range(0, n, 2):        # dead space for the collection
    t = s.begin()
    t.unlink(ROOT_INO, 'f%d' % i)
    t.commit()
s.sync()
m, w, early = both(f)
want = b'b' * 1500
print(early > 0, same(m, w), content(m, x) == want,
      content(m, y) == b'y' * 100 + b'z' * 50 + b'y' * 150,
      content(m, z) == b'r' * 600)
snap = f.snapshot()
s = LogStore.mount(f, checkpoints=False)
ops0 = f.ops
s.gc(1)
nops = f.ops - ops0
bad = []
for i in range(nops):
    f.restore(snap)
    s = LogStore.mount(f, checkpoints=False)
    f.arm_power_cut(i, torn='clean')
    try:
        s.gc(1)
    except PowerCut:
        pass
    f.power_on()
    m, w, early = both(f)
    if not same(m, w) or content(m, x) != want:
        bad.append(i)
print(nops > 2, bad)
"""


def test_replay_as_blocks_are_read_matches_replay_at_the_end(runtime):
    """An inode whose nodes lie in several blocks (an overwrite spanning
    blocks, a truncation between writes in different blocks, a file
    rewritten far from its first block) and every cut of a collection
    (its copies keep their versions): the mount that replays each bucket
    of inodes once its last block is read counts the same dead bytes,
    and shows the same files, as one that replays all at the end, and
    fsck agrees."""
    from test_logstore import COMMON
    out = runtime(COMMON + SPREAD, timeout=600).strip().splitlines()
    assert out == ["True True True True True", "True []"]
