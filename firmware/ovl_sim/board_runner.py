"""A simulated board: flash in a file, the agent on stdin/stdout.

    micropython firmware/ovl_sim/board_runner.py BOARD.json FLASH.bin [options]

It boots like a device would: check the firmware slots' records, mount the
overlay on the boot slot if one verifies (or come up with the agent only),
then serve the agent until the host says BYE.  REBOOT boots again in the
same process.  Every program and erase is written through to the flash
file at once, so killing the process at any instant is a power cut: the
file holds exactly the operations that completed.

Options: --window N, --max-payload N (agent buffers), --banner (print a
line on boot, as a console would), --hold-pin SECONDS (the board's
safe-mode button held that long at power-up: safe mode, or past the
board's reset_hold a factory reset), --safe (safe mode by flag).

The boot itself is ovl.boot's, the code a real board runs from boot.py;
this runner only supplies the chip in a file and the console.
"""

import sys

if __name__ == "__main__":
    # Run as a script, firmware/ovl_sim is on sys.path; the packages need
    # its parent.
    _here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    sys.path.insert(0, _here + "/..")

from ovl.agent import Agent, StdioPort
from ovl_sim.fileflash import FileFlash, load_board, open_sim  # noqa: F401
# The boot code is ovl.boot's, shared with real boards; these names stay
# importable from here for the tests and tools that used them.
from ovl.boot import (boot, boot_options, bring_up, held_ms, is_blank,
                      LowerError, mount_overlay)


class SimPin:
    """The safe-mode button, held for the first `seconds` after power-up,
    on a virtual clock: boot's sampling loop advances it instead of
    sleeping, so a simulated hold of minutes costs no time."""

    def __init__(self, seconds):
        self.hold_ms = int(seconds * 1000)
        self.now = 0

    def held(self):
        return self.now < self.hold_ms

    def clock(self):
        return self.now

    def sleep(self, ms):
        self.now += ms


def sim_boot(board, flash, hold_pin=0.0, safe=False):
    """Boot the simulated board through ovl.boot, as boot.py boots a real
    one: the pin held for hold_pin seconds, safe mode by flag."""
    pin = SimPin(hold_pin)
    limit = boot_options(board)["reset_hold"] * 1000
    held = held_ms(pin.held if hold_pin else None, limit, pin.clock,
                   pin.sleep)
    return bring_up(board, flash, held, safe, "--safe")


def main(argv):
    opts = {"--window": 4, "--max-payload": 4096, "--hold-pin": 0.0}
    flags = {"--banner": False, "--safe": False}
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in opts:
            opts[a] = float(argv[i + 1]) if a == "--hold-pin" else \
                int(argv[i + 1])
            i += 2
            continue
        if a in flags:
            flags[a] = True
        else:
            pos.append(a)
        i += 1
    if len(pos) != 2:
        sys.stderr.write("usage: board_runner.py BOARD.json FLASH.bin"
                         " [--window N] [--max-payload N] [--banner]"
                         " [--hold-pin SECONDS] [--safe]\n")
        return 2
    port = StdioPort()
    hold, safe = opts["--hold-pin"], flags["--safe"]
    while True:
        board, flash = open_sim(pos[0], pos[1])
        b = sim_boot(board, flash, hold, safe)
        hold, safe = 0.0, False     # a reboot is a fresh power-up
        if flags["--banner"]:
            port.write(("ovl board %s: %s\r\n" % (board.name,
                                                  "; ".join(b.notes))).encode())
        agent = Agent(port, board, flash, fs=b.fs, window=opts["--window"],
                      max_payload=opts["--max-payload"], notes=b.notes,
                      running=b.running, slots=b.slots)
        if b.fs_error:
            agent.fs_error = b.fs_error
        reason = agent.serve()
        while reason == "bye":
            # There is no REPL to go back to: wait for the next session.
            agent.stop = None
            reason = agent.serve()
        flash.close()
        if reason != "reboot":
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
