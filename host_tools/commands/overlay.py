"""`ovl fs VERB` and `ovl shell`: the overlay on image files, from the host.

    ovl fs ls --lower LOWER --upper UPPER.img /etc
    ovl shell --lower LOWER --upper UPPER.img [--json] < commands

LOWER is a SquashFS image or a directory; UPPER.img a formatted upper
image (`ovl format`).  Every invocation mounts, runs, syncs and saves;
the verbs that only read never save (what the mount applies stays in RAM).
The shell writes each flash operation into the image as it happens, so a
command is in the file before it is answered (Session's in_place).
--power-cut-after N cuts the power at the Nth flash program/erase of the
session (0-based); the image file is left as the chip would be and the
exit status is 3.
"""

import hashlib
import json
import os
import stat
import sys

from ovl import compat
from ovl.flash import BytesSource
from ovl_sim.simflash import PowerCut
from ovl.overlay import mount as mount_overlay
from ovl.paths import is_dir, is_lnk, is_reg, join
from ovl_sim.simflash import TORN_MODES

from host_tools import argtypes
from host_tools.commands import fs_format as fmt
from host_tools.commands.store import FSCK_ERRORS
from host_tools.outputs import Terminated, refuse_input, replacing

POWER_CUT_STATUS = 3


class ShellError(Exception):
    """A malformed command line in the shell (not a filesystem error)."""


# an error message echoes paths and arguments: one line, never a page
MESSAGE_LIMIT = 200


def cut(text, limit=MESSAGE_LIMIT):
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    return "%s... (%d characters)" % (text[:limit], len(text))


# ----- opening the layers ------------------------------------------------------

def open_lower(path):
    if os.path.isdir(path):
        from ovl.dirlower import DirLower
        return DirLower(path)
    from ovl.squashfs import SquashFS
    from host_tools.inputs import is_pipe
    try:
        if is_pipe(path):
            raise OSError(compat.EINVAL, "a FIFO or socket, not a SquashFS "
                          "image file or block device")
        f = open(path, "rb")
    except OSError as e:
        raise OSError(e.errno, "lower %s: %s" % (path, e.strerror))
    return SquashFS(BytesSource(f))


# why a lock file cannot be made: the directory (or the file a writer
# left) is not the user's to write, or the file system is read-only
CANNOT_WRITE = (compat.EACCES, compat.EPERM, compat.EROFS)


