"""`ovl mkimage --comp xz`: images unsquashfs, Linux and the CPython
reader read back exactly, with the compressor options block that records
the dictionary; on MicroPython an xz lower is refused with one error that
names the compressor, at mount time on a booting board."""

import os
import struct
import subprocess

import pytest

from conftest import ROOT
from test_mkimage import make_source, need_tool, open_fs, snapshot
from host_tools.image import mkimage
from host_tools.cli import main as cli_main
from sim_board import flash_then_remote
from ovl import squashfs_format as fmt

SIM = os.path.join(ROOT, "boards", "sim.json")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    top = str(tmp_path_factory.mktemp("xz") / "src")
    make_source(top)
    return top


def superblock(path):
    with open(path, "rb") as f:
        raw = f.read(fmt.SUPERBLOCK_SIZE + 10)
    return fmt.decode(fmt.SUPERBLOCK, raw[:fmt.SUPERBLOCK_SIZE]), \
        raw[fmt.SUPERBLOCK_SIZE:]


@pytest.mark.slow
@pytest.mark.parametrize("block_size", ["4K", "128K"])
def test_unsquashfs_and_the_reader_equal_source(source, tmp_path, block_size):
    need_tool("unsquashfs")
    image = str(tmp_path / "img.sqfs")
    mkimage.build_image(source, image, block_size=block_size, comp="xz")
    sb, after = superblock(image)
    size = mkimage.parse_block_size(block_size)
    assert sb["compression"] == fmt.COMP_XZ
    assert sb["flags"] & fmt.FLAG_COMPRESSOR_OPTIONS
    # The options block: a raw 8-byte metadata block right after the
    # superblock (dictionary = block size, no branch filters).
    assert struct.unpack("<HII", after) == (0x8008, size, 0)
    info = subprocess.run(["unsquashfs", "-s", image], capture_output=True,
                          text=True).stdout
    assert "Compression xz" in info and "Dictionary size %d" % size in info
    out = str(tmp_path / "unsquashfs")
    proc = subprocess.run(["unsquashfs", "-no-progress", "-d", out, image],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = snapshot(source)
    assert snapshot(out) == want
    # The reader the device runs, on CPython: every file's bytes.
    fs = open_fs(image)
    for rel, attrs in want[0].items():
        if attrs[-1] is None or not isinstance(attrs[-1], str) or \
                len(attrs[-1]) != 64:
            continue
        entry = fs.lookup("/" + rel)
        with open(os.path.join(source, rel), "rb") as f:
            assert fs.read(entry, 0, entry.size + 1) == f.read(), rel


def test_xz_is_smaller_than_gzip_on_text(tmp_path):
    top = tmp_path / "src"
    top.mkdir()
    for i in range(20):
        (top / ("f%d.py" % i)).write_text("".join(
            "def function_%d_%d(argument):\n    return argument * %d\n\n"
            % (i, j, j) for j in range(400)))
    sizes = {}
    for comp in ("gzip", "xz"):
        out = str(tmp_path / (comp + ".sqfs"))
        mkimage.build_image(str(top), out, comp=comp, mtime=0)
        sizes[comp] = superblock(out)[0]["bytes_used"]
    assert sizes["xz"] < sizes["gzip"]


def test_unknown_compressor_is_one_line(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    status = cli_main(["mkimage", str(tmp_path / "src"),
                       str(tmp_path / "o.sqfs"), "--comp", "lz4"])
    err = capsys.readouterr().err
    assert status == 1 and "unknown compressor 'lz4'" in err
    assert len(err.splitlines()) == 1


def test_micropython_board_refuses_an_xz_lower_by_name(tmp_path, mpy):
    top = tmp_path / "src"
    (top / "etc").mkdir(parents=True)
    (top / "etc" / "motd").write_bytes(b"hello\n")
    image = str(tmp_path / "fw.sqfs")
    mkimage.build_image(str(top), image, comp="xz")
    out = mpy("""
from ovl import compat, fwslot, squashfs
from ovl_sim.board_runner import boot, load_board
from ovl.flash import BytesSource
from ovl_sim.simflash import SimFlash
data = open(%r, "rb").read()
try:
    squashfs.SquashFS(BytesSource(data))
except squashfs.UnsupportedCompressorError as e:
    print("reader:", e)
board = load_board(%r)
flash = SimFlash(board.size, board.erase_size, board.page_size)
flash.program(0, data)
found = fwslot.scan(board, flash)
fwslot.commit(flash, found[0], len(data), compat.sha256(data).digest(), found)
fs, notes, _ = boot(board, flash)
print("mounted:", fs is not None)
for n in notes:
    print("note:", n)
""" % (image, SIM), heap="16M")
    lines = out.splitlines()
    assert lines[0] == ("reader: image uses the xz compressor, which"
                        " MicroPython cannot decompress")
    assert "mounted: False" in lines
    assert [n for n in lines if n.startswith("note:") and "xz compressor"
            in n and "did not mount" in n]


@pytest.mark.slow
@pytest.mark.parametrize("block_size", ["4K", "128K"])
def test_linux_mounts_an_xz_image(source, tmp_path, block_size):
    """The kernel's xz decoder takes the streams and the options block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a loop device needs root")
    image = str(tmp_path / "img.sqfs")
    mkimage.build_image(source, image, block_size=block_size, comp="xz")
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    proc = subprocess.run(["mount", "-t", "squashfs", "-o", "loop,ro", image,
                           mnt], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("cannot loop-mount squashfs here: %s"
                    % proc.stderr.strip())
    try:
        assert snapshot(mnt) == snapshot(source)
    finally:
        subprocess.run(["umount", mnt], check=True)


def test_remote_verbs_name_the_compressor(tmp_path):
    """Flashed onto the simulated board under micropython, an xz image
    boots the agent only, and an overlay verb says why in one line."""
    top = tmp_path / "src"
    (top / "etc").mkdir(parents=True)
    (top / "etc" / "motd").write_bytes(b"hello\n")
    image = tmp_path / "fw.sqfs"
    mkimage.build_image(str(top), str(image), comp="xz")
    status, err = flash_then_remote(SIM, str(tmp_path / "flash.bin"),
                                    image.read_bytes(), ["ls", "/"])
    assert status == 1 and len(err.splitlines()) == 1
    assert "xz compressor, which MicroPython cannot decompress" in err
