"""The log store: API, remount, GC, ENOSPC, bad blocks, NAND mode.

Every test runs its script under CPython and the real micropython.  The
scripts compare the store with a simple model (dicts and bytearrays) and
its state in RAM with its state after a remount.
"""

import pytest

COMMON = """
# an inode flags word (the store keeps it as given; the overlay sets none)
F_OPAQUE = 0x0001
from ovl_sim.simflash import SimFlash, Xorshift
from ovl_sim.simflash import PowerCut
from ovl.store import LogStore, ROOT_INO, WHITEOUT
from ovl import compat

def content(s, ino):
    i = s.get(ino)
    out = bytearray()
    for off, n, d in s.read(ino, 0, i.size):
        assert off == len(out), (off, len(out))
        out += d if d is not None else bytes(n)
    return bytes(out)

def dump(s):
    out = []
    def walk(ino, path):
        i = s.get(ino)
        assert i is not None, path
        out.append((path, i.mode, i.size, i.nlink, i.flags, i.mtime,
                    i.uid, i.gid, i.rdev,
                    [(o, n, d is None) for o, n, d in s.read(ino, 0, i.size)],
                    content(s, ino), s.get_meta(ino, 'origin')))
        if i.mode & 0o170000 == 0o120000:
            out.append(s.readlink(ino))
        if i.mode & 0o170000 == 0o040000:
            for name, v in s.listdir(ino):
                if v == WHITEOUT:
                    out.append((path + '/' + name, 'whiteout'))
                else:
                    walk(v, path + '/' + name)
    walk(ROOT_INO, '')
    return out

def enospc(fn, *a):
    try:
        fn(*a)
    except OSError as e:
        if compat.error_code(e) == compat.ENOSPC:
            return True
        raise
    return False

def eio(fn, *a):
    try:
        fn(*a)
    except OSError as e:
        return compat.error_code(e) == compat.EIO
    return False

def create(s, parent, name, data=b'', mode=0o100644):
    t = s.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=mode, size=0, mtime=1)
    t.link(parent, name, ino)
    if data:
        t.write(ino, 0, data)
    t.commit()
    return ino

def cut_during(f, snap, cut, change, must_cut=True):
    # the store on f as a cut leaves it: snap restored and mounted,
    # change(store) cut (clean) at flash operation cut, mounted again
    f.restore(snap)
    s = LogStore.mount(f)
    f.arm_power_cut(cut, torn='clean')
    try:
        change(s)
        if must_cut:
            raise AssertionError('no cut')
    except PowerCut:
        pass
    f.power_on()
    return LogStore.mount(f)
"""


def run(runtime, body, **kw):
    return runtime(COMMON + body, **kw).split()


def test_api_roundtrip_and_remount(runtime):
    out = run(runtime, """
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
root = s.get(ROOT_INO)
print(root.mode == 0o40755, root.nlink)
t = s.begin()
d = t.new_ino()
t.put_inode(d, mode=0o40755, nlink=2, flags=F_OPAQUE, uid=5, gid=6)
t.link(ROOT_INO, 'etc', d)
a = t.new_ino()
t.put_inode(a, mode=0o100600, mtime=1234567890123, ctime=-5)
t.link(d, 'a.conf', a)
t.write(a, 0, b'x' * 10)
t.write(a, 10, b'y' * 10)             # merged append
t.write(a, 100, b'z' * 5)             # leaves a gap
l = t.new_ino()
t.put_inode(l, mode=0o120777)
t.set_symlink(l, '/etc/a.conf')
t.link(ROOT_INO, 'link', l)
dev = t.new_ino()
t.put_inode(dev, mode=0o020644, rdev=(4 << 8) | 1)
t.link(ROOT_INO, 'tty', dev)
t.whiteout(ROOT_INO, 'removed')
t.set_meta(a, 'origin', b'lower:42')
t.set_meta(ROOT_INO, b'lower_id', b'abc')
print(s.lookup(ROOT_INO, 'etc'))       # nothing visible before commit
t.commit()
print(s.lookup(ROOT_INO, 'etc') == d, s.lookup(ROOT_INO, 'removed') == WHITEOUT)
print(s.read(a, 0, 200) == [(0, 20, b'x' * 10 + b'y' * 10), (20, 80, None),
                            (100, 5, b'zzzzz')])
print(s.read(a, 18, 4) == [(18, 2, b'yy'), (20, 2, None)])
before = dump(s)
s2 = LogStore.mount(f)
print(dump(s2) == before, s2.readlink(l), s2.get(dev).rdev == 1025)
print(s2.get(d).flags == F_OPAQUE, s2.get(a).mtime, s2.get(a).ctime)
print([n for n, v in s2.listdir(ROOT_INO)])
print(s2.get_meta(ROOT_INO, 'lower_id'), s2.get_meta(a, 'nope'))
# abort leaves no trace; a used txn refuses more work
t = s2.begin()
t.unlink(ROOT_INO, 'etc')
t.abort()
print(s2.lookup(ROOT_INO, 'etc') == d)
try:
    t.commit()
    print('no-error')
except ValueError:
    print('refused')
# unlink, truncate, meta delete, delete_inode
t = s2.begin()
t.truncate(a, 15)
t.set_meta(a, 'origin', None)
t.unlink(ROOT_INO, 'removed')
t.unlink(ROOT_INO, 'tty')
t.delete_inode(dev)
t.commit()
print(s2.get(a).size, content(s2, a), s2.get_meta(a, 'origin'),
      s2.lookup(ROOT_INO, 'removed'), s2.get(dev))
t = s2.begin()
t.write(a, 20, b'Q')                  # extend past a truncated region
t.commit()
print(s2.read(a, 0, 100) == [(0, 15, b'x' * 10 + b'y' * 5), (15, 5, None),
                             (20, 1, b'Q')])
before = dump(s2)
s3 = LogStore.mount(f)
print(dump(s3) == before, s3.get(dev), sorted(s3.stats) == sorted(s2.stats))
ro = LogStore.mount(f, readonly=True)
try:
    ro.begin()
except OSError as e:
    print(compat.errno_name(compat.error_code(e)))
""")
    assert out == ["True", "2", "None", "True", "True", "True", "True",
                   "True", "/etc/a.conf", "True", "True", "1234567890123",
                   "-5", "['etc',", "'link',", "'removed',", "'tty']",
                   "b'abc'", "None", "True", "refused",
                   "15", "b'xxxxxxxxxxyyyyy'", "None", "None", "None",
                   "True", "True", "None", "True", "EROFS"]


def test_bad_input_raises_specific_errors(runtime):
    out = run(runtime, """
f = SimFlash(64 * 1024, 4096, 256)
try:
    LogStore.mount(f)
except ValueError as e:
    print(type(e).__name__)
s = LogStore.format(f)
t = s.begin()
for args in ((ROOT_INO, 'a/b', 5), (ROOT_INO, '', 5), (ROOT_INO, 'x' * 300, 5)):
    try:
        t.link(*args)
    except OSError as e:
        print(compat.errno_name(compat.error_code(e)))
try:
    t.put_inode(3, colour=1)
except ValueError:
    print('ValueError')
try:
    t.delete_inode(ROOT_INO)
except OSError as e:
    print(compat.errno_name(compat.error_code(e)))
try:
    s.readlink(ROOT_INO)
except OSError as e:
    print(compat.errno_name(compat.error_code(e)))
f.mem[14 * 4096:15 * 4096] = b'\\x00' * 4096   # wrecked block headers
f.mem[15 * 4096:] = b'\\x55' * 4096
s2 = LogStore.mount(f)
print(s2.get(ROOT_INO) is not None, s2.counters()['blocks_unknown'])
""")
    assert out == ["NotFormattedError", "EINVAL", "EINVAL", "ENAMETOOLONG",
                   "ValueError", "EPERM", "EINVAL", "True", "2"]


