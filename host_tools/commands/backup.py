"""`ovl backup`, `ovl restore`, `ovl reset`: the user's changes on image
files, kept across a firmware update or a factory reset (docs/BACKUP.md).

    ovl backup  --lower L --upper U OUT.tar
    ovl restore --lower L --upper U IN.tar
    ovl reset   --lower L --upper U [--keep PATH...] [--board B] [--next-boot]

`ovl remote backup OUT.tar` (commands/serial.py) reads a board's overlay
through RemoteOverlay, here, and writes the same form; `ovl remote restore
IN.tar` applies one to a board through RemoteTree.
"""

import io
import os
import stat
import sys
import tarfile
import tempfile

from host_tools.backup import (largest_file, read_plan, restore,
                               write_backup)
from host_tools.cli import CliError
from host_tools.commands import fs_format as fmt
from host_tools.outputs import file_kind, replacing
from host_tools.commands.overlay import (Session, add_layer_args, open_session,
                                    power_cut_exit)
from host_tools.serial.link import RemoteError
from ovl import agent, compat
from ovl_sim.simflash import PowerCut
from ovl.overlay import mount as mount_overlay


def save_backup(ovl, lower, path, inputs=()):
    """Write the backup to path (beside it first, then renamed: no half
    tar is left behind, host_tools.outputs; never over one of inputs, the
    files it reads) and print its summary."""
    kind = file_kind(path)
    if kind == stat.S_IFDIR:
        raise CliError("%s is a directory" % path)
    with replacing(path, inputs=inputs) as out:
        summary = write_backup(ovl, lower, out)
    # a FIFO, a device, /dev/stdout is written straight into, and may be
    # the tar on stdout: the summary goes to stderr then
    print_summary(path, summary, None if kind in (None, stat.S_IFREG)
                  else sys.stderr)


def print_summary(path, summary, to=None):
    print("backup: %s: %d files (%d bytes), %d dirs, %d links, %d whiteouts,"
          " %d opaque dirs" % (path, summary["files"], summary["bytes"],
                               summary["dirs"], summary["links"],
                               summary["whiteouts"], summary["opaque"]),
          file=to or sys.stdout)


def run_backup(args):
    session = Session(args.lower, args.upper, readonly=True)
    try:
        save_backup(session.mount(), session.lower, args.out,
                    session.inputs)
    finally:
        session.release()
    return 0


class RemoteOverlay:
    """What a backup reads of an Overlay (diff, lstat, readlink, listdir,
    open for reading), asked of a board's agent over a serial link."""

    def __init__(self, link):
        self.conn = link        # not .link: a restore calls ovl.link()
        self.stats = {}

    def diff(self, path="/"):
        from host_tools.commands.serial import remote_diff
        changes, truncated = remote_diff(self.conn, path)
        if truncated:
            raise CliError("the board's agent cannot page its diff;"
                           " flash a newer ovl")
        return changes

    def listdir(self, path):
        from host_tools.commands.serial import remote_ls_pages
        return [e[0] for page in remote_ls_pages(self.conn, path)
                for e in page]

    def stat_record(self, path):
        st = self.stats.get(path)
        if st is None:
            st = self.conn.call_json(agent.FS_STAT, {"path": path,
                                                     "lower": True})
            self.stats[path] = st
        return st

    def lstat(self, path):
        s = self.stat_record(path)
        return (s["mode"], s["ino"], 0, s["nlink"], s["uid"], s["gid"],
                s["size"], s["mtime"], s["mtime"], s["mtime"])

    def readlink(self, path):
        return self.stat_record(path)["target"]

    def open(self, path, mode="rb"):
        from host_tools.commands.serial import remote_get
        f = tempfile.TemporaryFile()
        remote_get(self.conn, path, f)
        f.seek(0)
        return f


class RemoteTree(RemoteOverlay):
    """What a restore does to an Overlay, asked of a board's agent: file
    data by FS_PUT (the file appears whole, by a rename on the board),
    FS_MKDIR, FS_MV, FS_RM, and FS_OP for the rest.  Nothing is cached:
    the tree changes as the restore goes."""

    def stat_record(self, path):
        return self.conn.call_json(agent.FS_STAT, {"path": path})

    def layer_of(self, path):
        return self.stat_record(path)["layer"]

    def open(self, path, mode="rb"):
        if mode == "rb":
            return RemoteOverlay.open(self, path)
        return PutOnClose(self.conn, path)

    def mkdir(self, path, mode=0o777):
        self.conn.call_json(agent.FS_MKDIR, {"path": path, "mode": mode})

    def remove(self, path):
        self.conn.call_json(agent.FS_RM, {"path": path})

    rmdir = remove          # the agent's rm takes both kinds

    def rename(self, src, dst):
        self.conn.call_json(agent.FS_MV, {"src": src, "dst": dst})

    def _op(self, op, *args):
        try:
            self.conn.call_json(agent.FS_OP, {"op": op, "args": args})
        except RemoteError as e:
            if e.errno != compat.ENOSYS:
                raise
            raise CliError("the board's agent cannot restore (it predates"
                           " FS_OP); update ovl on the board first")

    def check(self):
        """Stop before any change if the agent predates FS_OP: it answers
        an op it does not list with EINVAL, an older agent with ENOSYS."""
        try:
            self._op("")
        except RemoteError as e:
            if e.errno != compat.EINVAL:
                raise

    def chmod(self, path, mode):
        self._op("chmod", path, mode)

    def chown(self, path, uid, gid, follow=True):
        self._op("chown", path, uid, gid, follow)

    def utime(self, path, times):
        self._op("utime", path, list(times))

    def symlink(self, target, path):
        self._op("symlink", target, path)

    def link(self, src, dst):
        self._op("link", src, dst)

    def mknod(self, path, mode):
        self._op("mknod", path, mode)


