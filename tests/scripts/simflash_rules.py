"""SimFlash keeps the medium's rules and injects the faults asked of it.

Run by tests/test_simflash.py on both runtimes: argv[1] names the case,
argv[2] (some cases) a file path; the last line is the labelled results.
"""
import sys

from checklib import outcome, report
from ovl.flash import Region
from ovl_sim.simflash import PowerCut
from ovl_sim.simflash import SimFlash, TORN_MODES


def erase_program_and_counters(r):
    f = SimFlash(64 * 1024, 4096, 256)
    r["fresh chip reads 0xff"] = f.read(0, 4) == b"\xff" * 4
    f.program(0, b"\x0f\xf0")
    f.program(0, b"\x07\xf0")           # clearing more bits is fine
    r["second program clears more bits"] = f.read(0, 2) == b"\x07\xf0"
    r["program setting a 0 bit to 1"] = outcome(f.program, 0, b"\x0f")
    f.erase(0)
    r["erase sets every bit"] = f.read(0, 2) == b"\xff\xff"
    c = f.counters()
    for key in ("programs", "bytes_programmed", "erases", "ops"):
        r["counter " + key] = c[key]
    r["erase count of block 0"] = c["erase_counts"][0]
    r["program crossing a block end"] = outcome(f.program, 4090,
                                                b"0123456789")
    r["read past the chip's end"] = outcome(f.read, 65530, 10)


def nand_pages_and_partial_program_limit(r):
    f = SimFlash(128 * 1024, 16384, 512, kind="nand", nop=2)
    r["nand program crossing a page"] = outcome(f.program, 500, b"x" * 20)
    f.program(0, b"\xfe")
    f.program(1, b"\xfe")
    r["third partial program of a page (nop=2)"] = outcome(f.program, 2,
                                                           b"\xfe")
    f.erase(0)
    f.program(2, b"\xfe")
    r["page programs again after an erase"] = \
        f.read(0, 3) == b"\xff\xff\xfe"
    nor = SimFlash(64 * 1024, 4096, 256)
    nor.program(200, b"y" * 100)        # NOR may cross pages by default
    r["nor program crossing a page"] = nor.read(200, 100) == b"y" * 100


def power_cut_modes(r):
    data = bytes(range(256)) * 2
    for mode in TORN_MODES:
        f = SimFlash(64 * 1024, 4096, 4096)
        f.program(0, b"\x00" * 16)
        f.arm_power_cut(1, torn=mode, seed=7)
        f.program(100, b"\x00")         # op 0 completes
        r[mode + ": cut op"] = outcome(f.program, 1024, data)
        r[mode + ": read before power_on"] = outcome(f.read, 0, 1)
        f.power_on()
        a = f.read(1024, 512)
        b = f.read(1024, 512)
        same_as_new = sum(1 for i in range(512) if a[i] == data[i])
        r[mode + ": earlier op durable"] = f.read(100, 1) == b"\x00"
        # a program only clears bits: what is left must be the old 0xff
        # AND-ed with some of the new bits, so every new 0 stays 0
        r[mode + ": only new bits cleared"] = all(
            a[i] & data[i] == data[i] for i in range(512))
        r[mode + ": two reads agree"] = a == b
        r[mode + ": all bytes new"] = same_as_new == 512
        r[mode + ": only bytes new that were 0xff anyway"] = \
            same_as_new == sum(1 for x in data if x == 0xff)


def interrupted_erase(r):
    for mode in ("clean", "prefix", "bits", "unstable", "done"):
        f = SimFlash(16 * 1024, 4096, 256)
        f.program(4096, b"\x00" * 4096)
        f.arm_power_cut(0, torn=mode, seed=3)
        r[mode + ": cut erase"] = outcome(f.erase, 1)
        f.power_on()
        blk = f.read(4096, 4096)
        left = sum(1 for x in blk if x != 0xff)
        r[mode + ": bytes not erased"] = left
        erased = 4096 - left
        r[mode + ": erased bytes form a prefix"] = \
            blk == b"\xff" * erased + b"\x00" * left
        again = [f.read(4096, 4096) for _ in range(4)]
        r[mode + ": reads flicker"] = len(set(again)) > 1


