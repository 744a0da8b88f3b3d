"""Reading a user-named input file with a size bound.

A path on the command line may be a device node or the wrong file; reading
it must neither allocate without bound nor fail with a traceback.
"""


def read_limited(path, limit, what, error):
    """The bytes of `path`, or `error` (an exception class) with one line
    naming `what` when it cannot be read or holds more than `limit` bytes."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise error("cannot read %s %s: %s" % (what, path, e.strerror or e))
    if len(data) > limit:
        raise error("%s %s is over %d bytes" % (what, path, limit))
    return data
