"""`ovl sim` driven as a user would: the command in a subprocess, then
`ovl flash` and `ovl remote` against the port it prints; Ctrl-C and
SIGKILL of it are power cuts."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import serial

from conftest import ROOT

from host_tools.boards import load_board, open_sim_flash
from ovl import fwslot


def ovl_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT
    return env


def ovl(*argv, cwd=None, check=True, timeout=60):
    proc = subprocess.run([sys.executable, "-m", "host_tools"] + list(argv),
                          capture_output=True, text=True, cwd=cwd,
                          env=ovl_env(), timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


class Sim:
    """`ovl sim` running in the background; .port is what it printed."""

    def __init__(self, flash, *extra, board="sim"):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host_tools", "sim", "--board", board,
             str(flash)] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=ovl_env())
        self.lines = []
        while True:
            line = self.proc.stdout.readline()
            assert line, "ovl sim ended: %s" % self.proc.stderr.read()
            self.lines.append(line)
            m = re.search(r" on (\S+) \(", line)
            if m:
                self.port = m.group(1)
                break

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@pytest.fixture
def firmware(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "motd").write_bytes(b"hello from the lower\n")
    (root / "bin").mkdir()
    (root / "bin" / "sh").write_bytes(os.urandom(5000))
    ovl("mkimage", "-q", str(root), str(tmp_path / "fw.sqfs"))
    return tmp_path / "fw.sqfs"


def board_processes(flash):
    """Pids of processes whose command line names the flash file."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if str(flash).encode() in args and \
                any(a.endswith(b"board_runner.py") for a in args):
            pids.append(int(pid))
    return pids


@pytest.mark.slow
def test_sim_flash_remote_ls_on_a_pty(tmp_path, firmware):
    flash = tmp_path / "flash.bin"
    sim = Sim(flash)
    try:
        assert "blank" in sim.lines[0]
        assert "agent only" in sim.lines[-1]
        assert sim.port.startswith("/dev/")
        out = ovl("flash", "--port", sim.port, "--reboot", str(firmware)).stdout
        assert "firmware" in out and "verified" in out
        ls = ovl("remote", "--port", sim.port, "ls", "/").stdout
        assert [line.split()[-1] for line in ls.splitlines()] == ["bin", "etc"]
        cat = ovl("remote", "--port", sim.port, "cat", "/etc/motd").stdout
        assert cat == "hello from the lower\n"
        # a factory reset keeping one file, on the board under micropython
        for path in ("/etc/motd", "/etc/new", "/bin/extra"):
            ovl("remote", "--port", sim.port, "put", str(firmware), path)
        ovl("remote", "--port", sim.port, "rm", "/bin/sh")
        ovl("remote", "--port", sim.port, "reset", "--keep", "/etc/new",
            "/bin/sh")
        diff = ovl("remote", "--port", sim.port, "diff").stdout.split()
        assert diff == ["deleted", "/bin/sh", "added", "/etc/new"]
        # three Ctrl-C end the agent: the sim board boots again
        with serial.Serial(sim.port, timeout=0.1) as ser:
            ser.write(b"\r\x03\x03\x03")
            ser.flush()
        ls = ovl("remote", "--port", sim.port, "--no-bootstrap", "ls",
                 "/etc").stdout
        assert ls.split() == ["motd", "new"]
    finally:
        status, err = sim.stop(signal.SIGINT)
    assert status == 0 and "power cut" in err
    assert "the board left its agent; booting it again" in err
    board = load_board("sim")
    found = fwslot.scan(board, open_sim_flash(board, str(flash), False))
    assert [s.state for s in found] == ["ok"]
    # Booted again from the same file, it says which slot it boots.
    sim = Sim(flash)
    try:
        assert "boots firmware slot firmware (generation 1" in sim.lines[-1]
    finally:
        sim.stop(signal.SIGTERM)


@pytest.mark.slow
def test_sigkill_is_a_power_cut_over_a_socket(tmp_path, firmware):
    flash = tmp_path / "flash.bin"
    with open(os.path.join(ROOT, "boards", "sim.json")) as f:
        board = json.load(f)
    board["keep"] = ["/etc/data"]
    board_file = tmp_path / "keeping.json"
    board_file.write_text(json.dumps(board))
    sim = Sim(flash, "--socket", "0", board=str(board_file))
    assert sim.port.startswith("socket://127.0.0.1:")
    ovl("flash", "--port", sim.port, "--reboot", str(firmware))
    old = tmp_path / "old"
    old.write_bytes(os.urandom(3000))
    new = tmp_path / "new"
    new.write_bytes(os.urandom(200000))
    ovl("remote", "--port", sim.port, "put", str(old), "/etc/data")
    put = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "remote", "--port", sim.port,
         "--timeout", "0.5", "put", str(new), "/etc/data"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ovl_env())
    time.sleep(0.5)
    sim.proc.kill()
    sim.proc.wait()
    put.wait(timeout=60)
    # The board went down with it: nothing writes the flash file any more.
    deadline = time.monotonic() + 20
    while board_processes(flash) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert board_processes(flash) == []
    sim = Sim(flash, "--socket", "0", board=str(board_file))
    try:
        got = tmp_path / "got"
        ovl("remote", "--port", sim.port, "get", "/etc/data", str(got))
        assert got.read_bytes() in (old.read_bytes(), new.read_bytes())
        fsck = ovl("remote", "--port", sim.port, "fsck").stdout
        assert "clean" in fsck
        # a reset without paths keeps the board's keep list
        ovl("remote", "--port", sim.port, "put", str(old), "/etc/other")
        ovl("remote", "--port", sim.port, "reset")
        diff = ovl("remote", "--port", sim.port, "diff").stdout.split()
        assert diff == ["added", "/etc/data"]
    finally:
        sim.stop()


def test_bad_input_is_one_line(tmp_path):
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"\xff" * 4096)
    for argv, want in ((["sim", "--board", "sim", str(wrong)], "4096 bytes"),
                       (["sim", "--board", "nope", str(wrong)], "unknown board"),
                       (["sim", str(tmp_path)], "directory")):
        proc = ovl(*argv, check=False)
        assert proc.returncode == 1 and want in proc.stderr
        assert len(proc.stderr.splitlines()) == 1
