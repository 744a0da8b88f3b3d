"""The errors ovl.store's core raises (a bad argument, a read-only or
full store, a finished transaction), made here at the raise: a board
keeps none of their messages on its heap until one is raised (each long
string a module holds is an object of its own, docs/FIT.md "Code size
and import heap").  ovl.store names each by its _E_ const, its place in
FAILURES; none is raised while a MemoryError is handled (the import
allocates)."""

from ovl import compat

# (the exception class, or the errno of an OSError; the message)
FAILURES = (
    (ValueError, "%s must be a 32-bit unsigned int, not %r"),
    (ValueError, "log store needs at least %d erase blocks, flash has %d"),
    (ValueError, "erase block of %d bytes is too small for the log store"),
    (compat.EINVAL, "negative offset"),
    (compat.EROFS, "log store mounted read-only"),
    (compat.EIO, "no good block left to write"),
    (compat.ENOSPC, "log store full"),
    (compat.EFBIG, "node of %d bytes does not fit an erase block"),
    (ValueError, "transaction already committed or aborted"),
    (compat.ENOSPC, "no inode number left"),
    (ValueError, "unknown inode attribute %r"),
    (ValueError, "cannot link inode number %d"),
    (ValueError, "metadata key must be 1..%d bytes"),
    (compat.E2BIG, "metadata value of %d bytes is over %d"),
)


def error(kind, *args):
    """The exception for ovl.store's failure `kind` (an _E_ const), its
    message formatted with args."""
    cls, message = FAILURES[kind]
    if isinstance(cls, int):
        return compat.oserror(cls, message % args)
    return cls(message % args)
