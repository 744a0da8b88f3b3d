"""Walking a SquashFS image (ovl.squashfs.SquashFS) as tools, benchmarks
and tests do: every path below a directory with its Entry, and a
directory's names alone.  A board's overlay looks names up and reads
directories through the reader's Lower interface and never walks, so it
never imports this module (its code would be about 0.3 KB of .mpy on the
mount path)."""

from ovl import compat
from ovl.paths import S_IFMT, S_IFDIR
from ovl.squashfs import _decode_name


def walk(fs, path="/"):
    """Yield (path, Entry) for `path` of the image `fs` and everything
    below it, depth first, refusing directory loops (DirectoryLoopError:
    a directory that lists one of its ancestors)."""
    top = fs.lookup(path)
    yield path, top
    if top.mode & S_IFMT != S_IFDIR:
        return
    ancestors = [top.loc.ref]
    stack = [(path.rstrip("/"), fs.readdir(top))]
    while stack:
        base, it = stack[-1]
        step = next(it, None)
        if step is None:
            stack.pop()
            ancestors.pop()
            continue
        name, child = step
        child_path = base + "/" + name
        yield child_path, child
        if child.mode & S_IFMT == S_IFDIR:
            if child.loc.ref in ancestors:
                from ovl.squashfs_errors import DirectoryLoopError
                raise DirectoryLoopError("%s is its own ancestor"
                                         % child_path)
            ancestors.append(child.loc.ref)
            stack.append((child_path, fs.readdir(child)))


def listdir(fs, entry):
    """The names in directory `entry` of the image `fs`, in UTF-8 byte
    order, reading no inodes (the cheap way to list a directory).  It
    walks the listing as SquashFS.readdir does, but keeps only names."""
    if entry.mode & S_IFMT != S_IFDIR:
        raise compat.oserror(compat.ENOTDIR, entry.name)
    d = entry.loc
    for item in fs._listing(d, fs.directory_table_start + d.start_block,
                            d.offset, 0):
        yield _decode_name(item[0])
