"""A host directory as a read-only lower layer (for development and tests).

DirLower offers the same interface as ovl.squashfs.SquashFS (the "Lower"
contract in docs/DEVELOPING.md), so the overlay can run on a plain directory
tree without building an image.  It never follows symlinks: lookups walk one
component at a time and a symlink anywhere but at the end is ENOTDIR, as in
the image reader.

MicroPython has neither lstat nor readlink: there a symlink is recognised
by the type os.ilistdir reports, stat describes it as S_IFLNK 0o777 with
size 0, and readlink raises OSError(EOPNOTSUPP).  Nor has it
surrogateescape: a name that is not UTF-8 is not listed there (on CPython
it is, decoded as os.fsdecode does).
"""

import os

from ovl import compat
from ovl.lower import Entry
from ovl.paths import S_IFMT, S_IFDIR, S_IFLNK, S_IFREG

_HAS_LSTAT = hasattr(os, "lstat")


def _utf8(name):
    if compat.MICROPYTHON:
        return name.encode()
    return os.fsencode(name)


def _list(host_dir):
    """[(name, S_IF* type or None)]: the type is needed only without lstat.
    Without lstat (MicroPython) names are listed as bytes: one that is not
    UTF-8 cannot be a str there (no surrogateescape), so it is left out."""
    if _HAS_LSTAT:
        return [(name, None) for name in os.listdir(host_dir)]
    out = []
    for item in os.ilistdir(host_dir.encode()):
        try:
            out.append((str(item[0], "utf-8"), item[1] & S_IFMT))
        except UnicodeError:
            pass
    return out


class DirLower:
    """Read-only view of the directory tree under `root` (a host path)."""

    def __init__(self, root):
        root = root.rstrip("/") or "/"
        mode = os.stat(root)[0]
        if mode & S_IFMT != S_IFDIR:
            raise compat.oserror(compat.ENOTDIR, root)
        self.root = root

    # -- paths ------------------------------------------------------------

    def _host(self, path):
        return self.root + path if path != "/" else self.root

    def _entry(self, path, name, known_type=None):
        """Entry for lower `path`; known_type (S_IF*) is the ilistdir type."""
        host = self._host(path)
        if _HAS_LSTAT:
            st = os.lstat(host)
            rdev = st.st_rdev
        elif known_type == S_IFLNK:
            st = None
        else:
            st = os.stat(host)
            rdev = 0
        if st is None:
            # MicroPython: stat would follow the link; describe the link.
            return Entry(0, S_IFLNK | 0o777, 1, 0, 0, 0, 0, 0, name, path)
        return Entry(st[1], st[0], st[3], st[4], st[5], st[6], int(st[8]),
                     rdev, name, path)

    def _child_type(self, dir_path, name):
        """S_IF* type of `name` in dir_path, without following a symlink."""
        for item_name, kind in _list(self._host(dir_path)):
            if item_name == name:
                return kind
        raise compat.oserror(compat.ENOENT, self._join(dir_path, name))

    @staticmethod
    def _join(dir_path, name):
        return "/" + name if dir_path == "/" else dir_path + "/" + name

    # -- the Lower interface ------------------------------------------------

    def lookup(self, path):
        """Entry at absolute `path`; a final symlink is not followed."""
        if not path.startswith("/"):
            raise compat.oserror(compat.ENOENT, path)
        entry = self._entry("/", "")
        current = "/"
        for name in path.split("/"):
            if not name:
                continue
            if entry.mode & S_IFMT != S_IFDIR:
                raise compat.oserror(compat.ENOTDIR, path)
            if name == "." or name == "..":
                # Never leave the root; the overlay resolves dot names itself.
                raise compat.oserror(compat.ENOENT, path)
            child = self._join(current, name)
            try:
                if _HAS_LSTAT:
                    entry = self._entry(child, name)
                else:
                    entry = self._entry(child, name,
                                        self._child_type(current, name))
            except OSError as e:
                if compat.error_code(e) in (compat.ENOENT, compat.ENOTDIR):
                    raise compat.oserror(compat.ENOENT, path)
                raise
            current = child
        return entry

    def readdir(self, entry):
        """(name, Entry) pairs of a directory, sorted by UTF-8 bytes."""
        if entry.mode & S_IFMT != S_IFDIR:
            raise compat.oserror(compat.ENOTDIR, entry.path)
        listing = _list(self._host(entry.path))
        listing.sort(key=lambda item: _utf8(item[0]))
        for name, kind in listing:
            try:
                child = self._entry(self._join(entry.path, name), name, kind)
            except OSError:
                continue    # vanished between listing and stat
            yield name, child

    def read(self, entry, offset, n):
        if entry.mode & S_IFMT == S_IFDIR:
            raise compat.oserror(compat.EISDIR, entry.path)
        if entry.mode & S_IFMT != S_IFREG:
            raise compat.oserror(compat.EINVAL, entry.path)
        if offset < 0 or n < 0:
            raise compat.oserror(compat.EINVAL, entry.path)
        if n == 0:
            return b""
        with open(self._host(entry.path), "rb") as f:
            f.seek(offset)
            return f.read(n)

    def readlink(self, entry):
        if entry.mode & S_IFMT != S_IFLNK:
            raise compat.oserror(compat.EINVAL, entry.path)
        if not hasattr(os, "readlink"):
            raise compat.oserror(compat.EOPNOTSUPP,
                                 "readlink on this runtime: " + entry.path)
        return os.readlink(self._host(entry.path))

    def identity(self):
        """Digest of every path, mode, size and mtime under the root."""
        h = compat.sha256(_utf8(self.root))
        pending = [("/", self.lookup("/"))]
        while pending:
            path, entry = pending.pop()
            h.update(_utf8("%s %o %d %d\n" % (path, entry.mode, entry.size,
                                              entry.mtime)))
            if entry.mode & S_IFMT == S_IFDIR:
                for name, child in self.readdir(entry):
                    pending.append((self._join(path, name), child))
        return "dir:" + compat.hexdigest(h)[:16]
