"""`ovl mkimage`, `ovl ls`, `ovl cat`, `ovl extract`: SquashFS images.

mkimage builds with host_tools.image.mkimage; the reading commands go through
the device's own reader (ovl.squashfs), so the host sees an image exactly
as a board will.
"""

import os
import stat
import struct
import sys
import time

from ovl import compat

from host_tools import argtypes
from host_tools.cli import CliError, UsageError
from host_tools.commands.fs_format import names_as_bytes
from host_tools.image import mkimage
from host_tools.image.tree import parse_time
from host_tools.inputs import read_limited
from host_tools.outputs import refuse_input

SYMLINK_HOPS = 40            # as Linux's MAXSYMLINKS
PSEUDO_FILE_LIMIT = 64 << 20  # pseudo definitions are text; /dev/zero is not


# --- mkimage ---------------------------------------------------------------

def add_mkimage_arguments(p):
    p.add_argument("src", metavar="SRC_DIR", help="directory to put in the image")
    p.add_argument("out", metavar="OUT.sqfs", help="image file to write")
    p.add_argument("-b", "--block-size", default=None,
                   type=argtypes.checked_by(mkimage.parse_block_size),
                   help="data block size, a power of 2 from 4K to 1M "
                        "(default: the --board's lower_block_size, else 128K)")
    p.add_argument("--board", metavar="BOARD",
                   help="board name or JSON: build for its lower_block_size "
                        "(4K on MCU boards); -b may only lower it")
    p.add_argument("--comp", default="gzip",
                   help="compressor: gzip (zlib streams), xz (LZMA2: smaller,"
                        " but MicroPython cannot read it) or none (default"
                        " gzip)")
    p.add_argument("--all-root", action="store_true",
                   help="make every entry owned by uid 0, gid 0")
    p.add_argument("--mtime", metavar="SECONDS",
                   type=argtypes.checked_by(lambda t: parse_time(t, "--mtime")),
                   help="set every mtime and the image time to SECONDS since "
                        "1970 (else SOURCE_DATE_EPOCH sets the image time and "
                        "clamps later mtimes)")
    p.add_argument("-pf", "--pseudo-file", action="append", default=[],
                   metavar="FILE",
                   help="pseudo definitions (device nodes, owners, modes; "
                        "see docs/SQUASHFS.md); repeatable")
    p.add_argument("-p", "--pseudo", action="append", default=[],
                   metavar="DEFINITION",
                   help="one pseudo definition, e.g. 'dev/console c 600 0 0 5 1'")
    p.add_argument("-e", "--exclude", action="append", default=[],
                   metavar="GLOB",
                   help="leave out matching entries: a pattern with '/' "
                        "matches the path below SRC_DIR, one without a name "
                        "at any depth; repeatable")
    p.add_argument("--progress", action="store_true",
                   help="show progress on stderr even when it is not a terminal")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no summary line")


def mkimage_block_size(args):
    """-b, else the --board's lower_block_size, else mkimage's default; a
    -b over the board's limit is refused (the board would refuse the image
    at mount)."""
    limit = None
    if args.board:
        from host_tools.boards import load_board
        board = load_board(args.board)
        limit = board.lower_block_size
    if args.block_size is None:
        return limit or mkimage.DEFAULT_BLOCK_SIZE
    size = args.block_size
    if limit is not None and size > limit:
        # (the board's file says its limit: not an argument error)
        raise CliError("block size %d KiB is over board %s's lower_block_size "
                       "of %d KiB" % (size >> 10, board.name, limit >> 10))
    return size


LOWER_METADATA = ("compressed", "raw")


