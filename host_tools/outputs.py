"""Writing a user-named output file so that a failure keeps what was there.

A command that writes a host file from an image or a board (a get, a
backup) may fail part way (damaged data, a lost link, a full disk): the
file it replaces must then still hold what it held, and no half-written
temporary may be left beside it.
"""

import contextlib
import errno
import os
import signal
import stat


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
    block ends without an exception; otherwise removed, path untouched.
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
    try:
        out = open(tmp, "wb")
    except OSError as e:
        raise OSError(e.errno, "cannot write %s: %s"
                      % (path, e.strerror or e))
    try:
        with out:
            yield out
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


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
    kills the process and leaves it).  Main thread only."""
    def interrupt(signum, frame):
        raise Terminated(signum)
    old = {sig: signal.signal(sig, interrupt)
           for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
