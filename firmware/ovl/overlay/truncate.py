"""Truncation: cutting a file by path (truncate), an open file
(truncate_open, for OverlayFile.truncate), or at open() with O_TRUNC (the
file's write buffer cuts it when it commits).

A board's mount, its new files and their reads never cut one, so Overlay
imports this module at the first truncation (Overlay.__getattr__ answers
these names).  Each function takes the Overlay as its first argument and
is reached as the Overlay's method of the same name.
"""

from ovl import compat
from ovl.paths import is_dir, is_reg
from ovl.overlay.meta import MAX_FILE_SIZE, META_ORIGIN
from ovl.overlay import Node
from ovl.overlay import writing
from ovl.overlay.writing import note_change


def _check_size(size, name):
    if size < 0:
        raise compat.oserror(compat.EINVAL, name)
    if size > MAX_FILE_SIZE:
        raise compat.oserror(compat.EFBIG, name)


def truncate(ovl, path, size):
    _check_size(size, path)
    node = ovl._walk(path)
    if is_dir(node.mode):
        raise compat.oserror(compat.EISDIR, path)
    if not is_reg(node.mode):
        raise compat.oserror(compat.EINVAL, path)

    def op(txn):
        truncate_node(ovl, txn, ovl._walk(path), size)
    writing._mutate(ovl, path, op)


def truncate_open(ovl, f, size=None):
    """OverlayFile f's truncate(size): its upper file (whose name may have
    changed since it was opened) cut to size (None: f's position), as one
    transaction; returns the size."""
    if size is None:
        size = f.pos
    _check_size(size, f.name)

    def op(txn):
        cut(ovl, txn, f.uino, size)
    writing._mutate(ovl, f.name, op)
    return size


def cut(ovl, txn, uino, size):
    """Cut open upper file uino (whose name may have changed) to size in
    txn (truncate_node; the write buffer of open() with O_TRUNC calls it
    with its own cut, a name a board holds already)."""
    node = Node(None, "", "#%d" % uino)
    node.uino = uino
    node.inode = ovl.store.get(uino)
    if node.inode is None:
        raise compat.oserror(compat.ESTALE, node.path)
    node.dirent = True
    node.origin = ovl._get_origin(uino)
    truncate_node(ovl, txn, node, size)


def truncate_node(ovl, txn, node, size):
    """Cut node to size in txn (and a buffer of open() with O_TRUNC when
    it commits: ovl.overlay.file's WriteBack).  Copy-up keeps
    nothing: bytes below min(lower limit, size) still read from the lower,
    so a truncate stores no data at all."""
    writing._copy_up(ovl, txn, node)
    note_change(ovl, txn, node.uino, node.origin)
    if node.origin is not None and size < node.origin.lowlim:
        node.origin.lowlim = size
        txn.set_meta(node.uino, META_ORIGIN, writing.origin_bytes(node.origin))
        if size == 0 and ovl._upgrade_marked(node.uino):
            from ovl import upgrade
            upgrade.note_lowlim(ovl, txn, node.uino, size)
    if size < node.inode.size:
        txn.truncate(node.uino, size)
    now = writing._now(ovl)
    writing._put(ovl, txn, node, size=size, mtime=now, ctime=now)
