"""`ovl demo`: the main job on a board, end to end, narrated.

Build a firmware image, flash it into the board's simulated chip, format the
upper partition, boot the overlay, change files, pull the power in the
middle of a write, reboot, and do a factory reset — printing what a user
would look at after each step.
"""

import os
import shutil

from ovl import compat
from ovl.paths import is_dir, is_lnk

from host_tools.boards import load_board, open_sim_flash
from host_tools.commands.boards import describe_board, human

WORKDIR_MARKER = ".ovl-demo"     # this directory was made by the demo

SAMPLE_FIRMWARE = {
    "etc/hostname": "ovl-router\n",
    "etc/config/network": "config interface 'lan'\n\toption proto 'static'\n"
                          "\toption ipaddr '192.168.1.1'\n",
    "etc/config/system": "config system\n\toption timezone 'UTC'\n",
    "www/index.html": "<h1>ovl firmware 1.0</h1>\n" + "<p>status</p>\n" * 200,
    "lib/app.py": "VERSION = '1.0'\n\ndef main():\n    return 'running'\n",
    "usr/share/blob.bin": None,   # filled with 256 KiB of pseudo-random bytes
}


def add_arguments(p):
    p.add_argument("--board", default="sim", help="board name (default: sim)")
    p.add_argument("--workdir", default="demo-out",
                   help="where the demo keeps its files (default: demo-out)")


def step(title):
    print("\n== %s" % title)


def write_sample_tree(root):
    if os.path.exists(root):
        shutil.rmtree(root)
    for rel, text in SAMPLE_FIRMWARE.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if text is None:
            from ovl_sim.simflash import Xorshift
            rng = Xorshift(1)
            data = bytes(rng.next() & 0xFF for _ in range(256 * 1024))
            with open(path, "wb") as f:
                f.write(data)
        else:
            with open(path, "w") as f:
                f.write(text)
    os.symlink("/www/index.html", os.path.join(root, "www", "home.html"))


def show_tree(ovl, path="/", indent="  "):
    for name in ovl.listdir(path):
        full = path.rstrip("/") + "/" + name
        st = ovl.lstat(full)
        kind = "dir" if is_dir(st[0]) else "link" if is_lnk(st[0]) else "file"
        layer = ovl.layer_of(full)
        extra = " -> " + ovl.readlink(full) if kind == "link" else \
            "" if kind == "dir" else " %d bytes" % st[6]
        print("%s%-28s %-9s %s%s" % (indent, full, layer, kind, extra))
        if kind == "dir":
            show_tree(ovl, full, indent)


def boot(board, flash):
    from ovl.squashfs import SquashFS
    from ovl.overlay import mount
    lower = SquashFS(board.region(flash, board.first_of_type("squashfs").name),
                     max_block_size=board.lower_block_size)
    upper = board.region(flash, board.first_of_type("ovl").name)
    return mount(lower, upper)


def counters_line(flash, since=None):
    c = flash.counters()
    if since:
        return "%s programmed, %d erases" % (
            human(c["bytes_programmed"] - since["bytes_programmed"]),
            c["erases"] - since["erases"])
    return "%s read, %s programmed, %d erases (max %d per block)" % (
        human(c["bytes_read"]), human(c["bytes_programmed"]), c["erases"],
        c["max_erase_count"])


