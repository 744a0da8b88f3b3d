"""File types and paths: the vocabulary every layer shares.

The S_IF* constants are the POSIX file-type bits of st_mode, declared once
here (MicroPython has no `stat` module); the SquashFS format maps its inode
types onto them, the overlay, the lowers, the VFS and the host tools test
them.  Paths inside the overlay and the lowers are absolute str ("/a/b");
join, split_path and normalize are the only code that takes them apart.
"""

S_IFMT = 0o170000       # mask of the file-type bits
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000


def is_dir(mode):
    return mode & S_IFMT == S_IFDIR


def is_reg(mode):
    return mode & S_IFMT == S_IFREG


def is_lnk(mode):
    return mode & S_IFMT == S_IFLNK


def join(parent, name):
    """parent + "/" + name for an absolute, normalised parent."""
    return "/" + name if parent == "/" else parent + "/" + name


def split_path(path):
    """Components of path; '.' and empty ones dropped, '..' kept."""
    if not isinstance(path, str):
        raise TypeError("path must be str")
    # a loop, not a comprehension: that would be one more function for a
    # board to keep
    out = []
    for c in path.split("/"):
        if c and c != ".":
            out.append(c)
    return out


def normalize(path):
    """Absolute, lexically normalised path (for keys and messages)."""
    out = []
    for c in split_path(path):
        if c == "..":
            if out:
                out.pop()
        else:
            out.append(c)
    return "/" + "/".join(out)
