"""A store's reads a board's plain job (mount, list, stat, read, write)
never makes: readlink.  Imported at first use through
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
