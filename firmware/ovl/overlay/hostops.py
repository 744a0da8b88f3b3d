"""Operations a board's boot, mount and file IO never call: stat with
named fields (StatResult; the VFS's stat is a plain tuple), lstat,
listdir, hard links, symlinks (and following one in a walk or at open()),
open()'s target with O_EXCL, the path a write lands on (write_target),
device nodes, modes, owners, times, readlink,
rdev, exists, read_bytes and write_bytes, stored_bytes (st_blocks), and
statvfs (which the VFS calls only for os.statvfs); truncation is ovl.overlay.truncate's.

The FUSE mount, the CLI, the agent and tests use them; a board's boot,
mount and file IO do not, so Overlay imports this module at their first
use (Overlay.__getattr__ answers these names) and a board's heap keeps
none of it otherwise.  Each function takes the Overlay as its first
argument and is reached as the Overlay's method of the same name.
"""

from ovl import compat
from ovl.compat import oserror
from ovl.compat import const
from ovl.paths import S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, is_dir, is_lnk, \
    is_reg, join, split_path
from ovl.overlay.meta import NAME_MAX, INDEX_PREFIX

# Limits of the on-flash fields (docs/FORMAT.md) besides the size
# (ovl.overlay.meta's): ids are u32, times s64.
_MAX_SYMLINKS = const(40)   # Linux's limit before ELOOP
MAX_ID = 0xFFFFFFFF
TIME_MIN = -(1 << 63)
TIME_MAX = (1 << 63) - 1


class StatResult(tuple):
    """os.stat_result order: (mode, ino, dev, nlink, uid, gid, size,
    atime, mtime, ctime) - MicroPython's 10-tuple, with attribute names."""

    def __getattr__(self, name):
        # the st_* names in order (a string: its text costs no heap at
        # import, as ten properties would)
        fields = "st_mode st_ino st_dev st_nlink st_uid st_gid st_size " \
            "st_atime st_mtime st_ctime".split()
        if name in fields:
            return self[fields.index(name)]
        raise AttributeError(name)


def stat(ovl, path):
    """A StatResult of path (the VFS's stat is Overlay._stat_node's plain
    tuple: MicroPython names no fields)."""
    ovl.flush_all(True)
    return StatResult(ovl._stat_node(ovl._walk(path)))


def lstat(ovl, path):
    """stat of path, not following a final symlink."""
    ovl.flush_all(True)
    return StatResult(ovl._stat_node(ovl._walk(path, follow=False)))


def stored_bytes(ovl, path):
    """How many bytes of the file at path are stored (a final symlink is
    not followed): what Linux's st_blocks counts, in 512-byte units.  A
    regular file in the upper holds its data extents (holes hold none)
    plus, when copied up, the bytes below its lower limit that the
    lower still serves; a lower file holds its size (the lower readers
    report no holes); a file with data still pending holds its size until
    it commits; anything else, its st_size."""
    ovl.flush_all(True)
    node = ovl._walk(path, follow=False)
    size = ovl._stat_node(node)[6]
    if node.uino is None or not is_reg(node.mode) or \
            node.uino in ovl.writeback.buffers:
        return size
    held = ovl.store.stored_bytes(node.uino, size)
    origin = ovl._get_origin(node.uino)
    entry = None if origin is None else ovl._lower_lookup(origin.path)
    if entry is not None and is_reg(entry.mode):
        # the lower serves [0, lowlim) where the upper holds nothing
        # (Overlay.read_upper)
        below = min(origin.lowlim, size, entry.size)
        held += below - ovl.store.stored_bytes(node.uino, below)
    return held


def listdir(ovl, path="/"):
    return [e[0] for e in ovl.ilistdir(path)]


def rdev(ovl, path):
    """Device number of the device node at path (a final symlink is not
    followed); 0 for anything else.  Kept apart from lstat, whose result
    is MicroPython's 10-tuple."""
    node = ovl._walk(path, follow=False)
    if node.inode is not None:
        return node.inode.rdev
    return node.lentry.rdev


def readlink(ovl, path):
    node = ovl._walk(path, follow=False)
    if not is_lnk(node.mode):
        raise oserror(compat.EINVAL, path)
    return _readlink_node(ovl, node)


