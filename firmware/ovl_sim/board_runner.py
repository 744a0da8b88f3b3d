"""A simulated board: flash in a file, the agent on stdin/stdout.

    micropython firmware/ovl_sim/board_runner.py BOARD.json FLASH.bin [options]

It boots like a device would: check the firmware slots' records, mount the
overlay on the boot slot if one verifies (or come up with the agent only),
then serve the agent until the host says BYE.  REBOOT boots again in the
same process.  Every program and erase is written through to the flash
file at once, so killing the process at any instant is a power cut: the
file holds exactly the operations that completed.

Options: --window N, --max-payload N (agent buffers), --banner (print a
line on boot, as a console would).
"""

import json
import sys

if __name__ == "__main__":
    # Run as a script, firmware/ovl_sim is on sys.path; the packages need
    # its parent.
    _here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    sys.path.insert(0, _here + "/..")

from ovl import fwslot
from ovl.agent import Agent, StdioPort
from ovl.board import Board
from ovl.flash import Region
from ovl_sim.simflash import SimFlash


class FileFlash(SimFlash):
    """SimFlash whose every completed operation is already in its file."""

    def __init__(self, board, path):
        SimFlash.__init__(self, board.size, board.erase_size, board.page_size,
                          kind=board.kind, path=path)
        # Unbuffered: each write() reaches the kernel, which keeps it when
        # the process is killed.  (flush() would fsync on MicroPython.)
        try:
            self._file = open(path, "r+b", buffering=0)
        except OSError:
            with open(path, "wb") as f:
                f.write(self.mem)
            self._file = open(path, "r+b", buffering=0)

    def _write_through(self, addr, n):
        self._file.seek(addr)
        self._file.write(self.mem[addr:addr + n])

    def program(self, addr, data):
        SimFlash.program(self, addr, data)
        self._write_through(addr, len(data))

    def erase(self, block):
        SimFlash.erase(self, block)
        self._write_through(block * self.erase_size, self.erase_size)

    def sync(self):
        self._check_power()

    def close(self):
        self._file.close()


def load_board(path):
    with open(path) as f:
        return Board.from_dict(json.load(f))


def open_sim(board_path, flash_path):
    board = load_board(board_path)
    return board, FileFlash(board, flash_path)


class LowerError(Exception):
    """The slot's image does not mount as a SquashFS: boot another slot."""


def mount_overlay(board, flash, slot, previous=None):
    """The overlay on the boot slot, or (None, why not); LowerError if the
    slot's image is not a SquashFS that mounts.  previous: another slot
    whose image verifies; if the upper was last mounted over it, the mount
    completes from it the files the new slot would break."""
    try:
        from ovl.squashfs import SquashFS
        from ovl import overlay
    except ImportError as e:
        return None, "overlay not available: %s" % e
    try:
        # The image may fill the slot up to its record block.
        lower = SquashFS(Region(flash, slot.offset, slot.capacity, slot.name),
                         max_block_size=board.lower_block_size)
    except (OSError, ValueError) as e:
        raise LowerError(str(e) or e.__class__.__name__)
    try:
        upper = board.first_of_type("ovl")
        old = None
        if previous is not None:
            try:
                old = SquashFS(Region(flash, previous.offset,
                                      previous.capacity, previous.name),
                               max_block_size=board.lower_block_size)
            except (OSError, ValueError):
                old = None      # not an image the overlay could have used
        region = Region(flash, upper.offset, upper.size, upper.name)
        note = None
        if region.read(0, 64) == b"\xff" * 64 and is_blank(region):
            from ovl.logstore import LogStore
            LogStore.format(region)     # first boot: an empty upper
            note = "formatted the blank upper partition %s" % upper.name
        return overlay.mount(lower, region, previous=old), note
    except (OSError, ValueError) as e:
        return None, "overlay did not mount: %s" % e


def is_blank(region):
    blank = b"\xff" * region.erase_size
    for b in range(region.block_count):
        if region.read(b * region.erase_size, region.erase_size) != blank:
            return False
    return True


def boot(board, flash):
    """(fs, notes, slot name or None) after checking the slots like boot
    code would: the newest slot whose image verifies and mounts.  A newer
    slot that fails either way is passed over, and the notes say why."""
    found = fwslot.scan(board, flash, verify=True)
    failed = []
    for s in found:
        if s.state == "corrupt":
            failed.append("slot %s (generation %d) does not verify: its image"
                          " differs from its record" % (s.name, s.generation))
        elif s.state == "torn":
            failed.append("slot %s has a torn record (an interrupted flash)"
                          % s.name)
    for slot in fwslot.boot_order(found):
        others = [s for s in found if s is not slot and s.state == "ok"]
        try:
            fs, why = mount_overlay(board, flash, slot,
                                    others[0] if others else None)
        except LowerError as e:
            failed.append("slot %s (generation %d) did not mount: %s"
                          % (slot.name, slot.generation, e))
            continue
        notes = ["booted slot %s (generation %d)" % (slot.name,
                                                     slot.generation)]
        if failed:
            notes.append("fell back to %s: %s" % (slot.name,
                                                  "; ".join(failed)))
        if fs is None and why is None:
            why = "overlay did not mount"
        if why:
            notes.append(why)
        return fs, notes, slot.name
    states = ", ".join("%s %s" % (s.name, s.state) for s in found)
    notes = ["agent only: no firmware slot holds a verified image that"
             " mounts (%s)" % (states or "board has no squashfs slot")]
    return None, notes + failed, None


def main(argv):
    opts = {"--window": 4, "--max-payload": 4096}
    banner = False
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in opts:
            opts[a] = int(argv[i + 1])
            i += 2
            continue
        if a == "--banner":
            banner = True
        else:
            pos.append(a)
        i += 1
    if len(pos) != 2:
        sys.stderr.write("usage: board_runner.py BOARD.json FLASH.bin"
                         " [--window N] [--max-payload N] [--banner]\n")
        return 2
    port = StdioPort()
    while True:
        board, flash = open_sim(pos[0], pos[1])
        fs, notes, running = boot(board, flash)
        if banner:
            port.write(("ovl board %s: %s\r\n" % (board.name,
                                                  "; ".join(notes))).encode())
        agent = Agent(port, board, flash, fs=fs, window=opts["--window"],
                      max_payload=opts["--max-payload"], notes=notes,
                      running=running)
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
