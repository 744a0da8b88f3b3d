"""A simulated chip kept in a file: every completed program and erase is
written through at once, so killing the process is a power cut.  Kept apart
from board_runner so a board that only needs its chip (the REPL-mode
simulated board's ovl_board.py) imports no boot code."""

import json

from ovl.board import Board
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
