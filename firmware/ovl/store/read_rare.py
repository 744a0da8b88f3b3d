"""A store's reads a board's plain job (mount, list, stat, read, write)
never makes: readlink, and the bytes a file holds (st_blocks under
`ovl mount`).  Imported at first use through
LogStore.__getattr__ (docs/STORE.md, "Code layout"); each function takes
the store first and is its method of the same name."""

from ovl import compat


def readlink(store, ino):
    if store.damaged:
        store._check_damage("inode", ino)
    rec = store.links.get(ino)
    if rec is None:
        raise compat.oserror(compat.EINVAL, "inode %d is not a symlink" % ino)
    return rec[0].decode()


def stored_bytes(store, ino, end):
    """How many bytes of [0, end) ino's data extents hold (holes and the
    gaps the overlay reads from the lower count none): a sum over the
    extent map read() loads, no data read."""
    if store.damaged:
        store._check_damage("inode", ino)
    if store.get(ino) is None:
        raise compat.oserror(compat.ENOENT, "inode %d" % ino)
    store._load(ino)
    held = 0
    for start, stop, _entry in store.extents.get(ino) or ():
        if start >= end:
            break
        held += min(stop, end) - start
    return held