RANDOM_OPS = """
def random_ops(f, seed, steps, remount_every, max_file=700, first=1,
               txn_ram=None):
    # txn_ram: a small bound makes most transactions stream their data as
    # provisional nodes; first: versions and txn ids start there
    if txn_ram:
        LogStore.txn_ram = txn_ram
    rng = Xorshift(seed)
    s = LogStore.format(f, first)
    files = {}        # name -> (ino, bytearray)
    names = ['f%d' % i for i in range(12)]
    for step in range(steps):
        op = rng.below(10)
        name = names[rng.below(len(names))]
        t = s.begin()
        try:
            model = step_ops(t, rng, op, name, files, max_file)
            t.commit()
        except OSError as e:
            assert compat.error_code(e) == compat.ENOSPC
            t.abort()
            continue
        if model is None:
            del files[name]
        else:
            files[name] = model
        if step % remount_every == remount_every - 1:
            errors = s.fsck()['errors']
            assert not errors, (step, errors)
            before = dump(s)
            s = LogStore.mount(f)
            assert dump(s) == before, step
        for n in files:
            ino, b = files[n]
            assert s.lookup(ROOT_INO, n) == ino
            assert content(s, ino) == bytes(b), (step, n)
    return s

def step_ops(t, rng, op, name, files, max_file=700):
        if name not in files:
            ino = t.new_ino()
            t.put_inode(ino, mode=0o100644)
            t.link(ROOT_INO, name, ino)
            data = bytes([rng.below(256)]) * (1 + rng.below(max_file))
            t.write(ino, 0, data)
            model = (ino, bytearray(data))
        else:
            ino, buf = files[name]
            model = (ino, bytearray(buf))
            if op == 4:                # whole-file rewrite
                data = bytes([rng.below(256)]) * (1 + rng.below(max_file))
                t.truncate(ino, 0)
                t.write(ino, 0, data)
                model = (ino, bytearray(data))
            elif op < 4:
                off = rng.below(len(buf) + 50)
                data = bytes([rng.below(256)]) * (1 + rng.below(200))
                t.write(ino, off, data)
                b = bytes(model[1])
                if off > len(b):
                    b += bytes(off - len(b))
                model = (ino, bytearray(b[:off] + data + b[off + len(data):]))
            elif op < 7:
                size = rng.below(len(buf) + 1)
                t.truncate(ino, size)
                model = (ino, model[1][:size])
            elif op < 9:
                t.unlink(ROOT_INO, name)
                t.delete_inode(ino)
                model = None
            else:
                t.whiteout(ROOT_INO, name)
                t.delete_inode(ino)
                model = None
        return model
"""


@pytest.mark.slow
def test_random_ops_match_model_across_remounts_and_gc(runtime):
    out = run(runtime, RANDOM_OPS + """
f = SimFlash(32 * 1024, 2048, 256)
s = random_ops(f, 7, 400, 25)
c = s.counters()
again = LogStore.mount(f)
print(s.blocks.dead == again.blocks.dead, f.counters()['erases'] > 16,
      again.counters()['summaries_used'] > 0, c['bytes_in_use'] > 0)
""")
    assert out == ["True", "True", "True", "True"]


@pytest.mark.slow
def test_nand_mode_pages_and_partial_programs(runtime):
    out = run(runtime, RANDOM_OPS + """
f = SimFlash(128 * 1024, 16384, 512, kind='nand', nop=2)
s = random_ops(f, 3, 150, 20, max_file=3000)
print(s.counters()['erases'] > 0)
""")
    assert out == ["True"]


@pytest.mark.slow
def test_enospc_is_clean_and_100_fill_delete_cycles(runtime):
    out = run(runtime, """
f = SimFlash(16 * 1024, 1024, 256)
s = LogStore.format(f)
keep = create(s, ROOT_INO, 'keep', b'K' * 100)
counts = []
for cycle in range(100):
    made = []
    while True:
        before = dump(s)
        name = 'c%d' % len(made)
        t = s.begin()
        ino = t.new_ino()
        t.put_inode(ino, mode=0o100644)
        t.link(ROOT_INO, name, ino)
        t.write(ino, 0, bytes([cycle & 255]) * 300)
        if enospc(t.commit):
            assert dump(s) == before
            break
        made.append((name, ino))
    counts.append(len(made))
    if cycle % 33 == 0:
        after = dump(s)
        s = LogStore.mount(f)
        assert dump(s) == after
    t = s.begin()
    for name, ino in made:
        t.unlink(ROOT_INO, name)
        t.delete_inode(ino)
    if enospc(t.commit):
        for name, ino in made:       # one by one, then
            t = s.begin()
            t.unlink(ROOT_INO, name)
            t.delete_inode(ino)
            t.commit()
    assert content(s, keep) == b'K' * 100
print(min(counts) > 15, min(counts) == max(counts) or max(counts) - min(counts) < 4)
print(s.counters()['blocks_bad'], [n for n, v in s.listdir(ROOT_INO)])
""", timeout=300)
    assert out == ["True", "True", "0", "['keep']"]


def test_bad_blocks_are_retired_and_writes_go_elsewhere(runtime):
    out = run(runtime, """
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'A' * 1000)
head = s.wblock
f.mark_bad(head, on='program')         # the open block fails next program
free = [b for b in range(16) if s.blocks.state[b] == 0]
f.mark_bad(free[0], on='both')
f.mark_bad(free[1], on='erase')
b = create(s, ROOT_INO, 'b', b'B' * 3000)
print(content(s, a) == b'A' * 1000, content(s, b) == b'B' * 3000)
print(s.counters()['blocks_retired'] >= 1, s.wblock != head)
# rewrite a lot: GC moves live data off the bad block, never erases it
for i in range(60):
    t = s.begin()
    t.truncate(b, 0)
    t.write(b, 0, bytes([i]) * 3000)
    t.commit()
print(content(s, a) == b'A' * 1000, content(s, b) == bytes([59]) * 3000)
s2 = LogStore.mount(f)
print(content(s2, a) == b'A' * 1000, content(s2, b) == bytes([59]) * 3000)
# a worn-out chip: blocks die after 5 erases; the store keeps going
w = SimFlash(64 * 1024, 4096, 256, wear_limit=6)
s = LogStore.format(w)
x = create(s, ROOT_INO, 'x', b'')
n = 0
try:
    for i in range(400):
        t = s.begin()
        t.truncate(x, 0)
        t.write(x, 0, bytes([i & 255]) * 2000)
        t.commit()
        n = i
except OSError as e:
    print(compat.errno_name(compat.error_code(e)))
print(n > 50, content(s, x) == bytes([n & 255]) * 2000)
print(content(LogStore.mount(w), x) == bytes([n & 255]) * 2000)
""")
    assert out[:6] == ["True", "True", "True", "True", "True", "True"]
    assert out[6:8] == ["True", "True"]
    assert out[-3:] == ["True", "True", "True"]


def test_wear_levelling_spreads_erases(runtime):
    out = run(runtime, """
f = SimFlash(32 * 1024, 2048, 256)
s = LogStore.format(f)
cold = create(s, ROOT_INO, 'cold', b'C' * 8000)     # static data
hot = create(s, ROOT_INO, 'hot', b'')
for i in range(600):
    t = s.begin()
    t.truncate(hot, 0)
    t.write(hot, 0, bytes([i & 255]) * 500)
    t.commit()
ec = f.counters()['erase_counts']
print(max(ec) - min(ec) <= 12, min(ec) > 1, content(s, cold) == b'C' * 8000)
""", timeout=300)
    assert out == ["True", "True", "True"]


