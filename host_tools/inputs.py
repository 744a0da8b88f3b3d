"""Reading a user-named input file with a size bound.

A path on the command line may be a device node or the wrong file; reading
it must neither allocate without bound nor fail with a traceback.
"""

import os
import stat


def is_pipe(path):
    """True for a FIFO or socket: opening a FIFO waits for a writer (a hang
    when nobody writes), and neither can seek."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False            # the open that follows says why
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def read_limited(path, limit, what, error, regular=False):
    """The bytes of `path`, or `error` (an exception class) with one line
    naming `what` when it cannot be read or holds more than `limit` bytes;
    regular: only a regular file (not a device such as /dev/zero)."""
    if is_pipe(path):
        raise error("cannot read %s %s: a FIFO or socket, not a file"
                    % (what, path))
    if regular:
        try:
            mode = os.stat(path).st_mode
        except OSError as e:
            raise error("cannot read %s %s: %s" % (what, path,
                                                   e.strerror or e))
        if not stat.S_ISREG(mode):
            raise error("%s %s is not a regular file" % (what, path))
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise error("cannot read %s %s: %s" % (what, path, e.strerror or e))
    if len(data) > limit:
        raise error("%s %s is over %d bytes" % (what, path, limit))
    return data
