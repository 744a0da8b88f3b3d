"""`ovl fs VERB` and `ovl shell`: the overlay on image files, from the host.

    ovl fs ls --lower LOWER --upper UPPER.img /etc
    ovl shell --lower LOWER --upper UPPER.img [--json] < commands

LOWER is a SquashFS image or a directory; UPPER.img a formatted upper
image (`ovl format`).  Every invocation mounts, runs, syncs and saves.
--power-cut-after N cuts the power at the Nth flash program/erase of the
session (0-based); the image file is left as the chip would be and the
exit status is 3.
"""

import hashlib
import json
import os
import shlex
import sys

from ovl import compat
from ovl.flash import PowerCut, BytesSource
from ovl.overlay import (mount as mount_overlay, is_dir, is_lnk, is_reg,
                         join, S_IFMT)
from ovl.simflash import TORN_MODES

POWER_CUT_STATUS = 3


class ShellError(Exception):
    """A malformed command line in the shell (not a filesystem error)."""


# ----- opening the layers ------------------------------------------------------

def open_lower(path):
    if os.path.isdir(path):
        from ovl.dirlower import DirLower
        return DirLower(path)
    from ovl.squashfs import SquashFS
    try:
        f = open(path, "rb")
    except OSError as e:
        raise OSError(e.errno, "lower %s: %s" % (path, e.strerror))
    return SquashFS(BytesSource(f))


def lock_upper(path):
    """An exclusive lock on the upper image for the whole session: two
    sessions would each save their own copy and one's changes would be
    lost.  Returns the open lock file (closing it unlocks)."""
    import fcntl
    # the lock lives beside the image: saving replaces the image file
    # (write, then rename), so a lock on the image itself would not hold
    folder, name = os.path.split(os.path.abspath(path))
    f = open(os.path.join(folder, "." + name + ".lock"), "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise OSError(compat.EBUSY, "upper image %s is in use by another ovl"
                      " session" % path)
    return f


def open_upper(path):
    if not os.path.isfile(path):
        raise OSError(compat.ENOENT, "upper image %s does not exist "
                      "(create it with `ovl format`)" % path)
    from host_tools.cmd_store import open_upper_image
    return open_upper_image(path)


class Session:
    """One mounted overlay over image files."""

    def __init__(self, lower_path, upper_path, cut_after=None, torn="clean",
                 seed=0, readonly=False):
        self.lower = open_lower(lower_path)
        self.flash = None
        self.ovl = None
        self.readonly = readonly
        self.lock = None
        if upper_path:
            if os.path.isfile(upper_path):
                self.lock = lock_upper(upper_path)
            try:
                self.flash = open_upper(upper_path)
            except BaseException:
                self.release()
                raise
            if cut_after is not None:
                # counted from here: the mount's own writes are included
                self.flash.arm_power_cut(cut_after, torn, seed)

    def mount(self):
        if self.flash is not None:
            self.ovl = mount_overlay(self.lower, self.flash,
                                     readonly=self.readonly)
        else:
            from ovl.overlay import Overlay
            self.ovl = Overlay(self.lower, None)
        return self.ovl

    def close(self):
        if self.flash is not None:
            self.ovl.sync()
            self.flash.save()

    def release(self):
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def save_after_cut(self):
        # what the chip holds after the cut is what the image file holds
        self.flash.save()


# ----- verbs -------------------------------------------------------------------

def type_char(mode):
    return {0o040000: "d", 0o120000: "l", 0o100000: "-", 0o020000: "c",
            0o060000: "b", 0o010000: "p", 0o140000: "s"}.get(mode & S_IFMT,
                                                            "?")


def mode_string(mode):
    bits = "rwxrwxrwx"
    perm = "".join(bits[i] if mode & (0o400 >> i) else "-" for i in range(9))
    return type_char(mode) + perm


def file_digest(ovl, path):
    h = hashlib.sha256()
    with ovl.open(path, "rb") as f:
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def tree(ovl, top="/"):
    """The merged tree as a list of dicts, sorted by path."""
    out = []
    pending = [top]
    while pending:
        path = pending.pop()
        st = ovl.lstat(path)
        mode = st[0]
        item = {"path": path, "type": type_char(mode), "mode": mode & 0o7777,
                "uid": st[4], "gid": st[5], "nlink": st[3]}
        if is_dir(mode):
            item["nlink"] = None   # merged directories have no true count
            names = ovl.listdir(path)
            pending.extend(join(path, n) for n in reversed(names))
        else:
            item["size"] = st[6]
        if is_reg(mode):
            item["sha256"] = file_digest(ovl, path)
        elif is_lnk(mode):
            item["target"] = ovl.readlink(path)
        out.append(item)
    out.sort(key=lambda i: i["path"].encode())
    return out


