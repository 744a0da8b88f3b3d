"""`ovl backup`, `ovl restore`, `ovl reset`: the user's changes on image
files, kept across a firmware update or a factory reset (docs/BACKUP.md).

    ovl backup  --lower L --upper U OUT.tar
    ovl restore --lower L --upper U IN.tar
    ovl reset   --lower L --upper U [--keep PATH...] [--board B] [--next-boot]
"""

import os
import sys
import tarfile

from host_tools.backup import largest_file, restore, write_backup
from host_tools.cli import CliError
from host_tools.cmd_overlay import (Session, add_layer_args, open_session,
                                    power_cut_exit)
from ovl.flash import PowerCut
from ovl.overlay import mount as mount_overlay


def run_backup(args):
    session = Session(args.lower, args.upper, readonly=True)
    tmp = "%s.tmp-%d" % (args.out, os.getpid())
    try:
        ovl = session.mount()
        if os.path.isdir(args.out):
            raise CliError("%s is a directory" % args.out)
        try:
            with open(tmp, "wb") as out:
                summary = write_backup(ovl, session.lower, out)
            os.replace(tmp, args.out)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    finally:
        session.release()
    print("backup: %s: %d files (%d bytes), %d dirs, %d links, %d whiteouts,"
          " %d opaque dirs" % (args.out, summary["files"], summary["bytes"],
                               summary["dirs"], summary["links"],
                               summary["whiteouts"], summary["opaque"]))
    return 0


def open_backup(path):
    try:
        return tarfile.open(path, "r:")
    except (OSError, tarfile.TarError) as e:
        raise CliError("cannot read backup %s: %s" % (
            path, getattr(e, "strerror", None) or e))


def run_restore(args):
    need_upper(args)
    tar = open_backup(args.backup)
    session = open_session(args)
    try:
        # big enough that a file's rewrite commits as one transaction
        buffer = max(4096, largest_file(tar) + 1)
        session.ovl = mount_overlay(session.lower, session.flash,
                                    write_buffer=buffer)
        ident = session.lower.identity()
        if isinstance(ident, bytes):
            ident = ident.hex()
        if tar.pax_headers.get("OVL.lower") not in (None, str(ident)):
            print("ovl: note: the backup was taken over another firmware"
                  " image", file=sys.stderr)
        done = restore(session.ovl, tar)
        session.close()
    except PowerCut as exc:
        return power_cut_exit(session, exc)
    except (tarfile.TarError, EOFError) as e:
        raise CliError("backup %s is damaged: %s" % (args.backup, e))
    finally:
        session.release()
        tar.close()
    print("restore: %s: %d files written, %d put in place, %d attributes set,"
          " %d removed, %d already there" % (
              args.backup, done["written"], done["renamed"], done["attrs"],
              done["removed"], done["unchanged"]))
    return 0


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
    for path in keep:
        if not path.startswith("/"):
            raise CliError("--keep %s: paths are absolute" % path)
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
    print("reset: %s%s" % (what, ", keeping " + " ".join(keep) if keep
                           else ""))
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
    p.add_argument("--keep", nargs="+", metavar="PATH",
                   help="paths whose changes survive the reset (default: the"
                        " board's keep list with --board)")
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
