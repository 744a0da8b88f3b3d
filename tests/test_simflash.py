"""The simulator enforces the medium's rules and injects faults as specified.

Every case runs tests/scripts/simflash_rules.py under CPython and under the
real micropython and checks its labelled results.
"""

import os

from conftest import ROOT

SCRIPT = "simflash_rules.py"


def test_erase_program_and_counters(runtime):
    runtime.run_checks(SCRIPT, {
        "fresh chip reads 0xff": True,
        "second program clears more bits": True,
        "program setting a 0 bit to 1": "FlashRuleError",
        "erase sets every bit": True,
        "counter programs": 2,
        "counter bytes_programmed": 4,
        "counter erases": 1,
        "counter ops": 3,
        "erase count of block 0": 1,
        "program crossing a block end": "FlashRuleError",
        "read past the chip's end": "FlashRuleError",
    }, args=["erase_program_and_counters"])


def test_nand_pages_and_partial_program_limit(runtime):
    runtime.run_checks(SCRIPT, {
        "nand program crossing a page": "FlashRuleError",
        "third partial program of a page (nop=2)": "FlashRuleError",
        "page programs again after an erase": True,
        "nor program crossing a page": True,
    }, args=["nand_pages_and_partial_program_limit"])


def test_power_cut_modes(runtime):
    expected = {}
    for mode in ("clean", "prefix", "bits", "unstable", "done"):
        expected.update({
            mode + ": cut op": "PowerCut",
            mode + ": read before power_on": "PowerCut",
            mode + ": earlier op durable": True,
            mode + ": only new bits cleared": True,
        })
    expected.update({
        "clean: all bytes new": False,      # nothing programmed
        "clean: only bytes new that were 0xff anyway": True,
        "done: two reads agree": True,      # all of it, stable
        "done: all bytes new": True,
        "unstable: two reads agree": False,  # weak cells read differently
        "prefix: two reads agree": True,
        "bits: two reads agree": True,
    })
    got = runtime.run_checks(SCRIPT, expected, args=["power_cut_modes"])
    modes = sorted(k.split(":")[0] for k in got if k.endswith(": cut op"))
    assert modes == ["bits", "clean", "done", "prefix", "unstable"], modes


def test_interrupted_erase(runtime):
    got = runtime.run_checks(SCRIPT, {
        "clean: cut erase": "PowerCut",
        "clean: bytes not erased": 4096,    # nothing erased
        "clean: reads flicker": False,
        "done: bytes not erased": 0,
        "done: reads flicker": False,
        "unstable: reads flicker": True,    # a weak erase flickers
        "prefix: erased bytes form a prefix": True,
        "prefix: reads flicker": False,
    }, args=["interrupted_erase"])
    stuck = got["bits: bytes not erased"]
    assert 0 < stuck <= 16, "a few stuck bits after a torn erase: %d" % stuck


def test_bad_blocks_wear_and_bit_flips(runtime):
    runtime.run_checks(SCRIPT, {
        "program of a block bad on program": "BadBlockError",
        "erase of a block bad on program": "ok",
        "erase of a block bad on erase": "BadBlockError",
        "fourth erase with wear_limit=3": "BadBlockError",
        "flipped bits show in reads": True,
        "bits flipped": 5,
        "same seed flips the same bits": True,
    }, args=["bad_blocks_wear_and_bit_flips"])


def test_snapshot_restore_and_region(runtime):
    runtime.run_checks(SCRIPT, {
        "restore brings the data back": True,
        "restore drops later programs": True,
        "restore brings the erase counts back": 0,
        "region offsets its addresses": True,
        "region block count": 4,
        "region program past its end": "FlashRuleError",
        "region erase past its end": "FlashRuleError",
        "region erase 1 counts on chip block 3": 1,
        "region not on a block boundary": "ValueError",
    }, args=["snapshot_restore_and_region"])


def test_persisted_to_file(runtime, tmp_path):
    path = str(tmp_path / "chip.bin")
    runtime.run_checks(SCRIPT, {
        "reopened file holds the data": True,
        "reopen with another size": "ValueError",
    }, args=["persisted_to_file", path])
    with open(path, "rb") as f:
        assert len(f.read()) == 16 * 1024


def test_save_replaces_the_file_whole(runtime, tmp_path):
    """save() writes beside and renames: no moment holds a truncated chip."""
    runtime.run_checks(SCRIPT, {
        "files beside the chip after two saves": ["chip.bin"],
        "reopened file holds the last save": True,
    }, args=["save_replaces_the_file_whole", str(tmp_path / "chip.bin")])


def test_write_blocks_writes_only_changed_blocks(runtime):
    runtime.run_checks(SCRIPT, {
        "first write: blocks written": 2,   # blocks 1 and 3 hold data
        "data landed": True,
        "first write: erases": 2,
        "first write: programs": 2,
        "unchanged data: blocks written": 0,
        "one byte changed: blocks written": 1,
        "address not on a block boundary": "FlashRuleError",
    }, args=["write_blocks_writes_only_changed_blocks"])


def test_an_image_file_is_held_once(tmp_path):
    # a host tool's image is the chip's bytearray alone: made in one
    # allocation and read into, never a copy beside it (a 256 MiB upper
    # took 811 MB of RSS for `ovl fs ls`, now 287 MB)
    import sys
    import tracemalloc
    if os.path.join(ROOT, "firmware") not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, "firmware"))
    from ovl_sim.simflash import SimFlash
    size = 8 << 20
    path = tmp_path / "chip.bin"
    path.write_bytes(bytes(range(256)) * (size // 256))
    tracemalloc.start()
    try:
        flash = SimFlash(size, 65536, 256, path=str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert flash.mem[:4] == b"\x00\x01\x02\x03" and flash.mem[-1] == 255
    assert peak < size * 1.1, peak
    path.write_bytes(b"\xff" * (size - 1))
    try:
        SimFlash(size, 65536, 256, path=str(path))
    except ValueError as e:
        assert "is %d bytes" % (size - 1) in str(e)
    else:
        raise AssertionError("a short flash file loaded")
