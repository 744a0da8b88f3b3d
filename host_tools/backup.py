"""Backup and restore of the upper's changes as a tar (docs/BACKUP.md).

A backup holds what `diff` reports: changed and added objects with their
metadata, deletions as OCI-style whiteout files (`DIR/.wh.NAME`) and
directories that no longer merge with the lower as opaque markers
(`DIR/.wh..wh..opq`).  Restoring applies it through the overlay API, one
entry at a time:

  * an added file (or symlink, FIFO, hard link) is made under a temporary
    name with all its attributes, then renamed into place: one
    transaction, so it appears whole or not at all;
  * a changed lower file is rewritten in place (keeping its link to the
    lower, so `diff` calls it modified again) in one transaction;
    attributes follow;
  * every step first checks whether the tree already holds the result, so
    running the same restore again after a power cut finishes it.
"""

import hashlib
import tarfile

from host_tools.commands.overlay import file_digest
from ovl import compat
from ovl.agent import PUT_PREFIX
from ovl.overlay.hostops import TIME_MAX, TIME_MIN
from ovl.paths import S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IFIFO, join

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
TMP_PREFIX = ".ovl-restore-"
CHANGE = "OVL.change"          # pax header of each entry: the diff kind
FORMAT = "OVL.backup"          # pax global header: the format version
LOWER_ID = "OVL.lower"         # pax global header: the firmware's identity
VERSION = "1"


class BackupError(ValueError):
    """A tree that cannot be backed up, or a tar that is not a backup."""


def _kind(mode):
    return mode & S_IFMT


def lower_is_dir(lower, path):
    try:
        return _kind(lower.lookup(path).mode) == S_IFDIR
    except OSError:
        return False


def temporary(name):
    """A name left by a cut restore or put: not the user's file."""
    return name.startswith((TMP_PREFIX, PUT_PREFIX))


def _subtree(ovl, path):
    """path and everything below it in the merged tree, parents first
    (a stack of the paths still to go through: a deep tree costs no call
    stack)."""
    out = []
    todo = [path]
    while todo:
        path = todo.pop()
        out.append(path)
        if _kind(ovl.lstat(path)[0]) == S_IFDIR:
            names = [n for n in ovl.listdir(path) if not temporary(n)]
            todo.extend(join(path, n) for n in reversed(names))
    return out


def plan(ovl, lower):
    """[(path, what)]: what is a diff kind for an object, 'whiteout' or
    'opaque'.  A directory that is added whole (made by mkdir, moved here,
    or no longer merging with the lower directory of its name) comes with
    everything that shows in it."""
    out = []
    whole = []
    for kind, path in ovl.diff("/"):
        if [d for d in whole if path.startswith(d + "/")]:
            continue
        name = path.rsplit("/", 1)[1]
        if temporary(name):
            continue
        if name.startswith(WHITEOUT):
            raise BackupError("%s: a name starting with %s cannot be told"
                              " from a whiteout in a backup" % (path, WHITEOUT))
        if kind == "deleted":
            out.append((path, "whiteout"))
        elif kind == "added" and _kind(ovl.lstat(path)[0]) == S_IFDIR:
            whole.append(path)
            if lower_is_dir(lower, path):
                out.append((path, "opaque"))
            out.extend((p, "added") for p in _subtree(ovl, path))
        else:
            out.append((path, kind))
    return out


def _marker(path):
    info = tarfile.TarInfo(path.lstrip("/"))
    info.mode = 0
    return info


