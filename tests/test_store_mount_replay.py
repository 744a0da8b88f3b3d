"""The order in which mount replays an inode's data nodes
(ovl.store.index.MountData, docs/STORE.md "Mount"): the records keep no
txn id unless the mount found committed streams, so a GC copy and its
original (same version, both on flash after a cut) must get theirs from
flash, and the copy, written in the later transaction, must come last
whatever its address."""

SCRIPT = """
from ovl.store.index import MountData
from ovl.store.format import Node, NODE_DATA, NODE_TRUNCATE


class Rows:
    # the little of InodeTable that per_inode uses: inodes 7 and 8
    n = 2

    def _find(self, ino):
        return {7: 0, 8: 1}.get(ino, -1)

    def __iter__(self):
        return iter((7, 8))


TXN = {100: 9, 200: 3}      # address -> txn id on "flash"
asked = []


def txn_at(addr):
    asked.append(addr)
    return TXN[addr]


for txns in (False, True):
    d = MountData(4, txns)
    # the copy (txn 9) sits below its original (txn 3) in the address
    # space: a block erased and written again; the truncation between two
    # writes lies in yet another block
    d.add(Node(300, NODE_DATA, 0, 20, 6, 4, (7, 0, 8, None), None))
    d.add(Node(100, NODE_DATA, 0, 20, 5, 9, (7, 0, 8, None), None))
    d.add(Node(500, NODE_TRUNCATE, 0, 12, 4, 2, (7, 2), None))
    d.add(Node(200, NODE_DATA, 0, 20, 5, 3, (7, 0, 8, None), None))
    d.add(Node(400, NODE_DATA, 0, 20, 1, 1, (8, 0, 8, None), None))
    del asked[:]
    got = [(ino, [nd.addr for nd in nodes])
           for ino, nodes in d.per_inode(Rows(), {}, txn_at)]
    print(txns, d.size, got, sorted(asked))
"""


def test_a_gc_copy_replays_after_its_original(runtime):
    out = runtime(SCRIPT).strip().splitlines()
    # without txn ids: 18-byte records, the two tied nodes' ids read
    assert out[0] == "False 18 [(7, [500, 200, 100, 300]), (8, [400])] " \
        "[100, 200]"
    # with them (a mount that found committed streams): 22 bytes, no read
    assert out[1] == "True 22 [(7, [500, 200, 100, 300]), (8, [400])] []"
