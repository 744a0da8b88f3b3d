"""The upper's name rule on MicroPython, past ASCII (ovl.overlay.meta's
strict_utf8 imports it at the first name or symlink target to store
that is not ASCII: a board that makes ASCII names never loads it).

MicroPython's str, and its bytes.decode, let through what CPython's
refuses to encode or decode: UTF-16 surrogates, overlong forms and code
points past U+10FFFF.  A name holding one must not reach the upper (a
CPython host could not list it), so each name made (and symlink target) is checked here
against the well-formed byte sequences of the Unicode standard (its
table 3-7), as CPython's strict codec does.
"""


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
