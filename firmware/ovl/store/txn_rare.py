"""A transaction's calls a board's plain job (create, write, append)
never makes: truncate, set_symlink, delete_inode and size (the size a
file has as the transaction sees it), the names a removal or a rename
takes away (unlink, whiteout), get_meta (metadata as the transaction
sees it) and read (an open transaction read back, ovl.store.stream's);
abort stays on Txn, since
it runs while an error (a MemoryError too) is handled.  Imported at
first use through Txn.__getattr__ (ovl.store's lazy lookup, as the
store's rare methods are: docs/STORE.md, "Code layout"); each function
takes the Txn first and is its method of the same name."""

from ovl import compat
from ovl.compat import const
from ovl.store import ROOT_INO, _u32, _key_bytes

# node types (ovl.store.format's; tests/test_store_block_columns.py
# checks the private copies agree)
_NODE_DELETE = const(0x02)
_NODE_DIRENT = const(0x03)
_NODE_TRUNCATE = const(0x05)
_NODE_SYMLINK = const(0x06)
_NODE_META = const(0x07)
_DIRENT_REMOVED = const(0)
_DIRENT_WHITEOUT = const(0xFFFFFFFF)
_SYMLINK_MAX = const(1024)


def truncate(txn, ino, size):
    txn._check()
    if size < 0:
        raise compat.oserror(compat.EINVAL, "negative size")
    if not txn.cuts:        # the class's empty dict: a dict of its own
        txn.cuts = {}
    txn.cuts[ino] = len(txn.ops)
    txn.ops.append((_NODE_TRUNCATE, _u32(ino, "ino"), size))
    txn.appends.pop(ino, None)
    i = txn.puts.get(ino)
    if i is not None:
        txn.ops[i][2]["size"] = size
    elif txn.store.get(ino) is not None:
        txn.put_inode(ino, size=size)


def set_symlink(txn, ino, target):
    txn._check()
    raw = target.encode() if isinstance(target, str) else bytes(target)
    if len(raw) > _SYMLINK_MAX:
        raise compat.oserror(compat.ENAMETOOLONG, "symlink target")
    txn.ops.append((_NODE_SYMLINK, _u32(ino, "ino"), raw))


def delete_inode(txn, ino):
    if ino == ROOT_INO:
        raise compat.oserror(compat.EPERM, "cannot delete the root")
    drop_inode(txn, ino)


def drop_inode(txn, ino):
    """delete_inode, the root's too: for a txn that puts ino again, made
    anew under its number (ovl.store.repair rebuilds a directory so)."""
    txn._check()
    txn.ops.append((_NODE_DELETE, _u32(ino, "ino")))
    txn.puts.pop(ino, None)
    txn.appends.pop(ino, None)
    if txn.cuts:
        txn.cuts.pop(ino, None)
    if not txn.deleted:     # the class's empty dict: a dict of its own
        txn.deleted = {}
    txn.deleted[ino] = True


def unlink_misnamed(txn, parent, raw):
    """unlink of an entry whose name (bytes) breaks the format's rule, a
    damaged or edited store's, which unlink refuses to name
    (ovl.store.repair drops it so)."""
    txn._check()
    txn.ops.append((_NODE_DIRENT, _u32(parent, "parent"), bytes(raw),
                    _DIRENT_REMOVED))


def size(txn, ino):
    """The size of ino as this txn sees it."""
    i = txn.puts.get(ino)
    if i is not None:
        return txn.ops[i][2]["size"]
    if ino in txn.deleted:
        return 0
    cur = txn.store.get(ino)
    return 0 if cur is None else cur.size



def unlink(txn, parent, name):
    txn._dirent(parent, name, _DIRENT_REMOVED)


def whiteout(txn, parent, name):
    txn._dirent(parent, name, _DIRENT_WHITEOUT)


def get_meta(txn, ino, key):
    """Metadata as this txn sees it."""
    k = _key_bytes(key)
    value = txn.store.get_meta(ino, k)
    for op in txn.ops:
        if op[0] == _NODE_META and op[1] == ino and op[2] == k:
            value = op[3]
    return value


def read(txn, ino, offset, n):
    """ino's bytes as this open txn sees them: ovl.store.stream's read."""
    from ovl.store import stream
    return stream.read(txn, ino, offset, n)
