"""The checkpoint's standalone parts (docs/STORE.md, "Checkpoint"): the
piece framing, the position check, and the index tables saved and
restored piece by piece.  Nothing writes a checkpoint into the log yet;
these pin the parts the mount and sync wiring will use.  Every script
runs under CPython and the real micropython.
"""

COMMON = """
from ovl.store.checkpoint import (PieceReader, CheckpointError,
    PIECE_MAX, SEC_INODES, SEC_ENTRIES, SEC_POSITION,
    unpack_position_head, position_block, position_matches, restore_table)
from ovl.store.checkpoint_write import PieceWriter, pack_position, save_table

def write(sections, cid=7):
    pieces = []
    w = PieceWriter(cid, pieces.append)
    for sec, data in sections:
        w.section(sec, data)
    w.finish()
    return pieces

def read(pieces, cid=7):
    r = PieceReader(cid)
    got = []
    for p in pieces:
        x = r.feed(p)
        if x is not None:
            got.append((x[0], bytes(x[1])))
    return got, r.complete
"""


def run(runtime, body):
    return runtime(COMMON + body).split()


def test_pieces_round_trip_and_every_damage_is_caught(runtime):
    out = run(runtime, """
big = bytes(range(256)) * 9                 # 2,304 bytes: three pieces
pieces = write([(SEC_POSITION, b'pos'), (SEC_INODES, big)])
assert len(pieces) == 5, len(pieces)
assert max(len(p) for p in pieces) <= PIECE_MAX + 8
got, done = read(pieces)
assert done
assert got[0] == (SEC_POSITION, b'pos')
assert b''.join(g[1] for g in got[1:]) == big
assert all(g[0] == SEC_INODES for g in got[1:])
# a cut after any piece: never complete, nothing raised before the cut
for k in range(len(pieces)):
    assert not read(pieces[:k])[1]
# every byte of every piece flipped: an error, never a complete checkpoint
caught = 0
for i in range(len(pieces)):
    for j in range(len(pieces[i])):
        bad = list(pieces)
        p = bytearray(bad[i])
        p[j] ^= 0x10
        bad[i] = bytes(p)
        try:
            done = read(bad)[1]
        except CheckpointError:
            caught += 1
            continue
        assert not done, (i, j)
# a piece dropped, doubled or swapped; another checkpoint's pieces
for bad in (pieces[:1] + pieces[2:], pieces[:2] + pieces[1:],
            [pieces[1], pieces[0]] + pieces[2:]):
    try:
        read(bad)
        raise AssertionError('accepted')
    except CheckpointError:
        caught += 1
try:
    read(pieces, cid=8)
    raise AssertionError('accepted another id')
except CheckpointError:
    caught += 1
print(caught, sum(len(p) for p in pieces) + 4)
""")
    caught, expected = int(out[0]), int(out[1])
    assert caught == expected, (caught, expected)


def test_position_detects_erased_and_rewritten_blocks(runtime):
    out = run(runtime, """
blocks = [(3, 10, 4096), (0, 0, 0), (5, 0x1FFFFFFFF, 512)]
raw = pack_position(1 << 40, 99, 98, blocks)
assert unpack_position_head(raw) == (1 << 40, 99, 98, 3)
assert [position_block(raw, b) for b in range(3)] == [
    (3, 10, 4096), (0, 0, 0), (5, 0xFFFFFFFF, 512)]
try:
    position_block(raw[:-1], 2)
    raise AssertionError('cut position accepted')
except CheckpointError:
    pass
d = position_block(raw, 0)
print(position_matches(d, 3, 10, 4096), position_matches(d, 3, 10, 8192),
      position_matches(d, 4, 10, 4096), position_matches(d, 3, 11, 4096),
      position_matches(d, 3, 10, 4000),
      position_matches(position_block(raw, 1), 9, 9, 100),
      position_matches(position_block(raw, 2), 5, 0x1FFFFFFFF, 512))
""")
    assert out == ["True", "True", "False", "False", "False", "True", "True"]


