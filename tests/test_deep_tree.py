"""A directory tree deeper than the call stack (docs/OVERLAY.md, "Firmware
verbs": Depth)."""
import os

import pytest


def deep_lower(root, depth, version):
    path = str(root)
    os.mkdir(path)
    for _ in range(depth):      # (os.makedirs recurses once a level)
        path += "/d"
        os.mkdir(path)
    with open(str(root) + "/d" * depth + "/x", "wb") as f:
        f.write(b"lower")
    (root / "v").write_bytes(version)


@pytest.mark.slow
def test_a_tree_deeper_than_the_stack_mounts_diffs_checks_reverts_resets(
        runtime, tmp_path):
    # 1000 levels pass CPython's recursion limit; MicroPython's unix port
    # ran out of stack at 300 (a board's C stack sooner).  The lower's
    # chain is shallower (each name a walk meets there is looked up from
    # the lower's root: the square of its depth), past the limit the
    # script gives CPython
    depth = 1000 if runtime.name == "cpython" else 400
    lower_depth = 200
    deep_lower(tmp_path / "old", lower_depth, b"1")
    deep_lower(tmp_path / "new", lower_depth, b"2")
    runtime.run_checks("deep_tree.py", {
        "copy up a deep lower file": "ok",
        "lower changed": True, "conflicts": [],
        "deep upper file": "deep",
        # the upper chain, its file, and the copied-up lower chain: its
        # directories show metadata only, the file it changed
        "diff kinds": {"added": depth + 1, "modified": 1},
        "diff deepest": True, "fsck": [],
        "after reset: root": ["d", "v"], "after reset: kept": "user",
        "after reset: fsck": [],
        "after revert: lower": "lower", "after revert: diff": [],
        "remounted: diff": [], "remounted: fsck": [],
    }, args=[str(tmp_path / "old"), str(tmp_path / "new"), str(depth),
              str(lower_depth)],
        heap="16M", timeout=600)
