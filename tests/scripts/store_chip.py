"""The chip the store heap scripts write to (store_ram.py,
store_call_alloc.py): 1 MiB NOR, 4 KiB erase blocks, 256-byte pages, in a
file behind a Flash subclass, so its bytes are not on the GC heap, as on a
device; the directories and the bytes of the small files they write."""

from ovl.flash import Flash
from ovl.store import ROOT_INO

SIZE, ERASE, PAGE = 1 << 20, 4096, 256


class FileFlash(Flash):
    """The chip in a file.  A program writes its bytes as they are: the
    store never programs a byte twice (the simulator's rules are checked
    elsewhere; here only the heap matters).  probe, when set, is called
    at every read."""

    def __init__(self, path):
        Flash.__init__(self, SIZE, ERASE, PAGE)
        self.f = open(path, "r+b")
        self.probe = None

    def readinto(self, addr, buf):
        if self.probe is not None:
            self.probe()
        self.f.seek(addr)
        self.f.readinto(buf)

    def program(self, addr, data):
        self.f.seek(addr)
        self.f.write(data)

    def erase(self, block):
        self.f.seek(block * ERASE)
        page = b"\xff" * PAGE
        for _ in range(ERASE // PAGE):
            self.f.write(page)

    def sync(self):
        self.f.flush()


def data_for(i):
    """100-300 bytes for file i (as the board job writes)."""
    line = "upper file %d; " % i
    size = 100 + (i * 37) % 201
    return (line * (size // len(line) + 1))[:size].encode()


def make_dirs(store, n):
    """Directories u0 .. u<n-1> under the root, one transaction each;
    their inode numbers."""
    dirs = []
    for d in range(n):
        t = store.begin()
        ino = t.new_ino()
        t.put_inode(ino, mode=0o40755, nlink=2)
        t.link(ROOT_INO, "u%d" % d, ino)
        t.commit()
        dirs.append(ino)
    return dirs


def write_files(store, dirs, n):
    """Files 0 .. n-1 (data_for's bytes), spread over dirs, one
    transaction each."""
    for i in range(n):
        t = store.begin()
        ino = t.new_ino()
        t.put_inode(ino, mode=0o100644, mtime=i, ctime=i)
        t.link(dirs[i % len(dirs)], "file%04d.txt" % i, ino)
        t.write(ino, 0, data_for(i))
        t.commit()