def verb_ls(ovl, args):
    long = args and args[0] == "-l"
    if long:
        args = args[1:]
    path = args[0] if args else "/"
    st = ovl.lstat(path)
    if not is_dir(st[0]):
        entries = [(path.rsplit("/", 1)[-1], path)]
    else:
        entries = [(n, join(path, n)) for n in ovl.listdir(path)]
    lines = []
    for name, full in entries:
        if not long:
            lines.append(name)
            continue
        s = ovl.lstat(full)
        extra = " -> " + ovl.readlink(full) if is_lnk(s[0]) else ""
        lines.append("%s %3d %5d %5d %9d %-9s %s%s" % (
            mode_string(s[0]), s[3], s[4], s[5], s[6],
            ovl.layer_of(full), name, extra))
    return "\n".join(lines)


CAT_LIMIT = 16 << 20     # shell/JSON output holds a file in RAM: bounded


def copy_stream(src, dst):
    """In chunks: a (sparse) file may be far bigger than RAM."""
    while True:
        chunk = src.read(65536)
        if not chunk:
            break
        dst.write(chunk)


def verb_cat(ovl, args):
    need(args, 1, "cat PATH")
    size = ovl.stat(args[0])[6]
    if size > CAT_LIMIT:
        raise OSError(compat.EFBIG, "%s is %d bytes; cat shows at most %d "
                      "here (use get)" % (args[0], size, CAT_LIMIT))
    return ovl.read_bytes(args[0])


def verb_stat(ovl, args):
    need(args, 1, "stat PATH")
    st = ovl.lstat(args[0])
    return {"mode": "%o" % st[0], "ino": st[1], "nlink": st[3], "uid": st[4],
            "gid": st[5], "size": st[6], "mtime": st[8], "ctime": st[9],
            "layer": ovl.layer_of(args[0])}


def verb_put(ovl, args):
    need(args, 2, "put HOSTFILE PATH")
    with open(args[0], "rb") as src, ovl.open(args[1], "wb") as dst:
        copy_stream(src, dst)
    return None


def verb_get(ovl, args):
    need(args, 2, "get PATH HOSTFILE")
    with ovl.open(args[0], "rb") as src, open(args[1], "wb") as dst:
        copy_stream(src, dst)
    return None


def number(text, what, base=10):
    try:
        return int(text, base)
    except ValueError:
        raise ShellError("%s must be %s number, not %r"
                         % (what, "an octal" if base == 8 else "a", text))


def verb_write(ovl, args):
    """write PATH MODE OFFSET DATA: open with MODE, seek, write DATA (a
    Python-escaped byte string, e.g. 'a\\nb')."""
    need(args, 4, "write PATH MODE OFFSET DATA")
    data = args[3].encode("latin-1", "backslashreplace").decode(
        "unicode_escape").encode("latin-1")
    with ovl.open(args[0], args[1] if "b" in args[1] else args[1] + "b") as f:
        f.seek(number(args[2], "OFFSET"))
        f.write(data)
    return None


def verb_truncate(ovl, args):
    need(args, 2, "truncate PATH SIZE")
    ovl.truncate(args[0], number(args[1], "SIZE"))


def verb_chmod(ovl, args):
    need(args, 2, "chmod MODE PATH")
    ovl.chmod(args[1], number(args[0], "MODE", 8))


def verb_ln(ovl, args):
    if args and args[0] == "-s":
        need(args[1:], 2, "ln -s TARGET PATH")
        ovl.symlink(args[1], args[2])
    else:
        need(args, 2, "ln SRC DST")
        ovl.link(args[0], args[1])


def verb_diff(ovl, args):
    return "\n".join("%-8s %s" % (k, p) for k, p in
                     ovl.diff(args[0] if args else "/"))


def verb_conflicts(ovl, args):
    need(args, 0, "conflicts")
    from ovl import upgrade
    return "\n".join("%-9s %s" % (k, p) for k, p in upgrade.conflicts(ovl))


def cat_lower(lower, path, out):
    """The lower's own version of path (`cat --layer lower`), streamed."""
    entry = lower.lookup(path)
    if not is_reg(entry.mode):
        raise OSError(compat.EINVAL, "%s is not a regular file in the lower"
                      % path)
    pos = 0
    while pos < entry.size:
        chunk = lower.read(entry, pos, min(65536, entry.size - pos))
        if not chunk:
            break
        out.write(chunk)
        pos += len(chunk)


