"""The packed rows of the store's RAM index (ovl.store.index, docs/STORE.md
"RAM"): what the narrow fields do at their limits, and what is read from
flash instead of kept.  Every script runs under CPython and the real
micropython."""

from test_logstore import run


def test_rows_keep_no_version_and_saturate_nolder(runtime):
    """A row keeps no version (None: the node on flash has it) next to
    the packed node size, kind and block fields; nolder stops at
    NOLDER_MAX; a node size past the 10-bit field is refused, never cut."""
    out = run(runtime, """
from ovl.store.index import InodeTable, EntryTable, BlockSets, NOLDER_MAX
t = InodeTable()
ver = (1 << 47) + 5
t[9] = ((9, 1 << 40), ver, 0x12345678, 88, NOLDER_MAX + 30)
bs = BlockSets(t)
bs.add(9, 300)
print(t.get(9) == (True, None, 0x12345678, 88, NOLDER_MAX), t.live(9),
      bs.blocks(9))
t[9] = (None, ver + 1, 4, 28, 2)          # a deletion keeps the block
print(t.get(9) == (None, None, 4, 28, 2), t.live(9), bs.blocks(9))
try:
    t[9] = (True, 1, 2, 1024, 0)
    print('cut')
except ValueError:
    print('refused')
e = EntryTable(lambda addr, nsize, parent: None)
for value in (42, True, -1, None):
    e[(1, b'n', 64)] = (value, ver, 64, 292, 3)
    print(e.get((1, b'n', 64)) == (True if value == 42 else value, None, 64,
                                   292, 3))
""")
    assert out == ["True", "True", "(300,)", "True", "False", "(300,)",
                   "refused", "True", "True", "True", "True"]


def test_a_block_past_14_bits_goes_to_the_sets(runtime):
    """An inode's single data block is 14 bits of its row; a block number
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
print(bs.blocks(5), 5 in bs.sets, t.get(5)[0], t.live(5))
""")
    assert out == ["(16386,)", "True", "[3,", "16386]", "(16386,)", "True",
                   "()", "False", "(16381,)", "False", "True", "True"]


def test_versions_and_births_are_read_from_the_nodes(runtime):
    """The rows keep no version and no birth: the store reads them from
    the node at the row's address (header and key prefix, 36 bytes, under
    the header CRC) where it compares them; a mount counts the older
    inode nodes and keeps the newest."""
    out = run(runtime, """
f = SimFlash(64 * 1024, 2048, 256)
s = LogStore.format(f)
ino = create(s, ROOT_INO, 'f', b'x' * 10)
for k in range(3):
    t = s.begin()
    t.put_inode(ino, mode=0o100644, size=10, mtime=k + 5)
    t.commit()
birth = s.get(ino).birth
rec = s.inodes.get(ino)
before = s.stats['bytes_read']
print(rec[1], s._rec_ver(rec) == s.next_ver - 1, s.stats['bytes_read'] - before)
s.inode_cache.clear()
before = s.stats['bytes_read']
print(s._birth(ino) == birth, s.stats['bytes_read'] - before)
m = LogStore.mount(f)
print(m.get(ino).mtime, m.get(ino).birth == birth, m.inodes.get(ino)[4],
      m.read(ino, 0, 10)[0][2] == b'x' * 10, m.fsck()['errors'])
""")
    assert out == ["None", "True", "36", "True", "36", "7", "True", "3",
                   "True", "[]"]


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


def test_an_uncommitted_node_erased_leaves_a_tombstone_counted(runtime):
    """nolder counts the older nodes of a key that count: erasing the
    block of a cut transaction's node of the same key must not count the
    tombstone down (it did, when it compared versions: the removed name
    came back once GC had also let the tombstone go)."""
    out = run(runtime, """
f = SimFlash(64 * 1024, 2048, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'k', b'k' * 20)
first = s.wblock
i = 0
while s.wblock == first:
    create(s, ROOT_INO, 'fill%d' % i, b'f' * 100)
    i += 1
snap = f.snapshot()
ops0 = f.ops
t = s.begin()
t.link(ROOT_INO, 'k', a)            # the same key again, then data after it
t.write(a, 0, b'Z' * 1500)
t.commit()
n = f.ops - ops0
found = 0
def relink(s):
    t = s.begin()
    t.link(ROOT_INO, 'k', a)
    t.write(a, 0, b'Z' * 1500)
    t.commit()
for cut in range(1, n):
    m = cut_during(f, snap, cut, relink)
    if m.lookup(ROOT_INO, 'k') != a or not m.garbage_blocks:
        continue
    torn = [b for b in m.garbage_blocks if b != first]
    if len(torn) != 1:
        continue
    found += 1
    t = m.begin()
    t.unlink(ROOT_INO, 'k')
    t.commit()
    tomb = m.entries.get((ROOT_INO, b'k'))[2] // m.es
    m._collect(torn[0])             # the uncommitted dirent's block
    j = 0
    while m.wblock == tomb:
        create(m, ROOT_INO, 'more%d' % j, b'm' * 100)
        j += 1
    m._collect(tomb)                # the tombstone's, if it was let go
    again = LogStore.mount(f)
    assert again.lookup(ROOT_INO, 'k') is None, (cut, torn)
    assert m.lookup(ROOT_INO, 'k') is None
    assert not again.fsck()['errors'], cut
print(found > 0)
""", timeout=600)
    assert out == ["True"]


