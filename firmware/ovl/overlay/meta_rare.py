"""What ovl.overlay.meta's rules need only when they meet the unusual,
imported at the first such case (a board that makes ASCII names under
short paths never loads it): the upper's name rule on MicroPython past
ASCII (strict_utf8, at the first name or symlink target to store that is
not ASCII), and the limit of a lower path a copy-up records
(ORIGIN_PATH_MAX, origin_path: the overlay asks at a path over 240
characters).

MicroPython's str, and its bytes.decode, let through what CPython's
refuses to encode or decode: UTF-16 surrogates, overlong forms and code
points past U+10FFFF.  A name holding one must not reach the upper (a
CPython host could not list it), so each name made (and symlink target) is checked here
against the well-formed byte sequences of the Unicode standard (its
table 3-7), as CPython's strict codec does.
"""

from ovl import compat

# The longest lower path (UTF-8 bytes) a copy-up records in ORIGIN: a meta
# value holds at most 1024 bytes (docs/FORMAT.md) and the record's numbers
# at most 64 (a SquashFS lower's u32 ino and mtime, u64 size and lower
# limit, their spaces), so every path this long fits, whatever the file.
# (Here, not in ovl.overlay.meta: the overlay asks only for a path over
# 240 characters, which a board rarely has.)
ORIGIN_PATH_MAX = 960


def origin_path(path):
    """path, if an ORIGIN record can hold it; else ENAMETOOLONG: nothing
    at or below it can be copied up."""
    n = len(path.encode())
    if n > ORIGIN_PATH_MAX:
        # (the path last: the CLI cuts a long message)
        raise compat.oserror(
            compat.ENAMETOOLONG, "lower path of %d bytes, longer than the %d"
            " a copy-up records: %s" % (n, ORIGIN_PATH_MAX, path))
    return path


def well_formed(raw):
    """Is raw (bytes) well-formed UTF-8?"""
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c < 0x80:
            i += 1
            continue
        # the continuation bytes a lead byte takes, and the range of the
        # first of them (where overlong forms, surrogates and code points
        # past U+10FFFF are cut off)
        if 0xC2 <= c <= 0xDF:
            more, lo, hi = 1, 0x80, 0xBF
        elif c == 0xE0:
            more, lo, hi = 2, 0xA0, 0xBF
        elif c == 0xED:
            more, lo, hi = 2, 0x80, 0x9F
        elif 0xE1 <= c <= 0xEF:
            more, lo, hi = 2, 0x80, 0xBF
        elif c == 0xF0:
            more, lo, hi = 3, 0x90, 0xBF
        elif 0xF1 <= c <= 0xF3:
            more, lo, hi = 3, 0x80, 0xBF
        elif c == 0xF4:
            more, lo, hi = 3, 0x80, 0x8F
        else:
            return False
        if i + more >= n or not lo <= raw[i + 1] <= hi:
            return False
        for j in range(i + 2, i + more + 1):
            if not 0x80 <= raw[j] <= 0xBF:
                return False
        i += more + 1
    return True