@pytest.mark.slow
def test_fsck_finds_damage_orphans_and_bad_link_counts(runtime):
    out = run(runtime, RANDOM_OPS + """
f = SimFlash(32 * 1024, 2048, 256)
s = random_ops(f, 11, 150, 50)
r = s.fsck()
print(r['errors'], r['orphans'], r['nodes'] > 20)
r = LogStore.mount(f).fsck()
print(r['errors'], r['live_bytes'] > 0)
t = s.begin()
o = t.new_ino()
t.put_inode(o, mode=0o100644, nlink=3)     # reachable from nowhere
t.commit()
x = create(s, ROOT_INO, 'x', b'x')
t = s.begin()
t.put_inode(x, nlink=2)                    # one name, nlink 2
t.commit()
r = s.fsck()
print(r['errors'], r['orphans'] == [o], len(r['warnings']))
# flip bits inside a closed block's nodes: the CRCs catch it
full = [b for b in range(16) if s.blocks.state[b] == 2]
f.flip_bits(3, seed=1, region=(full[0] * 2048 + 40, full[0] * 2048 + 400))
r = s.fsck()
print(len(r['errors']) > 0)
""")
    assert out == ["[]", "[]", "True", "[]", "True", "[]", "True", "2",
                   "True"]


def test_reset_empties_the_store_and_sets_root_attrs(runtime):
    out = run(runtime, RANDOM_OPS + """
f = SimFlash(32 * 1024, 2048, 256)
s = random_ops(f, 5, 60, 30)
s.reset(mtime=1000000, uid=7)
print(list(s.listdir(ROOT_INO)), s.get(ROOT_INO).mtime, s.get(ROOT_INO).uid)
before = dump(s)
m = LogStore.mount(f)
print(dump(m) == before, m.fsck()['errors'], m.counters()['blocks_full'])
create(m, ROOT_INO, 'after', b'a' * 3000)
print([n for n, v in LogStore.mount(f).listdir(ROOT_INO)])
""")
    assert out == ["[]", "1000000", "7", "True", "[]", "0", "['after']"]


def test_format_over_a_store_keeps_its_erase_counts(runtime):
    # format reads the old block headers for their erase counts (it
    # raised AttributeError there once the block table had moved)
    out = run(runtime, """
f = SimFlash(32 * 1024, 2048, 256)
s = LogStore.format(f)
create(s, ROOT_INO, 'a', b'a' * 100)
for _ in range(2):
    s = LogStore.format(f)
print(sorted(set(s.blocks.ec)), list(s.listdir(ROOT_INO)))
""")
    assert out == ["[3]", "[]"]


def test_mount_falls_back_to_a_scan_when_a_summary_is_damaged(runtime):
    out = run(runtime, RANDOM_OPS + """
f = SimFlash(32 * 1024, 2048, 256)
s = random_ops(f, 9, 80, 100)
want = dump(s)
m = LogStore.mount(f)
c = m.counters()
full = [b for b in range(16) if m.blocks.state[b] == 2]
print(c['summaries_used'] == len(full), c['mount_bytes_read'] < 16 * 2048)
# wreck one summary tail and another summary's body
f.mem[full[0] * 2048 + 2040:full[0] * 2048 + 2048] = b'\\x00' * 8
import struct
off = struct.unpack('<I', bytes(f.mem[full[1] * 2048 + 2040:full[1] * 2048 + 2044]))[0]
f.mem[full[1] * 2048 + off + 40] ^= 0x10
m = LogStore.mount(f)
c = m.counters()
# the tree is whole; the flipped summary is reported, as damage
errors = m.fsck()['errors']
print(dump(m) == want, c['summaries_used'] == len(full) - 2,
      c['corrupt_nodes'], len(errors),
      errors[0].startswith('block %d offset ' % full[1]))
""")
    assert out == ["True", "True", "True", "True", "1", "1", "True"]


def test_damaged_media_gives_clean_errors_never_a_crash(runtime):
    out = run(runtime, RANDOM_OPS + """
f = SimFlash(32 * 1024, 2048, 256)
random_ops(f, 4, 60, 100)
good = f.snapshot()
outcomes = {}
for seed in range(25):
    f.restore(good)
    f.flip_bits(1 + seed * 8, seed=seed)
    try:
        m = LogStore.mount(f)
        dump(m)
        m.fsck()
        kind = 'mounted'
    except ValueError as e:              # CorruptError and friends
        kind = type(e).__name__
    except OSError as e:                 # damage reported where it is
        kind = 'EIO' if compat.error_code(e) == compat.EIO else 'OSError'
    outcomes[kind] = outcomes.get(kind, 0) + 1
print(outcomes.get('mounted', 0) > 0,
      all(k in ('mounted', 'CorruptError', 'NotFormattedError', 'EIO')
          for k in outcomes))
""")
    assert out == ["True", "True"]


def test_mount_refuses_a_flash_of_another_block_count(runtime):
    """A store knows its size: a truncated copy (or a store on a resized
    partition) is refused with BlockCountError, not mounted as a smaller or
    larger store; a version-1 header (no block count) asks to reformat."""
    out = run(runtime, """
from ovl.store.format import BlockCountError, CorruptError
from ovl.flash import Region
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
create(s, ROOT_INO, 'a', b'data' * 2000)
for size in (32 * 1024, 60 * 1024, 128 * 1024):
    g = SimFlash(size, 4096, 256)
    n = min(size, len(f.mem))
    g.mem[:n] = f.mem[:n]
    try:
        LogStore.mount(g)
        print('mounted')
    except BlockCountError as e:
        print(e.have, e.formatted, 'truncated' in str(e))
# the same store inside a bigger chip, as a partition: mounts
chip = SimFlash(128 * 1024, 4096, 256)
chip.mem[32 * 1024:96 * 1024] = f.mem
s2 = LogStore.mount(Region(chip, 32 * 1024, 64 * 1024))
print(content(s2, s2.lookup(ROOT_INO, 'a')) == b'data' * 2000)
# an old, version-1 header: magic, version 1, ..., CRC over bytes 0..19
import struct
from ovl.compat import crc32
head = struct.pack('<IBBHIII', 0x6B6C766F, 1, 0, 4, 1, 1, 4096)
old = SimFlash(64 * 1024, 4096, 256)
old.mem[:24] = head + struct.pack('<I', crc32(head))
try:
    LogStore.mount(old)
except CorruptError as e:
    print(type(e).__name__, 'version 1' in str(e))
""")
    assert out == ["8", "16", "True", "15", "16", "True", "32", "16", "True",
                   "True", "CorruptError", "True"]


STAMPS = """
def node_types(s):
    out = {}
    for b in range(s.nblocks):
        if s.blocks.state[b] in (1, 2):
            for nd in s._scan(b)[0]:
                out[nd.type] = out.get(nd.type, 0) + 1
    return out

def grew(a, b, t):
    return b.get(t, 0) - a.get(t, 0)

INODE, DATA = 1, 4
"""


