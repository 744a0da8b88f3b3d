"""Walking a whole SquashFS image (ovl.squashfs.SquashFS): every path
below a directory with its Entry, for the image tools, benchmarks and
tests.  A board's overlay looks names up one at a time and never walks, so
it never imports this module (its code would be about 0.2 KB of .mpy on
the mount path)."""

from ovl.paths import S_IFMT, S_IFDIR


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
