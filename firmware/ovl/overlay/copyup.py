"""Copy-up and the link index: giving a lower object an upper inode.

Every mutating call is one upper transaction (_mutate), so a power cut
leaves the merged tree before or after it.  Copy-up gives a node an upper
inode linked at its name, parents first, metadata only: an upper
non-directory keeps its ORIGIN (lower ino, fingerprint, lower path, lower
limit), and bytes below the lower limit that the upper does not store read
from the lower, so a 1-byte edit of a big file stores 1 byte.  A copied-up
hard-linked lower file is entered in the link index on the root inode
(link:<lower ino> -> upper ino), so its other lower names share it.
CopyUp is a part of Overlay (a base class).
"""

from ovl import paths
from ovl.overlay import meta
from ovl.store import Inode


class CopyUp:
    """Transactions, copy-up, links and the link index (of Overlay)."""

    def begin(self):
        """A store Txn (its ram: the overlay's write_buffer) carrying the
        overlay's memo of the paths it copied up (copied: path -> node
        given an upper inode in it), so that two nodes of one path, looked
        up before the copy-up, get one inode.  The names given to its
        link, whiteout and unlink are the callers' to check
        (meta.upper_name: the upper stores UTF-8 names only; one found in
        the upper is UTF-8 already): _link and rename check theirs
        first."""
        txn = self.store.begin()
        if txn.ram != self.write_buffer:    # (else the Txn class's)
            txn.ram = self.write_buffer
        txn.copied = {}
        return txn

    def _mutate(self, path, op, keep=False):
        """Run op(txn) as one upper transaction and commit it (keep:
        return (result, txn) uncommitted, for a file's write-back)."""
        self._writable(path)
        self.flush_all()
        txn = self.begin()
        try:
            result = op(txn)
        except BaseException:
            txn.abort()
            raise
        if keep:
            return result, txn
        txn.commit()    # (one that did nothing writes nothing)
        self._origins.clear()   # an origin it changed is cached no more
        return result

    def _put(self, txn, node, **changes):
        """Update the upper inode of node (in txn, and in the node as the
        store's Inode record)."""
        attrs = node.inode.attrs()
        attrs.update(changes)
        txn.put_inode(node.uino, **attrs)
        node.inode = Inode(node.uino, **attrs)

    def _new_inode(self, txn, mode, size=0, nlink=1, uid=None, gid=None,
                   mtime=None, rdev=0):
        """A new upper inode (in txn): (its ino, its attributes), from
        which a caller that keeps it makes the Inode record (most do not:
        a file open() creates)."""
        now = self._now()
        uino = txn.new_ino()
        attrs = {"mode": mode, "uid": self.uid if uid is None else uid,
                 "gid": self.gid if gid is None else gid,
                 "mtime": now if mtime is None else mtime, "ctime": now,
                 "size": size, "nlink": nlink, "flags": 0, "rdev": rdev}
        txn.put_inode(uino, **attrs)
        return uino, attrs

    def _copy_up(self, txn, node):
        """Give node an upper inode linked at its name (parents first).
        Data is not copied: the upper file reads the lower below its lower
        limit.  Returns node (updated)."""
        done = txn.copied.get(node.path)
        if done is not None:
            node.uino, node.inode, node.dirent = done.uino, done.inode, True
            node.origin, node.fresh = done.origin, done.fresh
            return node
        if node.uino is not None and node.dirent:
            return node
        self._copy_up(txn, node.parent)
        meta.upper_name(node.name)      # before its origin records the path
        self._ensure_upper(txn, node)
        self._link(txn, node.parent, node.name, node.uino)
        node.dirent = True
        txn.copied[node.path] = node
        return node

    def _ensure_upper(self, txn, node):
        """Give node an upper inode (metadata only), not linked anywhere."""
        if node.uino is not None:
            return
        e = node.lentry
        dir_ = paths.is_dir(e.mode)
        uino, attrs = self._new_inode(txn, e.mode, size=0 if dir_ else e.size,
                                      nlink=2 if dir_ else e.nlink,
                                      uid=e.uid, gid=e.gid, mtime=e.mtime,
                                      rdev=e.rdev)
        inode = Inode(uino, **attrs)
        # a directory has no lower limit; a file's is all its lower bytes
        origin = meta.Origin(e.ino, e.size, e.mtime, 0 if dir_ else e.size,
                             node.lpath)
        txn.set_meta(uino, meta.META_ORIGIN, origin.encode())
        if paths.is_lnk(e.mode):
            txn.set_symlink(uino, self.lower.readlink(e))
        if e.nlink > 1 and not dir_:
            # the other lower names of this file must find this inode
            txn.set_meta(self._root_ino, meta.INDEX_PREFIX + str(e.ino),
                         str(uino).encode())
        node.uino, node.inode, node.origin, node.fresh = uino, inode, origin, \
            True

    def _link(self, txn, parent, name, uino):
        """Point parent/name at uino in the upper, replacing a whiteout;
        True if it replaced one."""
        meta.upper_name(name)   # EINVAL unless the upper can store it
        replaced = not parent.fresh and \
            self.store.lookup(parent.uino, name) is not None
        if replaced:
            txn.unlink(parent.uino, name)
        txn.link(parent.uino, name, uino)
        return replaced

    def _upgrade_marked(self, uino):
        return self.store.get_meta(uino, meta.META_CONFLICT) is not None or \
            getattr(self, "_upgrade_marks", None) is not None