def test_a_change_costs_the_same_wherever_the_log_head_is(runtime):
    """bytes_programmed alone charges a block's whole summary to the change
    that fills it; plus summary_due (what the open block's summary would
    program now) each change pays its own entries (give or take the
    summary's padding), and the one that opens a block that block's summary
    header and tail.  bytes_summary counts
    the summaries programmed: the rest are nodes."""
    out = run(runtime, """
from ovl.store.format import node_size, SUMMARY_TAIL_SIZE
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a')
def spent():
    c = s.counters()
    return (c['bytes_programmed'] + c['summary_due'],
            c['bytes_programmed'] - c['bytes_summary'],
            c['bytes_programmed'], c['blocks_full'])
costs, nodes, raw, closed = set(), set(), set(), 0
for i in range(100):
    before = spent()
    t = s.begin()
    t.put_inode(a, mtime=i + 2)
    t.commit()
    after = spent()
    costs.add(after[0] - before[0])
    nodes.add(after[1] - before[1])
    raw.add(after[2] - before[2])
    closed += after[3] - before[3]
costs = sorted(costs)
# a block's summary header and tail, and up to 4 bytes of padding (the
# summary's body is padded to 4 bytes, its entries are not)
print(closed >= 2, len(nodes), costs[-1] - costs[0] <=
      node_size(4, 0) + SUMMARY_TAIL_SIZE + 4, max(raw) - min(raw) > 200,
      s.counters()['summary_due'] > 0)
""")
    assert out == ["True", "1", "True", "True", "True"], out


def test_rewrites_and_appends_carry_size_and_times_in_their_data_node(runtime):
    """A whole-file rewrite or an append writes one stamped data node and no
    inode node; any other attribute change writes an inode node, which then
    wins over older stamps (and a newer stamp over it), on remount too."""
    out = run(runtime, STAMPS + """
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'x' * 100)
n0 = node_types(s)
t = s.begin()
t.truncate(a, 0)
t.write(a, 0, b'y' * 300)
t.put_inode(a, mtime=50, ctime=51)
t.commit()
n1 = node_types(s)
i = s.get(a)
print(grew(n0, n1, INODE), grew(n0, n1, DATA), i.size, i.mtime, i.ctime)
t = s.begin()
t.write(a, 300, b'z' * 10)
t.put_inode(a, mtime=60, ctime=60)
t.commit()
n2 = node_types(s)
print(grew(n1, n2, INODE), s.get(a).size, s.get(a).mtime)
t = s.begin()                     # does not reach the end: inode node
t.write(a, 5, b'm')
t.put_inode(a, mtime=70, ctime=70)
t.commit()
n3 = node_types(s)
print(grew(n2, n3, INODE), s.get(a).size, s.get(a).mtime)
t = s.begin()                     # an append that also changes the mode
t.write(a, 310, b'q' * 5)
t.put_inode(a, mode=0o100600, mtime=75, ctime=75)
t.commit()
print(grew(n3, node_types(s), INODE))
t = s.begin()
t.write(a, 315, b'r' * 5)
t.put_inode(a, mtime=80, ctime=80)
t.commit()
t = s.begin()
t.put_inode(a, mode=0o100640, ctime=90)
t.commit()
i = s.get(a)
print(oct(i.mode), i.size, i.mtime, i.ctime)
t = s.begin()
t.truncate(a, 0)
t.write(a, 0, b'w' * 40)
t.put_inode(a, mtime=95, ctime=95)
t.commit()
i = s.get(a)
print(oct(i.mode), i.size, i.mtime)
want = dump(s)
m = LogStore.mount(f)
print(dump(m) == want, m.fsck()['errors'], m.blocks.dead == s.blocks.dead,
      content(m, a) == b'w' * 40)
""")
    assert out == ["0", "1", "300", "50", "51",
                   "0", "310", "60",
                   "1", "310", "70",
                   "1",
                   "0o100640", "320", "80", "90",
                   "0o100640", "40", "95",
                   "True", "[]", "True", "True"]


def test_a_stamp_outranks_an_older_inode_node_gc_moved_after_it(runtime):
    """GC copies keep their version: an inode node copied to the head of the
    log after a newer stamp must not take its size and mtime back, at run
    time or at mount; the space accounting stays exact."""
    out = run(runtime, STAMPS + """
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'x' * 100)
home = s.inodes.get(a)[2] // 4096
k = 0
while s.wblock == home:           # later nodes go to other blocks
    create(s, ROOT_INO, 'pad%d' % k, b'p' * 600)
    k += 1
t = s.begin()
t.truncate(a, 0)
t.write(a, 0, b'n' * 77)
t.put_inode(a, mtime=500, ctime=500)
t.commit()
stamp_at = s.stamps[a][4]
print(stamp_at // 4096 != home)
s._collect(home)
moved = s.inodes.get(a)[2]
print(moved // 4096 != home, moved > stamp_at or moved // 4096 != stamp_at // 4096)
i = s.get(a)
print(i.size, i.mtime, s.fsck()['errors'])
m = LogStore.mount(f)
i = m.get(a)
print(i.size, i.mtime, content(m, a) == b'n' * 77, m.blocks.dead == s.blocks.dead,
      m.fsck()['errors'])
""")
    assert out == ["True", "True", "True", "77", "500", "[]",
                   "77", "500", "True", "True", "[]"]


def test_writing_a_file_whose_map_was_evicted_counts_space_once(runtime):
    """Only the last LogStore.extent_cache files keep their extent maps; a commit
    that reloads one (a write, or an inode node that ends a stamp) must not
    replay its own nodes as well, or their space is counted dead twice."""
    out = run(runtime, """
EXTENT_CACHE = LogStore.extent_cache
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'x' * 100)
others = [create(s, ROOT_INO, 'o%d' % i, b'y' * 10)
          for i in range(EXTENT_CACHE + 2)]
def evict():
    for o in others:
        s.read(o, 0, 10)
    return a not in s.loaded
steps = []
evict()
t = s.begin()
t.write(a, 10, b'z' * 5)                  # inside: data only
t.commit()
steps.append(s.fsck()['errors'])
evict()
t = s.begin()
t.write(a, 100, b'w' * 5)                 # append: stamped
t.put_inode(a, mtime=5, ctime=5)
t.commit()
steps.append(s.fsck()['errors'])
print(evict())
t = s.begin()
t.put_inode(a, mode=0o100600)             # ends the stamp: map reloads
t.write(a, 0, b'k')
t.commit()
steps.append(s.fsck()['errors'])
m = LogStore.mount(f)
print(steps, m.blocks.dead == s.blocks.dead, content(m, a) == b'k' + b'x' * 9 + b'z' * 5 +
      b'x' * 85 + b'w' * 5)
""")
    assert out == ["True", "[[],", "[],", "[]]", "True", "True"]


def test_a_truncation_hidden_by_a_rewrite_gc_erased_stays_dead(runtime):
    """Rewrite o is hidden by rewrite t; t is hidden in turn by an
    overwrite of its head and a truncate+write of the rest (which cuts
    past o's size only).  GC erasing t's block must leave o dead, as the
    accounting already counted it: fsck and a fresh mount agree."""
    out = run(runtime, """
f = SimFlash(32 * 1024, 2048, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'a' * 10)
def rewrite(at, data):
    t = s.begin()
    t.truncate(a, at)
    t.write(a, at, data)
    t.commit()
def head_block():
    s._load(a)
    return s.extents[a][0][2][3] // s.es
rewrite(0, b'o' * 100)         # o: [0,100), truncates at 100
ob = head_block()
create(s, ROOT_INO, 'fill', b'f' * 1200)       # t starts the next block
rewrite(0, b't' * 1500)        # t: [0,1500) at 1500; o is hidden
tb = head_block()
t = s.begin()
t.write(a, 0, b'd' * 200)      # [0,200)
t.commit()
rewrite(200, b'e' * 1400)      # [200,1600) at 1600; t is hidden
before = s.fsck()['errors']
s.gc(1)
print(ob != tb, s.blocks.state[tb] == 0, before, s.fsck()['errors'],
      LogStore.mount(f).blocks.dead == s.blocks.dead,
      content(s, a) == b'd' * 200 + b'e' * 1400)
""")
    assert out == ["True", "True", "[]", "[]", "True", "True"]


