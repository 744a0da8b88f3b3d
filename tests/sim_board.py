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
    with PtyBoard(board_json, flash_path) as sim:
        ser = serial_link.open_port(sim.port, 921600)
        link = serial_link.connect(ser, bootstrap=False, timeout=1.0,
                                   boot_wait=15)
        flash_image(link, image_bytes)
        link.call(agent.REBOOT)
        ser.close()
        err = io.StringIO()
        with contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):
            status = cli_main(["remote", "--port", sim.port, "--no-bootstrap",
                               "--boot-wait", "15"] + list(argv))
    return status, err.getvalue()
