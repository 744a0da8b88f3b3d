"""`ovl sim`: a simulated board in the foreground, for trying `ovl flash`
and `ovl remote` without hardware.

    ovl sim --board sim flash.bin                  # a pty: prints its path
    ovl sim --board sim flash.bin --socket 5555    # socket://127.0.0.1:5555

The board (ovl_sim.board_runner, under micropython by default) boots from the
flash file as a device would: it checks the firmware slots, mounts the
overlay on a verified one (formatting a blank upper first), or comes up
with the agent only, ready to be flashed.  Every flash operation is in the
file as soon as it completes.  Ctrl-C, SIGTERM or SIGKILL of this command
is a power cut: the board process dies at once, wherever it is.
"""

import argparse
import os
import select
import signal
import socket
import sys

from host_tools import argtypes
from host_tools.boards import SIM_FLASH_LIMIT, board_path, load_board
from host_tools.cli import CliError
from host_tools.serial.sim import PtyBoard, find_micropython


def prepare_flash(board, path):
    """Check the flash file against the board; create a blank (erased)
    chip when it does not exist yet.  Returns a note for the user or None."""
    if os.path.isdir(path):
        raise CliError("flash file %s is a directory" % path)
    if board.size > SIM_FLASH_LIMIT:
        raise CliError("board %s has %d bytes of flash: more than the %d a"
                       " simulated chip may hold" % (board.name, board.size,
                                                     SIM_FLASH_LIMIT))
    if os.path.exists(path):
        have = os.path.getsize(path)
        if have != board.size:
            raise CliError("flash file %s is %d bytes but board %s has %d"
                           " bytes of flash" % (path, have, board.name,
                                                board.size))
        return None
    blank = b"\xff" * min(board.size, 1 << 20)
    try:
        with open(path, "xb") as f:
            left = board.size
            while left:
                left -= f.write(blank[:left])
    except OSError as e:
        raise CliError("cannot create flash file %s: %s" % (path, e.strerror))
    return "created %s: a blank %d KiB chip" % (path, board.size // 1024)


def firmware_state(board, path):
    """One line on what the board will boot (read-only look at the file)."""
    from ovl import fwslot
    from host_tools.boards import open_sim_flash
    found = fwslot.scan(board, open_sim_flash(board, path, create=False),
                        verify=True)
    slot = fwslot.boot_slot(found)
    if slot is not None:
        return "boots firmware slot %s (generation %d, %d bytes)" % (
            slot.name, slot.generation, slot.image_size)
    return ("no verified firmware: the board comes up with the agent only"
            " (`ovl flash --port PORT --reboot IMAGE` gives it one)")


class Bridge:
    """The board's console on a TCP socket: one host at a time; a new
    connection takes the line over, as reopening a serial port would."""

    def __init__(self, line_fd, port):
        self.line = line_fd
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind(("127.0.0.1", port))
        except OSError as e:
            self.listener.close()
            raise CliError("cannot listen on 127.0.0.1:%d: %s"
                           % (port, e.strerror))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.client = None

    def url(self):
        return "socket://127.0.0.1:%d" % self.port

    def _drop_client(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    def poll(self, timeout):
        waits = [self.listener, self.line]
        if self.client is not None:
            waits.append(self.client)
        ready = select.select(waits, [], [], timeout)[0]
        if self.listener in ready:
            self._drop_client()
            self.client = self.listener.accept()[0]
            self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.line in ready:
            data = os.read(self.line, 65536)
            if self.client is not None:     # nobody listening: bytes lost
                try:
                    self.client.sendall(data)
                except OSError:
                    self._drop_client()
        if self.client is not None and self.client in ready:
            try:
                data = self.client.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._drop_client()
                return
            view = memoryview(data)
            while view:
                view = view[os.write(self.line, view):]

    def close(self):
        self._drop_client()
        self.listener.close()


def power_cut(signum, frame):
    raise KeyboardInterrupt


def run_sim(args):
    board = load_board(args.board)
    board_json = os.path.abspath(board_path(args.board))
    flash = os.path.abspath(args.flash)
    note = prepare_flash(board, flash)
    runtime = args.runtime
    if runtime == "micropython" and not find_micropython():
        raise CliError("micropython not found (set OVL_MICROPYTHON, or use"
                       " --runtime python)")
    state = firmware_state(board, flash)
    # the first power-up only: the button is released by a later boot
    boot_args = (["--hold-pin", repr(args.hold_pin)] if args.hold_pin
                 else []) + (["--safe"] if args.safe else [])
    sim = PtyBoard(board_json, flash, runtime=runtime, baud=args.baud,
                   die_with_host=True, extra_args=boot_args)
    bridge = None
    # Set explicitly: a shell starts a background job with SIGINT ignored.
    signal.signal(signal.SIGINT, power_cut)
    signal.signal(signal.SIGTERM, power_cut)
    try:
        if args.socket is not None:
            bridge = Bridge(sim.host_slave, args.socket)
        sim.start()
        where = bridge.url() if bridge else sim.port
        if note:
            print("ovl sim: %s" % note)
        print("ovl sim: board %s on %s (%s, %s); Ctrl-C cuts the power"
              % (board.name, where, runtime, state))
        print("ovl sim: try `ovl remote --port %s ls /`" % where)
        sys.stdout.flush()
        serve(sim, bridge)
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()                 # SIGKILL: the power cut
        if bridge is not None:
            bridge.close()
    print("ovl sim: power cut; %s holds what the board had written" % flash,
          file=sys.stderr)
    return 0


def serve(sim, bridge):
    """Carry the line and watch the board until interrupted.  A board that
    leaves its agent (three Ctrl-C, end of input) boots again, as a board
    with nothing else to run would; one that crashes ends the command."""
    while True:
        if bridge is not None:
            bridge.poll(0.2)
        else:
            select.select([], [], [], 0.2)
        if sim.alive():
            continue
        code = sim.proc.returncode
        if code != 0:
            lines = sim.stderr_text().strip().splitlines()
            raise CliError("the board crashed (exit status %d): %s; its"
                           " stderr is in %s" % (code, lines[-1] if lines
                                                 else "no output",
                                                 sim.log_path))
        print("ovl sim: the board left its agent; booting it again",
              file=sys.stderr)
        sim.extra_args = []
        sim.restart()


def hold_seconds(text):
    """argparse type of --hold-pin: 0 to 3600 seconds."""
    value = argtypes.seconds(text)
    if value >= 3600:
        raise argparse.ArgumentTypeError("%r is over 3600 seconds" % text)
    return value


def add_sim_args(p):
    p.add_argument("--board", default="sim",
                   help="board name or JSON file (default sim)")
    p.add_argument("flash", help="the chip's contents: a file of the board's"
                   " flash size (created blank if missing)")
    p.add_argument("--socket", type=argtypes.tcp_port, metavar="PORT",
                   help="serve the console on TCP 127.0.0.1:PORT (0 picks a"
                        " free port) instead of a pty")
    p.add_argument("--runtime", choices=("micropython", "python"),
                   default="micropython",
                   help="what runs the board (default micropython)")
    p.add_argument("--hold-pin", type=hold_seconds, metavar="SECONDS",
                   help="hold the board's safe-mode button this long at"
                        " power-up: safe mode; past the board's reset_hold"
                        " (default 5 s) a factory reset (docs/INSTALL.md)")
    p.add_argument("--safe", action="store_true",
                   help="boot in safe mode (the firmware read-only; the"
                        " agent serves the overlay for repairs)")
    p.add_argument("--baud", type=argtypes.positive,
                   help="limit the line to this baud rate (default: as fast"
                        " as the host goes)")


COMMANDS = {
    "sim": ("run a simulated board in the foreground on a pty or TCP socket;"
            " Ctrl-C is a power cut", add_sim_args, run_sim),
}