@pytest.mark.slow
def test_random_ops_with_every_map_evicted_at_once(runtime):
    """The same model check with an extent cache of one file: every other
    file's map is reloaded from flash when next used."""
    out = run(runtime, RANDOM_OPS + """
LogStore.extent_cache = 1
f = SimFlash(32 * 1024, 2048, 256)
s = random_ops(f, 21, 300, 20)
again = LogStore.mount(f)
print(s.blocks.dead == again.blocks.dead, s.fsck()['errors'], again.fsck()['errors'])
""")
    assert out == ["True", "[]", "[]"]


def test_a_gc_commit_after_a_torn_mount_keeps_the_torn_txn_dead(runtime):
    """After a mount that found a cut transaction, the next commit records
    its txn ids as void.  When that commit is a GC copy (idle gc(), or GC
    making room before a write that then fails), it must carry the void
    record too, or the torn transaction counts at the next mount."""
    out = run(runtime, """
f = SimFlash(32 * 1024, 2048, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'A' * 100)
b = create(s, ROOT_INO, 'b', b'')
for i in range(12):     # dead space for GC, and live nodes it must copy
    t = s.begin()
    t.truncate(b, 0)
    t.write(b, 0, bytes([i]) * 1200)
    t.commit()
    create(s, ROOT_INO, 'k%d' % i, b'k' * 30)
snap = f.snapshot()
ops0 = f.ops
t = s.begin()
t.write(a, 0, b'Z' * 3000)            # spans blocks: several programs
t.commit()
n = f.ops - ops0
collected = 0
def rewrite(s):
    t = s.begin()
    t.write(a, 0, b'Z' * 3000)
    t.commit()
for cut in range(1, n):
    m = cut_during(f, snap, cut, rewrite)
    seen = content(m, a)
    m.gc(1)
    collected += m.stats['gc_copied_bytes']
    again = LogStore.mount(f)
    assert content(again, a) == seen, cut
    assert not again.fsck()['errors'], cut
print(n > 3, collected > 0)
""")
    assert out == ["True", "True"]


def test_a_cut_between_a_summary_and_its_tail_closes_the_block(runtime):
    """Closing a block programs its summary node, then the 8-byte tail.
    Cut between the two, the block must still count as closed at the next
    mount: reopened, its rebuilt summary no longer fits and the next close
    writes past the block.  A node that cannot be split (a 1000-byte
    metadata value) closes a block with room to spare."""
    out = run(runtime, """
f = SimFlash(32 * 1024, 2048, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'')
reopened = 0
cases = 0
for fill in range(60):
    create(s, ROOT_INO, 'f%d' % fill, b'')   # small nodes: a big summary
    # reopened after the summary, the block would have room - summary
    if not 300 <= s._room() < s.wsum.size():
        continue
    snap = f.snapshot()
    before = f.ops
    t = s.begin()
    t.set_meta(a, 'big', b'v' * 1000)    # does not fit: closes the block
    t.commit()
    n = f.ops - before
    def big(m):
        t = m.begin()
        t.set_meta(a, 'big', b'v' * 1000)
        t.commit()
    for cut in range(n):
        m = cut_during(f, snap, cut, big, False)
        cases += 1
        if m.wblock is not None and m._room() < 0:
            reopened += 1
        for i in range(3):           # the next close must fit its block
            t = m.begin()
            t.set_meta(a, 'more%d' % i, b'w' * 900)
            t.commit()
        assert not LogStore.mount(f).fsck()['errors'], (fill, cut)
    f.restore(snap)
    s = LogStore.mount(f)
print(cases > 3, reopened)
""")
    assert out == ["True", "0"]


@pytest.mark.slow
def test_random_ops_streaming_every_txn_across_2_32_with_gc(runtime):
    """Transactions that stream their data as provisional nodes (a 200-byte
    RAM bound), on a store whose versions and txn ids start just below
    2**32 and run past it, through GC and remounts: the model holds."""
    out = run(runtime, RANDOM_OPS + """
f = SimFlash(32 * 1024, 2048, 256)
s = random_ops(f, 21, 300, 20, max_file=2500, first=(1 << 32) - 40,
               txn_ram=200)
m = LogStore.mount(f)
print(m.next_ver > (1 << 32), m.next_txn > (1 << 32), not m.fsck()['errors'],
      f.counters()['erases'] > 16, dump(m) == dump(s))
""", timeout=300)
    assert out == ["True"] * 5


@pytest.mark.slow
def test_a_long_txn_streams_its_data_and_counts_only_when_it_commits(runtime):
    """Txn.write holds at most txn_ram bytes: the rest goes to flash as
    provisional nodes.  The store keeps showing the committed state, the
    txn reads its own writes back, another txn commits in between, an
    abort leaves only dead space, and a cut anywhere leaves old or new."""
    out = run(runtime, """
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'A' * 5000)
old = content(s, a)
data = bytes(range(256)) * 80
t = s.begin()
t.truncate(a, 0)
for i in range(0, len(data), 1000):
    t.write(a, i, data[i:i + 1000])
    assert t.held <= s.txn_ram
t.put_inode(a, size=len(data), mtime=5, ctime=5)
got = b''.join(d if d is not None else bytes(n) for o, n, d in
               t.read(a, 0, 30000))
print(len(t.spilled) > 3, got == data, content(s, a) == old,
      t.read(a, 20400, 500)[0][:2] == (20400, 80))
t2 = s.begin()
b = t2.new_ino()
t2.put_inode(b, mode=0o100644)
t2.link(ROOT_INO, 'b', b)
t2.write(b, 0, b'x' * 9000)
t2.commit()
t.commit()
m = LogStore.mount(f)
print(content(s, a) == data, content(m, a) == data,
      content(m, m.lookup(ROOT_INO, 'b')) == b'x' * 9000,
      s.fsck()['errors'], m.fsck()['errors'])
in_use = s.counters()['bytes_in_use']
t = s.begin()
t.write(a, 0, b'Q' * 10000)
t.abort()
print(content(s, a) == data, s.counters()['bytes_in_use'] == in_use,
      s.fsck()['errors'],
      s.pins)
snap = f.snapshot()
outcomes = {}
for mode in ('clean', 'bits', 'prefix', 'unstable'):
    cut = 1
    while True:
        f.restore(snap)
        s = LogStore.mount(f)
        f.arm_power_cut(cut, torn=mode, seed=cut)
        try:
            t = s.begin()
            t.truncate(a, 0)
            t.write(a, 0, b'N' * 12000)
            t.commit()
            break
        except PowerCut:
            pass
        f.power_on()
        m = LogStore.mount(f)
        c = content(m, a)
        assert c in (data, b'N' * 12000), (mode, cut, len(c))
        assert not m.fsck()['errors'], (mode, cut, m.fsck()['errors'])
        outcomes[c == data] = True
        create(m, ROOT_INO, 'z', b'z')
        m2 = LogStore.mount(f)
        assert content(m2, a) == c and not m2.fsck()['errors'], (mode, cut)
        cut += 1
print(sorted(outcomes), cut > 5)
""", timeout=300)
    assert out == ["True", "True", "True", "True",
                   "True", "True", "True", "[]", "[]",
                   "True", "True", "[]", "{}",
                   "[True]", "True"]


