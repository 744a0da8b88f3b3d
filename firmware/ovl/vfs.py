"""MicroPython VFS adapter: mount an Overlay with vfs.mount(OvlVfs(ovl), "/x").

MicroPython calls the methods below with the mount prefix stripped
(absolute paths arrive as "/..."), passes relative paths unchanged, and
expects stat as a plain 10-tuple.  The file object subclasses io.IOBase so
that `import`, print(file=...) and the other C stream users can drive it
through readinto/write/ioctl.
"""

import io

from ovl import compat
from ovl.overlay import join, normalize, S_IFMT
from ovl.overlay_file import OverlayFile

IOCTL_FLUSH = 1
IOCTL_SEEK = 2
IOCTL_CLOSE = 4
IOCTL_BUFFER_SIZE = 11


class OvlVfs:
    def __init__(self, overlay):
        self.ovl = overlay
        self.cwd = "/"

    def _path(self, path):
        if not path.startswith("/"):
            path = join(self.cwd, path) if path else self.cwd
        return normalize(path)

    # -- mount protocol -----------------------------------------------------

    def mount(self, readonly, mkfs):
        if readonly:
            self.ovl.readonly = True

    def umount(self):
        self.ovl.sync()

    # -- directories --------------------------------------------------------

    def chdir(self, path):
        path = self._path(path)
        if self.ovl.stat(path)[0] & S_IFMT != 0o040000:
            raise compat.oserror(compat.ENOTDIR, path)
        self.cwd = normalize(path)

    def getcwd(self):
        return self.cwd

    def ilistdir(self, path):
        for name, kind, ino, size in self.ovl.ilistdir(self._path(path)):
            yield (name, kind, ino, size)

    def mkdir(self, path):
        self.ovl.mkdir(self._path(path))

    def rmdir(self, path):
        self.ovl.rmdir(self._path(path))

    def remove(self, path):
        self.ovl.remove(self._path(path))

    def rename(self, old, new):
        self.ovl.rename(self._path(old), self._path(new))

    def stat(self, path):
        return tuple(self.ovl.stat(self._path(path)))

    def statvfs(self, path):
        return tuple(self.ovl.statvfs(self._path(path)))

    # -- files --------------------------------------------------------------

    def open(self, path, mode="r"):
        binary_mode = mode.replace("t", "")
        if "b" not in binary_mode:
            binary_mode += "b"
        return VfsFile(self.ovl.open(self._path(path), binary_mode),
                       "b" not in mode)


class VfsFile(io.IOBase):
    """A stream for MicroPython's C layer over a binary OverlayFile; text
    mode decodes on read and accepts str or bytes on write."""

    def __init__(self, f, text):
        self.f = f
        self.text = text

    def read(self, n=-1):
        data = self.f.read(n)
        return data.decode() if self.text else data

    def readinto(self, buf):
        return self.f.readinto(buf)

    def readline(self, limit=-1):
        line = self.f.readline(limit)
        return line.decode() if self.text else line

    # line iteration is the same as OverlayFile's, over this readline
    readlines = OverlayFile.readlines
    __iter__ = OverlayFile.__iter__
    __next__ = OverlayFile.__next__

    def write(self, data):
        if isinstance(data, str):
            self.f.write(data.encode())
        else:
            self.f.write(bytes(data))
        return len(data)

    def seek(self, offset, whence=0):
        return self.f.seek(offset, whence)

    def tell(self):
        return self.f.tell()

    def flush(self):
        self.f.flush()

    def close(self):
        self.f.close()

    def ioctl(self, op, arg):
        if op == IOCTL_CLOSE:
            self.f.close()
            return 0
        if op == IOCTL_FLUSH:
            self.f.flush()
            return 0
        if op == IOCTL_BUFFER_SIZE:
            return self.f.ovl.write_buffer
        return -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
