"""The simulator enforces the medium's rules and injects faults as specified.

Every test runs its script under CPython and under the real micropython.
"""

COMMON = """
from ovl_sim.simflash import SimFlash, TORN_MODES
from ovl.flash import FlashRuleError, BadBlockError, PowerCut, Region
def raises(exc, fn, *a):
    try:
        fn(*a)
    except exc as e:
        return True
    return False
"""


def run(runtime, body):
    return runtime(COMMON + body).split()


def test_erase_program_and_counters(runtime):
    out = run(runtime, """
f = SimFlash(64 * 1024, 4096, 256)
assert f.read(0, 4) == b'\\xff' * 4
f.program(0, b'\\x0f\\xf0')
f.program(0, b'\\x07\\xf0')          # clearing more bits is fine
print(f.read(0, 2) == b'\\x07\\xf0')
print(raises(FlashRuleError, f.program, 0, b'\\x0f'))   # 0 -> 1 refused
f.erase(0)
print(f.read(0, 2) == b'\\xff\\xff')
c = f.counters()
print(c['programs'], c['bytes_programmed'], c['erases'], c['erase_counts'][0], c['ops'])
print(raises(FlashRuleError, f.program, 4090, b'0123456789'))  # crosses block
print(raises(FlashRuleError, f.read, 65530, 10))                # off the end
""")
    assert out == ["True", "True", "True", "2", "4", "1", "1", "3", "True", "True"]


def test_nand_pages_and_partial_program_limit(runtime):
    out = run(runtime, """
f = SimFlash(128 * 1024, 16384, 512, kind='nand', nop=2)
print(raises(FlashRuleError, f.program, 500, b'x' * 20))   # crosses page
f.program(0, b'\\xfe')
f.program(1, b'\\xfe')
print(raises(FlashRuleError, f.program, 2, b'\\xfe'))      # third partial program
f.erase(0)
f.program(2, b'\\xfe')
print(f.read(0, 3) == b'\\xff\\xff\\xfe')
nor = SimFlash(64 * 1024, 4096, 256)
nor.program(200, b'y' * 100)          # NOR may cross pages by default
print(nor.read(200, 100) == b'y' * 100)
""")
    assert out == ["True", "True", "True", "True"]


def test_power_cut_modes(runtime):
    out = run(runtime, """
data = bytes(range(256)) * 2
for mode in TORN_MODES:
    f = SimFlash(64 * 1024, 4096, 4096)
    f.program(0, b'\\x00' * 16)
    f.arm_power_cut(1, torn=mode, seed=7)
    f.program(100, b'\\x00')           # op 0 completes
    try:
        f.program(1024, data)          # op 1 is cut
        cut = False
    except PowerCut:
        cut = True
    after = raises(PowerCut, f.read, 0, 1)   # dead until power_on
    f.power_on()
    a = f.read(1024, 512)
    b = f.read(1024, 512)
    n_new = sum(1 for i in range(512) if a[i] == data[i])
    # every byte is old (0xff) AND-ed with a subset of new bits
    legal = all((a[i] | data[i]) == 0xff or a[i] & ~(0xff) == 0 for i in range(512))
    subset = all(a[i] & data[i] == data[i] for i in range(512))
    print(mode, cut, after, f.read(100, 1) == b'\\x00', subset,
          a == b, n_new == 512, n_new == sum(1 for x in data if x == 0xff))
""")
    rows = [out[i:i + 8] for i in range(0, len(out), 8)]
    table = {r[0]: r[1:] for r in rows}
    # cut, dead afterwards, earlier op durable, result is a subset of new bits
    for mode in table:
        assert table[mode][:4] == ["True", "True", "True", "True"], mode
    assert table["clean"][5:] == ["False", "True"]      # nothing programmed
    assert table["done"][4:6] == ["True", "True"]       # all of it, stable
    assert table["unstable"][4] == "False"              # reads disagree
    assert table["prefix"][4] == "True"
    assert table["bits"][4] == "True"