def write_backup(ovl, lower, out):
    """Write the backup tar of ovl's changes to the binary file out;
    returns a summary dict."""
    summary = {"files": 0, "dirs": 0, "links": 0, "whiteouts": 0,
               "opaque": 0, "bytes": 0}
    headers = {FORMAT: VERSION}
    ident = lower.identity()        # None: not known (over serial)
    if ident is not None:
        headers[LOWER_ID] = ident.hex() if isinstance(ident, bytes) \
            else str(ident)
    first_name = {}         # st_ino of a regular file -> first path saved
    # "w|": a stream, so out may be a pipe (no tell or seek)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                      pax_headers=headers) as tar:
        entries = plan(ovl, lower)
        opaque = set(p for p, what in entries if what == "opaque")
        for path, what in entries:
            if what == "whiteout":
                parent, name = path.rsplit("/", 1)
                tar.addfile(_marker(join(parent or "/", WHITEOUT + name)))
                summary["whiteouts"] += 1
                continue
            if what == "opaque":
                continue        # the marker follows the directory's entry
            st = ovl.lstat(path)
            info = tarfile.TarInfo(path.lstrip("/") or ".")
            info.mode = st[0] & 0o7777
            info.uid, info.gid, info.mtime = st[4], st[5], st[8]
            info.pax_headers = {CHANGE: what}
            kind = _kind(st[0])
            data = None
            if kind == S_IFDIR:
                info.type = tarfile.DIRTYPE
                summary["dirs"] += 1
            elif kind == S_IFLNK:
                info.type = tarfile.SYMTYPE
                info.linkname = ovl.readlink(path)
                summary["links"] += 1
            elif kind == S_IFIFO:
                info.type = tarfile.FIFOTYPE
                summary["files"] += 1
            elif kind == S_IFREG and st[3] > 1 and st[1] in first_name:
                info.type = tarfile.LNKTYPE
                info.linkname = first_name[st[1]]
                summary["links"] += 1
            elif kind == S_IFREG:
                first_name[st[1]] = info.name
                info.size = st[6]
                data = ovl.open(path, "rb")
                summary["files"] += 1
                summary["bytes"] += st[6]
            else:
                raise BackupError("%s: device nodes and sockets are not backed"
                                  " up (the firmware provides them)" % path)
            try:
                tar.addfile(info, data)
            finally:
                if data is not None:
                    data.close()
            if path in opaque:
                tar.addfile(_marker(join(path, OPAQUE)))
                summary["opaque"] += 1
    return summary


# ----- restore ------------------------------------------------------------

