"""MicroPython VFS adapter: mount an Overlay with vfs.mount(OvlVfs(ovl), "/x").

MicroPython calls the methods below with the mount prefix stripped
(absolute paths arrive as "/..."), passes relative paths unchanged, and
expects stat as a plain 10-tuple.  A relative path is joined with the
cwd and the rest is the overlay's: a trailing "/", a "." or a ".." after a
symlink mean there what they mean on Linux.  open() returns the
overlay's own file object (ovl.overlay.file.OverlayFile), which on
MicroPython subclasses io.IOBase so that `import`, print(file=...) and the
other C stream users can drive it through readinto/write/ioctl.
"""

from ovl import compat, paths


class OvlVfs:
    """hide: absolute paths that read as absent (safe mode hides /main.py
    so the port's startup runs no user code)."""

    # mount(readonly=True): this mount refuses writes (the Overlay, which
    # the API and other mounts share, stays as it is)
    readonly = False

    def __init__(self, ovl, hide=()):
        self.ovl = ovl
        self.cwd = "/"
        self.hide = tuple(hide)

    def __getattr__(self, name):
        # mkdir, remove, rmdir, rename and statvfs: the overlay's own,
        # given this VFS's paths (MicroPython's VFS finds them through
        # __getattr__ too)
        if name not in ("mkdir", "remove", "rmdir", "rename", "statvfs"):
            raise AttributeError(name)
        # (of the five, statvfs alone writes nothing)
        fn = self._refuse if self.readonly and name != "statvfs" else \
            getattr(self.ovl, name)
        return lambda *args: fn(*map(self._path, args))

    def _refuse(self, path, *_):
        raise compat.oserror(compat.EROFS, path)

    def _hidden(self, path):
        # hide's paths are normalised ones
        return self.hide and paths.normalize(path) in self.hide

    def _path(self, path):
        # A path as str: MicroPython hands a VFS bytes when the caller used
        # bytes (os.stat(b"/x")), as VfsLfs2 accepts.  Bytes that are not
        # UTF-8 decode with surrogateescape on CPython (as os.fsdecode);
        # MicroPython has no such handler and refuses some (what else it
        # lets through, the overlay refuses to store: writing.upper_name).
        if not isinstance(path, str):
            try:
                path = bytes(path).decode()
            except UnicodeError:
                if compat.MICROPYTHON:
                    raise compat.oserror(compat.EINVAL, "path %r is not UTF-8"
                                         % (path,))
                path = bytes(path).decode("utf-8", "surrogateescape")
        if not path.startswith("/"):
            path = paths.join(self.cwd, path) if path else self.cwd
        return path

    # -- mount protocol -----------------------------------------------------

    def mount(self, readonly, mkfs):
        # mkfs: ignored, as VfsLfs2 does (LogStore.format makes a store)
        self.readonly = readonly

    def umount(self):
        self.ovl.sync()

    # -- directories --------------------------------------------------------

    def chdir(self, path):
        path = self._path(path)
        node = self.ovl._walk(path)
        if not paths.is_dir(node.mode):
            raise compat.oserror(compat.ENOTDIR, path)
        # where the walk arrived, symlinks followed (Linux's getcwd): a
        # relative ".." then leads to that directory's parent
        self.cwd = node.path

    def getcwd(self):
        return self.cwd

    def ilistdir(self, path):
        # bytes in, bytes names out (VfsLfs2 does the same); the directory
        # is looked up here, so a missing one raises at the call
        as_bytes = not isinstance(path, str)
        path = self._path(path)
        listing = self.ovl.ilistdir(path)
        if as_bytes or self.hide:
            return self._listing(listing, paths.normalize(path), as_bytes)
        return listing

    def _listing(self, listing, path, as_bytes):
        for name, kind, ino, size in listing:
            if self.hide and paths.join(path, name) in self.hide:
                continue
            # (MicroPython ignores the error handler: its names are UTF-8)
            yield (name.encode("utf-8", "surrogateescape") if as_bytes
                   else name, kind, ino, size)

    def stat(self, path):
        # the plain 10-tuple (Overlay.stat's StatResult, which names its
        # fields, is imported at its first use); pending writes count in
        # the size
        path = self._path(path)
        if self._hidden(path):
            raise compat.oserror(compat.ENOENT, path)
        ovl = self.ovl
        ovl.flush_all(True)
        return ovl._stat_node(ovl._walk(path))

    # -- files --------------------------------------------------------------

    def open(self, path, mode="r"):
        # an OverlayFile: on MicroPython an io.IOBase with readinto, write
        # and ioctl, the stream the C layer drives
        path = self._path(path)
        if self._hidden(path):
            raise compat.oserror(compat.ENOENT, path)
        if self.readonly and mode.strip("rbt"):     # w, a, x or +
            raise compat.oserror(compat.EROFS, path)
        return self.ovl.open(path, mode)
