"""The crash campaign's oracle: an independent model of the merged tree.

It shares only ovl's vocabulary (errno numbers, file-type bits, the path
helpers of ovl.paths), none of its logic.  The merged tree is a dict of absolute
paths -> inode ids, and a dict of inode ids -> Node (type, permission bits,
uid, gid, content or link target, mtime).  Each operation is applied with
POSIX semantics (plus the overlay's own verbs revert and reset) and either
changes the model or raises ModelError with the errno Linux would give,
leaving the model untouched.

Layers show up in the model only where the merged view depends on them:
  * lower inodes are never changed in place: a change to one makes an
    upper copy ("copy-up"), so revert and reset can bring the lower back;
  * a directory remembers the lower directory it merges with (`origin`),
    which decides what revert brings back;
  * `lower_dir_rename` says whether renaming a directory that has a lower
    part works (redirects) or gives EXDEV (kernel overlayfs default);
  * `links_survive_copyup` says whether all names of a lower hard-linked
    file keep sharing one inode after one of them is copied up;
  * `lower_nlink_static`: a lower file shows the lower's link count until
    it is copied up, and its copy keeps counting lower names deleted
    before that (an overlay that does not copy up on unlink; ovl counts
    the names there are, as overlayfs with index=on: the default False).

`snapshot()` gives the canonical, comparable form of the tree (see
`entry_matches` for the wildcard rule for unknown times).
"""

from ovl.compat import (EBUSY, EEXIST, EINVAL, EISDIR, ELOOP, ENOENT,
                        ENOSPC, ENOTDIR, ENOTEMPTY, EPERM, EXDEV, errno_name)
from ovl.paths import is_dir, is_lnk, join, normalize

FILE, DIR, SYMLINK = "f", "d", "l"
MAX_SYMLINK_HOPS = 40
# Linux's uid_t and gid_t are 32 bits (-1 means unchanged), its time_t 64;
# a value past them is EINVAL, checked before the path is looked up
MAX_ID = 0xFFFFFFFF
TIME_MIN, TIME_MAX = -(1 << 63), (1 << 63) - 1


class ModelError(Exception):
    """The operation fails with this errno; the model is unchanged."""

    def __init__(self, code, path=""):
        super().__init__("%s %s" % (errno_name(code), path))
        self.errno = code


class Node:
    __slots__ = ("kind", "perm", "uid", "gid", "data", "target", "mtime",
                 "origin", "ghosts")

    def __init__(self, kind, perm, uid=0, gid=0, data=b"", target="",
                 mtime=None, origin=None):
        self.kind = kind
        self.perm = perm
        self.uid = uid
        self.gid = gid
        self.data = data
        self.target = target
        self.mtime = mtime          # None: not predicted (changed by a write)
        # a directory's lower counterpart (a lower path; None = opaque or
        # upper-only); a rename keeps it (a redirect)
        self.origin = origin
        self.ghosts = 0     # deleted lower names nlink still counts

    def copy(self):
        n = Node(self.kind, self.perm, self.uid, self.gid, self.data,
                 self.target, self.mtime, self.origin)
        n.ghosts = self.ghosts
        return n


def parent_of(path):
    head = path.rsplit("/", 1)[0]
    return head or "/"


def absolute(path):
    """An operation's path, normalised; a relative one is EINVAL."""
    if not path.startswith("/"):
        raise ModelError(EINVAL, path)
    return normalize(path)


