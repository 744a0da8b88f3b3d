"""Test helper: a simulated board on a pty, flashed over serial."""

import contextlib
import io

from host_tools.serial import link as serial_link
from host_tools.cli import main as cli_main
from host_tools.commands.serial import flash_image
from host_tools.serial.sim import PtyBoard
from ovl import agent


def flash_then_remote(board_json, flash_path, image_bytes, argv):
    """Flash image_bytes onto a fresh simulated board, reboot it, then run
    `ovl remote ARGV` against it: (exit status, stderr text)."""
    with booted_board(board_json, flash_path, image_bytes) as (sim, link):
        link.ser.close()        # the command opens a link of its own
        err = io.StringIO()
        with contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            status = cli_main(["remote", "--port", sim.port, "--no-bootstrap",
                               "--boot-wait", "15"] + list(argv))
    return status, err.getvalue()


@contextlib.contextmanager
def booted_board(board_json, flash_path, image_bytes):
    """A fresh simulated board flashed with image_bytes and rebooted:
    yields (board, link), the link connected to its agent."""
    with PtyBoard(board_json, flash_path) as sim:
        link = connect_agent(sim)
        flash_image(link, image_bytes)
        link.call(agent.REBOOT)
        link.ser.close()
        link = connect_agent(sim)
        try:
            yield sim, link
        finally:
            link.ser.close()


def connect_agent(sim):
    ser = serial_link.open_port(sim.port, 921600)
    return serial_link.connect(ser, bootstrap=False, timeout=1.0,
                               boot_wait=15)
