"""The packed rows of the store's RAM index (ovl.store.index, docs/STORE.md
"RAM"): what the narrow fields do at their limits, and what is read from
flash instead of kept.  Every script runs under CPython and the real
micropython."""

from test_logstore import run


def test_row_fields_keep_48_bit_versions_and_saturate_nolder(runtime):
    """A row keeps a 48-bit version and birth exactly next to the packed
    node size, kind and block fields; nolder stops at NOLDER_MAX; a node
    size past the 10-bit field is refused, never cut."""
    out = run(runtime, """
from ovl.store.index import InodeTable, EntryTable, BlockSets, NOLDER_MAX
t = InodeTable()
ver = (1 << 47) + 5
birth = (1 << 40) | 7
t[9] = ((9, birth), ver, 0x12345678, 88, NOLDER_MAX + 30)
bs = BlockSets(t)
bs.add(9, 300)
print(t.get(9) == (True, ver, 0x12345678, 88, NOLDER_MAX), t.birth(9) == birth,
      bs.blocks(9))
t[9] = (None, ver + 1, 4, 28, 2)          # a deletion keeps birth and block
print(t.get(9) == (None, ver + 1, 4, 28, 2), bs.blocks(9))
try:
    t[9] = (True, 1, 2, 1024, 0)
    print('cut')
except ValueError:
    print('refused')
e = EntryTable(lambda addr, nsize, parent: None)
for value in (42, True, -1, None):
    e[(1, b'n', 64)] = (value, ver, 64, 292, 3)
    print(e.get((1, b'n', 64)) == (True if value == 42 else value, ver, 64,
                                   292, 3))
""")
    assert out == ["True", "True", "(300,)", "True", "(300,)", "refused",
                   "True", "True", "True", "True"]


def test_a_block_past_15_bits_goes_to_the_sets(runtime):
    """An inode's single data block is 15 bits of its row; a block number
    past that is kept in BlockSets.sets like a file in several blocks, on
    the way in and when the others go."""
    out = run(runtime, """
from ovl.store.index import InodeTable, BlockSets, MANY
t = InodeTable()
t[5] = ((5, 1), 1, 100, 88, 0)
bs = BlockSets(t)
bs.add(5, MANY + 3)
print(bs.blocks(5), 5 in bs.sets)
bs.add(5, 3)
print(sorted(bs.blocks(5)))
bs.discard(5, 3)
print(bs.blocks(5), 5 in bs.sets)
bs.discard(5, MANY + 3)
print(bs.blocks(5), 5 in bs.sets)
bs.add(5, MANY - 2)
print(bs.blocks(5), 5 in bs.sets, t.get(5)[0], t.birth(5))
""")
    assert out == ["(32770,)", "True", "[3,", "32770]", "(32770,)", "True",
                   "()", "False", "(32765,)", "False", "True", "1"]


def test_a_saturated_tombstone_waits_for_a_remount(runtime):
    """A deletion with more older nodes on flash than nolder counts keeps
    its tombstone after GC erased them all (the count cannot go down from
    saturation: a kept tombstone, never a file that comes back); the next
    mount counts none and drops it."""
    out = run(runtime, """
from ovl.store.index import NOLDER_MAX
from ovl.store.format import NODE_INODE
f = SimFlash(64 * 1024, 2048, 256)
s = LogStore.format(f)
ino = create(s, ROOT_INO, 'f')
for k in range(NOLDER_MAX + 5):
    t = s.begin()
    t.put_inode(ino, mode=0o100644, size=0, mtime=k + 2)
    t.commit()
t = s.begin()
t.unlink(ROOT_INO, 'f')
t.delete_inode(ino)
t.commit()
print(s.inodes.get(ino)[4] == NOLDER_MAX)
for k in range(12):
    create(s, ROOT_INO, 'g%d' % k, b'x' * 300)
s.gc(40)
older = 0
for b in range(s.nblocks):
    if s.blocks.state[b] in (1, 2):
        for nd in s._scan(b)[0]:
            if nd.type == NODE_INODE and nd.fields[0] == ino:
                older += 1
rec = s.inodes.get(ino)
print(older, rec is not None and rec[0] is None, s.get(ino), s.fsck()['errors'])
m = LogStore.mount(f)
print(m.inodes.get(ino), m.get(ino), m.lookup(ROOT_INO, 'f'), m.fsck()['errors'])
""")
    assert out == ["True", "0", "True", "None", "[]", "None", "None", "None",
                   "[]"]


def test_a_dirent_naming_no_inode_is_dropped_at_mount(runtime):
    """The entry rows keep no inode number: mount reads each dirent node
    to find names of inodes that do not exist (damage leaves them) and
    drops them; lookup and listdir take the number from the node they
    read anyway."""
    out = run(runtime, """
f = SimFlash(64 * 1024, 2048, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a')
t = s.begin()
t.link(ROOT_INO, 'ghost', 4242)
t.commit()
print(s.lookup(ROOT_INO, 'ghost'), s.lookup(ROOT_INO, 'a') == a,
      sorted(s.listdir(ROOT_INO)) == [('a', a), ('ghost', 4242)])
m = LogStore.mount(f)
print(m.lookup(ROOT_INO, 'ghost'), list(m.listdir(ROOT_INO)) == [('a', a)],
      m.repairs)
""")
    assert out == ["4242", "True", "True", "None", "True",
                   "[\"dropped", "dirent", "b'ghost'", "in", "dir", "1:",
                   "inode", "4242", "missing\"]"]


def test_a_dirent_name_past_name_max_is_refused_on_read(runtime):
    """The index keeps a node's size in 10 bits: the reader refuses a
    dirent body longer than NAME_MAX allows (FORMAT.md: 1..255 bytes)."""
    out = run(runtime, """
import struct
from ovl.store.format import parse_body, NODE_DIRENT, NAME_MAX
ok = parse_body(NODE_DIRENT, struct.pack('<II', 1, 2) + b'n' * NAME_MAX,
                8 + NAME_MAX)
print(len(ok[2]))
try:
    parse_body(NODE_DIRENT, struct.pack('<II', 1, 2) + b'n' * (NAME_MAX + 1),
               9 + NAME_MAX)
    print('taken')
except ValueError:
    print('refused')
""")
    assert out == ["255", "refused"]