class UpperLock:
    """An exclusive lock on the upper image for the whole session: two
    sessions would each save their own copy and one's changes would be
    lost.

    The lock file lives beside the image (saving replaces the image file,
    write then rename, so a lock on the image itself would not hold) and is
    removed again on release.  A session that opened the file just before
    its holder removed it would lock a dead inode: after locking, the path
    must still name the locked file, else it tries again.

    reader=True (a session that only reads the image): where the lock file
    cannot be made, the reader holds a shared lock on the one a writer
    left (refused while a writer holds it), or no lock when there is none
    (no writer is at work: a writer makes it); `shared` is then True and
    the session must not write the image."""

    def __init__(self, path, reader=False):
        import fcntl
        # the file a symlink names: every path to one image shares its lock
        folder, name = os.path.split(os.path.realpath(path))
        self.path = os.path.join(folder, "." + name + ".lock")
        # (nor could the image be saved there)
        self.shared = reader and not os.access(folder, os.W_OK | os.X_OK)
        while True:
            try:
                f = open(self.path, "rb" if self.shared else "a")
            except FileNotFoundError as e:
                if not self.shared:     # its folder is missing
                    raise OSError(e.errno, "cannot write %s: %s"
                                  % (path, e.strerror))
                self.file = None
                return
            except OSError as e:
                if e.errno not in CANNOT_WRITE or self.shared:
                    raise
                if not reader:
                    raise OSError(e.errno, "cannot change %s: its lock file"
                                  " .%s.lock cannot be made" % (path, name))
                self.shared = True
                continue
            try:
                fcntl.flock(f, (fcntl.LOCK_SH if self.shared else
                                fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except OSError:
                f.close()
                raise OSError(compat.EBUSY, "upper image %s is in use by "
                              "another ovl session" % path)
            try:
                same = os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.file = f
                return
            f.close()

    def close(self):
        if self.file is not None:
            if not self.shared:
                try:
                    os.remove(self.path)    # while still holding the lock
                except OSError:
                    pass
            self.file.close()
            self.file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def lock_device(path):
    """flock on an MTD device itself (no file beside /dev/mtdN): a second
    writer of it is refused."""
    import fcntl
    from host_tools.cli import CliError
    f = open(path, "rb")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise CliError("upper %s is in use by another ovl session" % path)
    return f


def lock_upper(path):
    """The lock a command that writes the upper at path holds while it
    works (`ovl format`, `fsck --repair`, `mount`; the sessions' is
    UpperLock): the device's own for an MTD device, else UpperLock."""
    from host_tools.commands.store import is_mtd_device
    if is_mtd_device(path):
        return lock_device(path)
    return UpperLock(path)


def check_upper_path(path):
    hint = "(make one with `ovl format`)"
    if os.path.isdir(path):
        raise OSError(compat.EISDIR, "upper image %s is a directory, not an "
                      "image file %s" % (path, hint))
    if not os.path.exists(path):
        raise OSError(compat.ENOENT, "upper image %s does not exist %s"
                      % (path, hint))
    if not os.path.isfile(path):
        raise OSError(compat.EINVAL, "upper image %s is not a regular file"
                      % path)


def open_upper(path):
    from host_tools.cli import CliError
    from host_tools.commands.store import open_upper_image
    check_upper_path(path)
    try:
        return open_upper_image(path)
    except CliError as e:
        # commands/store.py's hints name `ovl fsck`'s flags (--board, --size), which
        # fs and shell do not have: they take an upper image on its own
        text = str(e).split(": give ")[0]
        raise OSError(compat.EINVAL, "%s; fs and shell take an upper image"
                      " made by `ovl format` (one partition, not a whole "
                      "chip)" % text)


class Session:
    """One mounted overlay over image files.

    reader=True: the session only reads (a read-only verb): the image
    file (bytes and mtime) is left as it was, though the view has what a
    mount would apply (a pending reset, a new firmware's rebase) applied
    in RAM; it still locks the upper as UpperLock's reader does.

    in_place=True (the shell): each flash operation is written into the
    image file as it happens, so what a command changed is in the file
    before it is answered; otherwise (one `fs` verb) the image is saved
    once at the end, written beside and renamed, so a verb that fails
    leaves the file as it was."""

    def __init__(self, lower_path, upper_path, cut_after=None, torn="clean",
                 seed=0, readonly=False, reader=False, in_place=False):
        self.lower = open_lower(lower_path)
        # the host files the session reads: no `get` may write over one
        self.inputs = (lower_path, upper_path)
        self.flash = None
        self.ovl = None
        self.readonly = readonly
        self.lock = None
        self.closed = False
        if upper_path:
            check_upper_path(upper_path)
            reader = reader or readonly
            self.lock = UpperLock(upper_path, reader=reader)
            self.reader = reader
            try:
                self.flash = open_upper(upper_path)
            except BaseException:
                self.release()
                raise
            if reader:
                # the chip is the image file held in RAM: a reader mounts it
                # as a writer would, so what it shows has a pending reset or
                # a new firmware's rebase applied, but the flash forgets its
                # file, so no sync or save writes it (a writing session
                # makes those changes for good)
                self.flash.path = None
            elif in_place:
                # (the shell) every operation lands in the image file as
                # it happens: ImageFlash.write_through
                self.flash.write_through()
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
        """Commit buffered data and write the image.  The image is written
        even when the sync fails: every transaction committed before is in
        it.  Only the first call does anything."""
        if self.closed or self.flash is None or self.ovl is None or \
                self.reader:
            return
        self.closed = True
        try:
            self.ovl.sync()
        finally:
            self.flash.save()

    def release(self):
        if self.flash is not None:
            self.flash.close()
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    def save_after_cut(self):
        # what the chip holds after the cut is what the image file holds
        self.closed = True
        self.flash.save()


# ----- verbs -------------------------------------------------------------------
# Each verb checks all its arguments before it changes anything and returns
# a record of host_tools.commands.fs_format (or None, bytes, str).

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
        item = {"path": path, "type": fmt.type_char(mode),
                "mode": mode & 0o7777, "uid": st[4], "gid": st[5],
                "nlink": st[3]}
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
    out.sort(key=lambda i: i["path"].encode("utf-8", "surrogateescape"))
    return out


def verb_ls(ovl, args):
    long = bool(args) and args[0] == "-l"
    if long:
        args = args[1:]
    path = args[0] if args else "/"
    st = ovl.lstat(path)
    if not is_dir(st[0]):
        entries = [(path.rstrip("/").rsplit("/", 1)[-1], path)]
    else:
        entries = [(n, join(path, n)) for n in ovl.listdir(path)]
    out = []
    for name, full in entries:
        s = ovl.lstat(full)
        if not long:
            out.append(fmt.ls_entry(name, s[0], s[6]))
            continue
        out.append(fmt.ls_entry(
            name, s[0], s[6], s[3], s[4], s[5], ovl.layer_of(full),
            ovl.readlink(full) if is_lnk(s[0]) else None))
    return out


CAT_LIMIT = 16 << 20     # shell/JSON output holds a file in RAM: bounded


def copy_stream(src, dst):
    """In chunks: a (sparse) file may be far bigger than RAM."""
    while True:
        chunk = src.read(65536)
        if not chunk:
            break
        dst.write(chunk)


def verb_cat(ovl, args):
    size = ovl.stat(args[0])[6]
    if size > CAT_LIMIT:
        raise OSError(compat.EFBIG, "%s is %d bytes; cat shows at most %d "
                      "here (use get)" % (args[0], size, CAT_LIMIT))
    return ovl.read_bytes(args[0])


def verb_stat(ovl, args):
    st = ovl.lstat(args[0])
    return fmt.stat_record(args[0], st[0], st[1], st[3], st[4], st[5],
                           st[6], st[8], ovl.layer_of(args[0]))


def open_host_source(path):
    """A host file to copy in: only a regular file (a FIFO or a device
    would block or never end)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(compat.EINVAL, "put: %s is not a regular file" % path)
    return open(path, "rb")


def verb_put(ovl, args):
    with open_host_source(args[0]) as src, ovl.open(args[1], "wb") as dst:
        copy_stream(src, dst)
    return None


def verb_get(ovl, args):
    # a read that fails (damage, EIO) leaves the host file as it was
    with ovl.open(args[0], "rb") as src, replacing(args[1]) as dst:
        copy_stream(src, dst)
    return None


def number(text, what, base=10):
    try:
        return int(text, base)
    except ValueError:
        raise ShellError("%s must be %s number, not %r"
                         % (what, "an octal" if base == 8 else "a", cut(text)))


def verb_write(ovl, args):
    """write PATH MODE OFFSET DATA: open with MODE, seek, write DATA (text
    stored as UTF-8, with Python's byte escapes, e.g. 'a\\nb\\x00':
    fmt.write_args)."""
    try:
        path, mode, offset, data = fmt.write_args(args)
    except ValueError as e:
        raise ShellError(cut(e))
    fmt.write_at(ovl, path, mode, offset, data)


def verb_truncate(ovl, args):
    ovl.truncate(args[0], number(args[1], "SIZE"))


def verb_chmod(ovl, args):
    mode = number(args[0], "MODE", 8)
    if not 0 <= mode <= 0o7777:
        # a usage error here, before the API's EINVAL, saying the range
        raise ShellError("MODE must be an octal number from 0 to 7777, not "
                         "%r" % cut(args[0]))
    ovl.chmod(args[1], mode)


def verb_ln(ovl, args):
    if args[0] == "-s":
        ovl.symlink(args[1], args[2])
    else:
        ovl.link(args[0], args[1])


def verb_rm(ovl, args):
    try:
        ovl.remove(args[0])
    except OSError as e:
        if compat.error_code(e) == compat.EISDIR:
            raise fmt.rm_kind_error(args[0], True)
        raise


def verb_rmdir(ovl, args):
    try:
        ovl.rmdir(args[0])
    except OSError as e:
        if compat.error_code(e) == compat.ENOTDIR and ovl.exists(args[0]) \
                and not is_dir(ovl.lstat(args[0])[0]):
            raise fmt.rm_kind_error(args[0], False)
        raise


def verb_diff(ovl, args):
    return fmt.diff_records(ovl.diff(args[0] if args else "/"))


def verb_layer(ovl, args):
    return fmt.layer_record(args[0], ovl.layer_of(args[0]))


def verb_fsck(ovl, args):
    from host_tools.image.lowercheck import lower_problems
    return fmt.fsck_record(ovl.fsck() + lower_problems(ovl.lower))


def verb_conflicts(ovl, args):
    from ovl import upgrade
    return fmt.conflict_records(upgrade.conflicts(ovl))


def cat_lower(lower, path, out):
    """The lower's own version of path (`cat --layer lower`), streamed."""
    from ovl.upgrade import read_lower
    pos = 0
    while True:
        chunk = read_lower(lower, path, pos, 65536)
        if not chunk:
            break
        out.write(chunk)
        pos += len(chunk)


def verb_reset(ovl, args):
    if args:
        ovl.request_reset()
        return "reset requested for the next mount"
    ovl.reset()


def owner_id(text, what):
    """A uid or gid as chown takes it: -1 leaves it unchanged; outside
    the API's range, a usage error saying the range, as chmod's mode."""
    from ovl.overlay.hostops import MAX_ID
    value = number(text, what)
    if not -1 <= value <= MAX_ID:
        raise ShellError("%s must be a number from 0 to %d (-1: unchanged),"
                         " not %r" % (what, MAX_ID, cut(text)))
    return value


def verb_chown(ovl, args):
    uid, _, gid = args[0].partition(":")
    ovl.chown(args[1], owner_id(uid, "UID"),
              owner_id(gid, "GID") if gid else -1)


def verb_touch(ovl, args):
    mtime = number(args[1], "MTIME")
    ovl.utime(args[0], (mtime, mtime))


def verb_sync(ovl, args):
    ovl.sync()


def simple(method):
    """A verb that is the overlay's method of the same arguments."""
    def run(ovl, args):
        getattr(ovl, method)(*args)
    return run


# name -> (function, one line of help); the same words as `ovl remote`
VERBS = {
    "ls": (verb_ls, "ls [-l] [PATH]: list a directory (-l: mode, links, "
                    "owner, size, layer)"),
    "cat": (verb_cat, "cat PATH: print a file"),
    "stat": (verb_stat, "stat PATH: attributes and layer"),
    "put": (verb_put, "put HOSTFILE PATH: copy a host file in"),
    "get": (verb_get, "get PATH HOSTFILE: copy a file out"),
    "rm": (verb_rm, "rm PATH: remove a file (a directory: rmdir)"),
    "mkdir": (simple("mkdir"), "mkdir PATH"),
    "rmdir": (verb_rmdir, "rmdir PATH: remove an empty directory"),
    "mv": (simple("rename"), "mv SRC DST: rename"),
    "ln": (verb_ln, "ln [-s] SRC DST: hard or symbolic link"),
    "chmod": (verb_chmod, "chmod MODE PATH: set the mode, in octal"),
    "truncate": (verb_truncate, "truncate PATH SIZE"),
    "chown": (verb_chown, "chown UID[:GID] PATH: set the owner (-1: as"
                          " it is)"),
    "touch": (verb_touch, "touch PATH MTIME: set the modification time"),
    "sync": (verb_sync, "sync: commit buffered data and sync the flash"),
    "diff": (verb_diff, "diff [PATH]: what the upper changed"),
    "revert": (simple("revert"),
               "revert PATH: show the lower version again"),
    "reset": (verb_reset, "reset [--next-boot]: factory reset"),
    "layer": (verb_layer, "layer PATH: lower, upper, copied-up or conflict"),
    "fsck": (verb_fsck, "fsck: check the store and the overlay"),
    "conflicts": (verb_conflicts, "conflicts: after a firmware upgrade, files"
                  " changed by you and by the firmware (conflict: unreadable,"
                  " revert or rewrite it; modified; created; dropped: a"
                  " directory whose firmware directory is gone)"),
}
SHELL_ONLY = {
    "write": (verb_write, "write PATH MODE OFFSET DATA: open with MODE "
                          "(w, a, r+, x), seek, write DATA (the rest of "
                          "the line, quoted or not; \\n, \\x00 escapes)"),
    "tree": (lambda ovl, a: tree(ovl, a[0] if a else "/"),
             "tree [PATH]: the merged tree as JSON"),
    "help": (lambda ovl, a: help_text(), "help: this list"),
}
SESSION_END = ("exit", "quit")


def help_text():
    lines = [VERBS[n][1] for n in sorted(VERBS)]
    lines += [SHELL_ONLY[n][1] for n in sorted(SHELL_ONLY)]
    lines.append("exit (or quit, or end of input): save and end the session")
    return "\n".join(lines)


def check_arity(words):
    """ShellError unless the verb has as many arguments as its usage line
    (its help up to ": ") names: bracketed words are optional, and a
    bracketed flag first ("[-l]") counts only when it is given."""
    table = VERBS.get(words[0]) or SHELL_ONLY.get(words[0])
    usage = table[1].split(": ", 1)[0]
    names, args = usage.split()[1:], words[1:]
    if names and names[0].startswith("[-"):
        if args[:1] == [names[0][1:-1]]:
            args = args[1:]
        names = names[1:]
    least = len([n for n in names if not n.startswith("[")])
    if not least <= len(args) <= len(names):
        raise ShellError("usage: %s" % usage)


def run_verb(ovl, words, inputs=()):
    """Run one command's words; inputs: the session's own image files,
    which `get` refuses to write over (host_tools.outputs.refuse_input)."""
    if not words:
        raise ShellError("empty command")
    table = VERBS.get(words[0]) or SHELL_ONLY.get(words[0])
    if table is None:
        raise ShellError("unknown command %r (try help)" % cut(words[0], 40))
    check_arity(words)
    if words[0] == "get":
        refuse_input(words[2], inputs)
    return table[0](ovl, words[1:])


# ----- output ------------------------------------------------------------------

def json_out(out):
    """A verb's result inside a JSON record: structured where it has a
    structure (fs_format's records), text otherwise."""
    if isinstance(out, bytes):
        return out.decode("utf-8", "replace")
    return out


def error_record(exc):
    exc = with_errno(exc)
    code = compat.error_code(exc) if isinstance(exc, OSError) else None
    return {"ok": False, "errno": compat.errno_name(code) if code else None,
            "error": cut(exc)}


# ----- commands ----------------------------------------------------------------

def add_layer_args(p):
    p.add_argument("--lower", required=True,
                   help="lower layer: a SquashFS image or a directory")
    p.add_argument("--upper",
                   help="upper image (from `ovl format`); without it the "
                        "overlay is read-only")
    p.add_argument("--power-cut-after", type=argtypes.count, metavar="N",
                   help="cut the power at flash program/erase N of the session")
    p.add_argument("--torn", choices=TORN_MODES,
                   help="with --power-cut-after: how the operation in flight "
                        "is torn (default clean)")
    p.add_argument("--seed", type=int,
                   help="with --power-cut-after: seed for torn bits "
                        "(default 0)")


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
        q.signed_words = name == "chown"
        flag = VERB_FLAGS.get(name)
        if flag:
            q.add_argument(flag[0], dest="flag", action="store_true",
                           help=flag[1])
        if name == "cat":
            q.add_argument("--layer", choices=("merged", "lower"),
                           default="merged", help="lower: the firmware's"
                           " version, whatever the upper holds")
        add_layer_args(q)


# the verbs that do not change the upper: they work on an image in a
# directory the user cannot write (Session's reader)
READ_ONLY_VERBS = ("ls", "cat", "stat", "get", "diff", "layer", "fsck",
                   "conflicts")


def open_session(args, reader=False, in_place=False):
    fmt.names_as_bytes(sys.stdout, sys.stdin)   # typed into the shell too
    from host_tools.cli import UsageError
    if args.power_cut_after is not None and not args.upper:
        raise UsageError("--power-cut-after needs --upper")
    for flag, value in (("--torn", args.torn), ("--seed", args.seed)):
        # a cut's details without the cut would be ignored in silence
        if value is not None and args.power_cut_after is None:
            raise UsageError("%s needs --power-cut-after" % flag)
    return Session(args.lower, args.upper, args.power_cut_after,
                   args.torn or "clean", args.seed or 0, reader=reader,
                   in_place=in_place)


def power_cut_exit(session, exc):
    session.save_after_cut()
    print("ovl: power cut: %s; image saved as the chip holds it" % exc,
          file=sys.stderr)
    return POWER_CUT_STATUS


def with_errno(exc):
    """exc as the OSError it stands for: damage the SquashFS reader found
    in the lower is EIO with the reader's message, as `ovl remote` and
    `ovl mount` answer it (agent.errno_of, the one mapping); any other
    error as it is."""
    if isinstance(exc, OSError):
        return exc
    from ovl.agent import errno_of
    code = errno_of(exc)
    return exc if code is None else OSError(code, str(exc))


def short_errors(run):
    """One short line per error: the message echoes arguments, which may
    be any length."""
    def wrapped(args):
        try:
            return run(args)
        except ShellError as e:
            # a verb's words that do not fit its usage line: exit 2
            from host_tools.cli import UsageError
            raise UsageError(cut(e))
        except (OSError, ValueError) as e:
            from host_tools.cli import CliError
            e = with_errno(e)
            code = compat.error_code(e) if isinstance(e, OSError) else None
            if not isinstance(code, int) or e.strerror is None:
                raise CliError(cut(e))
            text = e.strerror
            if e.filename is not None:
                text = "%s: %s" % (e.filename, text)
            raise OSError(code, cut(text))
    return wrapped


@short_errors
def run_fs(args):
    words = [args.verb] + list(args.args)
    if getattr(args, "flag", False):
        words.insert(1, VERB_FLAGS[args.verb][0])
    check_arity(words)          # before the images are opened
    session = open_session(args, reader=args.verb in READ_ONLY_VERBS)
    try:
        return finish_fs(session, words, getattr(args, "layer", "merged"))
    finally:
        session.release()


def finish_fs(session, words, layer="merged"):
    """Run one verb; the image is saved only when it succeeded (a failed
    verb leaves the image file as it was).  layer="lower": `cat` shows the
    lower's own version."""
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
            out = run_verb(session.mount(), words, session.inputs)
        session.close()
    except PowerCut as exc:
        return power_cut_exit(session, exc)
    fmt.print_text(sys.stdout, fmt.as_text(words[0], out))
    if words[0] == "fsck" and not out["clean"]:
        return FSCK_ERRORS      # `ovl fsck`'s and `ovl remote fsck`'s
    return 0


def add_shell_arguments(p):
    add_layer_args(p)
    p.add_argument("--json", action="store_true",
                   help='one JSON object per command: {"ok": true, "out": '
                        '...} or {"ok": false, "errno": ..., "error": ...}; '
                        'ls, stat, diff, layer, fsck and tree give their '
                        'records as JSON, not text')


SHELL_LINE_LIMIT = 1 << 20
PROMPT = "ovl> "


def ending_signals():
    """What ends a shell session: Ctrl-C (SIGINT), SIGTERM or SIGHUP
    (`timeout`, a service stop, a closed terminal or ssh link)."""
    import signal
    return (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class HeldInterrupt:
    """Ctrl-C, SIGTERM or SIGHUP while the shell waits for a line ends the
    session at once; during a command it is held until the command has
    finished (so no command stops half way), then ends the session.  A
    second one during the command stops it at once (raising
    outputs.Terminated, a KeyboardInterrupt)."""

    def __init__(self):
        self.busy = False
        self.pending = None
        self.old = {}

    def __enter__(self):
        import signal
        import threading
        if threading.current_thread() is threading.main_thread():
            for signum in ending_signals():
                self.old[signum] = signal.signal(signum, self._fire)
        return self

    def __exit__(self, *exc):
        import signal
        for signum, old in self.old.items():
            signal.signal(signum, old)
        self.old = {}

    def _fire(self, signum, frame):
        if self.busy and self.pending is None:
            self.pending = signum
            return
        raise Terminated(signum)

    def run(self, fn, *args):
        self.busy = True
        try:
            return fn(*args)
        finally:
            self.busy = False

    def check(self):
        if self.pending is not None:
            raise Terminated(self.pending)


@short_errors
def run_shell(args):
    session = open_session(args, in_place=True)
    try:
        return shell_session(session, args)
    finally:
        session.release()


def read_line(tty):
    if tty:
        sys.stderr.write(PROMPT)
        sys.stderr.flush()
    line = sys.stdin.readline(SHELL_LINE_LIMIT + 1)
    if len(line) > SHELL_LINE_LIMIT:
        # no end in sight (e.g. /dev/zero): keep what was done
        raise OSError(compat.EINVAL, "input line over %d characters; "
                      "stopped, earlier commands kept" % SHELL_LINE_LIMIT)
    return line


def shell_session(session, args):
    """Commands answered ok are kept whatever ends the session: end of
    input, exit, Ctrl-C, SIGTERM, SIGHUP, an error, even SIGKILL (each
    flash operation is in the image file as it happens: Session's
    in_place).  A simulated power cut leaves the image as the chip holds
    it.  Exit status 1 if any command failed, 128 + the signal's number
    after one."""
    tally = [0, 0]              # commands run, commands failed
    try:
        ovl = session.mount()
        with HeldInterrupt() as held:
            run_commands(ovl, args, held, tally, session.inputs)
        session.close()
    except PowerCut as exc:
        return power_cut_exit(session, exc)
    except KeyboardInterrupt as exc:
        session.close()
        import signal
        signum = getattr(exc, "signum", signal.SIGINT)
        try:
            # (after SIGHUP the terminal may be gone)
            print("ovl: %s; the %d command(s) answered ok are saved"
                  % ("interrupted" if signum == signal.SIGINT else
                     "ended by " + signal.Signals(signum).name,
                     tally[0] - tally[1]), file=sys.stderr)
        except OSError:
            pass
        return 128 + signum     # the shell's convention: 130 for Ctrl-C
    except BaseException:
        try:
            session.close()     # keep what was answered ok
        except Exception:
            pass                # the first error is the one to report
        raise
    if tally[1]:
        print("ovl: %d of %d commands failed" % (tally[1], tally[0]),
              file=sys.stderr)
        return 1
    return 0


def run_commands(ovl, args, held, tally, inputs):
    tty = sys.stdin.isatty()
    while True:
        line = read_line(tty)
        if not line:
            break
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = fmt.split_command(line)
        except ValueError as exc:
            words = None
            record = error_record(ShellError(exc))
        if words and words[0] in SESSION_END:
            if len(words) == 1:
                break
            record = error_record(ShellError("usage: %s" % words[0]))
            words = None
        if words is not None:
            try:
                out = held.run(run_verb, ovl, words, inputs)
                record = {"ok": True, "out": out}
            except (OSError, ValueError, ShellError) as exc:
                record = error_record(exc)
        tally[0] += 1
        failed = not record["ok"] or (
            words[0] == "fsck" and not record["out"]["clean"])
        tally[1] += failed
        if args.json:
            if record["ok"]:
                record["out"] = json_out(record["out"])
            print(json.dumps(record, sort_keys=True))
        elif record["ok"]:
            text = fmt.as_text(words[0], record["out"])
            if text is None:
                print("ok")
            else:
                fmt.print_text(sys.stdout, text)
        else:
            print("error: %s" % record["error"])
        sys.stdout.flush()
        held.check()


COMMANDS = {
    "fs": ("overlay file operations on image files (ls, cat, put, mv, diff,"
           " revert, reset, ...)", add_fs_arguments, run_fs),
    "shell": ("run overlay commands from stdin in one mounted session "
              "(help lists them)", add_shell_arguments, run_shell),
}