class PutOnClose:
    """A file written whole: its bytes go to the board as one put when the
    `with` block ends without an error."""

    def __init__(self, conn, path):
        self.conn = conn
        self.path = path
        self.buf = io.BytesIO()

    def write(self, data):
        return self.buf.write(data)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            from host_tools.commands.serial import remote_put
            remote_put(self.conn, self.path, self.buf.getvalue())


class RemoteLower:
    """The board's firmware as far as a backup asks: what is at a path."""

    def __init__(self, remote):
        self.remote = remote

    def lookup(self, path):
        mode = self.remote.stat_record(path).get("lower_mode")
        if mode is None:
            raise OSError(compat.ENOENT, path)
        return StatEntry(mode)

    def identity(self):
        return None


class StatEntry:
    def __init__(self, mode):
        self.mode = mode


def remote_backup(link, path):
    """`ovl remote backup OUT.tar`: the board's changes, in the same form
    as `ovl backup` of image files."""
    remote = RemoteOverlay(link)
    save_backup(remote, RemoteLower(remote), path)


def open_backup(path):
    if file_kind(path) not in (None, stat.S_IFREG, stat.S_IFDIR):
        # a restore reads the tar twice (sizes first): a pipe cannot be
        # rewound, and a FIFO without a writer would wait for ever
        raise CliError("backup %s is not a regular file" % path)
    try:
        return tarfile.open(path, "r:")
    except (OSError, tarfile.TarError) as e:
        why = getattr(e, "strerror", None) or e
        if isinstance(e, tarfile.ReadError) and starts_as_tar(path):
            # tarfile reads the first member's headers when it opens
            raise CliError("backup %s is damaged: %s" % (path, why))
        raise CliError("cannot read backup %s: %s" % (path, why))


def starts_as_tar(path):
    """Whether the file's first block is a tar header."""
    with open(path, "rb") as f:
        block = f.read(tarfile.BLOCKSIZE)
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def run_restore(args):
    need_upper(args)
    tar = open_backup(args.backup)
    session = None
    try:
        entries = read_plan(tar, args.backup)   # all of it, before any change
        session = open_session(args)
        # big enough that a file's rewrite commits as one transaction
        buffer = max(4096, largest_file(entries) + 1)
        session.ovl = mount_overlay(session.lower, session.flash,
                                    write_buffer=buffer)
        ident = session.lower.identity()
        if isinstance(ident, bytes):
            ident = ident.hex()
        if tar.pax_headers.get("OVL.lower") not in (None, str(ident)):
            print("ovl: note: the backup was taken over another firmware"
                  " image", file=sys.stderr)
        done = restore(session.ovl, tar, entries)
        session.close()
    except PowerCut as exc:
        return power_cut_exit(session, exc)
    except (tarfile.TarError, EOFError) as e:
        raise CliError("backup %s is damaged: %s" % (args.backup, e))
    finally:
        if session is not None:
            session.release()
        tar.close()
    print_restored(args.backup, done)
    return 0


def print_restored(path, done):
    print("restore: %s: %d files written, %d put in place, %d attributes set,"
          " %d removed, %d already there" % (
              path, done["written"], done["renamed"], done["attrs"],
              done["removed"], done["unchanged"]))


def remote_restore(link, path):
    """`ovl remote restore IN.tar`: apply a backup to a board's overlay,
    one agent request per step; rerun after a cut to finish it."""
    tar = open_backup(path)
    try:
        entries = read_plan(tar, path)
        tree = RemoteTree(link)
        tree.check()
        done = restore(tree, tar, entries)
    except (tarfile.TarError, EOFError) as e:
        raise CliError("backup %s is damaged: %s" % (path, e))
    finally:
        tar.close()
    print_restored(path, done)


def need_upper(args):
    if not args.upper:
        raise CliError("--upper is required")


def run_reset(args):
    need_upper(args)
    keep = args.keep
    if keep is None and args.board:
        from host_tools.boards import load_board
        keep = load_board(args.board).keep
    keep = keep or []
    session = open_session(args)
    try:
        ovl = session.mount()
        if args.next_boot:
            ovl.request_reset(True, keep)
        else:
            ovl.reset(keep)
        session.close()
    except PowerCut as exc:
        return power_cut_exit(session, exc)
    finally:
        session.release()
    what = "requested for the next mount" if args.next_boot else "done"
    print(fmt.reset_line(what, keep))
    return 0


def add_backup_args(p):
    p.add_argument("--lower", required=True,
                   help="lower layer: a SquashFS image or a directory")
    p.add_argument("--upper", required=True, help="upper image")
    p.add_argument("out", metavar="OUT.tar")


def add_restore_args(p):
    add_layer_args(p)
    p.add_argument("backup", metavar="IN.tar")


def add_reset_args(p):
    add_layer_args(p)
    p.add_path_list("--keep", help="a path whose changes survive the reset;"
                    " repeat it, or name several (default: the board's keep"
                    " list with --board)")
    p.add_argument("--board", help="board name or JSON: its keep list")
    p.add_argument("--next-boot", action="store_true",
                   help="only request the reset for the next mount")


COMMANDS = {
    "backup": ("save the upper's changes (files, metadata, deletions) as a"
               " tar", add_backup_args, run_backup),
    "restore": ("apply a backup to an upper image; rerun after a power cut"
                " to finish", add_restore_args, run_restore),
    "reset": ("factory reset of an upper image, optionally keeping paths",
              add_reset_args, run_reset),
}