class Model:
    """The merged tree as POSIX + overlay semantics predict it."""

    def __init__(self, lower_spec, lower_dir_rename=True,
                 links_survive_copyup=True, lower_nlink_static=False,
                 new_file_perm=0o644,
                 new_dir_perm=0o755, new_uid=0, new_gid=0):
        self.lower_dir_rename = lower_dir_rename
        self.links_survive_copyup = links_survive_copyup
        self.lower_nlink_static = lower_nlink_static
        self.new_file_perm = new_file_perm
        self.new_dir_perm = new_dir_perm
        self.new_uid = new_uid
        self.new_gid = new_gid
        self._next_id = 1
        # The pristine lower: path -> id, id -> Node.  Never mutated.
        self.lower_paths, self.lower_nodes = self._build_lower(lower_spec)
        self.paths = dict(self.lower_paths)
        self.nodes = dict(self.lower_nodes)

    # ----- construction ------------------------------------------------------

    def _new_id(self):
        n = self._next_id
        self._next_id += 1
        return n

    def _build_lower(self, spec):
        """spec: path -> dict(kind, perm, uid, gid, data|target, mtime,
        link=other_path for a hard link to an earlier file)."""
        paths = {"/": None}
        nodes = {}
        root = spec.get("/", {"kind": DIR, "perm": 0o755})
        rid = self._new_id()
        nodes[rid] = Node(DIR, root.get("perm", 0o755), root.get("uid", 0),
                          root.get("gid", 0), mtime=root.get("mtime"),
                          origin="/")
        paths["/"] = rid
        for path in sorted(p for p in spec if p != "/"):
            d = spec[path]
            if parent_of(path) not in paths:
                raise ValueError("lower spec: %s has no parent" % path)
            if "link" in d:
                paths[path] = paths[d["link"]]
                continue
            nid = self._new_id()
            nodes[nid] = Node(d["kind"], d.get("perm", 0o644 if d["kind"] == FILE
                                                else 0o755),
                              d.get("uid", 0), d.get("gid", 0),
                              d.get("data", b""), d.get("target", ""),
                              d.get("mtime"),
                              origin=path if d["kind"] == DIR else None)
            paths[path] = nid
        return paths, nodes

    # ----- lookups -------------------------------------------------------------

    def _kind(self, path):
        nid = self.paths.get(path)
        return None if nid is None else self.nodes[nid].kind

    def children(self, path):
        prefix = path if path == "/" else path + "/"
        return sorted(p[len(prefix):] for p in self.paths
                      if p != path and p.startswith(prefix)
                      and "/" not in p[len(prefix):])

    def resolve(self, path, follow_last):
        """The model path `path` names, following symlinks like the kernel:
        every intermediate one, and the last one if follow_last."""
        path = absolute(path)
        hops = 0
        while True:
            parts = [p for p in path.split("/") if p]
            cur = "/"
            restart = None
            for i, name in enumerate(parts):
                kind = self._kind(cur)
                if kind != DIR:
                    raise ModelError(ENOTDIR, path)
                nxt = join(cur, name)
                k = self._kind(nxt)
                last = i == len(parts) - 1
                if k is None:
                    if last:
                        return nxt
                    raise ModelError(ENOENT, path)
                if k == SYMLINK and (not last or follow_last):
                    hops += 1
                    if hops > MAX_SYMLINK_HOPS:
                        raise ModelError(ELOOP, path)
                    target = self.nodes[self.paths[nxt]].target
                    base = "/" if target.startswith("/") else cur
                    rest = "/".join(parts[i + 1:])
                    restart = normalize(join(base, target) +
                                        ("/" + rest if rest else ""))
                    break
                cur = nxt
            if restart is None:
                return cur
            path = restart

    def _existing(self, path, follow_last=True):
        p = self.resolve(path, follow_last)
        if p not in self.paths:
            raise ModelError(ENOENT, path)
        return p

    def _new_name(self, path, follow_last=False):
        """Resolve a name about to be created; its parent must be a dir."""
        p = self.resolve(path, follow_last)
        parent = parent_of(p)
        kind = self._kind(parent)
        if kind is None:
            raise ModelError(ENOENT, path)
        if kind != DIR:
            raise ModelError(ENOTDIR, path)
        return p

    def _mutable(self, path, data_change=False):
        """The node at path, safe to change in place (copied up if lower)."""
        nid = self.paths[path]
        node = self.nodes[nid]
        if nid in self.lower_nodes:
            # Copy-up: a new upper inode.  Hard links follow it if the overlay
            # keeps them; otherwise only this name moves to the copy.
            new = node.copy()
            new_id = self._new_id()
            self.nodes[new_id] = new
            if self.lower_nlink_static and node.kind != DIR:
                new.ghosts = self._lower_nlink(nid) - sum(
                    1 for i in self.paths.values() if i == nid)
            if self.links_survive_copyup:
                for p, i in list(self.paths.items()):
                    if i == nid:
                        self.paths[p] = new_id
            else:
                self.paths[path] = new_id
            node = new
        if data_change:
            node.mtime = None
        return node

    def _lower_nlink(self, nid):
        return sum(1 for i in self.lower_paths.values() if i == nid)

    def _lower_names_shown(self, nid, paths):
        """The link count of a lower file not copied up: how many of its
        lower names still show, wherever their directory is shown.  A
        lower directory shown under two names (renamed, then reverted)
        shows each of its files' names twice but adds no links."""
        sources = set()
        for q in paths:
            parent = parent_of(q)
            origin = self.nodes[self.paths[parent]].origin \
                if parent in self.paths else None
            if origin is None:
                continue
            src = join(origin, q.rsplit("/", 1)[1])
            if self.lower_paths.get(src) == nid:
                sources.add(src)
        return len(sources)

    def _dir_changed(self, dirpath):
        if dirpath in self.paths:
            self._mutable(dirpath).mtime = None

    # ----- operations ----------------------------------------------------------

    def apply(self, op):
        """Apply one op tuple (verb, args...); raise ModelError on failure."""
        verb = op[0]
        fn = getattr(self, "op_" + verb, None)
        if fn is None:
            raise ValueError("the model has no operation %r" % verb)
        fn(*op[1:])

    def op_sync(self):
        pass

    def op_checkpoint(self):
        pass        # a cache of the index: no file changes

    def op_full(self, op):
        """op on a store without room for it (the workload knows): it
        fails with ENOSPC and changes nothing."""
        raise ModelError(ENOSPC, op[1] if len(op) > 1 else "")

    def op_write(self, path, mode, offset, data):
        """open(path, mode) then seek(offset) and write(data)."""
        if mode == "xb":
            # O_CREAT|O_EXCL: any name there, a symlink too, is EEXIST
            p = self._new_name(path)
            if p in self.paths:
                raise ModelError(EEXIST, path)
            self._create_file(p)
        elif mode in ("wb", "ab"):
            p = self._new_name(path, follow_last=True)
            if p not in self.paths:
                self._create_file(p)
            elif self._kind(p) == DIR:
                raise ModelError(EISDIR, path)
        elif mode == "r+b":
            p = self._existing(path)
            if self._kind(p) == DIR:
                raise ModelError(EISDIR, path)
        else:
            raise ValueError("write mode must be wb, ab, r+b or xb, not %r"
                             % mode)
        node = self._mutable(p, data_change=True)
        old = node.data
        if mode == "wb":
            old = b""
        elif mode == "ab":
            offset = len(old)
        if offset > len(old):
            old = old + b"\0" * (offset - len(old))
        node.data = old[:offset] + data + old[offset + len(data):]

    def _create_file(self, p):
        nid = self._new_id()
        self.nodes[nid] = Node(FILE, self.new_file_perm, self.new_uid,
                               self.new_gid)
        self.paths[p] = nid
        self._dir_changed(parent_of(p))

    def op_truncate(self, path, size):
        p = self._existing(path)
        if self._kind(p) == DIR:
            raise ModelError(EISDIR, path)
        if size < 0:
            raise ModelError(EINVAL, path)
        node = self._mutable(p, data_change=True)
        d = node.data
        node.data = d[:size] if size <= len(d) else d + b"\0" * (size - len(d))

    def op_chmod(self, path, perm):
        if not 0 <= perm <= 0o7777:
            raise ModelError(EINVAL, path)
        p = self._existing(path)
        self._mutable(p).perm = perm

    def op_chown(self, path, uid, gid):
        for v in (uid, gid):
            if v != -1 and not 0 <= v <= MAX_ID:
                raise ModelError(EINVAL, path)
        p = self._existing(path)
        node = self._mutable(p)
        if uid != -1:           # -1: that id unchanged (chown(2))
            node.uid = uid
        if gid != -1:
            node.gid = gid

    def op_utime(self, path, mtime):
        if not TIME_MIN <= mtime <= TIME_MAX:
            raise ModelError(EINVAL, path)
        p = self._existing(path)
        self._mutable(p).mtime = mtime

    def op_mkdir(self, path, perm=None):
        p = self._new_name(path)
        if p in self.paths:
            raise ModelError(EEXIST, path)
        nid = self._new_id()
        self.nodes[nid] = Node(DIR, self.new_dir_perm if perm is None
                               else perm & 0o7777, self.new_uid, self.new_gid)
        self.paths[p] = nid
        self._dir_changed(parent_of(p))

    def op_symlink(self, target, path):
        p = self._new_name(path)
        if p in self.paths:
            raise ModelError(EEXIST, path)
        nid = self._new_id()
        self.nodes[nid] = Node(SYMLINK, 0o777, self.new_uid, self.new_gid,
                               target=target)
        self.paths[p] = nid
        self._dir_changed(parent_of(p))

    def op_link(self, src, dst):
        s = self._existing(src, follow_last=False)
        if self._kind(s) == DIR:
            raise ModelError(EPERM, src)
        d = self._new_name(dst)
        if d in self.paths:
            raise ModelError(EEXIST, dst)
        self._mutable(s)    # a link copies the source up (identity is kept)
        self.paths[d] = self.paths[s]
        self._dir_changed(parent_of(d))

    def op_unlink(self, path):
        p = self._existing(path, follow_last=False)
        if self._kind(p) == DIR:
            raise ModelError(EISDIR, path)
        del self.paths[p]
        self._dir_changed(parent_of(p))

    def op_rmdir(self, path):
        p = self._existing(path, follow_last=False)
        if p == "/":
            raise ModelError(EBUSY, path)
        if self._kind(p) != DIR:
            raise ModelError(ENOTDIR, path)
        if self.children(p):
            raise ModelError(ENOTEMPTY, path)
        del self.paths[p]
        self._dir_changed(parent_of(p))

    def op_rename(self, src, dst):
        s = self._existing(src, follow_last=False)
        d = self._new_name(dst)
        if s == "/" or d == "/":
            raise ModelError(EBUSY, src)
        skind = self._kind(s)
        if skind == DIR and d.startswith(s + "/"):
            raise ModelError(EINVAL, dst)
        if d in self.paths:
            if self.paths[d] == self.paths[s]:
                return      # two names of one inode: POSIX says do nothing
            dkind = self._kind(d)
            if skind == DIR and dkind != DIR:
                raise ModelError(ENOTDIR, dst)
            if skind != DIR and dkind == DIR:
                raise ModelError(EISDIR, dst)
            if dkind == DIR and self.children(d):
                raise ModelError(ENOTEMPTY, dst)
        if s == d:
            return
        if skind == DIR and not self.lower_dir_rename and \
                self._has_lower_part(s):
            raise ModelError(EXDEV, src)
        if d in self.paths:
            del self.paths[d]
        moved = [p for p in self.paths if p == s or p.startswith(s + "/")]
        for p in moved:
            self.paths[d + p[len(s):]] = self.paths.pop(p)
        if skind != DIR:
            self._mutable(d)   # copy-up of the source keeps its identity
        self._dir_changed(parent_of(s))
        self._dir_changed(parent_of(d))

    def _has_lower_part(self, path):
        return self.nodes[self.paths[path]].origin is not None

    def op_revert(self, path):
        """Drop the upper's entry at path (its whole subtree for a dir): the
        name then shows what the lower directory its parent merges with
        holds there, or nothing if the parent is opaque or lower-less."""
        p = absolute(path)
        if p == "/":
            self.op_reset()
            return
        parent = parent_of(p)
        if self._kind(parent) != DIR:
            raise ModelError(ENOENT if parent not in self.paths else ENOTDIR,
                             path)
        origin = self.nodes[self.paths[parent]].origin
        src = None if origin is None else join(origin, p.rsplit("/", 1)[1])
        if p not in self.paths and src not in self.lower_paths:
            raise ModelError(ENOENT, path)     # no upper entry, no lower one
        for q in [q for q in self.paths if q == p or q.startswith(p + "/")]:
            del self.paths[q]
        if origin is not None:
            for q, nid in self.lower_paths.items():
                if q == src or q.startswith(src + "/"):
                    self.paths[p + q[len(src):]] = nid

    def op_reset(self):
        self.paths = dict(self.lower_paths)

    # ----- comparable form -------------------------------------------------------

    def snapshot(self):
        """path -> entry tuple; an mtime of None means "not predicted".

        dir:     ("d", perm, uid, gid, mtime)
        file:    ("f", perm, uid, gid, data, nlink, identity, mtime)
        symlink: ("l", target, identity)
        identity is the smallest path naming the same inode, so hard links
        compare equal however the store numbers its inodes.
        """
        names = {}
        for p, nid in self.paths.items():
            names.setdefault(nid, []).append(p)
        out = {}
        for p, nid in self.paths.items():
            n = self.nodes[nid]
            if n.kind == DIR:
                out[p] = (DIR, n.perm, n.uid, n.gid, n.mtime)
            elif n.kind == FILE:
                if self.lower_nlink_static and nid in self.lower_nodes:
                    nlink = self._lower_nlink(nid)
                elif nid in self.lower_nodes:
                    nlink = self._lower_names_shown(nid, names[nid])
                else:
                    nlink = len(names[nid]) + n.ghosts
                out[p] = (FILE, n.perm, n.uid, n.gid, n.data, nlink,
                          min(names[nid]), n.mtime)
            else:
                out[p] = (SYMLINK, n.target, min(names[nid]))
        return out


