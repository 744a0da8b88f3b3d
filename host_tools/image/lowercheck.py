"""Checking a SquashFS lower with the device's reader (ovl.squashfs) as
`ovl flash` does before a board boots it and the union's fsck does: every
directory and inode read by a walk, and every directory's index, which a
walk never reads but lookups jump by."""

import struct

from ovl import compat
from ovl.paths import is_dir

# what the reader raises for a damaged image (its own errors are
# ValueErrors; bounds it does not check raise the others)
DAMAGE = (ValueError, OSError, struct.error, IndexError, KeyError,
          OverflowError, UnicodeError)


def walk(lower, damaged=None):
    """Every (path, Entry) of the image `lower` (a SquashFS), as
    squashfs_walk.walk gives them, each directory with an index checked
    when it is reached (check_index).  A damaged index raises, or with
    `damaged` given, is passed to damaged(path, error) and the walk goes
    on; a damaged directory or inode always raises."""
    from ovl import squashfs_walk
    for path, entry in squashfs_walk.walk(lower, "/"):
        if is_dir(entry.mode) and entry.loc.index_count:
            try:
                check_index(lower, path, entry)
            except DAMAGE as e:
                if damaged is None:
                    raise
                damaged(path, e)
        yield path, entry


def check_index(lower, path, entry):
    """A lookup jumps by the directory index, which a walk never reads:
    each index entry's name, the first of the run it points at, is looked
    up, so the reader checks every entry as a lookup that jumps by it
    does (ovl.squashfs_rare._find) and finds the name there.  (Every name
    of a directory of 10,000 would take about 10 s; these, 0.1 s.)"""
    from ovl import squashfs_rare
    from ovl.squashfs import _decode_name
    base = path.rstrip("/") + "/"
    for _, _, raw in squashfs_rare.index_entries(lower, entry.loc):
        try:
            lower.lookup(base + _decode_name(raw))
        except OSError as e:
            if e.errno != compat.ENOENT:
                raise
            from ovl.squashfs_errors import BadDirectoryError
            raise BadDirectoryError("the directory index of %s names %r,"
                                    " which it does not hold" % (path, raw))


def lower_problems(lower):
    """The union check's lines for the lower `lower`: each directory
    whose index is damaged (its lookups answer an error, or miss names
    it lists), then what stopped the walk; none for a lower with no
    index (a host directory)."""
    from ovl.squashfs import SquashFS
    if not isinstance(lower, SquashFS):
        return []
    problems = []

    def damaged(path, error):
        problems.append("%s: lower directory index: %s" % (path, error))

    try:
        for _ in walk(lower, damaged):
            pass
    except DAMAGE as e:
        problems.append("lower: %s" % (str(e) or e.__class__.__name__))
    return problems


def is_utf8(path):
    """Whether a path or symlink target the reader gave (surrogateescape
    on CPython) is UTF-8 on the image."""
    try:
        path.encode("utf-8")
        return True
    except UnicodeError:
        return False