def test_an_image_of_format_3_is_refused_naming_both_versions(runtime):
    out = run(runtime, """
import struct
from ovl.compat import crc32
from ovl.store.format import CorruptError
head = struct.pack('<IBBHIIII', 0x6B6C766F, 3, 0, 4, 1, 1, 4096, 16)
old = SimFlash(64 * 1024, 4096, 256)
old.mem[:28] = head + struct.pack('<I', crc32(head))
try:
    LogStore.mount(old)
except CorruptError as e:
    print('version 3' in str(e), 'version 4' in str(e))
""")
    assert out == ["True", "True"]


BITFLIP = """
import sys
from ovl.store.format import CorruptError

def shape(f, kind):
    # a small store of some shape; returns the dumps after each txn
    LogStore.txn_ram = 600         # long writes stream (provisional nodes)
    s = LogStore.format(f)
    states = [dump(s)]
    def step(fn):
        fn()
        states.append(dump(s))
    a = []
    step(lambda: a.append(create(s, ROOT_INO, 'a', b'A' * 300)))
    def mkdir():
        t = s.begin()
        d = t.new_ino()
        t.put_inode(d, mode=0o40755, nlink=2)
        t.link(ROOT_INO, 'd', d)
        t.set_meta(d, 'origin', b'/lower/d')
        t.commit()
        a.append(d)
    step(mkdir)
    step(lambda: a.append(create(s, a[1], 'big', bytes(range(256)) * 9)))
    def symlink():
        t = s.begin()
        l = t.new_ino()
        t.put_inode(l, mode=0o120777, size=4)
        t.link(a[1], 'ln', l)
        t.set_symlink(l, '../a')
        t.commit()
    step(symlink)
    for i in range(3 if kind == 'nor' else 2):
        def rewrite(i=i):
            t = s.begin()
            t.truncate(a[0], 0)
            t.write(a[0], 0, bytes([65 + i]) * (200 + 150 * i))
            t.put_inode(a[0], size=200 + 150 * i, mtime=7 + i, ctime=7 + i)
            t.commit()
        step(rewrite)
    def whiteout():
        t = s.begin()
        t.whiteout(ROOT_INO, 'gone')
        t.commit()
    step(whiteout)
    return s, states

def used(s, f):
    # (addr) of every used byte: headers, logs, summaries and tails
    out = []
    es = s.es
    for b in range(s.nblocks):
        if s.blocks.state[b] not in (1, 2):
            continue
        base = b * es
        out += range(base, base + 32)
        end = s.wpos if b == s.wblock else s._scan(b)[1]
        out += range(base + s.data_start, base + end)
        if s.blocks.state[b] == 2:
            out += range(base + es - 8, base + es)
    return [a for a in out if f.mem[a] != 0xFF or a % es < 32]

def tree(s):
    try:
        return dump(s)
    except OSError as e:
        return ('EIO', compat.error_code(e))

def sweep(f, states, addrs, stride):
    good = f.snapshot()
    counts = {}
    for i in range(0, len(addrs), stride):
        addr = addrs[i]
        f.restore(good)
        f.mem[addr] ^= 1 << (addr % 8)
        try:
            m = LogStore.mount(f)
        except CorruptError:
            kind = 'refused'
        else:
            t = tree(m)
            c = m.counters()
            r = m.fsck()
            if t == states[-1] and not r['errors'] and not c['corrupt_nodes']:
                kind = 'unchanged'
            elif t == states[-1]:
                kind = 'unchanged, reported'
            elif t[0] == 'EIO' and t[1] == compat.EIO and r['errors']:
                kind = 'EIO'
            elif t == states[-2] and c['torn_tails']:
                kind = 'last txn torn'
            elif r['errors'] or c['corrupt_nodes']:
                kind = 'reported'
            else:
                kind = 'SILENT'
                print('silent at', addr, file=sys.stderr)
        counts[kind] = counts.get(kind, 0) + 1
    return counts
"""


@pytest.mark.slow
def test_a_bit_flipped_anywhere_is_never_silent(runtime):
    """One bit flipped in (a deterministic sample of) every used byte of
    three small stores (NOR with closed blocks, NOR with one open block,
    NAND): the tree is unchanged, or the damage is reported (EIO from the
    file or directory it took, fsck errors, the corrupt-node counter, or a
    torn last transaction at the write frontier); never a silent change.
    docs/STORE.md gives the counts of a full sweep."""
    import os
    stride = int(os.environ.get("OVL_BITFLIP_STRIDE", 0)) or \
        (3 if runtime.name == "cpython" else 41)
    out = runtime(COMMON + BITFLIP + """
total = {}
for kind, geo in (('nor', (8 * 1024, 1024, 256, 'nor')),
                  ('nor', (16 * 1024, 2048, 256, 'nor')),
                  ('nand', (32 * 1024, 4096, 512, 'nand'))):
    f = SimFlash(geo[0], geo[1], geo[2], geo[3])
    s, states = shape(f, kind)
    addrs = used(s, f)
    counts = sweep(f, states, addrs, %d)
    print(kind, geo[1], len(addrs), sorted(counts.items()))
    for k in counts:
        total[k] = total.get(k, 0) + counts[k]
print(total.get('SILENT', 0), sum(total.values()) > 3000 // %d)
""" % (stride, stride), timeout=1800)
    print(out)      # the counts (OVL_BITFLIP_STRIDE=1 -s: the full sweep)
    assert out.split()[-2:] == ["0", "True"], out


def test_damage_answers_eio_where_it_is_and_fsck_names_it(runtime):
    """A flipped bit in a file's data: reading that file answers EIO (the
    data CRC is checked), the others read fine.  In an inode node of a
    closed block (the summary names its inode): that inode answers EIO, not
    ENOENT; in a directory entry of the open block: that directory does.
    Nodes after the damage still count; fsck names each."""
    out = run(runtime, """
import struct
def node_at(s, ino, ntype):
    for b in range(s.nblocks):
        if s.blocks.state[b] in (1, 2):
            for nd in s._scan(b)[0]:
                if nd.type == ntype and nd.fields[0] == ino:
                    found = nd
    return found
f = SimFlash(32 * 1024, 2048, 256)
s = LogStore.format(f)
a = create(s, ROOT_INO, 'a', b'a' * 1500)
b = create(s, ROOT_INO, 'b', b'b' * 1500)
c = create(s, ROOT_INO, 'c', b'c' * 1500)
good = f.snapshot()
# data of a
nd = node_at(s, a, 4)
f.mem[nd.addr + 200] ^= 0x08
m = LogStore.mount(f)
print(eio(content, m, a), content(m, b) == b'b' * 1500,
      m.counters()['corrupt_nodes'], m.lookup(ROOT_INO, 'c') == c)
r = m.fsck()
print(len(r['errors']), 'inode %d' % a in r['errors'][0])
# the inode node of b, in a closed block
f.restore(good)
nd = node_at(s, b, 1)
print(s.blocks.state[nd.addr // 2048] == 2)
f.mem[nd.addr + 40] ^= 0x01
m = LogStore.mount(f)
print(eio(m.get, b), m.lookup(ROOT_INO, 'b') == b, content(m, c) == b'c' * 1500)
print([e for e in m.fsck()['errors'] if e.startswith('/b: ')] != [])
# a directory entry in the open block: its name is past the key prefix
f = SimFlash(32 * 1024, 2048, 256)
s = LogStore.format(f)
x = create(s, ROOT_INO, 'x', b'x')
t = s.begin()
t.link(ROOT_INO, 'a-long-second-name', x)
t.put_inode(x, nlink=2)
t.commit()
after = create(s, ROOT_INO, 'after', b'z')
for nd in s._scan(s.wblock)[0]:
    if nd.type == 3 and nd.fields[2] == b'a-long-second-name':
        break
f.mem[nd.addr + 24 + 20] ^= 0x20
m = LogStore.mount(f)
print(eio(m.listdir, ROOT_INO), eio(m.lookup, ROOT_INO, 'after'),
      content(m, after) == b'z', m.get(x).nlink == 2)
print([e for e in m.fsck()['errors'] if e.startswith('/: ')] != [])
# data of a file in the open block (no summary): fsck names the damage
# and counts the node live, as the accounting does (no false leak)
f = SimFlash(32 * 1024, 2048, 256)
s = LogStore.format(f)
y = create(s, ROOT_INO, 'y', b'y' * 300)
create(s, ROOT_INO, 'z', b'z')      # (a damaged last node is a cut's)
nd = node_at(s, y, 4)
print(s.blocks.state[nd.addr // 2048] == 1)
f.mem[nd.addr + 100] ^= 0x04
m = LogStore.mount(f)
r = m.fsck()
print(eio(content, m, y), len(r['errors']), 'inode %d' % y in r['errors'][0])
""")
    assert out == ["True", "True", "1", "True", "1", "True",
                   "True", "True", "True", "True", "True",
                   "True", "True", "True", "True", "True",
                   "True", "True", "1", "True"]