def _readlink_node(ovl, node):
    """A symlink node's target (the walk and open() follow symlinks
    through follow and _find_target, which read it here, so a tree
    without any never imports this module)."""
    if node.uino is not None:
        return ovl.store.readlink(node.uino)
    return ovl.lower.readlink(node.lentry)


def follow(ovl, node, stack, todo, links, path):
    """A walk meets symlink node (Overlay._walk): its target's names go
    next in todo, the names still to walk (last first), from the root
    (stack's first node) for an absolute target.  links: how many the walk
    followed; returns it counted, or ELOOP past Linux's limit."""
    if links >= _MAX_SYMLINKS:
        raise oserror(compat.ELOOP, path)
    target = _readlink_node(ovl, node)
    if target.startswith("/"):
        del stack[1:]
    todo += reversed(split_path(target))
    return links + 1


def _find_target(ovl, parent, node):
    """The rest of Overlay._find_target (open()'s target; named as it is,
    so that a board interns no name for it) past symlink node found in
    directory node parent: symlinks are followed up to Linux's limit
    (ELOOP past it), and the first name that is none is resolved as
    _find_target resolves a path (a loop: no recursion on a small stack)."""
    links = 1
    while True:
        target = _readlink_node(ovl, node)
        if not target.startswith("/"):
            target = join(parent.path, target)
        if links > _MAX_SYMLINKS:
            raise oserror(compat.ELOOP, target)
        parent, name = ovl._walk_parent(target, compat.EISDIR)
        node = ovl._child(parent, name)
        if node is None or not is_lnk(node.mode):
            return ovl._find_target(target)
        links += 1


def write_target(ovl, path):
    """The path that open(path, "w") writes: a final symlink followed (a
    dangling one names the file it creates), else path.  The agent's put
    renames its temporary over it, so a put writes through a link as
    `ovl fs put` does."""
    node, target = ovl._find_target(path)
    if path.endswith("/"):      # as open(path, "w")
        raise oserror(compat.EISDIR, path)
    if node is None:
        parent, name = target
        return join(parent.path, name)
    return target


def lookup(ovl, entry):
    """The upper Inode the hard-link index maps lower entry (a file with
    more than one name) to, or None: the index looked up (the walk and
    the listing ask it for such files only)."""
    key = INDEX_PREFIX + str(entry.ino)
    # an upgrade's index until it is written (ovl.upgrade.rebase)
    keys = getattr(ovl, "_link_keys", None)
    if keys is not None and key in keys:
        mapped = keys[key]
    else:
        mapped = ovl.store.get_meta(ovl._root_ino, key)
    if mapped is None:
        return None
    return ovl.store.get(int(mapped))


def _excl_target(ovl, path):
    """(None, (directory node, name)) to create for open() with O_EXCL
    (as Overlay._find_target's): the final name is never followed, and
    any existing name is EEXIST (POSIX; what makes O_EXCL safe for
    temporary files)."""
    # Linux's order: the root, then a trailing slash, then the name
    parent, name = ovl._walk_parent(path, compat.EEXIST)
    if path.endswith("/"):
        raise oserror(compat.EISDIR, path)
    if ovl._child(parent, name) is not None:
        raise oserror(compat.EEXIST, path)
    return None, (parent, name)


def statvfs(ovl, path="/"):
    ovl._walk(path)
    if ovl.store is None:
        return (4096, 4096, 0, 0, 0, 0, 0, 0, 1, NAME_MAX)
    return tuple(ovl.store.statvfs())


def exists(ovl, path):
    try:
        ovl._walk(path, follow=False)
        return True
    except OSError:
        return False


def _no_final_slash(ovl, path):
    """A name to create that is no directory takes no final "/": EEXIST
    if it is there, else ENOENT (Linux), once the names before it were
    found."""
    if path.endswith("/"):
        parent, name = ovl._walk_parent(path, compat.EEXIST)
        raise oserror(compat.ENOENT if ovl._child(parent, name) is None
                      else compat.EEXIST, path)