def board_raw_metadata(name_or_path):
    """Whether the board's JSON asks for metadata stored raw
    ("lower_metadata": "raw"; "compressed", the default, or absent: no),
    so its reader needs no 8 KiB buffer (docs/MKIMAGE.md, "Raw
    metadata").  The field is the image builder's: ovl.board.Board, which
    the firmware loads, does not carry it."""
    import json
    from host_tools.boards import board_path, load_board, BOARD_FILE_LIMIT
    from ovl.board import BoardError
    load_board(name_or_path)            # a sound board first
    path = board_path(name_or_path)
    data = json.loads(read_limited(path, BOARD_FILE_LIMIT, "board file",
                                   BoardError))
    value = data.get("lower_metadata", "compressed")
    if value not in LOWER_METADATA:
        raise BoardError("board %s: lower_metadata %r is not %s"
                         % (data.get("name", path), value,
                            " or ".join(LOWER_METADATA)))
    return value == "raw"


def board_micropython(args):
    """Whether --board names a board that runs MicroPython; a --comp it
    cannot decompress is refused (an argument error)."""
    if not args.board:
        return False
    from host_tools.boards import MICROPYTHON_COMPRESSORS, load_board, \
        runs_micropython
    board = load_board(args.board)
    if not runs_micropython(board):
        return False
    readable = [mkimage.COMPRESSOR_IDS[c] for c in MICROPYTHON_COMPRESSORS]
    if args.comp in mkimage.COMPRESSOR_IDS and \
            mkimage.COMPRESSOR_IDS[args.comp] not in readable:
        raise UsageError("--comp %s: board %s runs MicroPython, which"
                         " decompresses only gzip (and reads --comp none)"
                         % (args.comp, board.name))
    return True


def run_mkimage(args):
    refuse_input(args.out, args.pseudo_file)
    block_size = mkimage_block_size(args)
    raw_metadata = bool(args.board) and board_raw_metadata(args.board)
    micropython = board_micropython(args)
    mtime = sde = None
    if args.mtime is not None:
        mtime = args.mtime
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if env:
        sde = parse_time(env, "SOURCE_DATE_EPOCH")
    pseudo = []
    for path in args.pseudo_file:
        raw = read_limited(path, PSEUDO_FILE_LIMIT, "pseudo file", CliError)
        pseudo.append((path, raw.decode("utf-8", "surrogateescape")))
    for i, text in enumerate(args.pseudo, 1):
        pseudo.append(("-p definition %d" % i, text))
    progress = None
    if args.progress or sys.stderr.isatty():
        progress = mkimage.Progress()
    try:
        summary = mkimage.build_image(
            args.src, args.out, block_size=block_size, comp=args.comp,
            all_root=args.all_root, mtime=mtime, source_date_epoch=sde,
            pseudo=pseudo, excludes=args.exclude, progress=progress,
            raw_metadata=raw_metadata, utf8_names=micropython,
            changeable_paths=bool(args.board))
    finally:
        if progress:
            progress.end()
    if summary.micropython_unreadable is not None:
        # (Linux reads such names and targets; a board running MicroPython
        # cannot)
        print("ovl mkimage: warning: %s" % summary.micropython_unreadable,
              file=sys.stderr)
    if summary.too_long_to_change is not None:
        print("ovl mkimage: warning: %s" % summary.too_long_to_change,
              file=sys.stderr)
    if not args.quiet:
        print("%s: %s" % (args.out, summary.line()))


# --- reading ---------------------------------------------------------------

def open_image(path):
    # Imported here so that `ovl` keeps working for other commands even if
    # the reader cannot be imported.
    from ovl.flash import BytesSource
    from ovl.squashfs import SquashFS
    from host_tools.inputs import is_pipe
    if is_pipe(path):
        raise CliError("cannot open image %s: a FIFO or socket, not a file"
                       % path)
    try:
        f = open(path, "rb")
    except OSError as e:
        raise CliError("cannot open image %s: %s" % (path, e.strerror))
    return guarded(path, lambda: SquashFS(BytesSource(f)))


def guarded(image, fn):
    """Run fn; low-level decoding failures on a damaged image become one
    CliError line (the reader's own errors are ValueErrors already)."""
    try:
        return fn()
    except (struct.error, IndexError, KeyError, OverflowError,
            UnicodeError) as e:
        raise CliError("image %s is corrupt (%s: %s)"
                       % (image, e.__class__.__name__, e))