def verb_reset(ovl, args):
    if args and args[0] == "--next-boot":
        ovl.request_reset()
        return "reset requested for the next mount"
    ovl.reset()


def verb_chown(ovl, args):
    need(args, 2, "chown UID[:GID] PATH")
    uid, _, gid = args[0].partition(":")
    ovl.chown(args[1], number(uid, "UID"), number(gid, "GID") if gid else -1)


def verb_touch(ovl, args):
    need(args, 2, "touch PATH MTIME")
    mtime = number(args[1], "MTIME")
    ovl.utime(args[0], (mtime, mtime))


def need(args, n, usage):
    if len(args) != n:
        raise ShellError("usage: %s" % usage)


def simple(method, arity, usage):
    def run(ovl, args):
        need(args, arity, usage)
        getattr(ovl, method)(*args)
    return run


VERBS = {
    "ls": (verb_ls, "ls [-l] [PATH]: list a directory (-l: with layers)"),
    "cat": (verb_cat, "cat PATH: print a file"),
    "stat": (verb_stat, "stat PATH: attributes and layer"),
    "put": (verb_put, "put HOSTFILE PATH: copy a host file in"),
    "get": (verb_get, "get PATH HOSTFILE: copy a file out"),
    "rm": (simple("remove", 1, "rm PATH"), "rm PATH: remove a file"),
    "mkdir": (simple("mkdir", 1, "mkdir PATH"), "mkdir PATH"),
    "rmdir": (simple("rmdir", 1, "rmdir PATH"), "rmdir PATH"),
    "mv": (simple("rename", 2, "mv SRC DST"), "mv SRC DST: rename"),
    "ln": (verb_ln, "ln [-s] SRC DST: hard or symbolic link"),
    "chmod": (verb_chmod, "chmod OCTAL PATH"),
    "truncate": (verb_truncate, "truncate PATH SIZE"),
    "chown": (verb_chown, "chown UID[:GID] PATH"),
    "touch": (verb_touch, "touch PATH MTIME: set the modification time"),
    "sync": (lambda ovl, a: (need(a, 0, "sync"), ovl.sync())[1] and None,
             "sync: commit buffered data and sync the flash"),
    "diff": (verb_diff, "diff [PATH]: what the upper changed"),
    "revert": (simple("revert", 1, "revert PATH"),
               "revert PATH: show the lower version again"),
    "reset": (verb_reset, "reset [--next-boot]: factory reset"),
    "conflicts": (verb_conflicts, "conflicts: after a firmware upgrade, files"
                  " changed by you and by the firmware (conflict: unreadable,"
                  " revert or rewrite it; modified; created)"),
    "layer": (lambda ovl, a: (need(a, 1, "layer PATH"),
                              ovl.layer_of(a[0]))[1],
              "layer PATH: lower, upper, copied-up or conflict"),
}
SHELL_ONLY = {
    "write": (verb_write, "write PATH MODE OFFSET DATA"),
    "tree": (lambda ovl, a: tree(ovl, a[0] if a else "/"),
             "tree [PATH]: the merged tree as JSON"),
}


def run_verb(ovl, words):
    if not words:
        raise ShellError("empty command")
    table = VERBS.get(words[0]) or SHELL_ONLY.get(words[0])
    if table is None:
        raise ShellError("unknown command %r" % words[0])
    return table[0](ovl, words[1:])


# ----- output ------------------------------------------------------------------

def as_text(out):
    if out is None:
        return None
    if isinstance(out, bytes):
        return out.decode("utf-8", "replace")
    if isinstance(out, (dict, list)):
        return json.dumps(out, sort_keys=True)
    return str(out)


def error_record(exc):
    if isinstance(exc, OSError):
        code = compat.error_code(exc)
        return {"ok": False, "errno": compat.errno_name(code),
                "error": " ".join(str(exc).split())}
    return {"ok": False, "errno": None, "error": " ".join(str(exc).split())}


# ----- commands ----------------------------------------------------------------

def add_layer_args(p):
    p.add_argument("--lower", required=True,
                   help="lower layer: a SquashFS image or a directory")
    p.add_argument("--upper",
                   help="upper image (from `ovl format`); without it the "
                        "overlay is read-only")
    p.add_argument("--power-cut-after", type=int, metavar="N",
                   help="cut the power at flash program/erase N of the session")
    p.add_argument("--torn", choices=TORN_MODES, default="clean",
                   help="how the operation in flight is torn (default clean)")
    p.add_argument("--seed", type=int, default=0, help="seed for torn bits")


