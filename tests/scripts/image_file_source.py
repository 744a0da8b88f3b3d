"""FileSource: an image file as a SquashFS source with readinto, so that
(as a chip behind ovl.flash) its bytes are not on the heap; for the
scripts that measure what the reader allocates."""


class FileSource:
    def __init__(self, path):
        self.f = open(path, "rb")
        self.f.seek(0, 2)
        self.size = self.f.tell()

    def readinto(self, addr, buf):
        self.f.seek(addr)
        self.f.readinto(buf)

    def read(self, addr, n):
        self.f.seek(addr)
        return self.f.read(n)
