"""An MTD character device as the upper of `ovl format/fsck/info` and
`ovl mount`'s layers.  This machine has no /dev/mtdN, so a plain file
stands in with the kernel's MEMGETINFO/MEMERASE answered by the fake of
tests/test_flash_adapters.py; a character device that is not MTD
(/dev/null) must be refused in one line."""

import os

import pytest

from ovl import mtd
from host_tools import cli
from host_tools.commands import mount as cmd_mount
from host_tools.commands import store as cmd_store
from host_tools.cli import CliError
from test_flash_adapters import FakeMtdIoctl

ERASE = 65536
BLOCKS = 32


@pytest.fixture
def fake_mtd(tmp_path, monkeypatch):
    path = str(tmp_path / "mtd4")
    with open(path, "wb") as f:
        f.write(b"\x00" * (ERASE * BLOCKS))     # never erased: garbage
    fake = FakeMtdIoctl(path, ERASE, 1, mtd_type=mtd.MTD_NORFLASH)
    monkeypatch.setattr(mtd, "system_ioctl", lambda: fake)
    for mod in (cmd_store, cmd_mount):
        monkeypatch.setattr(mod, "is_mtd_device", lambda p: p == path)
    return path, fake


def test_format_fsck_info_on_an_mtd_device(fake_mtd, capsys):
    path, fake = fake_mtd
    assert cli.main(["format", path]) == 0
    assert "32 blocks of 65536 bytes (NOR" in capsys.readouterr().out
    assert len(fake.erased) == BLOCKS           # through MEMERASE
    assert cli.main(["fsck", path]) == 0
    assert ", 0 errors" in capsys.readouterr().out
    assert cli.main(["info", path]) == 0
    assert "NOR upper, 32 blocks of 65536 bytes" in capsys.readouterr().out


def test_mount_layers_on_an_mtd_device(fake_mtd, tmp_path):
    path, fake = fake_mtd
    assert cli.main(["format", path]) == 0
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "config").write_bytes(b"option=1\n")
    ovl, flash, lock = cmd_mount.open_layers(str(lower), path, False)
    try:
        assert not flash.emulated and flash.erase_size == ERASE
        with pytest.raises(CliError) as e:          # one server per device
            cmd_mount.open_layers(str(lower), path, False)
        assert "in use" in str(e.value)
        ovl.write_bytes("/etc/config", b"option=2\n")
        ovl.sync()
    finally:
        cmd_mount.release(flash, lock)
    ovl, flash, lock = cmd_mount.open_layers(str(lower), path, False)
    try:
        assert ovl.read_bytes("/etc/config") == b"option=2\n"
    finally:
        cmd_mount.release(flash, lock)


def test_a_character_device_that_is_not_mtd(tmp_path, capsys):
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    for verb in ("fsck", "info"):
        assert cli.main([verb, "/dev/null"]) != 0    # fsck: 8, cannot run
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "not an MTD device" in err
    with pytest.raises(CliError) as e:
        cmd_mount.open_write_through("/dev/null")
    assert "not an MTD device" in str(e.value)


def test_a_read_after_memerase_sees_the_erase(tmp_path):
    """The device file is unbuffered: a read after MEMERASE is not served
    from bytes read before it."""
    path = str(tmp_path / "mtd0")
    with open(path, "wb") as f:
        f.write(b"\x00" * (4 * ERASE))
    flash = mtd.MtdFlash(path, ioctl=FakeMtdIoctl(path, ERASE, 1,
                                                  mtd.MTD_NORFLASH))
    try:
        assert flash.read(100, 16) == b"\x00" * 16
        flash.erase(0)
        assert flash.read(100, 16) == b"\xff" * 16
        flash.program(100, b"\x12\x34")
        assert flash.read(100, 3) == b"\x12\x34\xff"
    finally:
        flash.close()
