"""Writing a user-named output file so that a failure keeps what was there.

A command that writes a host file from an image or a board (a get, a
backup) may fail part way (damaged data, a lost link, a full disk): the
file it replaces must then still hold what it held, and no half-written
temporary may be left beside it.
"""

import contextlib
import errno
import os
import shutil
import signal
import stat
import threading


def file_kind(path):
    """The S_IFMT kind of what path names (links followed), None if
    nothing is there."""
    try:
        return stat.S_IFMT(os.stat(path).st_mode)
    except OSError:
        return None


def same_file(a, b):
    """Whether paths a and b name one file (links followed): the same
    device and inode when both exist, else the same resolved path."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def refuse_input(path, inputs):
    """Refuse, as cp does ("X and Y are the same file", EINVAL), an output
    path that names one of the command's input files (None: none given),
    a symlink to one too: writing it would destroy what the command
    reads (an image written with its own upper's path)."""
    for source in inputs:
        if source is not None and same_file(path, source):
            raise OSError(errno.EINVAL, "%s and %s are the same file"
                          % (path, source))


def renamed_over(path):
    """The file that a new version written beside, then renamed, replaces
    for path: path itself, or the file its symlink names (followed as cp
    does: the link stays a link, and the new version is written beside
    that file, on its filesystem)."""
    return os.path.realpath(path)


@contextlib.contextmanager
def replacing(path, suffix=None, inputs=(), mode="wb"):
    """A binary file object (opened with mode, "w+b" to read back what
    was written) for path's new contents.  It is written beside
    the file path names (PATH + suffix, default PATH.tmp-PID) and renamed
    over it when the block ends without an exception; otherwise (a
    failure, Ctrl-C, SIGTERM or SIGHUP: `temporary`) removed, the file
    untouched.  A symlink is followed (`renamed_over`).  An output that is one of inputs
    (the files the command reads) is refused before anything is written
    (`refuse_input`).
    A FIFO, device or /dev/stdout is written straight into (a rename over
    it would replace the node itself); a directory is refused (EISDIR)."""
    refuse_input(path, inputs)
    kind = file_kind(path)
    if kind == stat.S_IFDIR:
        raise IsADirectoryError(errno.EISDIR, "%s is a directory" % path)
    if kind not in (None, stat.S_IFREG):
        with open(path, mode) as out:
            yield out
        return
    target = renamed_over(path)
    tmp = target + (suffix or ".tmp-%d" % os.getpid())
    with temporary(tmp):
        try:
            out = open(tmp, mode)
        except OSError as e:
            raise OSError(e.errno, "cannot write %s: %s"
                          % (path, e.strerror or e))
        with out:
            yield out
        with signals_held():    # renamed, or (a signal first) removed
            os.replace(tmp, target)


def write_file(path, data, suffix=None, inputs=()):
    """Write data as path's new contents, all or nothing (`replacing`)."""
    with replacing(path, suffix, inputs) as out:
        out.write(data)


ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_held():
    """Ctrl-C, SIGTERM and SIGHUP wait until the block ends (then act), so
    a rename or a removal is not stopped half way."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, ENDING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def remove_all(path, keep_dir=False):
    """Remove path, a file or a directory with what it holds (only what it
    holds with keep_dir); nothing there is not an error."""
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path) or os.path.islink(path):
        os.remove(path)
    elif keep_dir:
        for name in os.listdir(path):
            remove_all(os.path.join(path, name))
    else:
        shutil.rmtree(path)


@contextlib.contextmanager
def temporary(path, keep_on=(), keep_dir=False):
    """Within the block path is what the program is writing and must not
    outlive it half done: SIGTERM and SIGHUP raise Terminated there (as
    Ctrl-C raises KeyboardInterrupt; `terminate_as_interrupt`), and when
    the block raises, path is removed (`remove_all`, signals held) unless
    the exception is one of keep_on (a resumable file kept for a rerun
    after a lost link, say: keep_on=Exception keeps it except after a
    signal).  The one mechanism of every host file a command writes."""
    with terminate_as_interrupt():
        try:
            yield
        except BaseException as e:
            if not isinstance(e, keep_on):
                with signals_held():
                    try:
                        remove_all(path, keep_dir)
                    except OSError:
                        pass    # the failure to report is the first one
            raise


class Terminated(KeyboardInterrupt):
    """A signal that ends the program (signum: SIGTERM, SIGHUP, or SIGINT
    where a handler holds it, as `ovl shell`'s), raised where the program
    is, as Ctrl-C raises KeyboardInterrupt, so the same cleanup runs:
    `ovl` exits 128 + signum."""

    def __init__(self, signum):
        KeyboardInterrupt.__init__(self, signum)
        self.signum = signum


@contextlib.contextmanager
def terminate_as_interrupt():
    """Within the block SIGTERM and SIGHUP raise Terminated, so the finally
    blocks that remove a half-written temporary run (the default action
    kills the process and leaves it).  Off the main thread, where Python
    runs no handler, it does nothing."""
    def interrupt(signum, frame):
        raise Terminated(signum)
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, interrupt)
           for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
