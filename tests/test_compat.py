"""ovl.compat's errno table gives Linux's numbers and names on both
runtimes (the host's errno module is the reference: the tests run on
Linux)."""
import errno
import os
import re

import pytest

COMPAT = os.path.join(os.path.dirname(__file__), "..", "firmware", "ovl",
                      "compat.py")


def table_names():
    """The names in compat's table (its _ERRNO string)."""
    with open(COMPAT) as f:
        src = f.read()
    table = re.search(r"_ERRNO = const\((.*?)\)\n", src, re.S).group(1)
    return re.findall(r"\b(E[A-Z0-9]+) \d+", table)


def test_errno_table_matches_linux(runtime):
    names = table_names()
    assert len(names) >= 28 and "ENOENT" in names and "ESTALE" in names
    if not hasattr(errno, "ENOENT") or errno.ENOTEMPTY != 39:
        pytest.skip("the host is not Linux: no reference for the numbers")
    expected = {n: [getattr(errno, n), n] for n in names}
    expected["unknown"] = ["E1000", "E3", "AttributeError", "AttributeError",
                           "AttributeError", "AttributeError"]
    expected["an oserror"] = [errno.ENOTEMPTY, "ENOTEMPTY: /d"]
    runtime.run_checks("compat_errno.py", expected, args=names)