DAMAGED_VERSION = """
from ovl.store import format as fmt

def churn(seed):
    # files made, removed and x's inode rewritten at random, then x
    # deleted; its older inode nodes spread over the blocks
    rng = Xorshift(seed + 1)
    f = SimFlash(64 * 1024, 2048, 256)
    s = LogStore.format(f)
    x = create(s, ROOT_INO, 'x')
    live = []
    for i in range(400):
        r = rng.below(10)
        if r < 5 or not live:
            live.append(('f%d' % i, create(s, ROOT_INO, 'f%d' % i,
                                           b'q' * (50 + rng.below(200)))))
        elif r < 8:
            name, ino = live.pop(rng.below(len(live)))
            t = s.begin(); t.unlink(ROOT_INO, name); t.delete_inode(ino)
            t.commit()
        else:
            t = s.begin(); t.put_inode(x, mode=0o100644, size=0, mtime=i)
            t.commit()
    t = s.begin(); t.unlink(ROOT_INO, 'x'); t.delete_inode(x); t.commit()
    d_addr = s.inodes.get(x)[2]
    i = 0
    while s.wblock == d_addr // s.es:     # close the deletion's block
        i += 1
        create(s, ROOT_INO, 'g%d' % i, b'z' * 100)
    return f, x, d_addr

for seed in (0, 1, 3):
    f, x, d_addr = churn(seed)
    f.mem[d_addr + 8] ^= 1      # the deletion's version, under its header CRC
    m = LogStore.mount(f)
    rec = m.inodes.get(x)
    print(rec is None or rec[0] is None, m.lookup(ROOT_INO, 'x'))
"""


def test_a_deletion_with_a_damaged_header_stays_deleted(runtime):
    """A row's version is read from its node's header; a deletion whose
    header fails its CRC (its block's summary, under its own CRC, still
    carries it and its version) is not outvoted by an older inode node of
    the same inode met later at mount: the file stays deleted (it came
    back when a failed read counted as the oldest version)."""
    out = run(runtime, DAMAGED_VERSION, timeout=300)
    assert out == ["True", "None"] * 3


def test_a_dirent_with_a_damaged_header_reports_its_damage(runtime):
    """An entry in a block holding nodes older than its directory's birth
    has its version read from flash; when its header fails its CRC it is
    not taken for older than the directory (dropped quietly, its file an
    orphan): its lookup answers EIO, naming the damage."""
    out = run(runtime, """
f = SimFlash(64 * 1024, 2048, 256)
s = LogStore.format(f)
create(s, ROOT_INO, 'before', b'b' * 10)
d = create(s, ROOT_INO, 'd', mode=0o40755)
x = create(s, d, 'n', b'x' * 10)
addr = s.entries.get((d, b'n'))[2]
b = s.wblock
i = 0
while s.wblock == b:
    i += 1
    create(s, ROOT_INO, 'fill%d' % i, b'f' * 100)
f.mem[addr + 8] ^= 1
m = LogStore.mount(f)
try:
    print(m.lookup(d, 'n'))
except OSError as e:
    print(compat.errno_name(compat.error_code(e)))
print(m.get(x) is not None, len(m.repairs))
""")
    assert out == ["EIO", "True", "0"]


def test_an_older_tombstone_does_not_count_a_newer_one_down(runtime):
    """A removed name's tombstone waits for the older nodes that give the
    name a value; an older tombstone left on flash (its own count reached
    0 and its row went) is not one of them: erasing it does not count the
    newer tombstone down, so the name removed again stays removed (it came
    back once GC erased the tombstone too early)."""
    out = run(runtime, """
n = [0]
def advance(s):
    b = s.wblock
    while s.wblock == b:
        n[0] += 1
        create(s, ROOT_INO, 'fill%d' % n[0], b'f' * 100)
def block_of_k(s):
    return s.entries.get((ROOT_INO, b'k'))[2] // s.es
def link_k(s):
    t = s.begin(); t.link(ROOT_INO, 'k', a); t.commit()
def unlink_k(s):
    t = s.begin(); t.unlink(ROOT_INO, 'k'); t.commit()
f = SimFlash(64 * 1024, 2048, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'a' * 10)
advance(s)
link_k(s); live0 = block_of_k(s); advance(s)
unlink_k(s); tomb1 = block_of_k(s); advance(s)
s._collect(live0)           # tomb1's row goes, tomb1 stays on flash
print(s.entries.get((ROOT_INO, b'k')))
link_k(s); advance(s)
unlink_k(s); tomb3 = block_of_k(s); advance(s)
print(s.entries.get((ROOT_INO, b'k'))[4])
s._collect(tomb1)
print(s.entries.get((ROOT_INO, b'k'))[4])
s._collect(tomb3)
m = LogStore.mount(f)
print(s.lookup(ROOT_INO, 'k'), m.lookup(ROOT_INO, 'k'), m.fsck()['errors'])
""")
    assert out == ["None", "1", "1", "None", "None", "[]"]


