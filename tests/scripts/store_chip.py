"""The chip the store heap scripts write to (store_ram.py,
store_call_alloc.py): 1 MiB NOR, 4 KiB erase blocks, 256-byte pages, in a
file behind a Flash subclass, so its bytes are not on the GC heap, as on a
device; and the bytes of the small files they write."""

from ovl.flash import Flash

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
