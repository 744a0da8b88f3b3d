"""Path resolution: a path to a Node, upper first, then lower.

Lookup goes upper first, then lower, unless a whiteout hides the name or
the upper directory does not merge (its ORIGIN names the one lower
directory it merges with; none = opaque).  A lower name of a hard-linked
file finds the file's upper copy through the link index (read by
ovl.overlay.hostops, imported only when a lower file has more than one
name).  Directories list
as the merge of two sorted streams.  Resolve is a part of Overlay (a base
class): its methods use the overlay's lower, store and write-back.
"""

from ovl import compat, paths
from ovl.overlay import meta
from ovl.store import WHITEOUT


class Node:
    """One resolved name: its upper side, its lower side, or both.

    uino/inode: the upper inode (None if the object lives only in the
    lower).  dirent: True if the parent's upper directory holds the name
    (False for a lower name reached through the hard-link index).
    lentry/lpath: for a directory, the lower directory it merges with; for
    a non-directory, the lower object (its origin when copied up).
    """

    # Defaults as class attributes: an instance holds only what was set on
    # it (a lookup makes a Node per component, and each attribute an
    # instance holds grows its table: allocation the collector must sweep).
    uino = inode = origin = lentry = lpath = None
    dirent = False
    fresh = False       # upper inode created by the current txn

    def __init__(self, parent, name, path):
        self.parent = parent
        self.name = name
        self.path = path

    @property
    def mode(self):
        # (a directory: paths.is_dir(node.mode), as for any other mode)
        return self.inode.mode if self.inode is not None else self.lentry.mode


