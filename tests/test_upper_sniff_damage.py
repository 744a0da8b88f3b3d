"""The host tools find an upper image's geometry from its block headers
even when block 0's header is damaged (a flipped bit) or gone (an erase
cut short): fsck then reports what the store's mount makes of it, and
`ovl fs` reads the files.  A real whole-chip file still gets the
--partition hint."""

import pytest

from host_tools.cli import main
from host_tools.commands.store import open_upper_image
from ovl.store import LogStore
from ovl_sim.simflash import PowerCut
from test_overlay import build_lower

ES = 4096
CHIP_HINT = "give --board NAME --partition NAME for a whole-chip file"


def ovl(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def layers(tmp_path, capsys):
    """(lower, upper): an upper of 64 blocks of 4 KiB holding /etc/mine
    and enough other files to fill a few blocks past block 0."""
    lower = build_lower(str(tmp_path / "lower"))
    upper = tmp_path / "up.img"
    mine = tmp_path / "mine"
    mine.write_bytes(b"abc\n")
    L = ("--lower", lower, "--upper", upper)
    assert ovl(capsys, "format", upper, "--size", "256k", "--erase-size",
               "4k")[0] == 0
    assert ovl(capsys, "fs", "put", *L, mine, "/etc/mine")[0] == 0
    for i in range(6):
        filler = tmp_path / ("f%d" % i)
        filler.write_bytes(bytes([65 + i]) * 1500)
        assert ovl(capsys, "fs", "put", *L, filler, "/f%d" % i)[0] == 0
    return lower, upper


def files_read(capsys, lower, upper):
    L = ("--lower", lower, "--upper", upper)
    status, out, err = ovl(capsys, "fs", "cat", *L, "/etc/mine")
    assert (status, out, err) == (0, "abc\n", "")
    for i in range(6):
        status, out, err = ovl(capsys, "fs", "cat", *L, "/f%d" % i)
        assert (status, out, err) == (0, chr(65 + i) * 1500, ""), i


def test_a_flipped_bit_in_block0_header_is_reported_not_a_whole_chip(
        layers, capsys, tmp_path):
    lower, upper = layers
    data = bytearray(upper.read_bytes())
    data[0] ^= 1
    upper.write_bytes(data)
    status, out, err = ovl(capsys, "fsck", upper)
    assert status == 4, out + err
    assert "error: block 0: block header damaged (bit 0 of byte 0; " \
        "mended)" in out, out
    assert err == ""
    # --repair mends what the store mends at mount (nodes, not headers):
    # the damage stays reported, and the files still read
    status, out, err = ovl(capsys, "fsck", "--repair", upper)
    assert status == 4 and err == "", out + err
    assert ovl(capsys, "info", upper)[0] == 0
    files_read(capsys, lower, upper)
    status, out, err = ovl(capsys, "backup", tmp_path / "b.tar", "--lower",
                           lower, "--upper", upper)
    assert status == 0, err


@pytest.mark.parametrize("torn, seed", [("bits", 1), ("prefix", 3)])
def test_an_erase_of_block0_cut_short_leaves_a_readable_upper(
        layers, capsys, torn, seed):
    """Block 0 collected (its live nodes copied elsewhere), the power cut
    during its erase: what is left of it is no other partition."""
    lower, upper = layers
    flash = open_upper_image(str(upper))
    store = LogStore.mount(flash)
    erase = flash.erase

    def cut_erase_of_block0(b):
        if b == 0:
            flash.arm_power_cut(0, torn=torn, seed=seed)
        return erase(b)
    flash.erase = cut_erase_of_block0
    with pytest.raises(PowerCut):
        store._collect(0)
    del flash.erase
    flash.power_on()
    flash.save()
    block0 = upper.read_bytes()[:ES]
    assert block0 != b"\xff" * ES, "the cut left block 0 all erased"
    status, out, err = ovl(capsys, "fsck", upper)
    assert status == 0 and err == "", out + err
    files_read(capsys, lower, upper)


def test_a_whole_chip_file_still_gets_the_partition_hint(tmp_path, capsys):
    chip = tmp_path / "chip.img"
    assert ovl(capsys, "format", chip, "--board", "sim", "--partition",
               "upper")[0] == 0
    with open(chip, "r+b") as f:
        f.write(b"hsqs")                    # a firmware image before it
    status, out, err = ovl(capsys, "fsck", chip)
    assert status == 8 and CHIP_HINT in err and \
        len(err.splitlines()) == 1, err
    status, out, err = ovl(capsys, "info", chip)
    assert status == 1 and CHIP_HINT in err, err
    # with the partition named it checks
    assert ovl(capsys, "fsck", chip, "--board", "sim", "--partition",
               "upper")[0] == 0
