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