def test_index_tables_restore_identical_from_pieces(runtime):
    out = run(runtime, """
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore, ROOT_INO
from ovl.store.index import InodeTable, EntryTable

f = SimFlash(256 * 1024, 4096, 256)
s = LogStore.format(f)
dirs = [ROOT_INO]
names = []
for k in range(150):
    t = s.begin()
    ino = t.new_ino()
    isdir = k % 10 == 0
    t.put_inode(ino, mode=0o40755 if isdir else 0o100644, size=0, mtime=k)
    parent = dirs[k % len(dirs)]
    t.link(parent, 'n%d' % k, ino)
    t.commit()
    names.append((parent, b'n%d' % k))
    if isdir:
        dirs.append(ino)
for k in range(0, 150, 7):          # free rows, tombstones
    if k % 10:
        t = s.begin()
        t.unlink(names[k][0], names[k][1].decode())
        t.commit()

def save(table, sec):
    pieces = []
    w = PieceWriter(1, pieces.append)
    save_table(table, lambda b: w.section(sec, b))
    w.finish()
    return pieces

def restore(table, pieces):
    r = PieceReader(1)
    it = iter(pieces)
    def take():
        x = r.feed(next(it))
        return x[1]
    restore_table(table, take)
    assert r.feed(next(it)) is None and r.complete

ip = save(s.inodes, SEC_INODES)
ep = save(s.entries, SEC_ENTRIES)
inodes = InodeTable()
restore(inodes, ip)
entries = EntryTable(s._dirent_at)
restore(entries, ep)
assert sorted(inodes.items()) == sorted(s.inodes.items())
for ino in s.inodes:
    assert inodes.live(ino) == s.inodes.live(ino)
    assert s.data_blocks.blocks(ino) == \\
        __import__('ovl.store.index').store.index.BlockSets(inodes).blocks(ino)
same = 0
for key in names:
    assert entries.get(key) == s.entries.get(key), key
    same += 1
for d in dirs:
    a = [(entries.fields(r, d), entries.rec(r)) for r in entries.rows(d)]
    b = [(s.entries.fields(r, d), s.entries.rec(r)) for r in s.entries.rows(d)]
    assert a == b, d
# the restored tables keep working: a new row lands as in the original
for t in (inodes, s.inodes):
    t[9999] = (None, 5, 6, 7, 0)
assert inodes.get(9999) == s.inodes.get(9999)
# a piece of the wrong kind or size is refused
try:
    restore(InodeTable(), ep)
    raise AssertionError('entries restored as inodes')
except CheckpointError:
    pass
# so is a table of the chained-hash layout (head: row width, rows, in
# use, free, bucket chunks), for either table
import struct
for table, w in ((EntryTable(s._dirent_at), 5), (InodeTable(), 4)):
    old = []
    pw = PieceWriter(1, old.append)
    pw.section(SEC_ENTRIES, struct.pack('<IIIII', w, 16, 3, 0, 1))
    pw.section(SEC_ENTRIES, bytes(64 * w))
    pw.finish()
    try:
        restore(table, old)
        raise AssertionError('an old table restored')
    except CheckpointError:
        pass
print(same, len(ip), len(ep), max(len(p) for p in ip + ep))
""")
    same, npi, npe, biggest = map(int, out)
    assert same == 150
    assert npi > 3 and npe > 3
    assert biggest <= 1024 + 8


def test_table_pieces_cost_about_the_rows(runtime):
    # the tables' share of a checkpoint is the rows as they are in RAM
    # (an inode row 8 B in pages of 32 with their page number, an entry
    # row 12 B, no index: the loader places the rows again; plus piece
    # headers): a budget, and the figure the design's numbers quote
    # (21,016 B at 1,000 files; 24,836 B with 16 B entry rows; 40,904 B
    # with the chained hashes' 16 and 20 B rows and their buckets; 41,840
    # B at a chunk a piece; 57,968 B with rows of 28 and 24 B, which kept
    # versions and births)
    out = runtime.run_file("checkpoint_size.py", args=["1000", "2"],
                            heap="16M").split()
    got = dict(zip(out[::2], map(int, out[1::2])))
    assert got["files"] == 1000
    assert got["table_pieces_bytes"] <= 22 * 1000, got
    assert got["table_pieces_bytes"] >= 19 * 1000, got
    # the rest of the state (block table, stamps, ...) is small beside them
    assert got["table_pieces_bytes"] < got["state_pieces_bytes"] < \
        got["table_pieces_bytes"] + 20 * 1000, got
    print(got)


