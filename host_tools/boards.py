"""Board definitions on the host: find boards/NAME.json and validate it."""

import json
import os

from ovl.board import Board, BoardError
from host_tools.inputs import read_limited

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS_DIR = os.environ.get("OVL_BOARDS_DIR") or os.path.join(ROOT, "boards")
# A simulated chip lives in RAM: refuse sizes no host can hold rather than
# die allocating them (the largest shipped board is 128 MiB).
SIM_FLASH_LIMIT = 1 << 30
BOARD_FILE_LIMIT = 1 << 20   # a board definition is a few hundred bytes
# The compressors a board running MicroPython decompresses (ovl.squashfs_
# open): zlib streams only, which `ovl mkimage --comp none` uses too, its
# blocks stored raw under the gzip id.  (Its names must be UTF-8 as well:
# ovl.squashfs._decode_name is strict there.)
MICROPYTHON_COMPRESSORS = ("gzip",)


def board_names():
    try:
        return sorted(f[:-5] for f in os.listdir(BOARDS_DIR) if f.endswith(".json"))
    except OSError:
        return []


def board_path(name_or_path):
    """The JSON file of a board name in boards/, or the path given."""
    if name_or_path.endswith(".json") or os.sep in name_or_path:
        return name_or_path
    path = os.path.join(BOARDS_DIR, name_or_path + ".json")
    if not os.path.exists(path):
        raise BoardError("unknown board %r (known: %s)"
                         % (name_or_path, ", ".join(board_names()) or "none"))
    return path


def load_board(name_or_path):
    """A Board from a name in boards/ or a path to a JSON file."""
    path = board_path(name_or_path)
    text = read_limited(path, BOARD_FILE_LIMIT, "board file", BoardError)
    try:
        data = json.loads(text)
    except ValueError as e:
        raise BoardError("board file %s is not valid JSON: %s" % (path, e))
    if isinstance(data, dict) and not isinstance(data.get("name", ""), str):
        raise BoardError("board file %s: name must be a string" % path)
    default = os.path.basename(path)[:-5] if path.endswith(".json") else path
    return Board.from_dict(data, default)


def runs_micropython(board):
    """Whether the board runs MicroPython: an MCU board, whose definition
    gives the MicroPython "heap" ovl may use (ovl.board.Board)."""
    return board.heap is not None


def open_sim_flash(board, path, create=True):
    """The board's simulated chip, persisted in `path` (saved as an upper
    image is: beside the file, a symlink followed, then renamed)."""
    from host_tools.commands.store import ImageFlash
    if board.size > SIM_FLASH_LIMIT:
        raise BoardError("board %s has %d bytes of flash: more than the %d a"
                         " simulated chip may hold" % (board.name, board.size,
                                                       SIM_FLASH_LIMIT))
    if os.path.isdir(path):
        raise BoardError("flash file %s is a directory" % path)
    if not create and not os.path.exists(path):
        raise BoardError("flash file %s does not exist" % path)
    if os.path.exists(path) and os.path.getsize(path) != board.size:
        raise BoardError("flash file %s is %d bytes but board %s has %d bytes of"
                         " flash" % (path, os.path.getsize(path), board.name,
                                     board.size))
    return ImageFlash(board.size, board.erase_size, board.page_size,
                      kind=board.kind, path=path)
