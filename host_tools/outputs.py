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


@contextlib.contextmanager
def replacing(path, tmp=None):
    """A binary file object for path's new contents.  It is written beside
    path (as tmp, default PATH.tmp-PID) and renamed over path when the
    block ends without an exception; otherwise (a failure, Ctrl-C, SIGTERM
    or SIGHUP: `temporary`) removed, path untouched.
    A FIFO, device or /dev/stdout is written straight into (a rename over
    it would replace the node itself); a directory is refused (EISDIR)."""
    kind = file_kind(path)
    if kind == stat.S_IFDIR:
        raise IsADirectoryError(errno.EISDIR, "%s is a directory" % path)
    if kind not in (None, stat.S_IFREG):
        with open(path, "wb") as out:
            yield out
        return
    tmp = tmp or "%s.tmp-%d" % (path, os.getpid())
    with temporary(tmp):
        try:
            out = open(tmp, "wb")
        except OSError as e:
            raise OSError(e.errno, "cannot write %s: %s"
                          % (path, e.strerror or e))
        with out:
            yield out
        with signals_held():    # renamed, or (a signal first) removed
            os.replace(tmp, path)


def write_file(path, data, tmp=None):
    """Write data as path's new contents, all or nothing (`replacing`)."""
    with replacing(path, tmp) as out:
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