def bad_blocks_wear_and_bit_flips(r):
    f = SimFlash(32 * 1024, 4096, 256, wear_limit=3)
    f.mark_bad(2, on="program")
    r["program of a block bad on program"] = outcome(f.program, 2 * 4096,
                                                     b"\x00")
    r["erase of a block bad on program"] = outcome(f.erase, 2)
    f.mark_bad(3, on="erase")
    r["erase of a block bad on erase"] = outcome(f.erase, 3)
    for i in range(3):
        f.erase(5)
    r["fourth erase with wear_limit=3"] = outcome(f.erase, 5)
    flips = f.flip_bits(5, seed=11, region=(0, 4096))
    r["flipped bits show in reads"] = \
        sum(1 for x in f.read(0, 4096) if x != 0xff) >= 1
    r["bits flipped"] = len(flips)
    g = SimFlash(32 * 1024, 4096, 256)
    r["same seed flips the same bits"] = \
        g.flip_bits(5, seed=11, region=(0, 4096)) == flips


def snapshot_restore_and_region(r):
    f = SimFlash(64 * 1024, 4096, 256)
    f.program(10, b"abc")
    snap = f.snapshot()
    f.erase(0)
    f.program(20, b"zz")
    f.restore(snap)
    r["restore brings the data back"] = f.read(10, 3) == b"abc"
    r["restore drops later programs"] = f.read(20, 2) == b"\xff\xff"
    r["restore brings the erase counts back"] = f.erase_counts[0]
    reg = Region(f, 8192, 16384)
    reg.program(0, b"hi")
    r["region offsets its addresses"] = f.read(8192, 2) == b"hi"
    r["region block count"] = reg.block_count
    r["region program past its end"] = outcome(reg.program, 16383, b"xy")
    r["region erase past its end"] = outcome(reg.erase, 4)
    reg.erase(1)
    r["region erase 1 counts on chip block 3"] = f.erase_counts[3]
    r["region not on a block boundary"] = outcome(Region, f, 100, 4096)


def persisted_to_file(r, path):
    f = SimFlash(16 * 1024, 4096, 256, path=path)
    f.program(5, b"persist")
    f.sync()
    g = SimFlash(16 * 1024, 4096, 256, path=path)
    r["reopened file holds the data"] = g.read(5, 7) == b"persist"
    r["reopen with another size"] = outcome(
        lambda: SimFlash(32 * 1024, 4096, 256, path=path))


def save_replaces_the_file_whole(r, path):
    import os
    folder = path.rsplit("/", 1)[0]
    f = SimFlash(16 * 1024, 4096, 256, path=path)
    f.program(0, b"one")
    f.save()
    f.program(100, b"two")
    f.save()
    r["files beside the chip after two saves"] = os.listdir(folder)
    r["reopened file holds the last save"] = \
        SimFlash(16 * 1024, 4096, 256, path=path).read(100, 3) == b"two"


def write_blocks_writes_only_changed_blocks(r):
    from ovl.flash import write_blocks
    f = SimFlash(32 * 1024, 4096, 256)
    data = bytearray(b"\xff" * 16384)
    data[10] = 1
    data[9000:9004] = b"abcd"
    r["first write: blocks written"] = write_blocks(f, 4096, bytes(data))
    r["data landed"] = f.read(4096 + 10, 1) == b"\x01" and \
        f.read(4096 + 9000, 4) == b"abcd"
    r["first write: erases"] = f.erases
    r["first write: programs"] = f.programs
    r["unchanged data: blocks written"] = write_blocks(f, 4096, bytes(data))
    data[9000] = ord("z")
    r["one byte changed: blocks written"] = write_blocks(f, 4096,
                                                         bytes(data))
    r["address not on a block boundary"] = outcome(write_blocks, f, 100,
                                                   b"x" * 4096)


results = {}
case = globals()[sys.argv[1]]
case(results, *sys.argv[2:])
report(results)
