"""The in-memory tree `ovl mkimage` builds from a source directory: one
Node per inode (hard links share one), scanned from the host with
excludes applied, before pseudo-file edits and before the writer lays it
out (host_tools/image/mkimage.py)."""

import fnmatch
import os
import stat

from ovl import squashfs_format as fmt
from ovl.overlay.meta_rare import ORIGIN_PATH_MAX

MAX_U32 = 0xFFFFFFFF
SYMLINK_MAX = 4095           # Linux PATH_MAX - 1; the kernel refuses longer


class MkimageError(ValueError):
    """Bad input to the builder (options, pseudo file, source tree)."""


def parse_time(text, what):
    """A time in seconds since 1970 (--mtime, a pseudo file's time) -> int."""
    t = str(text).strip()
    if not t.isdigit() or int(t) > MAX_U32:
        raise MkimageError("bad %s %r: need seconds since 1970 (0..%d)"
                           % (what, text, MAX_U32))
    return int(t)


def clamp_u32_time(t):
    """Inode mtimes are u32: times before 1970 become 0, after 2106 the max."""
    return min(max(int(t), 0), MAX_U32)

class Node:
    """One inode of the image: a directory, file, symlink, device, fifo or
    socket.  `kind` is the basic squashfs inode type (fmt.DIR_TYPE ...).
    Hard links are several directory entries naming the same Node."""

    __slots__ = ("kind", "mode", "uid", "gid", "mtime", "major", "minor",
                 "target", "source", "children", "links", "number",
                 "number_parent", "ref", "data")

    def __init__(self, kind, mode, uid=0, gid=0, mtime=0):
        self.kind = kind
        self.mode = mode & fmt.PERMISSION_MASK
        self.uid = uid
        self.gid = gid
        self.mtime = clamp_u32_time(mtime)
        self.major = self.minor = 0
        self.target = b""            # symlink target
        self.source = None           # host path of a regular file's data
        self.children = {} if kind == fmt.DIR_TYPE else None  # name -> Node
        self.links = 0               # directory entries naming this node
        self.number = 0              # inode number, set by the writer
        self.number_parent = 0       # a directory's parent's inode number
        self.ref = None              # (metadata block start, offset)
        self.data = None             # FileData, set by the writer

    def entries(self):
        """Children sorted by the bytes of their names (the kernel's order)."""
        return sorted(self.children.items())


def walk(root):
    """Every (path, node) of the tree, depth first in name order.  Nodes
    reached through several hard links appear once per link."""
    stack = [(b"", root)]
    while stack:
        path, node = stack.pop()
        yield path or b"/", node
        if node.kind == fmt.DIR_TYPE:
            for name, child in reversed(node.entries()):
                stack.append((path + b"/" + name, child))


def shown_path(raw):
    """A path's bytes for a message: UTF-8, other bytes as \\xNN."""
    return raw.decode("utf-8", "backslashreplace")


def micropython_unreadable(root):
    """Why a board running MicroPython cannot read an image of the tree,
    naming the first path (walk's order) that is not UTF-8 or symlink
    whose target is not (its reader holds both as str, UTF-8 only), or
    None."""
    for path, node in walk(root):
        if not is_utf8(path):
            return ("%s is not UTF-8: a board running MicroPython cannot"
                    " list its directory" % shown_path(path))
        if node.kind == fmt.SYMLINK_TYPE and not is_utf8(node.target):
            return ("%s is a symlink whose target is not UTF-8: a board"
                    " running MicroPython cannot read it" % shown_path(path))
    return None


def too_long_to_change(root):
    """Why a device cannot change something the tree holds: the first path
    (walk's order) longer than the overlay copies up, or None."""
    for path, _ in walk(root):
        if len(path) > ORIGIN_PATH_MAX:
            return too_long_message(path)
    return None


def too_long_message(raw):
    """What `ovl mkimage` and `ovl flash` say of a path (bytes) longer
    than the overlay copies up (ovl.overlay.meta_rare.origin_path)."""
    return ("%s is a path of %d bytes: ovl copies up lower paths of at most"
            " %d bytes, so a device cannot change, chmod or create anything"
            " at or below it" % (shown_path(raw), len(raw), ORIGIN_PATH_MAX))


def is_utf8(raw):
    try:
        raw.decode("utf-8")
        return True
    except UnicodeError:
        return False


def _node_from_stat(st):
    kind = fmt.S_IF_TO_TYPE.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        return None
    node = Node(kind, st.st_mode, st.st_uid, st.st_gid, st.st_mtime)
    if kind in (fmt.BLKDEV_TYPE, fmt.CHRDEV_TYPE):
        node.major, node.minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return node


def is_excluded(rel_path, name, patterns):
    """A pattern with a '/' matches the path below SRC_DIR ('a/b/*.o');
    one without matches a name at any depth ('*.pyc')."""
    for pat in patterns:
        if "/" in pat:
            if fnmatch.fnmatchcase(rel_path, pat.strip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pat):
            return True
    return False


def scan_tree(src, excludes=(), skip=None):
    """The Node tree of the host directory `src` (symlinks not followed).
    skip: (st_dev, st_ino) of a file to leave out (the image being
    replaced, when it lies inside src)."""
    try:
        st = os.lstat(src)
    except OSError as e:
        raise MkimageError("cannot read source directory %s: %s"
                           % (src, e.strerror))
    if not stat.S_ISDIR(st.st_mode):
        raise MkimageError("source %s is not a directory" % src)
    root = _node_from_stat(st)
    by_inode = {}                 # (st_dev, st_ino) -> Node, for hard links
    stack = [(os.fsencode(src), "", root)]
    while stack:
        host, rel, node = stack.pop()
        with os.scandir(host) as it:
            listing = sorted(it, key=lambda e: e.name)
        for entry in listing:
            name = entry.name
            sname = os.fsdecode(name)
            crel = rel + "/" + sname if rel else sname
            if excludes and is_excluded(crel, sname, excludes):
                continue
            est = entry.stat(follow_symlinks=False)
            key = (est.st_dev, est.st_ino)
            if key == skip:
                continue
            if not stat.S_ISDIR(est.st_mode) and est.st_nlink > 1 \
                    and key in by_inode:
                node.children[name] = by_inode[key]
                continue
            child = _node_from_stat(est)
            if child is None:
                raise MkimageError("%s: unsupported file type" % entry.path)
            if child.kind == fmt.REG_TYPE:
                child.source = entry.path
            elif child.kind == fmt.SYMLINK_TYPE:
                child.target = os.readlink(entry.path)
            elif child.kind == fmt.DIR_TYPE:
                stack.append((entry.path, crel, child))
            if child.kind != fmt.DIR_TYPE and est.st_nlink > 1:
                by_inode[key] = child
            node.children[name] = child
    return root