def test_names_stay_on_flash_and_colliding_hashes_stay_apart(runtime):
    """The index keeps a 28-bit hash of each entry's parent and name, not
    the name: a lookup reads the dirent node of each row whose hash
    matches (44 bytes for a 12-character name), a miss reads nothing.  With a hash that chains every name of a
    directory together, creates, renames, whiteouts, removals, GC moves
    and a remount still keep each name apart.  A dirent node of a closed
    block whose body fails its CRC (its summary entry intact, so mount
    does not read it) answers EIO once a lookup reads it."""
    out = run(runtime, """
from ovl.store.index import EntryTable
f = SimFlash(64 * 1024, 2048, 256)
s = LogStore.format(f)
d = create(s, ROOT_INO, 'file0042.txt')
b = s.stats['bytes_read']
print(s.lookup(ROOT_INO, 'file0042.txt') == d, s.stats['bytes_read'] - b)
b = s.stats['bytes_read']
print(s.lookup(ROOT_INO, 'file0043.txt'), s.stats['bytes_read'] - b)
real = EntryTable.hash
EntryTable.hash = lambda self, key: key[0] & 1
f = SimFlash(64 * 1024, 2048, 256)
s = LogStore.format(f)
d = create(s, ROOT_INO, 'd', mode=0o40755)
model = {}
for i in range(60):
    model['n%d' % i] = create(s, d, 'n%d' % i, b'x' * 50)
for i in range(0, 60, 3):
    t = s.begin()
    t.link(d, 'm%d' % i, model['n%d' % i])
    t.unlink(d, 'n%d' % i)
    t.commit()
    model['m%d' % i] = model.pop('n%d' % i)
for i in range(1, 60, 6):
    t = s.begin()
    t.unlink(d, 'n%d' % i)
    t.delete_inode(model['n%d' % i])
    t.whiteout(d, 'n%d' % i)
    t.commit()
    model['n%d' % i] = WHITEOUT
def same(st):
    if dict(st.listdir(d)) != model or st.lookup(d, 'n99') is not None:
        return False
    for name in model:
        if st.lookup(d, name) != model[name]:
            return False
    return True
print(same(s))
s.gc(20)
print(same(s), s.stats['gc_copied_bytes'] > 0)
m = LogStore.mount(f)
print(same(m), len(m.fsck()['errors']))
EntryTable.hash = real
f = SimFlash(32 * 1024, 2048, 256)
s = LogStore.format(f)
x = create(s, ROOT_INO, 'x', b'x' * 1500)
y = create(s, ROOT_INO, 'y', b'y' * 1500)
for b in range(s.nblocks):
    for nd in (s._scan(b)[0] if s.blocks.state[b] == 2 else []):
        if nd.type == 3 and nd.fields[2] == b'x':
            at = nd.addr
f.mem[at + 24 + 8] ^= 0x04
m = LogStore.mount(f)
print(m.lookup(ROOT_INO, 'y') == y, eio(m.lookup, ROOT_INO, 'x'),
      eio(m.listdir, ROOT_INO), m.counters()['corrupt_nodes'])
print([e for e in m.fsck()['errors'] if e.startswith('/: ')] != [])
""")
    assert out == ["True", "44", "None", "0", "True", "True", "True",
                   "True", "0", "True", "True", "True", "1", "True"]


def test_a_full_store_still_renames_truncates_and_deletes(runtime):
    """Filled to ENOSPC, the store still renames, truncates, changes
    attributes and deletes (those may take a block of the reserve), and
    what they free is writable again without a remount."""
    out = run(runtime, """
f = SimFlash(16 * 1024, 1024, 256)
s = LogStore.format(f)
ok = []
for cycle in range(12):
    made = []
    while True:
        t = s.begin()
        ino = t.new_ino()
        t.put_inode(ino, mode=0o100644)
        t.link(ROOT_INO, 'f%d' % len(made), ino)
        t.write(ino, 0, bytes([cycle]) * 200)
        if enospc(t.commit):
            t.abort()
            break
        made.append(ino)
    t = s.begin()                       # rename f0 over nothing
    t.unlink(ROOT_INO, 'f0')
    t.link(ROOT_INO, 'renamed', made[0])
    t.put_inode(made[0], ctime=cycle)
    t.commit()
    t = s.begin()                       # truncate f1, chmod f2
    t.truncate(made[1], 10)
    t.put_inode(made[1], size=10)
    t.commit()
    t = s.begin()
    t.put_inode(made[2], mode=0o100600)
    t.commit()
    t = s.begin()                       # a whiteout replacing a name
    t.unlink(ROOT_INO, 'f3')
    t.whiteout(ROOT_INO, 'f3')
    t.delete_inode(made[3])
    t.commit()
    ok.append(s.lookup(ROOT_INO, 'renamed') == made[0] and
              s.get(made[1]).size == 10 and len(made) > 8)
    for name, v in list(s.listdir(ROOT_INO)):
        t = s.begin()
        t.unlink(ROOT_INO, name)
        if v != WHITEOUT:
            t.delete_inode(v)
        t.commit()
    assert not s.fsck()['errors'], cycle
print(all(ok), list(s.listdir(ROOT_INO)), LogStore.mount(f).fsck()['errors'])
""", timeout=300)
    assert out == ["True", "[]", "[]"]


def test_a_write_gc_cannot_make_room_for_fails_before_any_collection(
        runtime):
    """Near full, a commit that GC within its bound could not make room
    for fails with ENOSPC at once: nothing collected, programmed or
    erased (it used to collect what it could first, for nothing).  A
    commit that fits in what free_bytes() reports still succeeds."""
    out = run(runtime, """
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
inos = []
while True:
    t = s.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644)
    t.link(ROOT_INO, 'f%d' % len(inos), ino)
    t.write(ino, 0, bytes([len(inos)]) * 1500)
    if enospc(t.commit):
        t.abort()
        break
    inos.append(ino)
t = s.begin()                   # 1,500 dead bytes: a block worth collecting
t.unlink(ROOT_INO, 'f3')
t.delete_inode(inos[3])
t.commit()
free = s.free_bytes()
before = dict(s.counters())
t = s.begin()
ino = t.new_ino()
t.put_inode(ino, mode=0o100644)
t.link(ROOT_INO, 'big', ino)
t.write(ino, 0, b'b' * (free + 500))
refused = enospc(t.commit)
t.abort()
after = s.counters()
print(1000 < free < 3500, refused,
      [after[k] - before[k] for k in ('erases', 'gc_runs', 'bytes_programmed',
                                      'gc_refused')])
fits = not enospc(create, s, ROOT_INO, 'small', b's' * (free - 600))
print(fits, s.fsck()['errors'])
""")
    assert out == ["True", "True", "[0,", "0,", "0,", "1]", "True", "[]"]