def test_entry_rows_by_open_addressing_match_a_dict(runtime):
    """The entry table's index (open addressing, linear probing, deletion
    by placing the rest of a run again) against a dict, under names that
    collide on purpose (13 hashes for 300 keys: long runs of full slots),
    through growth of the index, free rows reused, and each directory's
    chain; then past 65,535 rows, where the slots widen to 32 bits."""
    out = run(runtime, """
from ovl.store.index import EntryTable
from ovl_sim.simflash import Xorshift

class Colliding(EntryTable):
    def hash(self, key):
        return key[1][0] % 13

def check(t, model):
    assert t.count == len(model)
    for key in model:
        assert t.get(key) == model[key], key
    for parent in range(5):
        got = sorted(t.rec(r)[2] for r in t.rows(parent))
        assert got == sorted(k[2] for k in model if k[0] == parent), parent

rng = Xorshift(3)
t = Colliding(None)
model = {}
keys = [(k % 5, bytes([k % 251, k // 251]), 64 + 4 * k) for k in range(300)]
for step in range(3000):
    key = keys[rng.below(len(keys))]
    if key in model and rng.below(3) == 0:
        del t[key]
        del model[key]
    else:
        rec = ((None, True, -1)[rng.below(3)], None, key[2], 40 + key[0],
               rng.below(20))
        t[key] = rec
        model[key] = (rec[0], None, key[2], rec[3], min(rec[4], 15))
    if step % 500 == 0:
        check(t, model)
check(t, model)
for key in list(model):
    del t[key]
print(t.count, t.heads, t.mask + 1, t.n)
for key in keys[:50]:           # free rows come back first
    t[key] = (True, None, key[2], 50, 0)
print(t.n, t.count)

big = EntryTable(None)
n = 0xFFFF + 20
for k in range(n):
    big[(k % 3, b'%d' % k, 4 * k + 4)] = (True, None, 4 * k + 4, 60, 0)
ok = all(big.get((k % 3, b'%d' % k, 4 * k + 4))[2] == 4 * k + 4
         for k in range(0, n, 97))
ok = ok and big.get(((n - 1) % 3, b'%d' % (n - 1), 4 * n))[2] == 4 * n
del big[(1, b'1', 8)]
print(ok, big.count, big.get((1, b'1', 8)), big.slots[0].itemsize
      if hasattr(big.slots[0], 'itemsize') else len(bytes(big.slots[0])) //
      len(big.slots[0]), len(big.slots) * 256 >= 4 * big.count // 3)
""", heap="16M")
    # empty again, the index as grown (at most 3/4 full at the top), and
    # the 50 new rows are freed ones (no row past those ever used)
    assert out[:3] == ["0", "{}", "512"], out
    assert out[4] == out[3] and out[5] == "50", out
    assert out[6:] == ["True", str(0xFFFF + 19), "None", "4", "True"], out


def test_inode_pages_match_a_dict_and_free_their_pages(runtime):
    """Inode rows by page (16 inos a page, no key, no link): against a
    dict over dense and sparse inos; a page goes with its last row, its
    slot is reused, the rows' numbers stay below n (the mount's records
    index by them), and a walk may delete the rows it meets."""
    out = run(runtime, """
from ovl.store.index import InodeTable, PAGE
from ovl_sim.simflash import Xorshift

rng = Xorshift(9)
t = InodeTable()
model = {}
inos = list(range(1, 200)) + [1000 + 37 * k for k in range(40)] + \\
    [2 ** 31 + 5, 2 ** 32 - 1]
for step in range(4000):
    ino = inos[rng.below(len(inos))]
    if ino in model and rng.below(2) == 0:
        del t[ino]
        del model[ino]
    else:
        rec = ((None, True)[rng.below(2)], None, 4 * step + 64, 60,
               rng.below(3))
        t[ino] = rec
        model[ino] = (rec[0], None, rec[2], 60, rec[4])
    assert len(t) == len(model)
    r = t._find(ino)
    assert (r >= 0) == (ino in model) and r < t.n
assert sorted(t.items()) == sorted(model.items())
assert sorted(t) == sorted(model)
pages = {}
for ino in model:
    pages[ino // PAGE] = True
print(sorted(t.pages) == sorted(pages), len(t.chunks) - t.holes ==
      len(pages), t.n == PAGE * len(t.chunks))
for ino in t:                   # deleting as it walks: no list() needed
    del t[ino]
    del model[ino]
print(len(t), t.pages, t.chunks, t.n, model)
try:
    del t[5]
except KeyError:
    print('KeyError')
""", heap="16M")
    assert out == ["True", "True", "True", "0", "{}", "[]", "0", "{}",
                   "KeyError"]
