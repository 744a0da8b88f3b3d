"""The order in which mount replays an inode's data nodes
(ovl.store.index.MountData, docs/STORE.md "Mount"): the records keep no
txn id unless the mount found committed streams, so a GC copy and its
original (same version, both on flash after a cut) must get theirs from
flash, and the copy, written in the later transaction, must come last
whatever its address."""

SCRIPT = """
from ovl.store.index import MountData
from ovl.store.format import Node, NODE_DATA, NODE_TRUNCATE


TXN = {100: 9, 200: 3}      # address -> txn id on "flash"
asked = []


def txn_at(addr):
    asked.append(addr)
    return TXN[addr]


for txns in (False, True):
    # 2 buckets: inodes 7 and 9 share one
    d = MountData(4, txns, 2)
    # the copy (txn 9) sits below its original (txn 3) in the address
    # space: a block erased and written again; the truncation between two
    # writes lies in yet another block
    d.add(Node(300, NODE_DATA, 0, 20, 6, 4, (7, 0, 8, None), None))
    d.add(Node(100, NODE_DATA, 0, 20, 5, 9, (7, 0, 8, None), None))
    d.add(Node(500, NODE_TRUNCATE, 0, 12, 4, 2, (7, 2), None))
    d.add(Node(200, NODE_DATA, 0, 20, 5, 3, (7, 0, 8, None), None))
    d.add(Node(400, NODE_DATA, 0, 20, 1, 1, (8, 0, 8, None), None))
    d.add(Node(600, NODE_DATA, 0, 20, 2, 2, (9, 0, 8, None), None))
    del asked[:]
    got = [(ino, [nd.addr for nd in nodes])
           for ino, nodes in d.replays(None, {}, txn_at)]
    print(txns, d.size, got, sorted(asked))
"""


def test_a_gc_copy_replays_after_its_original(runtime):
    out = runtime(SCRIPT).strip().splitlines()
    # without txn ids: 18-byte records, the two tied nodes' ids read
    assert out[0] == "False 18 [(8, [400]), (7, [500, 200, 100, 300]), " \
        "(9, [600])] [100, 200]"
    # with them (a mount that found committed streams): 22 bytes, no read
    assert out[1] == "True 22 [(8, [400]), (7, [500, 200, 100, 300]), " \
        "(9, [600])] []"


SPREAD = """
import ovl.store as store_mod
from ovl.store import index
from ovl_sim.simflash import PowerCut


def both(f):
    # the mount as it runs (buckets replayed as their last block is read),
    # and one that holds every record to the end, as mount did before
    early = [0]
    replays = index.MountData.replays

    def counted(self, due, *rest):
        if due is not None:
            early[0] += 1
        return replays(self, due, *rest)
    index.MountData.replays = counted
    try:
        m = LogStore.mount(f, checkpoints=False)
    finally:
        index.MountData.replays = replays
    inode_of = store_mod.inode_of
    store_mod.inode_of = lambda nd: None       # no bucket ever due
    try:
        w = LogStore.mount(f, checkpoints=False)
    finally:
        store_mod.inode_of = inode_of
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