@pytest.mark.slow
def test_gc_gives_up_when_its_collections_free_nothing(cpy):
    """bench_store's W5 at 75% of 1 MiB: copies of large nodes that do not
    fit the open block's end leave it as dead space, and collections chased
    each other's copies round the same blocks (512 erases for one 3 KB
    write that failed anyway).  A commit now stops after GC_STALLS
    collections in a row that free nothing: no commit erases more than 16
    blocks (7 measured), and the run under 0.5 erases per operation (0.31;
    2.0 before)."""
    out = run(cpy, """
f = SimFlash(1 << 20, 4096, 256)
s = LogStore.format(f)
rng = Xorshift(75)
inos, sizes = [], []
total = 0
while total < (1 << 20) * 75 // 100:
    size = 100 + rng.below(3901)
    inos.append(create(s, ROOT_INO, 'n%d' % len(inos),
                       bytes([len(inos) & 255]) * size))
    sizes.append(size)
    total += size
e0 = s.stats['erases']
worst = 0
for j in range(2000):
    i = rng.below(len(inos))
    before = s.stats['erases']
    t = s.begin()
    if rng.below(2) or sizes[i] > 3600:
        size = 100 + rng.below(3901)
        t.truncate(inos[i], 0)
        t.write(inos[i], 0, bytes([j & 255]) * size)
        t.put_inode(inos[i], size=size, mtime=2)
    else:
        size = sizes[i] + 10 + rng.below(391)
        t.write(inos[i], sizes[i], bytes([j & 255]) * (size - sizes[i]))
        t.put_inode(inos[i], size=size, mtime=3)
    if enospc(t.commit):
        t.abort()
        worst = max(worst, s.stats['erases'] - before)
    else:
        sizes[i] = size
print(worst <= 16, (s.stats['erases'] - e0) / 2000 < 0.5, s.fsck()['errors'])
""", timeout=600)
    assert out == ["True", "True", "[]"]


# Fills the store to each FILL% with the rng SEED, then rewrites and appends:
# prints per run whether copies and erases stay within the GC bound, whether
# ENOSPC left some writes through, fsck's errors and statvfs against
# free_bytes; the figures go to stderr.
NEAR_FULL = """
import sys
for fill, seed in RUNS:
    f = SimFlash(128 * 1024, 4096, 256)
    s = LogStore.format(f)
    rng = Xorshift(seed)
    cap = s.free_bytes()
    files = []
    while s.counters()['bytes_in_use'] < cap * fill // 100:
        name = 'f%d' % len(files)
        files.append((name, create(s, ROOT_INO, name, bytes([
            len(files) & 255]) * (100 + rng.below(3900)))))
    p0, c0, e0 = (s.stats['bytes_programmed'], s.stats['gc_copied_bytes'],
                  s.stats['erases'])
    full = 0
    for i in range(600):
        ino = files[rng.below(len(files))][1]
        size = s.get(ino).size
        t = s.begin()
        if rng.below(2):
            t.truncate(ino, 0)
            t.write(ino, 0, bytes([i & 255]) * (100 + rng.below(3900)))
        else:
            t.write(ino, size, bytes([i & 255]) * (10 + rng.below(400)))
        if enospc(t.commit):
            t.abort()
            full += 1
            # what fails for space frees some: a file is deleted
            name, victim = files.pop(rng.below(len(files)))
            t = s.begin()
            t.unlink(ROOT_INO, name)
            t.delete_inode(victim)
            assert not enospc(t.commit)
    copied = s.stats['gc_copied_bytes'] - c0
    written = s.stats['bytes_programmed'] - p0 - copied
    erases = s.stats['erases'] - e0
    bavail = s.statvfs()[4]
    print(fill, copied <= 3 * written + 2 * 4096,
          erases <= written // 1024 + 2, full < 600, s.fsck()['errors'],
          bavail * 4096 <= s.free_bytes() + 4096)
    print(fill, seed, copied, written, erases, full, file=sys.stderr)
"""


def near_full_runs(runtime, runs):
    return run(runtime, "RUNS = %r\n" % (runs,) + NEAR_FULL, timeout=600,
               heap="16M")


@pytest.mark.slow
def test_gc_cost_near_full_stays_within_its_bound(runtime):
    """Filled to 70% and 85% of its space with files of 100-4,000 bytes,
    then rewritten and appended to: garbage collection never copies more
    than 3 bytes per byte written (write amplification <= 4) nor erases
    more than one block per KiB written (plus the bank the fill left);
    past that a write gets ENOSPC, and statvfs counts only the space GC
    may reclaim within the bound."""
    out = near_full_runs(runtime, [(70, 70), (85, 85)])
    assert out == ["70", "True", "True", "True", "[]", "True",
                   "85", "True", "True", "True", "[]", "True"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_gc_bound_near_full_holds_for_other_seeds(cpy, seed):
    """The same workload with seeds 1-5 at 70% and 85%: both halves of
    the bound hold for each (CPython only: the test above runs the script
    under micropython, these ten runs would add 20 s there).  Seeds 1 and
    4 at 85% once erased 922 and 990 blocks for 787 and 818 KiB written,
    while collections chased their own copies round the same blocks (see
    GC_STALLS: with it at 999 seeds 1, 3 and 4 fail)."""
    out = near_full_runs(cpy, [(70, 70000 + seed), (85, 85000 + seed)])
    assert out == ["70", "True", "True", "True", "[]", "True",
                   "85", "True", "True", "True", "[]", "True"]



def test_new_ino_never_hands_out_the_whiteout_value(runtime):
    runtime.run_checks("logstore_last_inode.py", {
        "new_ino after 0xFFFFFFFD": "0xfffffffe",
        "new_ino after 0xFFFFFFFE": "ENOSPC",
        "asked again": "ENOSPC",
        "names after removing one": ["high"],
        "fsck errors": [],
    })


def test_mount_records_hold_more_nodes_than_pass_1_counted(runtime):
    """MountData sizes its buffers from pass 1's count (the last one only
    as long as needed) and still takes nodes past it, across a buffer's
    end, each read back with its 48-bit version, offset and range; a
    truncation keeps its type and flags apart."""
    out = run(runtime, """
from ovl.store.mount import MountData, MOUNT_CHUNK
from ovl.store.format import Node, NODE_DATA, NODE_TRUNCATE
for count in (0, 3, MOUNT_CHUNK):
    d = MountData(count)
    for i in range(MOUNT_CHUNK + 5):
        d.add(Node(100 + i, NODE_DATA, 0, 40, 1 << 40 | i, 7,
                   (i, 1 << 40, 28, None), None))
    d.add(Node(8, NODE_TRUNCATE, 0, 12, 3, 9, (5, 1 << 33), None))
    got = [d.node(i, {}) for i in range(d.n)]
    print(d.n - MOUNT_CHUNK, all(nd.addr == 100 + i and nd.ver == 1 << 40 | i and
                   nd.fields == (i, 1 << 40, 28, None) and nd.type == NODE_DATA
                   for i, nd in enumerate(got[:-1])),
          got[-1].type == NODE_TRUNCATE, got[-1].flags,
          got[-1].fields == (5, 1 << 33))
""")
    assert out == ["6", "True", "True", "0", "True"] * 3
