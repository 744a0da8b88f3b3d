"""The entry table's rows (ovl.store.index.EntryTable, docs/STORE.md
"RAM"): 3 words a row, the link to the parent's next entry sharing the
row while row numbers fit 16 bits, in link chunks of its own past that;
the checkpoint's layout of them (docs/FORMAT.md, NODE_CHECKPOINT)."""

import struct

import pytest

from ovl.store import index
from ovl.store.checkpoint import (CheckpointError, TABLE_HEAD,
                                  TABLE_ENTRIES, restore_table)
from ovl.store.checkpoint_write import save_table

PARENTS = 13


def key(k):
    # keys of three parts match their row by address, without a read
    return (k % PARENTS, b"%d" % k, 4 * k + 4)


def rec(k):
    return (True, None, 4 * k + 4, 60, 0)


def fill(t, ks):
    for k in ks:
        t[key(k)] = rec(k)


def chains(t):
    """{parent: set of the addresses its chain reaches}."""
    return dict((p, set(t.rec(r)[2] for r in t.rows(p))) for p in t.heads)


def expected(ks):
    out = {}
    for k in ks:
        out.setdefault(k % PARENTS, set()).add(4 * k + 4)
    return out


def every_word_small(t):
    """No word of a narrow table reaches 2**30 (it would allocate each
    time it is read on a 32-bit port)."""
    return all(x < 1 << 30 for c in t.chunks for x in c)


def test_a_row_is_three_words_and_its_link_fits_16_bits():
    t = index.EntryTable(None)
    # a table just under the switch: links up to 0xFFFE, every bit of
    # the 16 used somewhere (0x4000 and up: the part over the hash)
    ks = range(0xFFFE)
    fill(t, ks)
    assert t.wide is None and t.n == 0xFFFE
    assert all(len(c) == 3 * index.ROWS for c in t.chunks)
    assert every_word_small(t)
    links = set(t.link(r) for r in range(t.n))
    assert max(links) > 0xC000 and any(x & 0x3FFF == 0 for x in links
                                       if x)
    assert chains(t) == expected(ks)
    # a link set is the link read, the row's record untouched
    r = t.heads[5] - 1
    before = t.rec(r)
    for link in (0, 1, 0x3FFF, 0x4000, 0xFFFF, 0xABCD):
        t.link(r, link)
        assert t.link(r) == link and t.rec(r) == before, link
    assert every_word_small(t)


def test_links_past_65535_rows_move_to_chunks_of_their_own():
    """Past 0xFFFF rows the links (and the slots) are 32-bit: every chain
    walks the rows it holds, before and after removals and reuse of free
    rows (a link cut to 16 bits, or the row's bits read as one, would
    lose or mix rows of a chain)."""
    t = index.EntryTable(None)
    n = 0xFFFF + 3000
    fill(t, range(n))
    assert t.wide is not None and len(t.wide) == len(t.chunks)
    assert all(len(c) == index.ROWS for c in t.wide)
    # the rows' link bits are cleared: a row's words are its hash,
    # address and packed word alone
    assert all(c[3 * j + 2] < 1 << 16 and c[3 * j] < 1 << 28
               for c in t.chunks for j in range(index.ROWS))
    assert max(t.link(r) for r in range(t.n)) > 0x10000
    live = set(range(n))
    assert chains(t) == expected(live)
    # removals across the switch point, first and middle of chains
    for k in list(range(0, n, 7)) + list(range(0xFFF0, 0x10010)):
        if k in live:
            del t[key(k)]
            live.discard(k)
    assert chains(t) == expected(live) and t.count == len(live)
    # the free rows are used again
    fill(t, range(n, n + 500))
    live.update(range(n, n + 500))
    assert chains(t) == expected(live) and t.count == len(live)
    for k in list(range(0, n + 500, 101)):
        got = t.get(key(k))
        assert (got is not None) == (k in live), k
        if got:
            assert got[2] == 4 * k + 4


