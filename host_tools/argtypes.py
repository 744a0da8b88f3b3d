"""argparse `type=` functions shared by the `ovl` commands.

A value that is not of the option's kind is an argument error: argparse
prints the usage and one "ovl CMD: error: argument --X: ..." line and exits
2, as for every `ovl` command (docs/STORE.md).  Checks that involve several
options run later and raise host_tools.cli.UsageError, which exits the same
way.
"""

import argparse
import math


def parse_size(text):
    """'1M', '64k', '0x1000' or '4096' -> bytes; ValueError otherwise."""
    t = text.strip().lower()
    mult = 1
    for suffix, m in (("kib", 1024), ("mib", 1 << 20), ("k", 1024),
                      ("m", 1 << 20), ("g", 1 << 30)):
        if t.endswith(suffix):
            t = t[:-len(suffix)]
            mult = m
            break
    try:
        return int(t, 0) * mult
    except ValueError:
        raise ValueError("not a size: %r" % text)


def size(text):
    """A positive number of bytes (1M, 64k, 0x1000, 4096)."""
    try:
        value = parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    if value <= 0:
        raise argparse.ArgumentTypeError("%r is not a positive size" % text)
    return value


def power_of_two_size(text):
    """A size that is a power of two: an erase block, a page."""
    value = size(text)
    if value & (value - 1):
        raise argparse.ArgumentTypeError("%r (%d bytes) is not a power of two"
                                         % (text, value))
    return value


def at_least(minimum):
    """An integer >= minimum (a count, a port, a baud rate)."""
    def integer(text):
        try:
            value = int(text, 10)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError("%r is not a whole number of %d"
                                             " or more" % (text, minimum))
        return value
    integer.__name__ = "integer >= %d" % minimum
    return integer


positive = at_least(1)
count = at_least(0)


def tcp_port(text):
    """0..65535 (0: the system picks a free port)."""
    value = count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("%r is not a TCP port (0 to 65535)"
                                         % text)
    return value


def seconds(text):
    """A finite, non-negative number of seconds (nan or inf would make
    every wait endless)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < math.inf:
        raise argparse.ArgumentTypeError("%r is not a number of seconds"
                                         % text)
    return value


def fraction(text):
    """A number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("%r is not a fraction from 0 to 1"
                                         % text)
    return value


def checked_by(parse):
    """A type from a parser that raises ValueError with its own message
    (mkimage's block size and times)."""
    def value(text):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e))
    value.__name__ = parse.__name__
    return value


def absolute_path(text):
    """A path on the device, from its root (a `--keep` path)."""
    if not text.startswith("/"):
        raise argparse.ArgumentTypeError("%r is not an absolute path" % text)
    return text
