"""`ovl demo`: the main job on a board, end to end, narrated.

Today: provision the board's simulated flash and show its geometry,
partitions and counters.  Each capability adds its chapter here.
"""

import os

from host_tools.boards import load_board, open_sim_flash
from host_tools.cmd_boards import describe_board, block_usage, human


def add_arguments(p):
    p.add_argument("--board", default="sim", help="board name (default: sim)")
    p.add_argument("--workdir", default="demo-out",
                   help="where the demo keeps its files (default: demo-out)")


def step(title):
    print("\n== %s" % title)


def run(args):
    board = load_board(args.board)
    os.makedirs(args.workdir, exist_ok=True)
    flash_path = os.path.join(args.workdir, board.name + ".flash")
    if os.path.exists(flash_path):
        os.remove(flash_path)
    step("board %s" % board.name)
    print(describe_board(board))
    flash = open_sim_flash(board, flash_path)
    flash.save()
    step("provisioned simulated flash %s" % flash_path)
    for p in board.partitions:
        region = board.region(flash, p.name)
        print("  %-12s %d/%d erase blocks blank" % (
            p.name, block_usage(flash, region), region.block_count))
    c = flash.counters()
    step("flash counters")
    print("  %d reads (%s), %d programs (%s), %d erases" % (
        c["reads"], human(c["bytes_read"]), c["programs"],
        human(c["bytes_programmed"]), c["erases"]))


COMMANDS = {"demo": ("run the main job on a simulated board, narrated",
                     add_arguments, run)}