def out_of_memory_at(nth, real=index.fresh):
    """A stand-in for index.fresh whose nth call finds the heap full."""
    made = []

    def fresh(code, n):
        made.append(code)
        if len(made) == nth:
            raise MemoryError
        return real(code, n)
    return fresh


def test_a_memory_error_at_the_switch_to_wide_links_changes_nothing(
        monkeypatch):
    """The insert that switches allocates the link chunks (one a row
    chunk) and the 32-bit slots before it changes anything: a MemoryError
    at any of its allocations leaves the narrow table whole, and a later
    insert switches."""
    t = index.EntryTable(None)
    fill(t, range(0xFFFE))
    before = chains(t)
    links = len(t.chunks)
    for nth in (1, 2, links // 2, links, links + 1, links + 2):
        monkeypatch.setattr(index, "fresh", out_of_memory_at(nth))
        with pytest.raises(MemoryError):
            t[key(0xFFFE)] = rec(0xFFFE)
        monkeypatch.undo()
        assert t.wide is None and t.count == 0xFFFE, nth
        assert chains(t) == before, nth
        assert every_word_small(t)
    fill(t, range(0xFFFE, 0xFFFE + 40))
    assert t.wide is not None
    assert chains(t) == expected(range(0xFFFE + 40))


def _pieces(t):
    out = []
    save_table(t, out.append)
    return out


def _restored(pieces):
    it = iter(pieces)
    t = index.EntryTable(None)
    restore_table(t, lambda: next(it))
    return t


@pytest.mark.parametrize("n", [300, 0xFFFF + 200])
def test_a_checkpoint_of_the_rows_round_trips(n):
    t = index.EntryTable(None)
    fill(t, range(n))
    for k in range(3, n, 11):
        del t[key(k)]
    pieces = _pieces(t)
    head = struct.unpack(TABLE_HEAD, pieces[0])
    assert head[:3] == (TABLE_ENTRIES, 3, index.ROWS)
    got = _restored(pieces)
    assert (got.wide is None) == (n < 0xFFFF)
    assert chains(got) == chains(t) == expected(
        k for k in range(n) if k % 11 != 3)
    assert got.count == t.count and got.free == t.free
    for k in range(0, n, 97):
        assert got.get(key(k)) == t.get(key(k)), k
    # it goes on as the original: free rows reused, chains kept
    fill(got, range(n, n + 50))
    fill(t, range(n, n + 50))
    assert chains(got) == chains(t)


def test_a_checkpoint_of_4_word_rows_is_refused():
    """A table saved with 4-word rows (hash, address, packed word, link:
    the layout before 3-word rows) is refused, never read as 3-word rows;
    the mount then scans."""
    t = index.EntryTable(None)
    fill(t, range(40))
    new = _pieces(t)
    a, count, free, cap = struct.unpack(TABLE_HEAD, new[0])[3:]
    chunk = bytes(4 * 4 * index.ROWS)
    old = [struct.pack(TABLE_HEAD, TABLE_ENTRIES, 4, index.ROWS, a, count,
                       free, cap), chunk * 3] + new[-2:]
    with pytest.raises(CheckpointError) as info:
        _restored(old)
    assert "does not fit" in str(info.value)


def test_rows_keep_less_heap(mpy):
    """Under micropython (64-bit unix port): 540 entries (the board job's
    500 files and 40 directories) keep 12 B a row and a 32 B header each
    32 rows: 17 chunks of 416 B, 7,072 B (4-word rows in chunks of 16:
    34 of 288 B, 9,792 B), and the list holding them."""
    out = mpy("""
import gc
from ovl.store.index import EntryTable
t = EntryTable(None)
for k in range(540):
    t[(k % 40, b'%d' % k, 4 * k + 4)] = (True, None, 4 * k + 4, 60, 0)
n = len(t.chunks)
gc.collect()
a = gc.mem_alloc()
t.chunks = None
gc.collect()
print(n, a - gc.mem_alloc())
""")
    chunks, freed = map(int, out.split()[-2:])
    assert chunks == 17 == (540 + index.ROWS - 1) // index.ROWS
    assert 17 * (384 + 32) < freed <= 17 * (384 + 32) + 300, freed
