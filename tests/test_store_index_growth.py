"""How the store's RAM index grows (ovl.store.index, docs/STORE.md "RAM",
"How the index grows"): in pieces that are never reallocated, none made
beside a temporary that would leave a hole next to it, and an entry
index that doubles by adding chunks to the ones it has, never holding a
second index while the rows are placed again.  The bytes are measured
under the real micropython (micropython.mem_total(): every byte a call
asks the heap for, garbage included, 64-bit unix port); the structure
(the same chunk objects before and after a doubling, every row found)
under CPython too."""

from test_logstore import run

SCRIPT = """
from ovl.store.index import EntryTable, InodeTable
try:
    from micropython import mem_total
except ImportError:
    def mem_total():
        return 0

# entry rows: the bytes of each insert, the chunks kept through each
# doubling of the index
t = EntryTable(None)
plain = []
chunk = []
doubled = []
for k in range(1500):
    key = (k % 7, b'%d' % k, 4 * k + 4)
    rec = (True, None, 4 * k + 4, 60, 0)
    old = list(t.slots)
    cap = t.mask + 1
    rows = len(t.chunks)
    m0 = mem_total()
    t[key] = rec
    n = mem_total() - m0
    if t.mask + 1 != cap:
        doubled.append((cap, t.mask + 1, n, len(old) > 1 and
                        all(a is b for a, b in zip(old, t.slots)),
                        len(t.chunks) != rows))
    elif len(t.chunks) != rows:
        chunk.append(n)
    else:
        plain.append(n)
assert all(t.get((k % 7, b'%d' % k, 4 * k + 4))[2] == 4 * k + 4
           for k in range(1500))
print('entries', min(plain), min(chunk))
for cap, new, n, kept, grew in doubled:
    print('doubled', cap, new, n, kept, grew)

# inode pages
t = InodeTable()
plain = []
page = []
for ino in range(1, 1500):
    pages = len(t.pages)
    m0 = mem_total()
    t[ino] = (True, None, 64 + ino, 60, 0)
    n = mem_total() - m0
    (page if len(t.pages) != pages else plain).append(n)
print('inodes', min(plain), min(page))
"""


def parse(out):
    got = {"doubled": []}
    words = out
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("entries", "inodes"):
            got[w] = (int(words[i + 1]), int(words[i + 2]))
            i += 3
        elif w == "doubled":
            got["doubled"].append((int(words[i + 1]), int(words[i + 2]),
                                   int(words[i + 3]), words[i + 4] == "True",
                                   words[i + 5] == "True"))
            i += 6
        else:
            raise AssertionError("unexpected output %r" % (words,))
    return got


def test_a_doubling_index_keeps_its_chunks(runtime):
    """Past one chunk (256 slots) a doubling keeps every chunk it had
    (the same objects, emptied) and adds as many: no second index is
    held while the rows are placed again, and none is freed to leave a
    hole; the rows are all found after it."""
    got = parse(run(runtime, SCRIPT, heap="8M"))
    caps = [(cap, new) for cap, new, _, _, _ in got["doubled"]]
    assert caps == [(32, 64), (64, 128), (128, 256), (256, 512),
                    (512, 1024), (1024, 2048)], caps
    for cap, new, _, kept, _ in got["doubled"]:
        assert kept == (cap >= 512), (cap, new, kept)


def test_growth_allocates_only_what_it_keeps(mpy):
    """Under micropython: a doubling from 512 slots up allocates less than
    the new index's bytes (2 B a slot; it allocated new and old side by
    side, and a zeroed temporary for each new chunk, about 2.2 x that
    before); a new entry chunk (384 B of rows) and a new inode page (256
    B) allocate less than twice their rows beyond a plain insert (each
    was made from a zeroed bytes object of its size: 2 x and more)."""
    from ovl.store import index
    got = parse(run(mpy, SCRIPT, heap="8M"))
    plain, chunk = got["entries"]
    for cap, new, n, _, grew in got["doubled"]:
        if cap >= 512:
            # (+ 64: the insert's own frame, larger since it allocates
            # first; the side-by-side index asked 5,485 B here; less a
            # row chunk the same insert added: 3/4 of the slots is a
            # whole number of chunks)
            assert n - grew * (chunk - plain) < 2 * new + 64, (cap, new, n)
    assert chunk - plain < 2 * 12 * index.ROWS, (plain, chunk)
    plain, page = got["inodes"]
    assert page - plain < 2 * 8 * index.PAGE, (plain, page)


