"""Benchmark: does ovl fit the boards it names?  (docs/FIT.md)

    python -m host_tools.bench_fit [--board B] [--counts 0,100,...] [--linux]

placeholder: filled in below
"""

import os

LOWER_FILES = 2000
LOWER_DIRS = 40


def make_lower_tree(root, files=LOWER_FILES, dirs=LOWER_DIRS):
    """A deterministic source tree: `files` small files (60-400 bytes of
    text) spread over `dirs` directories, as a firmware's lower might be."""
    for d in range(dirs):
        os.makedirs(os.path.join(root, "d%02d" % d), exist_ok=True)
    for i in range(files):
        path = os.path.join(root, "d%02d" % (i % dirs), "f%04d.txt" % i)
        size = 60 + (i * 7919) % 341
        line = ("file %d of the lower; " % i).encode()
        with open(path, "wb") as f:
            f.write((line * (size // len(line) + 1))[:size])
