"""`ovl boards`/`provision`/`flashinfo`, and one-line errors on bad input."""

import json
import os
import re
import struct
import subprocess
import sys

import pytest

from conftest import ROOT
from ovl.board import Board, BoardError


def ovl(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "host_tools"] + list(args),
                          capture_output=True, text=True, cwd=cwd or ROOT)
    return proc


def test_boards_lists_required_boards():
    proc = ovl("boards", "--json")
    assert proc.returncode == 0, proc.stderr
    names = {b["name"] for b in json.loads(proc.stdout)}
    assert {"sim", "esp32-4mb", "pico", "router-16mb"} <= names
    for b in json.loads(proc.stdout):
        types = [p["type"] for p in b["partitions"]]
        assert "squashfs" in types and "ovl" in types, b["name"]


def test_unknown_board_is_one_line_error():
    proc = ovl("boards", "no-such-board")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "unknown board 'no-such-board'" in proc.stderr
    assert "Traceback" not in proc.stderr


def board_dict(parts, size=0x10000):
    return {"name": "t", "flash": {"kind": "nor", "size": size,
                                   "erase_size": 4096, "page_size": 256},
            "partitions": parts}


@pytest.mark.parametrize("parts,message", [
    ([{"name": "a", "offset": 0, "size": 0x8000},
      {"name": "b", "offset": 0x4000, "size": 0x8000}], "overlaps partition a"),
    ([{"name": "a", "offset": 0x100, "size": 0x1000}], "not aligned"),
    ([{"name": "a", "offset": 0, "size": 0x1000},
      {"name": "a", "offset": 0x1000, "size": 0x1000}], "duplicate"),
    ([{"name": "a", "offset": 0xF000, "size": 0x2000}], "outside"),
    ([{"name": "a", "offset": "zz", "size": 0x1000}], "not a number"),
])
def test_bad_partition_tables(parts, message, tmp_path):
    with pytest.raises(BoardError) as e:
        Board.from_dict(board_dict(parts))
    assert message in str(e.value)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(board_dict(parts)))
    proc = ovl("boards", str(path))
    assert proc.returncode == 1 and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("value,message", [
    ("16K", "gc_threshold is not a number: '16K'"),
    (512, "gc_threshold 512 is below 1024 bytes"),
    (True, "gc_threshold must be an integer"),
])
def test_bad_gc_threshold_is_one_line_error(value, message, tmp_path):
    d = board_dict([{"name": "a", "offset": 0, "size": 0x1000}])
    d["gc_threshold"] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    proc = ovl("boards", str(path))
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    d["gc_threshold"] = "0x4000"
    assert Board.from_dict(d).gc_threshold == 16384
    assert Board.from_dict(d).as_dict()["gc_threshold"] == 16384


def test_store_checkpoints_is_a_boolean(tmp_path):
    d = board_dict([{"name": "a", "offset": 0, "size": 0x1000}])
    assert Board.from_dict(d).store_checkpoints is True
    assert "store_checkpoints" not in Board.from_dict(d).as_dict()
    d["store_checkpoints"] = False
    assert Board.from_dict(d).store_checkpoints is False
    assert Board.from_dict(d).as_dict()["store_checkpoints"] is False
    d["store_checkpoints"] = 0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    proc = ovl("boards", str(path))
    assert proc.returncode == 1, proc.stderr
    assert "store_checkpoints must be true or false" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_board_validation_under_micropython(mpy):
    out = mpy("""
from ovl.board import Board, BoardError
from ovl_sim.simflash import SimFlash
d = {"name": "t", "flash": {"kind": "nor", "size": "0x10000", "erase_size": 4096,
     "page_size": 256}, "partitions": [
     {"name": "fw", "offset": 0, "size": "0x8000", "type": "squashfs"},
     {"name": "up", "offset": "0x8000", "size": "0x8000", "type": "ovl"}]}
b = Board.from_dict(d)
f = SimFlash(b.size, b.erase_size, b.page_size)
r = b.region(f, "up")
r.program(0, b"x")
print(f.read(0x8000, 1), b.first_of_type("squashfs").name)
d["partitions"][1]["offset"] = "0x4000"
try:
    Board.from_dict(d)
except BoardError as e:
    print("refused", "overlaps" in str(e))
""")
    assert out.split() == ["b'x'", "fw", "refused", "True"]


@pytest.mark.slow
def test_provision_and_flashinfo(tmp_path):
    path = str(tmp_path / "chip.flash")
    proc = ovl("provision", path, "--board", "sim")
    assert proc.returncode == 0, proc.stderr
    assert os.path.getsize(path) == 0x200000
    proc = ovl("flashinfo", path, "--board", "sim", "--json")
    info = json.loads(proc.stdout)
    assert [p["erased_blocks"] for p in info["partitions"]] == [256, 256]
    # a flash file of the wrong size is refused in one line
    proc = ovl("flashinfo", path, "--board", "pico")
    assert proc.returncode == 0  # pico is also 2 MiB
    proc = ovl("flashinfo", path, "--board", "esp32-4mb")
    assert proc.returncode == 1
    assert "is 2097152 bytes but board esp32-4mb has 4194304" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_demo_runs(tmp_path):
    proc = ovl("demo", "--board", "sim", "--workdir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "firmware" in out and "counters" in out
    # the story: partial copy-up is small, the cut write is all-or-nothing,
    # earlier commits are durable, and a factory reset shows the firmware
    assert "/etc/config/network is the before (firmware version) state" in out
    assert "/etc/hostname = 'kitchen-sensor\\n' (committed earlier" in out
    assert "diff after reset: nothing" in out
    assert "fsck: clean" in out
    assert "modified  /usr/share/blob.bin" in out
    # the README's claim, measured on its own: the 1-byte edit of the
    # 256 KiB lower file programs a few hundred bytes, not a copy
    m = re.search(r"the 1-byte edit of a 256 KiB lower file: (\d+) B "
                  r"programmed", out)
    assert m and int(m.group(1)) < 4096, out
    # the cut lands inside the rewrite, said once
    assert "the write finished before the cut" not in out
    assert "power cut: power cut" not in out


def test_demo_builds_the_lower_its_board_asks_for(tmp_path):
    """esp32-4mb asks for raw metadata ("lower_metadata": "raw"): the demo's
    image stores its inode table's first block raw (header bit 15), so a
    board's reader needs no 8 KiB buffer; sim's stays compressed."""
    for board, raw in (("esp32-4mb", True), ("sim", False)):
        work = tmp_path / board
        proc = ovl("demo", "--board", board, "--workdir", str(work))
        assert proc.returncode == 0, proc.stderr
        data = (work / "firmware.sqfs").read_bytes()
        inode_table = struct.unpack_from("<Q", data, 64)[0]
        header = struct.unpack_from("<H", data, inode_table)[0]
        assert bool(header & 0x8000) == raw, (board, hex(header))


def test_words_after_an_option_join_the_command_args():
    """`ovl remote ls -l /etc`: argparse alone rejects /etc (it fills ARGS
    before it reads -l); an unknown option is still an error."""
    from host_tools import cli
    parser = cli.build_parser()
    args = cli.parse(parser, ["remote", "--port", "P", "ls", "-l", "/etc"])
    assert (args.verb, args.long, args.args) == ("ls", True, ["/etc"])
    args = cli.parse(parser, ["remote", "--port", "P", "cat", "/a",
                              "--layer", "lower"])
    assert (args.args, args.layer) == (["/a"], "lower")
    with pytest.raises(SystemExit):
        cli.parse(parser, ["remote", "--port", "P", "ls", "-l", "/etc",
                           "--bogus"])