def symlink(ovl, target, path):
    # judged before the link's path, as Linux does: empty is ENOENT;
    # NUL ends a C string (no Linux target holds one), and the upper
    # stores strict UTF-8 only
    if not target:
        raise oserror(compat.ENOENT, path)
    from ovl.overlay.writing import strict_utf8     # (a change's rule)
    if "\0" in target or not strict_utf8(target):
        raise oserror(compat.EINVAL, "symlink target %r holds NUL or is"
                      " not UTF-8" % target)
    _no_final_slash(ovl, path)

    from ovl.overlay import writing     # (changes only)

    def make(txn, parent, name):
        data = target.encode()
        uino, _ = writing._new_inode(ovl, txn, S_IFLNK | 0o777,
                                     size=len(data))
        txn.set_symlink(uino, target)
        return uino
    writing._create(ovl, path, 0, make)


def mknod(ovl, path, mode, rdev=0):
    if mode & S_IFMT in (0, S_IFREG):
        mode = S_IFREG | (mode & 0o7777)
    elif mode & S_IFMT == S_IFDIR:
        raise oserror(compat.EINVAL, path)
    _no_final_slash(ovl, path)

    from ovl.overlay import writing     # (changes only)

    def make(txn, parent, name):
        uino, _ = writing._new_inode(ovl, txn, (mode & S_IFMT) |
                                     (mode & ~ovl.umask & 0o7777), rdev=rdev)
        return uino
    writing._create(ovl, path, mode, make)


def link(ovl, src, dst):
    from ovl.overlay import writing     # (changes only)

    def op(txn):
        # Linux's order: source lookup, target name, then "a directory"
        node = ovl._walk(src, follow=False)
        _no_final_slash(ovl, dst)
        parent, name = ovl._walk_parent(dst, compat.EEXIST)
        if ovl._child(parent, name) is not None:
            raise oserror(compat.EEXIST, dst)
        if is_dir(node.mode):
            raise oserror(compat.EPERM, src)
        writing._copy_up(ovl, txn, node)
        writing._copy_up(ovl, txn, parent)
        writing._link(ovl, txn, parent, name, node.uino)
        now = writing._now(ovl)
        writing._put(ovl, txn, node, nlink=node.inode.nlink + 1, ctime=now)
        # its entries changed
        writing._put(ovl, txn, parent, mtime=now, ctime=now)
    writing._mutate(ovl, dst, op)


def chmod(ovl, path, mode):
    """mode: permission bits only, 0 to 0o7777; anything else is EINVAL
    (masking it would turn -1 into 0o7777)."""
    if not 0 <= mode <= 0o7777:
        raise oserror(compat.EINVAL, path)

    from ovl.overlay import writing     # (changes only)

    def op(txn):
        node = writing._copy_up(ovl, txn, ovl._walk(path))
        writing._put(ovl, txn, node, mode=(node.inode.mode & S_IFMT) | mode,
                     ctime=writing._now(ovl))
    writing._mutate(ovl, path, op)


def chown(ovl, path, uid, gid, follow=True):
    for v in (uid, gid):
        if v != -1 and not 0 <= v <= MAX_ID:
            raise oserror(compat.EINVAL, path)

    from ovl.overlay import writing     # (changes only)

    def op(txn):
        node = writing._copy_up(ovl, txn, ovl._walk(path, follow=follow))
        i = node.inode
        writing._put(ovl, txn, node, uid=i.uid if uid == -1 else uid,
                     gid=i.gid if gid == -1 else gid,
                     ctime=writing._now(ovl))
    writing._mutate(ovl, path, op)


def lchown(ovl, path, uid, gid):
    chown(ovl, path, uid, gid, follow=False)


def utime(ovl, path, times=None, follow=True):
    """times = (atime, mtime) or None for now.  Only mtime is kept.
    follow=False sets a final symlink's own time (lutimes)."""
    mtime = None if times is None else int(times[1])
    if mtime is not None and not TIME_MIN <= mtime <= TIME_MAX:
        raise oserror(compat.EINVAL, path)

    from ovl.overlay import writing     # (changes only)

    def op(txn):
        node = writing._copy_up(ovl, txn, ovl._walk(path, follow=follow))
        now = writing._now(ovl)
        writing._put(ovl, txn, node, mtime=now if mtime is None else mtime,
                     ctime=now)
    writing._mutate(ovl, path, op)


def read_bytes(ovl, path):
    with ovl.open(path, "rb") as f:
        return f.read()


def write_bytes(ovl, path, data):
    with ovl.open(path, "wb") as f:
        f.write(data)
