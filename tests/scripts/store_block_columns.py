"""The block table's dead-bytes column is a signed array as wide as its
erase blocks need, and a summary whose nodes overlap (listed out of log
order) is refused, so mount's count-down of dead bytes stays within the
block (tests/test_store_block_columns.py checks each label on both
runtimes)."""
import struct

from checklib import report
from ovl.store import LogStore, ROOT_INO
from ovl.store.format import (SummaryBuilder, Node, NODE_DIRENT, NODE_SUMMARY,
                              SUMMARY_TAIL, SUMMARY_MAGIC, node_size,
                              read_summary)
from ovl.store.write import pack_node
from ovl_sim.simflash import SimFlash

out = {}
ES = 4096
DS = 32          # where a block's log starts after its header
BODY = struct.pack("<II", ROOT_INO, 5) + b"name"     # a dirent: parent, ino


def summary_of(offsets):
    """read_summary over a block whose summary lists a 12-byte dirent at
    each offset: how many nodes it gives, or None when it is refused."""
    sb = SummaryBuilder(DS)
    for off in offsets:
        sb.add(off, Node(off, NODE_DIRENT, 0, len(BODY), 1, 1, None, BODY))
    raw = pack_node(NODE_SUMMARY, 0, 0, 0, struct.pack("<I", sb.n) + sb.buf)
    at = 1024
    img = bytearray(b"\xff" * ES)
    img[at:at + len(raw)] = raw
    img[ES - 8:] = struct.pack(SUMMARY_TAIL, at, SUMMARY_MAGIC)
    got = read_summary(lambda a, n: bytes(img[a:a + n]), 0, ES, DS)
    return None if got is None else [nd.addr for nd in got[0]]


step = node_size(len(BODY), 0)
out["in log order, one after the other"] = summary_of([DS, DS + step])
out["in log order, a gap between"] = summary_of([DS, DS + 2 * step])
out["the second inside the first"] = summary_of([DS, DS + 4])
out["the second before the first"] = summary_of([DS + step, DS])

kinds = []
for es in (4096, 32768):
    f = SimFlash(16 * es, es, 256)
    s = LogStore.format(f)
    t = s.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644)
    t.link(ROOT_INO, "f", ino)
    t.write(ino, 0, b"x" * 100)
    t.commit()
    t = s.begin()
    t.truncate(ino, 0)
    t.write(ino, 0, b"y" * 50)      # the first write is dead now
    t.commit()
    m = LogStore.mount(f)
    col = m.blocks.dead
    width = len(bytes(col)) // len(col)
    same = col == s.blocks.dead
    low = min(col)
    errors = m.fsck()["errors"]
    col[0] = -1                         # signed: holds a count below zero
    kinds.append([width, col[0] == -1, same, low >= 0, errors])
out["dead bytes: bytes a block, signed, same after a mount, none below "
    "zero"] = kinds
report(out)