class Resolve:
    """Lookup, walk and merged listing (of Overlay)."""

    def _get_origin(self, uino, store=None):
        # store: where to read it (an open transaction); default the store
        if store is None:
            store = self.store
        raw = store.get_meta(uino, meta.META_ORIGIN)
        return None if raw is None else meta.Origin.decode(raw)

    def _lower_lookup(self, path):
        try:
            return self.lower.lookup(path)
        except OSError as e:
            if compat.error_code(e) in (compat.ENOENT, compat.ENOTDIR):
                return None
            raise

    def _child(self, parent, name):
        """The node for name inside directory node parent, or None."""
        if not paths.is_dir(parent.mode):
            raise compat.oserror(compat.ENOTDIR, parent.path)
        in_upper = meta.utf8(name)
        # (a character is at most 4 bytes: a short name is not encoded)
        if len(name) > meta.NAME_MAX or len(name) * 4 > meta.NAME_MAX and \
                len(name.encode("utf-8", "surrogateescape")) > meta.NAME_MAX:
            raise compat.oserror(compat.ENAMETOOLONG, name)
        path = paths.join(parent.path, name)
        node = Node(parent, name, path)
        # the upper holds UTF-8 names only: a lower name that is not (CPython
        # decodes it with surrogateescape) has no upper entry to find
        if parent.uino is not None and in_upper:
            found = self.store.lookup(parent.uino, name)
            if found == WHITEOUT:
                return None
            if found is not None:
                node.uino = found
                node.inode = self.store.get(found)
                node.dirent = True
                node.origin = self._get_origin(found)
                if node.origin is not None:
                    node.lpath = node.origin.path
                    entry = self._lower_lookup(node.lpath)
                    if paths.is_dir(node.inode.mode):
                        if entry is not None and not paths.is_dir(entry.mode):
                            entry = None
                    node.lentry = entry
                return node
        if parent.lentry is None or not paths.is_dir(parent.lentry.mode):
            return None
        lpath = paths.join(parent.lpath, name)
        entry = self._lower_lookup(lpath)
        if entry is None:
            return None
        node.lentry = entry
        node.lpath = lpath
        if self.store is not None and entry.nlink > 1 and \
                not paths.is_dir(entry.mode):
            # another name of this lower file may have been copied up (a
            # stale index entry shows the lower)
            from ovl.overlay import hostops
            inode = hostops.lookup(self, entry)
            if inode is not None:
                node.uino = inode.ino
                node.inode = inode
                node.origin = self._get_origin(inode.ino)
        return node

    def _walk(self, path, follow=True, parent=False):
        """Resolve path.  Returns the node, or with parent=True the
        pair (parent directory node, final name).  Raises ENOENT/ENOTDIR/
        ELOOP like Linux."""
        # the names still to walk, last first: a symlink's target is put
        # at the end, so that its names are walked next (and followed, but
        # for the path's own last name, which follow decides)
        todo = paths.split_path(path)
        trailing_slash = path.endswith("/") and len(todo) > 0
        todo.reverse()
        # the root, where every walk starts (_walk("/") gives it)
        root = Node(None, "", "/")
        root.lpath = "/"
        root.lentry = self.lower.lookup("/")    # (kept by the lower)
        if self._root_ino is not None:
            root.uino = self._root_ino
            root.inode = self.store.get(self._root_ino)
            root.dirent = True
        stack = [root]
        links = 0       # symlinks followed
        while todo:
            name = todo.pop()
            last = not todo
            if name == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            if last and parent:
                if not paths.is_dir(stack[-1].mode):
                    raise compat.oserror(compat.ENOTDIR, path)
                return stack[-1], name
            child = self._child(stack[-1], name)
            if child is None:
                raise compat.oserror(compat.ENOENT, path)
            if paths.is_lnk(child.mode) and (not last or follow):
                # ovl.overlay.hostops: a tree without symlinks never needs it
                from ovl.overlay import hostops
                links = hostops.follow(self, child, stack, todo, links, path)
                continue
            stack.append(child)
        node = stack[-1]
        if parent:
            return node
        if trailing_slash and not paths.is_dir(node.mode):
            raise compat.oserror(compat.ENOTDIR, path)
        return node

    def _walk_parent(self, path, errno=compat.EBUSY):
        """(parent node, name) of a path whose last component is created or
        removed; the final component is not followed.  "/" (or a path
        ending in "..") has no such pair: OSError(errno), as Linux reports
        for the calling operation."""
        comps = paths.split_path(path)
        if not comps or comps[-1] == "..":
            raise compat.oserror(errno, path)
        return self._walk(path, parent=True)

    def _find_target(self, path):
        """(node, its path) for open(), or (None, (directory node, name))
        when no such name is there, the file O_CREAT makes (Overlay._create
        given the directory walked here: no second walk): a final symlink
        is followed (ovl.overlay.hostops' _find_target), and a dangling
        one names that file (O_EXCL's is hostops' _excl_target)."""
        parent, name = self._walk_parent(path, compat.EISDIR)
        node = self._child(parent, name)
        if node is None:
            if path.endswith("/"):
                raise compat.oserror(compat.EISDIR, path)
            return None, (parent, name)
        if paths.is_lnk(node.mode):
            from ovl.overlay import hostops
            return hostops._find_target(self, parent, node)
        if path.endswith("/") and not paths.is_dir(node.mode):
            raise compat.oserror(compat.ENOTDIR, path)
        return node, node.path

    def _listing(self, node):
        """Merged entries of a directory node, sorted by name, streamed:
        yields (name, type, st_ino, size), type the S_IFMT bits of its
        mode (what ilistdir returns).  Two sorted streams (upper
        listdir, lower readdir) are merged; neither is held whole."""
        upper = iter(()) if node.uino is None else self.store.listdir(node.uino)
        lower = iter(()) if node.lentry is None else \
            self.lower.readdir(node.lentry)
        u = next(upper, None)
        lw = next(lower, None)
        while u is not None or lw is not None:
            if lw is None or (u is not None and u[0] <= lw[0]):
                name, uino = u
                same = lw is not None and lw[0] == name
                u = next(upper, None)
                if same:
                    lw = next(lower, None)
                if uino == WHITEOUT:
                    continue
                inode = self.store.get(uino)
                origin = self._get_origin(uino)
                yield (name, inode.mode & paths.S_IFMT,
                       origin.ino if origin is not None
                       else meta.UPPER_INO_BASE + uino,
                       self.writeback.size(uino, inode.size))
                continue
            name, entry = lw
            lw = next(lower, None)
            size = entry.size
            if entry.nlink > 1 and self.store is not None and \
                    not paths.is_dir(entry.mode):
                # a hard-linked lower file may have an upper copy (its size)
                from ovl.overlay import hostops
                inode = hostops.lookup(self, entry)
                if inode is not None:
                    size = inode.size
            yield (name, entry.mode & paths.S_IFMT, entry.ino, size)
