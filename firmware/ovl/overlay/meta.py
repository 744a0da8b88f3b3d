"""What the upper records about the union, and the limits of its fields.

Meta keys (docs/OVERLAY.md), the ORIGIN record of a copied-up object, the
name a lookup may find in the upper (utf8), the lower identity the upper
remembers, and the limits of the on-flash fields (docs/FORMAT.md).  Shared
by every module of the overlay and by ovl.upgrade.  What only a change
applies, the upper's name rule for a name made (upper_name, strict_utf8)
and an Origin's encoding (origin_bytes), is ovl.overlay.writing's: a board
that mounts and reads keeps none of it.
"""

from ovl import compat

# Upper-only objects get st_ino from a range no lower image reaches, so
# numbers stay unique and a copied-up object keeps its lower st_ino.
UPPER_INO_BASE = 1 << 40

META_ORIGIN = "origin"
META_LOWER_ID = "lower_id"
META_RESET = "reset_next_boot"
META_BASE = "base"          # ovl.upgrade: digest of the lower bytes used
META_CONFLICT = "conflict"  # ovl.upgrade: what an upgrade did to a file
META_REPLACES = "replaces"  # ovl.upgrade: the lower file an upper one hides
INDEX_PREFIX = "link:"      # + lower ino -> upper ino, on the root inode

NAME_MAX = 255
# Limits of the on-flash fields (docs/FORMAT.md): sizes and offsets are
# u64 but kept to Linux's signed off_t (ids and times: ovl.overlay.hostops,
# which sets them).
MAX_FILE_SIZE = (1 << 63) - 1


def utf8(name):
    """Can name be in the upper (a lookup's question)?  Any str of bytes:
    on CPython, a name the store listed decoded with surrogateescape (one
    an older ovl on MicroPython stored that is not UTF-8) is looked up by
    its own bytes, so it can be read, renamed and removed; on MicroPython
    any str (its bytes are what a lookup compares).
    ovl.overlay.writing.upper_name judges each name made."""
    if compat.MICROPYTHON:
        return True     # (encode() copies it: no check)
    try:
        name.encode("utf-8", "surrogateescape")
        return True
    except UnicodeError:
        return False


def followable(name):
    """May a walk or a listing follow name, as the upper lists it?  Not
    when a damaged or edited upper holds one the format forbids: the
    cheap part of its rule (ovl.store.write.name_fault has it whole and
    says what is wrong: fsck and diff report it)."""
    return name != "" and name != "." and name != ".." and \
        "/" not in name and "\x00" not in name


class Origin:
    """Where an upper object came from in the lower (the ORIGIN meta).

    Encoded as "ino size mtime lowlim path" (ovl.overlay.writing's
    origin_bytes; decode reads it): the fingerprint (ino, size,
    mtime) tells whether the lower still holds the same object; lowlim is
    the lower limit of a partially copied-up file (unused for others).
    """

    def __init__(self, ino, size, mtime, lowlim, path):
        self.ino = ino
        self.size = size
        self.mtime = mtime
        self.lowlim = lowlim
        self.path = path

    @staticmethod
    def decode(raw):
        try:
            f = bytes(raw).decode().split(" ", 4)
            return Origin(int(f[0]), int(f[1]), int(f[2]), int(f[3]), f[4])
        except (ValueError, IndexError, UnicodeError):
            raise ValueError("bad origin meta %r" % (raw,))


def identity_bytes(lower):
    """lower.identity() as the bytes the upper records."""
    ident = lower.identity()
    return ident if isinstance(ident, bytes) else str(ident).encode()