def run(args):
    from host_tools.image.mkimage import build_image
    from host_tools.commands.image import board_raw_metadata
    from ovl.store import LogStore
    from ovl.flash import write_blocks
    from ovl_sim.simflash import PowerCut

    board = load_board(args.board)
    work = args.workdir
    marker = os.path.join(work, WORKDIR_MARKER)
    # the demo replaces rootfs/ and its files in there: only in a directory
    # it made itself (or an empty one), never in someone's project
    if os.path.isdir(work) and os.listdir(work) and \
            not os.path.exists(marker):
        raise OSError(compat.ENOTEMPTY, "work directory %s holds other files"
                      " and the demo would replace some: give a new or empty"
                      " --workdir" % work)
    try:
        os.makedirs(work, exist_ok=True)
        open(marker, "w").close()
    except OSError as e:
        raise OSError(e.errno, "cannot use %s as the work directory: %s"
                      % (work, e.strerror))
    flash_path = os.path.join(work, board.name + ".flash")
    if os.path.exists(flash_path):
        os.remove(flash_path)

    step("board %s" % board.name)
    print(describe_board(board))

    step("build the firmware image (SquashFS 4.0, reproducible)")
    src = os.path.join(work, "rootfs")
    write_sample_tree(src)
    image = os.path.join(work, "firmware.sqfs")
    summary = build_image(src, image, block_size=board.lower_block_size or 4096,
                          mtime=1700000000,
                          all_root=True,
                          raw_metadata=board_raw_metadata(args.board))
    print("  %s: %s" % (image, summary.line()))

    step("flash it and format the upper partition")
    flash = open_sim_flash(board, flash_path)
    with open(image, "rb") as f:
        data = f.read()
    fw = board.region(flash, board.first_of_type("squashfs").name)
    if len(data) > fw.size:
        raise ValueError("firmware image of %d bytes does not fit partition of %d"
                         % (len(data), fw.size))
    tail = -len(data) % fw.erase_size      # pad to whole erase blocks
    write_blocks(fw, 0, data + b"\xff" * tail)
    LogStore.format(board.region(flash, board.first_of_type("ovl").name))
    flash.sync()
    print("  firmware: %s in %s; upper formatted; %s"
          % (human(len(data)), fw.name, counters_line(flash)))

    step("boot: the merged tree (all from the firmware)")
    ovl = boot(board, flash)
    show_tree(ovl)

    step("change files")
    before = flash.counters()
    with ovl.open("/etc/hostname", "w") as f:
        f.write("kitchen-sensor\n")
    edit = ovl.store.counters()
    with ovl.open("/usr/share/blob.bin", "r+b") as f:
        f.seek(100000)
        f.write(b"!")                     # a 1-byte edit of a 256 KiB file
    ovl.sync()
    done = ovl.store.counters()
    # its share of the block summary too, whichever write closes the block
    # (docs/OVERLAY.md, the copy-up table)
    print("  the 1-byte edit of a 256 KiB lower file: %d B programmed, %d B"
          " of them nodes, the rest their summary entries (one small"
          " extent, not a copy of the file)"
          % (done["bytes_programmed"] + done["summary_due"] -
             edit["bytes_programmed"] - edit["summary_due"],
             done["bytes_programmed"] - done["bytes_summary"] -
             edit["bytes_programmed"] + edit["bytes_summary"]))
    ovl.mkdir("/etc/wifi")
    with ovl.open("/etc/wifi/psk", "w") as f:
        f.write("correct horse battery staple\n")
    ovl.remove("/www/home.html")
    ovl.chmod("/lib/app.py", 0o600)
    ovl.sync()
    print("  flash traffic for all these changes: %s"
          % counters_line(flash, before))
    for kind, path in ovl.diff():
        print("  %-9s %s" % (kind, path))

    step("pull the power in the middle of rewriting /etc/config/network")
    # program number 1 of the commit: after the first node, before the last
    flash.arm_power_cut(1, torn="bits", seed=42)
    try:
        with ovl.open("/etc/config/network", "w") as f:
            f.write("config interface 'lan'\n\toption proto 'dhcp'\n" * 40)
        print("  (the write finished before the cut)")
    except PowerCut as e:
        print("  %s, inside the rewrite" % e)
    flash.power_on()

    step("reboot: the tree is the state before or after the write, never between")
    ovl = boot(board, flash)
    text = ovl.read_bytes("/etc/config/network").decode()
    state = "before (firmware version)" if "static" in text else "after (new version)"
    print("  /etc/config/network is the %s state" % state)
    print("  /etc/hostname = %r (committed earlier: durable)"
          % ovl.read_bytes("/etc/hostname").decode())
    problems = ovl.fsck()
    print("  fsck: %s" % ("clean" if not problems else "; ".join(problems)))

    step("factory reset: wipe the upper layer atomically")
    ovl.reset()
    ovl = boot(board, flash)
    print("  diff after reset: %s" % (ovl.diff() or "nothing — firmware only"))
    print("  /etc/hostname = %r" % ovl.read_bytes("/etc/hostname").decode())
    flash.sync()

    step("flash counters for the whole demo")
    print("  " + counters_line(flash))
    print("\nflash file kept at %s (inspect with `ovl flashinfo %s`)"
          % (flash_path, flash_path))


COMMANDS = {"demo": ("run the main job on a simulated board, narrated",
                     add_arguments, run)}
