"""`ovl boards`, `ovl provision`, `ovl flashinfo`: boards and simulated chips."""

import json
import os

from host_tools.boards import load_board, board_names, open_sim_flash
from host_tools.outputs import write_file
from ovl.flash_host import geometry


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if n == int(n) else ("%.1f %s" % (n, unit))
        n /= 1024.0


def describe_board(board):
    lines = ["%s: %s" % (board.name, board.description),
             "  flash: %s %s, erase block %s, page %s (%d blocks)" % (
                 human(board.size), board.kind.upper(), human(board.erase_size),
                 human(board.page_size), board.size // board.erase_size)]
    for p in board.partitions:
        lines.append("  %-12s 0x%08x  %10s  %s" % (p.name, p.offset,
                                                  human(p.size), p.type))
    return "\n".join(lines)


def add_boards_args(p):
    p.add_argument("name", nargs="?", help="show one board (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run_boards(args):
    names = [args.name] if args.name else board_names()
    boards = [load_board(n) for n in names]
    if args.json:
        print(json.dumps([b.as_dict() for b in boards], indent=2))
    else:
        print("\n\n".join(describe_board(b) for b in boards))


def add_provision_args(p):
    p.add_argument("flash_file", help="file holding the simulated chip")
    p.add_argument("--board", default="sim", help="board name or JSON path")


def run_provision(args):
    board = load_board(args.board)
    existed = os.path.exists(args.flash_file)
    flash = open_sim_flash(board, args.flash_file)
    if existed:
        # never wipe a chip that may hold someone's state
        print("kept %s: already %s of %s flash for board %s (contents "
              "unchanged)" % (args.flash_file, human(board.size),
                              board.kind.upper(), board.name))
        return
    write_file(args.flash_file, flash.mem)
    print("provisioned %s: %s of erased %s flash for board %s"
          % (args.flash_file, human(board.size), board.kind.upper(), board.name))


def add_flashinfo_args(p):
    p.add_argument("flash_file")
    p.add_argument("--board", default="sim", help="board name or JSON path")
    p.add_argument("--json", action="store_true")


def block_usage(flash, region):
    """How many erase blocks of a region are fully erased."""
    erased = 0
    blank = b"\xff" * flash.erase_size
    for b in range(region.block_count):
        if region.read(b * flash.erase_size, flash.erase_size) == blank:
            erased += 1
    return erased


def run_flashinfo(args):
    board = load_board(args.board)
    flash = open_sim_flash(board, args.flash_file, create=False)
    parts = []
    for p in board.partitions:
        region = board.region(flash, p.name)
        info = p.as_dict()
        info["erased_blocks"] = block_usage(flash, region)
        info["blocks"] = region.block_count
        parts.append(info)
    report = {"board": board.name, "flash": geometry(flash),
              "partitions": parts, "counters": flash.counters()}
    report["counters"].pop("erase_counts")
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(describe_board(board))
    for info in parts:
        print("  %-12s %d/%d blocks erased" % (info["name"], info["erased_blocks"],
                                             info["blocks"]))
    c = report["counters"]
    print("  counters: %d reads (%s), %d programs (%s), %d erases" % (
        c["reads"], human(c["bytes_read"]), c["programs"],
        human(c["bytes_programmed"]), c["erases"]))


COMMANDS = {
    "boards": ("list boards with their flash geometry and partitions",
               add_boards_args, run_boards),
    "provision": ("create an erased simulated flash file for a board",
                  add_provision_args, run_provision),
    "flashinfo": ("show a simulated flash file's geometry, partitions and counters",
                  add_flashinfo_args, run_flashinfo),
}