# the tables, the open block's summary, the block table and every STATE
# attribute of two stores (tests/test_checkpoint_mount.py uses it too)
SAME_TABLES = """
from ovl.store.checkpoint import STATE, BLOCK_COLUMNS

def same_tables(a, b):
    assert sorted(a.inodes.items()) == sorted(b.inodes.items())
    assert a.entries.heads == b.entries.heads
    for parent in a.entries.heads:
        ra = [a.entries.rec(r) for r in a.entries.rows(parent)]
        rb = [b.entries.rec(r) for r in b.entries.rows(parent)]
        assert ra == rb, parent
    assert (a.wsum is None) == (b.wsum is None)
    if a.wsum is not None:
        assert a.wsum.buf == b.wsum.buf and a.wsum.n == b.wsum.n
    for name in BLOCK_COLUMNS:
        assert getattr(a.blocks, name) == getattr(b.blocks, name), name
    for name in STATE:
        assert getattr(a, name) == getattr(b, name), name
"""

STATE_SCRIPT = SAME_TABLES + """
from ovl.store.checkpoint import PieceReader, restore, STATE
from ovl.store.checkpoint_write import PieceWriter, snapshot

def same_state(a, b):
    same_tables(a, b)
    assert a.data_blocks.sets == b.data_blocks.sets

def go_on(s, seed, files):
    # files, rewrites and removals in the root, one a transaction
    rng = Xorshift(seed)
    for k in range(80):
        name = 'g%d' % rng.below(8)
        t = s.begin()
        try:
            if name not in files:
                files[name] = ino = t.new_ino()
                t.put_inode(ino, mode=0o100644)
                t.link(ROOT_INO, name, ino)
                t.write(ino, 0, bytes(rng.below(900)))
            elif rng.below(4) == 0:
                t.unlink(ROOT_INO, name)
                del files[name]
            else:
                t.write(files[name], rng.below(500), b'w' * rng.below(700))
            t.commit()
        except OSError as e:
            assert compat.error_code(e) == compat.ENOSPC
            t.abort()
    s.sync()

def check(seed, txn_ram, cut):
    f = SimFlash(64 * 1024, 4096, 256)
    s = random_ops(f, seed, 150, 1000, txn_ram=txn_ram)
    if cut:
        # the first cut, from op `cut` on, that leaves a transaction torn
        s.sync()
        before = f.snapshot()
        for at in range(cut, cut + 200):
            f.restore(before)
            f.arm_power_cut(at, torn='prefix', seed=at)
            try:
                go_on(LogStore.mount(f), seed + 1, {})
                raise AssertionError('no power cut')
            except PowerCut:
                pass
            f.power_on()
            if LogStore.mount(f).pending_void is not None:
                break
    else:
        s.sync()
    snap = f.snapshot()
    scanned = LogStore.mount(f)
    torn = scanned.pending_void is not None
    pieces = []
    w = PieceWriter(5, pieces.append)
    snapshot(scanned, lambda b: w.section(1, b))
    w.finish()
    f2 = SimFlash(64 * 1024, 4096, 256)
    f2.restore(snap)
    loaded = LogStore(f2)
    r = PieceReader(5)
    it = iter(pieces)
    restore(loaded, lambda: r.feed(next(it))[1])
    assert r.feed(next(it)) is None and r.complete
    same_state(scanned, loaded)
    assert dump(scanned) == dump(loaded)
    # both go on alike: the same bytes on flash, the same tree
    go_on(scanned, seed + 2, {})
    go_on(loaded, seed + 2, {})
    assert bytes(f.mem) == bytes(f2.mem)
    assert dump(LogStore.mount(f)) == dump(LogStore.mount(f2))
    return len(pieces), sum(len(p) for p in pieces), torn, scanned.gc_runs

out = []
for seed, txn_ram, cut in ((3, None, 0), (4, 300, 0), (5, None, 37)):
    out.append(check(seed, txn_ram, cut))
print(out)
"""


def test_state_restored_from_pieces_goes_on_as_the_scanned_store(runtime):
    # a store set from the pieces of a mounted store's state is that
    # store: same tables and attributes, same tree, and the same bytes on
    # flash after the same writes (GC included), then the same remount
    from test_logstore import COMMON as STORE_COMMON, RANDOM_OPS
    out = runtime(STORE_COMMON + RANDOM_OPS + STATE_SCRIPT, timeout=600,
                  heap="16M")
    runs = out.strip()
    print(runs)
    # the third store was cut mid-transaction: its mount voided txn ids
    assert runs.count("False") == 2 and runs.count("True") == 1, runs
    assert runs.split("), (")[2].count("True") == 1, runs