def _check_name(name):
    """The absolute overlay path of a tar member name, or BackupError."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise BackupError("member %r: absolute or '..' names are refused"
                          % name)
    return "/" + "/".join(parts)


END_MARKER = 2 * tarfile.BLOCKSIZE     # two zero blocks end a tar


def read_members(tar, name):
    """Every member of the open backup tar (name: the backup in messages),
    read to its end before anything changes.  tarfile's listing ends
    without a word at a cut or spoiled header, so a restore would apply
    part of a backup and succeed: the archive must be whole, its last
    member followed by the end-of-archive marker, or BackupError."""
    try:
        tar.getmembers()
        # where tarfile's reading of the header after them stopped
        stopped = tar.fileobj.tell()
        tar.fileobj.seek(tar.offset)
        end = tar.fileobj.read(END_MARKER)
        size = tar.fileobj.seek(0, 2)
    except (OSError, EOFError, tarfile.TarError) as e:
        # a cut pax header; a header's size past the file: a failed seek
        # (EINVAL) or a short read
        raise BackupError("backup %s is damaged: %s (after %s)" % (
            name, getattr(e, "strerror", None) or e, _last(tar.members)))
    if end == bytes(END_MARKER):
        return tar.members
    raise BackupError("backup %s is damaged (%s after %s)" % (
        name, "truncated" if stopped >= size else "no valid header",
        _last(tar.members)))


def _last(members):
    """The last member read, for a message."""
    return "member %d%s" % (len(members), ", %s" % members[-1].name
                            if members else "")


def read_plan(tar, backup):
    """[(path, member, what)] from a backup tar: what is 'whiteout',
    'opaque' or the entry's change kind.  The whole tar is read and its
    names checked (backup: its name in messages)."""
    if tar.pax_headers.get(FORMAT) != VERSION:
        raise BackupError("not an ovl backup (no %s=%s header)"
                          % (FORMAT, VERSION))
    out = []
    for m in read_members(tar, backup):
        path = _check_name(m.name)
        parent, name = path.rsplit("/", 1)
        parent = parent or "/"
        if name == OPAQUE:
            if parent == "/":
                raise BackupError("an opaque root cannot be restored")
            out.append((parent, m, "opaque"))
        elif name.startswith(WHITEOUT):
            if name[len(WHITEOUT):] in ("", ".", ".."):
                raise BackupError("member %r: bad whiteout" % m.name)
            out.append((join(parent, name[len(WHITEOUT):]), m, "whiteout"))
        elif m.type not in (tarfile.REGTYPE, tarfile.AREGTYPE,
                            tarfile.DIRTYPE, tarfile.SYMTYPE,
                            tarfile.LNKTYPE, tarfile.FIFOTYPE):
            raise BackupError("member %r: type %r is not restored"
                              % (m.name, m.type))
        else:
            if path == "/" and not m.isdir():
                raise BackupError("member %r: the root can only be a "
                                  "directory" % m.name)
            _check_attributes(m)
            out.append((path, m, m.pax_headers.get(CHANGE, "added")))
    return out


def _check_attributes(m):
    """BackupError unless member m's owner and time are ones the upper can
    hold (checked before anything changes: refused at the chown or utime
    of its step, a restore would stop half done)."""
    for what, n in (("uid", m.uid), ("gid", m.gid)):
        if not 0 <= n <= 0xFFFFFFFF:
            raise BackupError("member %r: %s %d is outside 0..%d"
                              % (m.name, what, n, 0xFFFFFFFF))
    if not TIME_MIN <= int(m.mtime) <= TIME_MAX:
        raise BackupError("member %r: mtime %d is outside what the upper "
                          "holds" % (m.name, int(m.mtime)))


class _Kinds:
    """What each path holds as the restore goes, member by member, without
    changing anything: a path an earlier member made, replaced or removed
    is known from the plan, any other from the tree (asked once each).
    Kinds: 'link', 'dir' (what the tree has below it stays), 'new dir' and
    'none' (below them is only what later members make), 'other'."""

    def __init__(self, ovl):
        self.ovl = ovl
        self.made = {}
        self.tree = {}

    def _tree(self, path):
        if path not in self.tree:
            st = _lstat(self.ovl, path)
            kind = None if st is None else _kind(st[0])
            self.tree[path] = {None: "none", S_IFLNK: "link",
                               S_IFDIR: "dir"}.get(kind, "other")
        return self.tree[path]

    def walk(self, path, final=True):
        """(kind, where): the first symlink above path and where it is,
        else the kind at path itself (None if not final: not asked, so
        the tree is not either)."""
        parts = path.split("/")[1:]
        fresh = False           # below a path the tree no longer shows
        for i in range(len(parts) - 1):
            where = "/" + "/".join(parts[:i + 1])
            kind = self._at(where, fresh)
            if kind == "link":
                return kind, where
            fresh = fresh or kind != "dir"
        if not final:
            return None, path
        return self._at(path, fresh), path

    def _at(self, path, fresh):
        return self.made.get(path) or ("none" if fresh else self._tree(path))

    def symlink_above(self, path):
        """The first symlink above path, or None."""
        kind, where = self.walk(path, final=False)
        return where if where != path else None

    def set(self, path, kind):
        """A member leaves kind at path; a replaced path loses what the
        plan knew below it."""
        if kind != "dir":
            for below in [p for p in self.made if p.startswith(path + "/")]:
                del self.made[below]
        self.made[path] = kind


def refuse_symlinked(ovl, entries):
    """BackupError if a member's name (or a hard link's target) passes
    through a symlink, one an earlier member made or one already in the
    tree: the restore would write where the link points.  Checked for
    every member before any is applied (tar's own extraction rule)."""
    kinds = _Kinds(ovl)
    for path, m, what in entries:
        names = [("", _check_name(m.name))]
        if m.type == tarfile.LNKTYPE and what not in ("whiteout", "opaque"):
            names.append((": hard link to %s" % m.linkname,
                          _check_name(m.linkname)))
        for how, name in names:
            link = kinds.symlink_above(name)
            if link is not None:
                raise BackupError("member %r%s: the symlink %s is above it;"
                                  " a restore does not write through links"
                                  % (m.name, how, link))
        if what == "whiteout":
            kinds.set(path, "none")
        elif what == "opaque":
            pass                # the directory's member did it
        elif m.type == tarfile.DIRTYPE:
            # over what is not a directory, it is made anew
            kinds.set(path, "dir" if kinds.walk(path)[0] == "dir"
                      else "new dir")
        else:
            kinds.set(path, "link" if m.type == tarfile.SYMTYPE
                      else "other")


def _lstat(ovl, path):
    try:
        return ovl.lstat(path)
    except OSError as e:
        if compat.error_code(e) in (compat.ENOENT, compat.ENOTDIR):
            return None
        raise


def remove_tree(ovl, path):
    """Remove path and everything below it, each directory once it is
    empty (a stack of the paths still to remove: a deep tree costs no
    call stack)."""
    todo = [path]
    while todo:
        path = todo[-1]
        st = _lstat(ovl, path)
        if st is not None and _kind(st[0]) == S_IFDIR:
            names = ovl.listdir(path)
            if names:
                todo.extend(join(path, n) for n in names)
                continue
            ovl.rmdir(path)
        elif st is not None:
            ovl.remove(path)
        todo.pop()


class Restorer:
    """Applies a backup plan to a mounted overlay, idempotently."""

    def __init__(self, ovl, tar):
        self.ovl = ovl
        self.tar = tar
        self.done = {"written": 0, "renamed": 0, "attrs": 0, "removed": 0,
                     "unchanged": 0}

    def _data(self, member):
        return self.tar.extractfile(member).read()

    def _attrs(self, path, m, st, follow=True):
        """chmod, chown, utime where they differ (each its own step)."""
        ovl = self.ovl
        changed = False
        if follow and st[0] & 0o7777 != m.mode & 0o7777:
            ovl.chmod(path, m.mode & 0o7777)
            changed = True
        if (st[4], st[5]) != (m.uid, m.gid):
            ovl.chown(path, m.uid, m.gid, follow=follow)
            changed = True
        if follow and m.type != tarfile.DIRTYPE and st[8] != int(m.mtime):
            ovl.utime(path, (int(m.mtime), int(m.mtime)))
            changed = True
        if changed:
            self.done["attrs"] += 1
        return changed

    def _parents(self, path):
        parent = path.rsplit("/", 1)[0] or "/"
        if _lstat(self.ovl, parent) is None:
            self._parents(parent)
            self.ovl.mkdir(parent, 0o755)

    def _make_new(self, path, m, make):
        """make(tmp) creates the object; it gets its attributes under the
        temporary name, then one rename puts it in place."""
        ovl = self.ovl
        parent, name = path.rsplit("/", 1)
        tmp = join(parent or "/", TMP_PREFIX + name)
        remove_tree(ovl, tmp)           # left by a cut restore
        self._parents(path)
        make(tmp)
        st = ovl.lstat(tmp)
        self._attrs(tmp, m, st, follow=m.type != tarfile.SYMTYPE)
        old = _lstat(ovl, path)
        if old is not None and _kind(old[0]) == S_IFDIR:
            remove_tree(ovl, path)
        ovl.rename(tmp, path)
        self.done["renamed"] += 1

    def entry(self, path, m, what, opaque):
        ovl = self.ovl
        st = _lstat(ovl, path)
        if what == "whiteout":
            if st is not None:
                remove_tree(ovl, path)
                self.done["removed"] += 1
            return
        if what == "opaque":
            return              # handled with the directory's entry
        if m.type == tarfile.DIRTYPE:
            if path in opaque and st is not None and \
                    ovl.layer_of(path) != "upper":
                remove_tree(ovl, path)      # it must not merge any more
                st = None
            if st is not None and _kind(st[0]) != S_IFDIR:
                ovl.remove(path)
                st = None
            if st is None:
                self._parents(path)
                ovl.mkdir(path, m.mode & 0o7777)
                st = ovl.lstat(path)
            if not self._attrs(path, m, st):
                self.done["unchanged"] += 1
            return
        if m.type == tarfile.SYMTYPE:
            if st is not None and _kind(st[0]) == S_IFLNK and \
                    ovl.readlink(path) == m.linkname and \
                    (what != "added" or ovl.layer_of(path) == "upper"):
                if not self._attrs(path, m, st, follow=False):
                    self.done["unchanged"] += 1
                return
            self._make_new(path, m, lambda tmp: ovl.symlink(m.linkname, tmp))
            return
        if m.type == tarfile.LNKTYPE:
            target = _check_name(m.linkname)
            tst = _lstat(ovl, target)
            if tst is None:
                raise BackupError("member %r: hard link to %s, which is not"
                                  " there" % (m.name, target))
            if st is not None and st[1] == tst[1]:
                self.done["unchanged"] += 1
                return
            self._make_new(path, m, lambda tmp: ovl.link(target, tmp))
            return
        if m.type == tarfile.FIFOTYPE:
            if st is not None and _kind(st[0]) == S_IFIFO and \
                    ovl.layer_of(path) != "lower":
                if not self._attrs(path, m, st):
                    self.done["unchanged"] += 1
                return
            self._make_new(path, m, lambda tmp: ovl.mknod(
                tmp, S_IFIFO | (m.mode & 0o7777)))
            return
        self._file(path, m, what, st)

    def _file(self, path, m, what, st):
        ovl = self.ovl
        data = self._data(m)
        if st is not None and _kind(st[0]) == S_IFREG:
            layer = ovl.layer_of(path)
            same = st[6] == len(data) and \
                file_digest(ovl, path) == hashlib.sha256(data).hexdigest()
            if what in ("modified", "metadata") and layer != "upper":
                # a lower file changed in place: it stays linked to the
                # lower (diff: modified / metadata), rewritten in one go
                if not same or (what == "modified" and layer == "lower"):
                    with ovl.open(path, "wb") as f:
                        f.write(data)
                    self.done["written"] += 1
                    st = ovl.lstat(path)
                if not self._attrs(path, m, st) and same:
                    self.done["unchanged"] += 1
                return
            if same and layer == "upper":
                if not self._attrs(path, m, st):
                    self.done["unchanged"] += 1
                return

        def make(tmp):
            with ovl.open(tmp, "wb") as f:
                f.write(data)
        self._make_new(path, m, make)
        self.done["written"] += 1

    def finish_dirs(self, entries):
        """Directory mtimes last, deepest first: making entries in a
        directory moves its mtime."""
        for path, m, what in reversed(entries):
            if what not in ("whiteout", "opaque") and \
                    m.type == tarfile.DIRTYPE:
                st = _lstat(self.ovl, path)
                if st is not None and st[8] != int(m.mtime):
                    self.ovl.utime(path, (int(m.mtime), int(m.mtime)))


def restore(ovl, tar, entries):
    """Apply the backup in the open tar, whose plan is entries (read_plan),
    to ovl; returns counts.  A member under a symlink stops it before
    anything changes."""
    refuse_symlinked(ovl, entries)
    opaque = set(p for p, m, what in entries if what == "opaque")
    r = Restorer(ovl, tar)
    for path, m, what in entries:
        r.entry(path, m, what, opaque)
    r.finish_dirs(entries)
    return r.done


def largest_file(entries):
    """Bytes of the biggest regular file in a backup's plan (the restore's
    write buffer, so that a rewrite commits as one transaction)."""
    return max([m.size for p, m, what in entries if m.isreg()] or [0])
