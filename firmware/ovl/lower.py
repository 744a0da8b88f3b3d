"""What a lower layer hands out: Entry, shared by every Lower.

The Lower contract (docs/DEVELOPING.md) is met by ovl.squashfs.SquashFS and
ovl.dirlower.DirLower; this module lets a lower describe its entries
without importing another lower (a directory lower needs no image reader).
"""


class Entry:
    """What lookup/readdir return: stat fields plus where the data lives.

    ino, mode (with S_IF* bits), nlink, uid, gid, size, mtime, rdev, name
    are the Lower contract.  `path` is set by lowers that address entries
    by path (DirLower); `loc` holds the image reader's private location
    (the SquashFS reader's entries are their own location: loc is self).
    """

    def __init__(self, ino, mode, nlink, uid, gid, size, mtime, rdev, name,
                 path=None, loc=None):
        self.ino = ino
        self.mode = mode
        self.nlink = nlink
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime = mtime
        self.rdev = rdev
        self.name = name
        self.path = path
        self.loc = loc

    def __repr__(self):
        return "<Entry %r ino=%d mode=%o size=%d>" % (
            self.name, self.ino, self.mode, self.size)