def _entry_table_and_pieces():
    """An entry table of 40 names in two directories, 8 of them removed
    (free rows), and the pieces save_table gives for it."""
    from ovl.store.checkpoint_write import save_table
    from ovl.store.index import EntryTable
    nodes = {}

    def read(addr, nsize, parent):
        return nodes.get(addr)
    table = EntryTable(read)
    for k in range(40):
        nodes[64 + 4 * k] = (k % 2, 100 + k, b"n%d" % k)
        table[(k % 2, b"n%d" % k)] = (100 + k, None, 64 + 4 * k, 40, 0)
    for k in range(0, 40, 5):
        del table[(k % 2, b"n%d" % k)]
    pieces = []
    save_table(table, pieces.append)
    return table, read, pieces


def _restore_entries(read, pieces):
    from ovl.store.checkpoint import restore_table
    from ovl.store.index import EntryTable
    it = iter(pieces)
    table = EntryTable(read)
    restore_table(table, lambda: next(it))
    return table


def _rows_words(pieces):
    import struct
    raw = b"".join(pieces[1:-2])
    return list(struct.unpack("<%dI" % (len(raw) // 4), raw))


def _with_rows(pieces, words):
    import struct
    from ovl.store.index import ROWS
    raw = struct.pack("<%dI" % len(words), *words)
    chunk = 12 * ROWS           # a chunk a piece
    return [pieces[0]] + [raw[i:i + chunk]
                          for i in range(0, len(raw), chunk)] + pieces[-2:]


def _set_link(words, r, link):
    """Row r's link in the words of a table under 0xFFFF rows (3 words a
    row, the link's top 2 bits over the 28-bit hash, its low 14 over the
    packed word's 16)."""
    words[3 * r] = words[3 * r] & 0xFFFFFFF | link >> 14 << 28
    words[3 * r + 2] = words[3 * r + 2] & 0xFFFF | (link & 0x3FFF) << 16


def test_entry_table_pieces_written_wrong_are_refused():
    # A checkpoint passes its CRC when its writer was wrong: the loader
    # must refuse what would loop for ever, hand out a live row or
    # allocate what a head says (the mount then scans), never take it.
    import struct
    import pytest
    from ovl.store.checkpoint import TABLE_HEAD, CheckpointError
    table, read, pieces = _entry_table_and_pieces()
    good = _restore_entries(read, pieces)
    for parent in (0, 1):
        assert sorted(good.rows(parent)) == sorted(table.rows(parent))
    head = list(struct.unpack(TABLE_HEAD, pieces[0]))
    words = _rows_words(pieces)
    used = [r for r in range(table.n) if words[3 * r + 2]]
    free = table.free - 1
    assert words[3 * free + 2] == 0 and len(used) == table.count
    # the pieces' links are the table's
    for r in used:
        w = list(words)
        _set_link(w, r, table.link(r))
        assert w == words, r

    def refused(bad, why):
        with pytest.raises(CheckpointError) as info:
            _restore_entries(read, bad)
        assert why in str(info.value)

    # an index far larger than its rows (2**24 slots for 40 rows)
    big = list(head)
    big[6] = 1 << 24
    refused([struct.pack(TABLE_HEAD, *big)] + pieces[1:], "does not fit")
    # a directory's chain through a free row
    heads = bytearray(pieces[-1])
    struct.pack_into("<I", heads, 4, free + 1)
    refused(pieces[:-1] + [bytes(heads)], "chains broken")
    # a directory's chain that loops
    w = list(words)
    _set_link(w, used[0], used[0] + 1)
    refused(_with_rows(pieces, w), "chains broken")
    # a link past the rows, in either part of it
    for link in (table.n + 5, 0x4000 | used[1] + 1):
        w = list(words)
        _set_link(w, used[-1], link)
        refused(_with_rows(pieces, w), "chains broken")
    # the free chain (through the free rows' address words) into a row
    # in use
    w = list(words)
    w[3 * free + 1] = used[2] + 1
    refused(_with_rows(pieces, w), "chains broken")
    # the free chain through a row in use
    bad = list(head)
    bad[5] = used[3] + 1
    refused([struct.pack(TABLE_HEAD, *bad)] + pieces[1:], "chains broken")