def resolve(fs, path, follow_last=True):
    """lookup() that follows symlinks inside the image, as a mounted
    image would; '..' stops at the root."""
    todo = [p for p in path.split("/") if p]
    done = []
    hops = 0
    while todo:
        name = todo.pop(0)
        if name == ".":
            continue
        if name == "..":
            done = done[:-1]
            continue
        entry = fs.lookup("/" + "/".join(done + [name]))
        if stat.S_ISLNK(entry.mode) and (todo or follow_last):
            hops += 1
            if hops > SYMLINK_HOPS:
                raise compat.oserror(compat.ELOOP, path)
            target = fs.readlink(entry)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p] + todo
            continue
        done.append(name)
    return fs.lookup("/" + "/".join(done))


def ls_line(fs, name, e):
    if stat.S_ISCHR(e.mode) or stat.S_ISBLK(e.mode):
        size = "%d,%d" % (os.major(e.rdev), os.minor(e.rdev))
    else:
        size = str(e.size)
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.mtime))
    owner = "%d/%d" % (e.uid, e.gid)
    line = "%s %3d %-11s %10s %s %s" % (stat.filemode(e.mode), e.nlink, owner,
                                        size, when, name)
    if stat.S_ISLNK(e.mode):
        line += " -> " + fs.readlink(e)
    return line


def add_ls_arguments(p):
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("path", metavar="PATH", nargs="?", default="/",
                   help="directory or file inside the image (default /)")
    p.add_argument("-l", "--long", action="store_true",
                   help="mode, links, uid/gid, size, mtime (UTC), link target")
    p.add_argument("-R", "--recursive", action="store_true",
                   help="list everything below PATH")


def run_ls(args):
    fs = open_image(args.image)
    names_as_bytes(sys.stdout)
    path = "/" + args.path.strip("/")

    def show(name, e):
        print(ls_line(fs, name, e) if args.long else name)

    def listing():
        top = fs.lookup(path)
        if not stat.S_ISDIR(top.mode):
            show(args.path, top)
            return
        if not args.recursive:
            for name, e in fs.readdir(top):
                show(name, e)
            return
        from ovl import squashfs_walk
        prefix = len(path.rstrip("/")) + 1
        for p, e in squashfs_walk.walk(fs, path):
            if p != path:
                show(p[prefix:], e)
    guarded(args.image, listing)


def add_cat_arguments(p):
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("path", metavar="PATH", help="file inside the image")


def run_cat(args):
    fs = open_image(args.image)
    out = sys.stdout.buffer

    def cat():
        e = resolve(fs, args.path)
        if not stat.S_ISREG(e.mode):
            raise CliError("%s is not a regular file" % args.path)
        offset = 0
        while offset < e.size:
            data = fs.read(e, offset, 256 * 1024)
            if not data:
                raise CliError("%s: data ends early in the image" % args.path)
            out.write(data)
            offset += len(data)
        out.flush()
    guarded(args.image, cat)


def add_extract_arguments(p):
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("dest", metavar="DEST",
                   help="directory to create (or an empty one) for the tree")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")


def run_extract(args):
    from host_tools.image.extract import extract
    fs = open_image(args.image)
    counts = guarded(args.image, lambda: extract(fs, args.dest))
    if not args.quiet:
        print("%s: %d files (%d bytes), %d dirs, %d symlinks, %d special, "
              "%d hard links, %d skipped" % (
                  args.dest, counts["files"], counts["bytes"], counts["dirs"],
                  counts["symlinks"], counts["special"], counts["hardlinks"],
                  counts["skipped"]))


COMMANDS = {
    "mkimage": ("build a SquashFS 4.0 image from a directory",
                add_mkimage_arguments, run_mkimage),
    "ls": ("list a directory (or file) inside a SquashFS image",
           add_ls_arguments, run_ls),
    "cat": ("write a file from a SquashFS image to stdout",
            add_cat_arguments, run_cat),
    "extract": ("unpack a SquashFS image into a new directory, refusing "
                "anything that would write outside it",
                add_extract_arguments, run_extract),
}