def test_interrupted_erase(runtime):
    out = run(runtime, """
res = []
for mode in ('clean', 'prefix', 'bits', 'unstable', 'done'):
    f = SimFlash(16 * 1024, 4096, 256)
    f.program(4096, b'\\x00' * 4096)
    f.arm_power_cut(0, torn=mode, seed=3)
    try:
        f.erase(1)
    except PowerCut:
        pass
    f.power_on()
    blk = f.read(4096, 4096)
    zeros = sum(1 for x in blk if x != 0xff)
    again = [f.read(4096, 4096) for _ in range(4)]
    print(mode, zeros, len(set(again)) > 1)
""")
    rows = {out[i]: out[i + 1:i + 3] for i in range(0, len(out), 3)}
    assert rows["clean"] == ["4096", "False"]          # nothing erased
    assert rows["done"] == ["0", "False"]
    assert 0 < int(rows["bits"][0]) <= 16             # a few stuck bits
    assert rows["unstable"][1] == "True"              # a weak erase flickers
    assert int(rows["prefix"][0]) < 4096 or rows["prefix"][0] == "4096"


def test_bad_blocks_wear_and_bit_flips(runtime):
    out = run(runtime, """
f = SimFlash(32 * 1024, 4096, 256, wear_limit=3)
f.mark_bad(2, on='program')
print(raises(BadBlockError, f.program, 2 * 4096, b'\\x00'))
f.erase(2)                               # erase still works on that block
f.mark_bad(3, on='erase')
print(raises(BadBlockError, f.erase, 3))
for i in range(3):
    f.erase(5)
print(raises(BadBlockError, f.erase, 5))  # worn out after 3 erases
flips = f.flip_bits(5, seed=11, region=(0, 4096))
print(sum(1 for x in f.read(0, 4096) if x != 0xff) >= 1, len(flips))
g = SimFlash(32 * 1024, 4096, 256)
print(g.flip_bits(5, seed=11, region=(0, 4096)) == flips)   # reproducible
""")
    assert out == ["True", "True", "True", "True", "5", "True"]


def test_snapshot_restore_and_region(runtime):
    out = run(runtime, """
f = SimFlash(64 * 1024, 4096, 256)
f.program(10, b'abc')
snap = f.snapshot()
f.erase(0)
f.program(20, b'zz')
f.restore(snap)
print(f.read(10, 3) == b'abc', f.read(20, 2) == b'\\xff\\xff', f.erase_counts[0])
r = Region(f, 8192, 16384)
r.program(0, b'hi')
print(f.read(8192, 2) == b'hi', r.block_count)
print(raises(FlashRuleError, r.program, 16383, b'xy'))
print(raises(FlashRuleError, r.erase, 4))
r.erase(1)
print(f.erase_counts[3])
print(raises(ValueError, Region, f, 100, 4096))
""")
    assert out == ["True", "True", "0", "True", "4", "True", "True", "1", "True"]


def test_persisted_to_file(runtime, tmp_path):
    path = str(tmp_path / "chip.bin")
    out = run(runtime, """
p = %r
f = SimFlash(16 * 1024, 4096, 256, path=p)
f.program(5, b'persist')
f.sync()
g = SimFlash(16 * 1024, 4096, 256, path=p)
print(g.read(5, 7) == b'persist')
try:
    SimFlash(32 * 1024, 4096, 256, path=p)
    print('accepted')
except ValueError as e:
    print('refused')
""" % path)
    assert out == ["True", "refused"]
    with open(path, "rb") as f:
        assert len(f.read()) == 16 * 1024


def test_save_replaces_the_file_whole(runtime, tmp_path):
    """save() writes beside and renames: no moment holds a truncated chip."""
    path = str(tmp_path / "chip.bin")
    out = run(runtime, """
import os
p = %r
f = SimFlash(16 * 1024, 4096, 256, path=p)
f.program(0, b'one')
f.save()
f.program(100, b'two')
f.save()
print(os.listdir(%r) == ['chip.bin'], SimFlash(16 * 1024, 4096, 256, path=p).read(100, 3) == b'two')
""" % (path, str(tmp_path)))
    assert out == ["True", "True"]


def test_write_blocks_writes_only_changed_blocks(runtime):
    out = run(runtime, """
from ovl.flash import write_blocks
f = SimFlash(32 * 1024, 4096, 256)
data = bytearray(b'\\xff' * 16384)
data[10] = 1
data[9000:9004] = b'abcd'
print(write_blocks(f, 4096, bytes(data)))     # blocks 1 and 3 hold data
print(f.read(4096 + 10, 1) == b'\\x01', f.read(4096 + 9000, 4) == b'abcd')
print(f.erases, f.programs)
print(write_blocks(f, 4096, bytes(data)))     # unchanged: nothing written
data[9000] = ord('z')
print(write_blocks(f, 4096, bytes(data)))     # one block changed
print(raises(FlashRuleError, write_blocks, f, 100, b'x' * 4096))
""")
    assert out == ["2", "True", "True", "2", "2", "0", "1", "True"]
