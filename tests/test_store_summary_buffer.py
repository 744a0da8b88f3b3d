"""The summary buffer a mount lends (ovl.store.blocks.Blocks.read_kept's
body, docs/STORE.md "Mount"): the summaries' bodies are read into it, not
as a fresh copy a block, and it then holds the open block's summary
entries; and the entries format.SummaryBuilder packs in place."""

from test_logstore import COMMON

LENT = """
import struct
from ovl.store import format as fmt

f = SimFlash(96 * 1024, 4096, 256)
s = LogStore.format(f)
s.checkpoints = False
d = create(s, ROOT_INO, 'd', mode=0o040755)
for i in range(120):
    create(s, d, 'file%03d' % i, b'%d;' % i * (20 + i % 40))
s.sync()

def bodies():
    # (address, length) of each block's summary body
    out = []
    for b in range(f.block_count):
        base = b * 4096
        off, magic = struct.unpack(fmt.SUMMARY_TAIL,
                                   f.read(base + 4096 - 8, 8))
        if magic == fmt.SUMMARY_MAGIC:
            hf = fmt.header_fields(f.read(base + off, fmt.NODE_HDR_SIZE))
            out.append((base + off + fmt.NODE_HDR_SIZE, hf[2]))
    return out

summaries = bodies()
plain = []
read = f.read
def logged(addr, n):
    plain.append((addr, n))
    return read(addr, n)
f.read = logged
m = LogStore.mount(f, checkpoints=False)
f.read = read
copies = [r for r in plain if r in summaries]
head = m.wblock
after = [a for a, n in summaries if head is not None and a // 4096 > head]
big = [n for a, n in summaries if n > 1024]
# each body read at most twice (the two passes); as a copy only in the
# second pass, after the head block took the buffer, or past its size
print(len(summaries) > 4, len(copies) <= len(after) + 2 * len(big),
      len(copies) < len(summaries))
# no longer lent: a summary read at run time is a plain read
# the open block's entries hold it; with none, no builder is kept
print(m.blocks.body is None, (m.wsum is None) == (head is None),
      head is None or len(m.wsum.buf) == m.wsum.total)
print(dump(m) == dump(s), not m.fsck()['errors'])
"""


def test_mount_reads_summaries_into_the_buffer_it_lends(runtime):
    """A store of 120 small files in 4 KiB blocks: the mount reads the
    summaries' bodies into the buffer it lends (a plain read, a fresh
    copy, only for those read after the open block's entries took the
    buffer), then lends it no more; the store mounts the same."""
    out = runtime(COMMON + LENT, timeout=300).strip().splitlines()
    assert out == ["True True True", "True True True", "True True"], out


PACKED = """
import struct
from ovl.store import format as fmt
from ovl.store.format import Node, SummaryBuilder
from ovl.store.write import pack_node

sb = SummaryBuilder(32)
buf = sb.buf
wide = (5 << 32) | 7
nodes = [Node(32, 3, 1, 12, 9, 4, None, b'\\x01\\x00\\x00\\x00ab\\x00\\x00'
              b'\\x00\\x00cd'),
         Node(100, 4, 0, 40, 10, 5, None, b'k' * 12),      # off: explicit
         Node(180, 1, fmt.F_WIDE, 60, wide, wide + 1, None, b'wxyz')]  # both
for nd in nodes:
    sb.add(nd.addr, nd)
want = struct.pack('<BBIII', 3, 1, 12, 9, 4) + nodes[0].keep + \\
    struct.pack('<BBIIII', 4, 0x80, 40, 10, 5, 100) + nodes[1].keep + \\
    struct.pack('<BBIIIIHH', 1, 0x80 | fmt.F_WIDE, 60, 7, 8, 180, 5, 5) + \\
    nodes[2].keep
print(bytes(sb.buf) == want, sb.total == len(want), sb.n == 3,
      sb.next_off == 180 + fmt.node_size(60, fmt.F_WIDE))
sb.clear(32)
print(sb.buf is buf, len(sb.buf), sb.total, sb.n)
# read back from a block holding the summary
es = 1024
img = bytearray(b'\\xff' * es)
sb = SummaryBuilder(32)
for nd in nodes:
    sb.add(nd.addr, nd)
raw = pack_node(fmt.NODE_SUMMARY, 0, 0, 0, struct.pack('<I', sb.n) + sb.buf)
at = 300
img[at:at + len(raw)] = raw
img[es - 8:] = struct.pack(fmt.SUMMARY_TAIL, at, fmt.SUMMARY_MAGIC)
got = []
res = fmt.read_summary(lambda a, n: bytes(img[a:a + n]), 0, es, 32, True,
                       lambda nd: got.append((nd.addr, nd.type, nd.flags,
                                              nd.blen, nd.ver, nd.txn)))
print(res is not None and res[1] == at, got == [
    (nd.addr, nd.type, nd.flags, nd.blen, nd.ver, nd.txn) for nd in nodes])
# an entry that fails part way (its kept bytes not bytes: as a MemoryError
# growing the buffer would) leaves nothing of itself in the buffer
sb = SummaryBuilder(32)
sb.add(nodes[0].addr, nodes[0])
before = bytes(sb.buf)
try:
    sb.add(100, Node(100, 4, 0, 40, 10, 5, None, 12345))
    print("added")
except TypeError:
    print(bytes(sb.buf) == before, sb.n == 1)
"""


def test_summary_entries_packed_in_place(runtime):
    """Entries appended to the builder's buffer in place (an explicit
    offset, the high bits of wide counters) have the layout of
    docs/FORMAT.md, read back the same; clear keeps the buffer; an entry
    failing part way leaves none of its bytes."""
    out = runtime(PACKED).strip().splitlines()
    assert out == ["True True True True", "True 0 0 0", "True True",
                   "True True"], out
