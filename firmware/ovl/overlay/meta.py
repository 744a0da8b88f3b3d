"""What the upper records about the union, and the limits of its fields.

Meta keys (docs/OVERLAY.md), the ORIGIN record of a copied-up object, the
upper's name rule (UTF-8), the lower identity the upper remembers, and the
limits of the on-flash fields (docs/FORMAT.md).  Shared by every module of
the overlay and by ovl.upgrade.
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
    any str (its bytes are what a lookup compares).  upper_name judges
    each name made."""
    if compat.MICROPYTHON:
        return True     # (encode() copies it: no check)
    try:
        name.encode("utf-8", "surrogateescape")
        return True
    except UnicodeError:
        return False


def strict_utf8(text):
    """Can the upper store text (a name made, a symlink's target)?  Only
    strict UTF-8: a MicroPython str may hold surrogates, overlong forms
    and code points past U+10FFFF, which a CPython one cannot encode
    (ovl.overlay.meta_rare checks one that is not ASCII)."""
    if not compat.MICROPYTHON:
        try:
            text.encode()
            return True
        except UnicodeError:
            return False
    raw = text.encode()
    if not raw or max(raw) < 0x80:
        return True
    from ovl.overlay import meta_rare
    return meta_rare.well_formed(raw)


def followable(name):
    """May a walk or a listing follow name, as the upper lists it?  Not
    when a damaged or edited upper holds one the format forbids: the
    cheap part of its rule (ovl.store.write.name_fault has it whole and
    says what is wrong: fsck and diff report it)."""
    return name != "" and name != "." and name != ".." and \
        "/" not in name and "\x00" not in name


def upper_name(name):
    """name, if the upper can store it (strict_utf8)."""
    if not strict_utf8(name):
        raise compat.oserror(compat.EINVAL, "name %r is not UTF-8, which"
                             " the upper stores" % name)
    return name


class Origin:
    """Where an upper object came from in the lower (the ORIGIN meta).

    Encoded as "ino size mtime lowlim path": the fingerprint (ino, size,
    mtime) tells whether the lower still holds the same object; lowlim is
    the lower limit of a partially copied-up file (unused for others).
    """

    def __init__(self, ino, size, mtime, lowlim, path):
        self.ino = ino
        self.size = size
        self.mtime = mtime
        self.lowlim = lowlim
        self.path = path

    def encode(self):
        return ("%d %d %d %d %s" % (self.ino, self.size, self.mtime,
                                    self.lowlim, self.path)).encode()

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

