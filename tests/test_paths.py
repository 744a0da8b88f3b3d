"""ovl.paths (file types, path helpers) and ovl.lower.Entry behave the same
on both runtimes: the overlay, both lowers and the host tools rely on it."""

from ovl.paths import S_IFREG

EXPECTED = {
    "join under root": "/a",
    "join under a dir": "/a/b/c",
    "split drops empty and dot": ["a", "b"],
    "split keeps dot-dot": ["a", "..", "b"],
    "normalize dot-dot": "/a/c",
    "normalize above root": "/x",
    "normalize relative": "/a/b",
    "normalize empty": "/",
    "split bytes": "TypeError",
    # [is_dir, is_reg, is_lnk]
    "kinds of dir": [True, False, False],
    "kinds of file": [False, True, False],
    "kinds of symlink": [False, False, True],
    "kinds of fifo": [False, False, False],
    "type bits all under S_IFMT": True,
    "entry fields": [7, S_IFREG | 0o644, 1, 12, 1000, "f", "/f", None],
    "entry repr": "<Entry 'f' ino=7 mode=100644 size=12>",
    "dirlower's Entry is ovl.lower's": True,
    "dirlower loads no image reader": True,
}


def test_paths_and_entry(runtime):
    runtime.run_checks("paths_and_entry.py", EXPECTED)


def test_file_type_bits_are_spelled_only_in_ovl_paths():
    """DEVELOPING.md: the S_IF* bits are declared once, in ovl.paths;
    every other module names them (is_dir, S_IFMT ...), never as a raw
    octal literal such as 0o170000."""
    import os
    import re
    from conftest import ROOT
    from ovl import paths
    values = sorted(set(getattr(paths, n) for n in dir(paths)
                        if n.startswith("S_IF")))
    literal = re.compile(r"\b0o0*(%s)\b" % "|".join("%o" % v for v in values))
    found = []
    for top in ("firmware", "host_tools"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                path = os.path.join(d, name)
                if not name.endswith(".py") or path == paths.__file__:
                    continue
                with open(path, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        if literal.search(line):
                            found.append("%s:%d" % (os.path.relpath(path, ROOT),
                                                    n))
    assert found == [], found
