"""Unpack a SquashFS image (read through ovl.squashfs) into a host directory.

Extraction trusts nothing in the image.  Every name is checked before it
becomes a path ('.', '..', '/', NUL, empty, too long, duplicate are refused),
every path is created fresh (O_EXCL, mkdir, symlink, link: none of them
follow or reuse an existing entry), and a directory can be entered only
once.  So no write can land outside DEST: the only way through a symlink
would be a second entry with the symlink's name, and that is refused.  This
closes the classes of CVE-2021-40153 and CVE-2021-41072 (unsquashfs).
"""

import os
import stat
import sys

from host_tools.outputs import temporary

CHUNK = 256 * 1024
NAME_MAX = 255                 # what a Linux directory can hold


class ExtractError(ValueError):
    """The image asks for something extraction refuses to do."""


def check_name(name, parent):
    """The name's bytes, or ExtractError if it could escape or clash."""
    raw = os.fsencode(name)
    if raw in (b"", b".", b".."):
        raise ExtractError("refusing entry named %r in %s" % (name, parent))
    if b"/" in raw or b"\0" in raw:
        raise ExtractError("refusing entry %r in %s: name contains '/' or NUL"
                           % (name, parent))
    if len(raw) > NAME_MAX:
        raise ExtractError("refusing entry in %s: name of %d bytes" %
                           (parent, len(raw)))
    return raw


class Extractor:
    """Writes the tree of `fs` (an ovl.squashfs.SquashFS) below `dest`."""

    def __init__(self, fs, dest, as_root=None, warn=None):
        self.fs = fs
        self.dest = os.fsencode(dest)
        self.as_root = os.geteuid() == 0 if as_root is None else as_root
        self.warn = warn or (lambda msg: print("ovl: warning: " + msg,
                                               file=sys.stderr))
        self.by_ino = {}          # inode number -> first host path (hard links)
        self.dirs_seen = set()    # directory inode numbers already entered
        self.counts = {"files": 0, "dirs": 0, "symlinks": 0, "special": 0,
                       "hardlinks": 0, "skipped": 0, "bytes": 0}

    def run(self, top="/"):
        entry = self.fs.lookup(top)
        if not stat.S_ISDIR(entry.mode):
            raise ExtractError("%s is not a directory in the image" % top)
        existed = self._prepare_dest()
        # a failure, Ctrl-C, SIGTERM or SIGHUP takes back what was written
        # (all of a DEST made here, what an empty one was given)
        with temporary(self.dest, keep_dir=existed):
            self._extract_tree(entry, top)
        return self.counts

    def _extract_tree(self, entry, top):
        finish = []               # directories: attributes set last, deepest first
        stack = [(entry, self.dest, top.rstrip("/") or "/")]
        self.dirs_seen.add(entry.ino)
        finish.append((self.dest, entry))
        while stack:
            d, host, shown = stack.pop()
            prev = None
            for name, child in self.fs.readdir(d):
                raw = check_name(name, shown)
                if prev is not None and raw <= prev:
                    raise ExtractError("refusing %s: duplicate or unsorted entry "
                                       "%r" % (shown, name))
                prev = raw
                path = host + b"/" + raw
                cshown = shown.rstrip("/") + "/" + name
                if stat.S_ISDIR(child.mode):
                    if child.ino in self.dirs_seen:
                        raise ExtractError("refusing %s: directory inode %d "
                                           "appears twice (loop)"
                                           % (cshown, child.ino))
                    self.dirs_seen.add(child.ino)
                    self._create(os.mkdir, path, cshown, 0o700)
                    self.counts["dirs"] += 1
                    finish.append((path, child))
                    stack.append((child, path, cshown))
                else:
                    self._extract_leaf(child, path, cshown)
        for path, d in reversed(finish):
            self._set_attrs(path, d)

    def _prepare_dest(self):
        """Make DEST, or check it is an empty directory; True if it was."""
        try:
            os.mkdir(self.dest, 0o700)
            return False
        except FileExistsError:
            if not os.path.isdir(self.dest) or os.path.islink(self.dest):
                raise ExtractError("destination %s exists and is not a "
                                   "directory" % os.fsdecode(self.dest))
            if os.listdir(self.dest):
                raise ExtractError("destination %s is not empty"
                                   % os.fsdecode(self.dest))
            return True
        except OSError as e:
            raise ExtractError("cannot create destination %s: %s"
                               % (os.fsdecode(self.dest), e.strerror))

    def _create(self, fn, path, shown, *args):
        try:
            return fn(path, *args)
        except FileExistsError:
            raise ExtractError("refusing %s: it already exists (duplicate "
                               "entry in the image)" % shown)

    def _extract_leaf(self, e, path, shown):
        fmt = stat.S_IFMT(e.mode)
        if e.nlink > 1 and e.ino in self.by_ino:
            first, ffmt = self.by_ino[e.ino]
            if ffmt != fmt:
                raise ExtractError("refusing %s: inode %d has two types"
                                   % (shown, e.ino))
            self._create(os.link, first, shown, path)
            self.counts["hardlinks"] += 1
            return
        if fmt == stat.S_IFREG:
            self._write_file(e, path, shown)
            self.counts["files"] += 1
        elif fmt == stat.S_IFLNK:
            self._create(os.symlink, os.fsencode(self.fs.readlink(e)), shown,
                         path)
            self.counts["symlinks"] += 1
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            if not self.as_root:
                self.warn("%s: device node skipped (needs root)" % shown)
                self.counts["skipped"] += 1
                return
            self._create(os.mknod, path, shown, fmt | 0o600, e.rdev)
            self.counts["special"] += 1
        elif fmt == stat.S_IFIFO:
            self._create(os.mkfifo, path, shown, 0o600)
            self.counts["special"] += 1
        else:
            self.warn("%s: socket skipped" % shown)
            self.counts["skipped"] += 1
            return
        if e.nlink > 1:
            self.by_ino[e.ino] = (path, fmt)
        self._set_attrs(path, e)

    def _write_file(self, e, path, shown):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = self._create(os.open, path, shown, flags, 0o600)
        try:
            offset = 0
            while offset < e.size:
                data = self.fs.read(e, offset, CHUNK)
                if not data:
                    raise ExtractError("%s: image data ends at %d of %d bytes"
                                       % (shown, offset, e.size))
                if data.count(0) == len(data):
                    os.lseek(fd, len(data), os.SEEK_CUR)   # keep holes holes
                else:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                offset += len(data)
            os.ftruncate(fd, e.size)
        finally:
            os.close(fd)
        self.counts["bytes"] += e.size

    def _set_attrs(self, path, e):
        link = stat.S_ISLNK(e.mode)
        if self.as_root:
            os.chown(path, e.uid, e.gid, follow_symlinks=False)
        if not link:                # Linux cannot chmod a symlink itself
            os.chmod(path, stat.S_IMODE(e.mode))
        os.utime(path, (e.mtime, e.mtime), follow_symlinks=False)


def extract(fs, dest, top="/", as_root=None, warn=None):
    """Extract the tree below `top` in image `fs` into `dest` (which must
    not exist or be empty); returns counts by kind."""
    return Extractor(fs, dest, as_root, warn).run(top)