VERB_FLAGS = {"ls": ("-l", "long listing with layers"),
              "ln": ("-s", "make a symbolic link"),
              "reset": ("--next-boot", "only request a reset at next mount")}


def add_fs_arguments(p):
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for name in sorted(VERBS):
        help_text = VERBS[name][1]
        q = sub.add_parser(name, help=help_text, description=help_text)
        q.add_argument("args", nargs="*", help="verb arguments")
        flag = VERB_FLAGS.get(name)
        if flag:
            q.add_argument(flag[0], dest="flag", action="store_true",
                           help=flag[1])
        if name == "cat":
            q.add_argument("--layer", choices=("merged", "lower"),
                           default="merged", help="lower: the firmware's"
                           " version, whatever the upper holds")
        add_layer_args(q)


def open_session(args):
    if hasattr(sys.stdout, "reconfigure"):
        # lower names that are not UTF-8 print as their original bytes
        sys.stdout.reconfigure(errors="surrogateescape")
    if args.power_cut_after is not None and not args.upper:
        raise OSError(compat.EINVAL, "--power-cut-after needs --upper")
    if args.power_cut_after is not None and args.power_cut_after < 0:
        raise OSError(compat.EINVAL, "--power-cut-after counts flash "
                      "operations from 0, not %d" % args.power_cut_after)
    return Session(args.lower, args.upper, args.power_cut_after, args.torn,
                   args.seed)


def power_cut_exit(session, exc):
    session.save_after_cut()
    print("ovl: power cut: %s; image saved as the chip holds it" % exc,
          file=sys.stderr)
    return POWER_CUT_STATUS


def run_fs(args):
    words = [args.verb] + list(args.args)
    if getattr(args, "flag", False):
        words.insert(1, VERB_FLAGS[args.verb][0])
    session = open_session(args)
    try:
        return finish_fs(session, words, getattr(args, "layer", "merged"))
    finally:
        session.release()


def finish_fs(session, words, layer="merged"):
    try:
        if words[0] == "cat" and len(words) == 2 and layer == "lower":
            session.mount()
            cat_lower(session.lower, words[1], sys.stdout.buffer)
            out = None
        elif words[0] == "cat" and len(words) == 2:
            # streamed, not held: `fs cat` has no size limit
            with session.mount().open(words[1], "rb") as src:
                copy_stream(src, sys.stdout.buffer)
            out = None
        else:
            out = run_verb(session.mount(), words)
        session.close()
    except PowerCut as exc:
        return power_cut_exit(session, exc)
    except ShellError as exc:
        raise OSError(compat.EINVAL, str(exc))
    if isinstance(out, bytes):
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    elif out is not None:
        print(as_text(out))
    return 0


def add_shell_arguments(p):
    add_layer_args(p)
    p.add_argument("--json", action="store_true",
                   help='one JSON object per command: {"ok": true, "out": '
                        '...} or {"ok": false, "errno": ..., "error": ...}')


SHELL_LINE_LIMIT = 1 << 20


def run_shell(args):
    session = open_session(args)
    try:
        return shell_session(session, args)
    finally:
        session.release()


def shell_session(session, args):
    try:
        ovl = session.mount()
        while True:
            line = sys.stdin.readline(SHELL_LINE_LIMIT + 1)
            if not line:
                break
            if len(line) > SHELL_LINE_LIMIT:
                # no end in sight (e.g. /dev/zero): keep what was done
                session.close()
                raise OSError(compat.EINVAL, "input line over %d characters;"
                              " stopped, earlier commands kept"
                              % SHELL_LINE_LIMIT)
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                out = run_verb(ovl, shlex.split(line))
                record = {"ok": True, "out": as_text(out)}
            except (OSError, ValueError, ShellError) as exc:
                record = error_record(exc)
            if args.json:
                if record["ok"] and line.split()[0] == "tree":
                    record["out"] = json.loads(record["out"])
                print(json.dumps(record, sort_keys=True))
            elif record["ok"]:
                print(record["out"] if record["out"] is not None else "ok")
            else:
                print("error: %s" % record["error"])
            sys.stdout.flush()
        session.close()
    except PowerCut as exc:
        return power_cut_exit(session, exc)
    return 0


COMMANDS = {
    "fs": ("overlay file operations on image files (ls, cat, put, mv, diff,"
           " revert, reset, ...)", add_fs_arguments, run_fs),
    "shell": ("run overlay commands from stdin in one mounted session",
              add_shell_arguments, run_shell),
}
