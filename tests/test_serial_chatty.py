"""A port that keeps sending what is not ovl frames (a board whose program
prints in a loop, a chatty or wrong device): every command that talks to
an agent gives up within a bounded time with one line naming the port,
and a MicroPython board printing in a loop is reached through its raw
REPL (the bootstrap), as `ovl install` reaches it."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from host_tools.serial.sim import PtyBoard

from conftest import ROOT, find_micropython

SIM = os.path.join(ROOT, "boards", "sim.json")
# Far beyond what each command below needs (a few seconds), far below
# forever: a command still running then hangs.
BOUND = 60


@pytest.fixture
def chatty_port():
    """socket://... of a device printing a sensor line every 10 ms to each
    client, never reading: gaps far under the host port's read timeout."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    stop = threading.Event()

    def spew(conn):
        i = 0
        try:
            while not stop.is_set():
                conn.sendall(b"[%08d] sensor reading: temp=21.5C\r\n" % i)
                i += 1
                time.sleep(0.01)
        except OSError:
            pass
        finally:
            conn.close()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=spew, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    yield "socket://127.0.0.1:%d" % server.getsockname()[1]
    stop.set()
    acceptor.join(2)
    server.close()


def ovl(*argv):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "host_tools"] + list(argv),
                          capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=BOUND)


def assert_one_line_about_non_ovl_data(proc, port):
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert port in lines[0] and "not ovl frames" in lines[0], lines[0]


def test_remote_on_a_chatty_port_ends_with_one_line(chatty_port):
    proc = ovl("remote", "--port", chatty_port, "--no-bootstrap",
               "--boot-wait", "1", "--timeout", "2", "ls", "/")
    assert_one_line_about_non_ovl_data(proc, chatty_port)
    assert "no ovl agent answered" in proc.stderr, proc.stderr


def test_flash_and_dump_on_a_chatty_port_end_with_one_line(chatty_port,
                                                           tmp_path):
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\x5a" * 8192)
    proc = ovl("flash", "--port", chatty_port, "--no-bootstrap",
               "--boot-wait", "1", "--force", str(image))
    assert_one_line_about_non_ovl_data(proc, chatty_port)
    out = tmp_path / "d.img"
    proc = ovl("dump", "--port", chatty_port, "--no-bootstrap",
               "--boot-wait", "1", "--partition", "upper", str(out))
    assert_one_line_about_non_ovl_data(proc, chatty_port)
    assert not out.exists()


@pytest.mark.slow
def test_bootstrap_on_a_chatty_port_that_is_no_repl_ends(chatty_port):
    """No agent and no raw REPL: the bootstrap's waits end too."""
    proc = ovl("remote", "--port", chatty_port, "--boot-wait", "1", "info")
    assert_one_line_about_non_ovl_data(proc, chatty_port)
    assert "raw REPL did not open" in proc.stderr, proc.stderr


@pytest.mark.slow
def test_board_printing_in_a_loop_is_reached_through_its_raw_repl(tmp_path):
    if not find_micropython():
        pytest.fail("micropython executable missing: run `make test`")
    with PtyBoard(SIM, str(tmp_path / "flash.bin"), mode="repl",
                  heap="8M", ctrl_c=True) as board:
        time.sleep(0.5)     # the REPL starts
        fd = os.open(board.port, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"import time\r\n"
                         b"while True: print('sensor', time.ticks_ms())\r\n")
            time.sleep(0.5)
            seen = os.read(fd, 4096)
        finally:
            os.close(fd)
        assert b"sensor" in seen, seen
        proc = ovl("remote", "--port", board.port, "--boot-wait", "1",
                   "info")
        assert proc.returncode == 0, proc.stderr
        assert "injected the agent" in proc.stderr, proc.stderr
        assert proc.stdout.startswith("board: sim "), proc.stdout


class ChattyRawPaste:
    """A port that answered the raw-paste probe, then only chatters: its
    in_waiting never drops, and no byte grants room or aborts."""

    in_waiting = 1

    def __init__(self, most_reads):
        self.reads = 0
        self.most_reads = most_reads

    def read(self, n):
        self.reads += 1
        assert self.reads <= self.most_reads, "still reading the chatter"
        time.sleep(0.001)
        return b"x" * n

    def write(self, data):
        pass


def test_raw_paste_ends_when_the_board_only_chatters():
    from host_tools.serial.link import LinkError, RawRepl
    port = ChattyRawPaste(most_reads=20000)
    with pytest.raises(LinkError, match="raw-paste room"):
        RawRepl(port, timeout=0.3)._raw_paste(b"print(1)\n")
    assert port.reads < 20000