def entry_matches(actual, expected):
    """True if an observed entry equals a predicted one (None = any)."""
    if actual is None or expected is None or len(actual) != len(expected):
        return actual is expected
    for a, e in zip(actual, expected):
        if e is not None and a != e:
            return False
    return True


IDENTITY = {FILE: 6, SYMLINK: 2}   # index of the identity field by type


def tree_matches(actual, expected):
    """Same paths, entries equal (None = any), and every set of names the
    model says is one inode is one inode in the tree (hard links kept).

    Names the model holds apart but the tree reports with one st_ino are
    not a crash-consistency question (the overlay gives a copy-up its
    lower's st_ino, and revert can show that lower again); the overlay's
    own tests own that rule."""
    if actual.keys() != expected.keys():
        return False
    groups = {}
    for p, e in expected.items():
        a = actual[p]
        i = IDENTITY.get(e[0])
        if i is not None and a is not None and len(a) == len(e):
            if not entry_matches(a[:i] + a[i + 1:], e[:i] + e[i + 1:]):
                return False
            groups.setdefault(e[i], set()).add(a[i])
        elif not entry_matches(a, e):
            return False
    return all(len(ids) == 1 for ids in groups.values())


def tree_diff(actual, expected, limit=6):
    """A few lines saying how an observed tree differs from a predicted one."""
    lines = []
    for p in sorted(set(actual) | set(expected)):
        a, e = actual.get(p), expected.get(p)
        if not tree_matches({p: a} if a else {}, {p: e} if e else {}):
            lines.append("  %s: got %s, want %s" % (p, short(a), short(e)))
            if a and e and a[0] == e[0] == FILE and a[4] != e[4]:
                at = next((i for i, (x, y) in enumerate(zip(a[4], e[4]))
                           if x != y), min(len(a[4]), len(e[4])))
                lines.append("    data differs from offset %d: got %r, want %r"
                             % (at, a[4][at:at + 12], e[4][at:at + 12]))
            if len(lines) >= limit:
                lines.append("  ...")
                break
    if not lines:
        lines.append("  names that should be one inode are not: %s" %
                     sorted(p for p, e in expected.items()
                            if e[0] != DIR and e[IDENTITY[e[0]]] != p))
    return "\n".join(lines)


def short(entry):
    if entry is None:
        return "absent"
    parts = []
    for v in entry:
        if isinstance(v, bytes):
            v = v if len(v) <= 24 else v[:20] + b"...(%d)" % len(v)
        elif isinstance(v, int) and not isinstance(v, bool) and v > 7 and \
                v == v & 0o7777:
            v = oct(v)
        parts.append(repr(v) if isinstance(v, bytes) else str(v))
    return "(" + " ".join(parts) + ")"


def kind_of_mode(mode):
    if is_dir(mode):
        return DIR
    if is_lnk(mode):
        return SYMLINK
    return FILE