def test_a_memory_error_while_the_index_doubles_keeps_it():
    """The chunks a doubling adds are made before any is emptied: a
    MemoryError there (a full heap on a board) leaves every row found, and
    the next insert grows it (a review found the chunks emptied first)."""
    from ovl.store import index
    t = index.EntryTable(None)
    keys = []
    k = 0
    while True:
        key = (k % 7, b"%d" % k, 4 * k + 4)
        cap = t.mask + 1
        if 4 * (t.count + 1) > 3 * cap and cap >= 2 * index.SLOTS:
            break                       # the next insert doubles it
        t[key] = (True, None, 4 * k + 4, 60, 0)
        keys.append(key)
        k += 1
    real = index.fresh
    calls = []

    def failing(code, n):
        calls.append(n)
        if len(calls) == 2:
            raise MemoryError
        return real(code, n)
    index.fresh = failing
    try:
        with __import__("pytest").raises(MemoryError):
            t[(k % 7, b"%d" % k, 4 * k + 4)] = (True, None, 4 * k + 4, 60, 0)
    finally:
        index.fresh = real
    for key in keys:
        assert t.get(key)[2] == key[2], key
    for j in range(k + 1, k + 200):
        t[(j % 7, b"%d" % j, 4 * j + 4)] = (True, None, 4 * j + 4, 60, 0)
    for key in keys:
        assert t.get(key)[2] == key[2], key
    assert all(t.get((j % 7, b"%d" % j, 4 * j + 4))[2] == 4 * j + 4
               for j in range(k + 1, k + 200))


def _chain_rows(t):
    """Rows reachable from the parents' heads."""
    out = []
    for parent in list(t.heads):
        out.extend(t.rows(parent))
    return out


def test_a_memory_error_at_any_allocation_of_an_insert_changes_nothing():
    """An insert allocates its row chunk, its index's new chunks and its
    parent's head before it changes anything: a MemoryError at any of
    them leaves the table as it was (the rows the chains hold are the
    rows counted and found), so a checkpoint of it still loads (a review
    found a half-made row: the count one too high, a chained row with no
    hash, every checkpoint refused until a remount)."""
    from ovl.store import index
    real = index.fresh
    for fail_at in range(1, 40):
        t = index.EntryTable(None)
        calls = [0]

        def failing(code, n):
            calls[0] += 1
            if calls[0] == fail_at:
                raise MemoryError
            return real(code, n)
        index.fresh = failing
        keys = []
        try:
            for k in range(600):
                key = (k % 7, b"%d" % k, 4 * k + 4)
                try:
                    t[key] = (True, None, 4 * k + 4, 60, 0)
                    keys.append(key)
                except MemoryError:
                    pass
        finally:
            index.fresh = real
        assert len(keys) >= 599
        assert t.count == len(keys) == len(_chain_rows(t)), fail_at
        for r in _chain_rows(t):
            assert t.chunks[r // index.ROWS][r % index.ROWS * 3 + 2], fail_at
        for key in keys:
            assert t.get(key)[2] == key[2], (fail_at, key)


def test_the_switch_to_32_bit_slots_survives_a_memory_error():
    """Past 0xFFFF rows the index's slots are 32-bit; a MemoryError at the
    insert that switches leaves 16-bit slots, and the next insert switches
    (a review found every later insert failing, or on MicroPython a row
    number cut to 16 bits)."""
    from ovl.store import index
    t = index.EntryTable(None)
    key = lambda k: (k % 13, b"%d" % k, 4 * k + 4)
    rec = lambda k: (True, None, 4 * k + 4, 60, 0)
    for k in range(0xFFFE):
        t[key(k)] = rec(k)
    real = index.fresh
    index.fresh = lambda code, n: (_ for _ in ()).throw(MemoryError)
    try:
        with __import__("pytest").raises(MemoryError):
            t[key(0xFFFE)] = rec(0xFFFE)
    finally:
        index.fresh = real
    for k in range(0xFFFE, 0xFFFE + 300):
        t[key(k)] = rec(k)
    assert t.wide and t.count == 0xFFFE + 300
    for k in list(range(0, 0xFFFE + 300, 97)) + [0xFFFE, 0xFFFF, 0x10000]:
        assert t.get(key(k))[2] == 4 * k + 4, k
