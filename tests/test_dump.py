"""`ovl dump` reads a partition of the simulated board (micropython) with
every block verified and resumes from a partial file; `ovl flash
--partition upper DUMP` writes an upper dump back."""

import os
import signal

import pytest

from conftest import ROOT
from host_tools.serial import link as serial_link
from host_tools.image import mkimage
from host_tools.boards import load_board
from host_tools.commands.overlay import Session
from host_tools.commands.serial import flash_image, remote_put
from host_tools.serial.sim import PtyBoard
from ovl import agent

from test_backup import ovl

ERASE = 4096


@pytest.fixture
def board(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "motd").write_bytes(b"hello\n")
    image = tmp_path / "fw.sqfs"
    mkimage.build_image(str(root), str(image))
    sim = PtyBoard(os.path.join(ROOT, "boards", "sim.json"),
                   str(tmp_path / "flash.bin")).start()
    link = connect(sim)
    flash_image(link, image.read_bytes())
    link.call(agent.REBOOT)
    link = connect(sim)
    assert link.info["fs"], link.info["notes"]
    remote_put(link, "/etc/a", b"dumped state\n" * 100)
    link.bye()
    link.ser.close()
    yield sim, image
    sim.close()


def connect(sim):
    ser = serial_link.open_port(sim.port, 921600)
    return serial_link.connect(ser, bootstrap=False, timeout=1.0,
                               boot_wait=15)


def port_args(sim):
    return ["--port", sim.port, "--no-bootstrap", "--boot-wait", "15"]


def upper_bytes(sim):
    part = load_board("sim").first_of_type("ovl")
    with open(sim.flash_path, "rb") as f:
        f.seek(part.offset)
        return f.read(part.size)


@pytest.mark.slow
def test_dump_resume_and_write_back(board, tmp_path):
    sim, image = board
    out = tmp_path / "upper.img"
    status, text, err = ovl("dump", *port_args(sim), "--partition", "upper",
                            out)
    assert status == 0, err
    assert text.startswith("dump: upper 1.0 MiB -> %s: 256/256 blocks read"
                           % out)
    dumped = out.read_bytes()
    assert dumped == upper_bytes(sim)
    # the dump is an upper image the host tools mount
    session = Session(str(image), str(out), readonly=True)
    try:
        assert session.mount().read_bytes("/etc/a") == b"dumped state\n" * 100
    finally:
        session.release()
    # resume: a partial file with a damaged block reads only what is
    # missing or wrong
    part = tmp_path / "again.img.part"
    partial = bytearray(dumped[:100 * ERASE])
    partial[5 * ERASE] ^= 0xFF
    part.write_bytes(bytes(partial))
    status, text, err = ovl("dump", *port_args(sim), "--partition", "upper",
                            tmp_path / "again.img")
    assert status == 0, err
    assert "157/256 blocks read (resumed)" in text
    assert (tmp_path / "again.img").read_bytes() == dumped
    assert not part.exists()
    # dumping over an earlier dump reads only the blocks that changed
    status, text, err = ovl("dump", *port_args(sim), "--partition", "upper",
                            tmp_path / "again.img")
    assert status == 0 and "0/256 blocks read (resumed)" in text, err
    # change the board, then write the dump back: the old state returns
    link = connect(sim)
    remote_put(link, "/etc/b", b"later\n")
    link.call_json(agent.FS_RM, {"path": "/etc/a"})
    link.bye()
    link.ser.close()
    assert upper_bytes(sim) != dumped
    status, text, err = ovl("flash", *port_args(sim), "--partition", "upper",
                            "--reboot", out)
    assert status == 0 and "-> upper" in text, err
    link = connect(sim)
    names = [e[0] for e in link.call_json(agent.FS_LS,
                                          {"path": "/etc"})["entries"]]
    assert names == ["a", "motd"]
    link.bye()
    link.ser.close()


def test_bad_requests_are_one_line(board, tmp_path):
    sim, image = board
    dump = tmp_path / "upper.img"
    dump.write_bytes(upper_bytes(sim))
    for argv, want in (
            (["dump", "--partition", "nope", tmp_path / "x"], "no partition"),
            (["dump", "--partition", "upper", tmp_path], "directory"),
            (["flash", "--partition", "upper", image], "an upper dump goes"),
            (["flash", "--partition", "firmware", dump],
             "an upper dump goes"),
            (["flash", dump], "an upper dump goes"),
            (["flash", "--force", "--partition", "upper", image],
             "dump of all of it")):
        status, text, err = ovl(argv[0], *port_args(sim), *argv[1:])
        assert status == 1 and want in err, err
        assert len(err.splitlines()) == 1


def test_a_dump_through_a_symlink_writes_the_file_it_names(board, tmp_path):
    from test_outputs import assert_written_through, linked_output
    sim, _ = board
    link, target = linked_output(tmp_path)
    status, text, err = ovl("dump", *port_args(sim), "--partition", "upper",
                            link)
    assert status == 0, err
    assert_written_through(link, target)
    assert target.read_bytes() == upper_bytes(sim)


@pytest.mark.slow
def test_dump_stopped_by_a_signal_keeps_its_part_file_to_resume(board,
                                                                tmp_path):
    """SIGTERM (as Ctrl-C and SIGHUP, host_tools.outputs.temporary) ends a
    dump with 128+15 and OUT as it was; OUT.part stays, as after a lost
    link, and the rerun resumes from it."""
    from test_outputs import assert_interrupted, nonempty, signal_while, start
    sim, image = board
    out = tmp_path / "upper.img"
    out.write_bytes(b"an older file")
    part = "%s.part" % out

    def first_block_in():       # (the file is sized first, zero-filled)
        with open(part, "rb") as f:
            return f.read(16).strip(b"\0") != b""
    proc = start("dump", *port_args(sim), "--partition", "upper", out)
    err = signal_while(proc, lambda: nonempty(part)() and first_block_in(),
                       signal.SIGTERM)
    assert_interrupted(proc, err, signal.SIGTERM)
    assert out.read_bytes() == b"an older file"
    assert first_block_in()
    status, text, err = ovl("dump", *port_args(sim), "--partition", "upper",
                            out)
    assert status == 0, err
    assert "resumed" in text, text
    assert not os.path.exists(part)
