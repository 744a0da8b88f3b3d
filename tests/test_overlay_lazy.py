"""The overlay's parts a board's plain job never runs (an open file's lines,
positions and truncation, O_EXCL, symlinks followed, the hard-link index,
statvfs, removal and rename) stay
unimported through that job and work, on both runtimes, once named
(docs/DEVELOPING.md, "Overlay"; docs/FIT.md)."""

import os

from host_tools.image.mkimage import build_image


def lower_image(tmp_path):
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "config").write_bytes(b"option=1\n")
    (tree / "etc" / "passwd").write_bytes(b"root:x:0:0\n")
    os.link(tree / "etc" / "passwd", tree / "etc" / "passwd.lnk")
    os.symlink("config", tree / "etc" / "cfg")
    image = tmp_path / "lower.sqfs"
    build_image(str(tree), str(image), block_size=4096, mtime=1700000000,
                all_root=True)
    return str(image)


def test_lazy_paths_stay_out_of_the_board_job_and_work(runtime, tmp_path):
    fileops = "ovl.overlay.fileops"
    hostops = "ovl.overlay.hostops"
    truncate = "ovl.overlay.truncate"
    # the rare operations' names, imported by Overlay.__getattr__ at the
    # first name the class lacks (here: truncate by path)
    rare = "ovl.overlay.rare"
    runtime.run_checks("overlay_lazy_paths.py", {
        "listing": [["etc", "new"], ["a"]],
        "reads": ["option=1\noption=2\n", "new file",
                  "in a lower directory"],
        "read after remount": "in a lower directory",
        "lazy after the board's job": [],
        # what the board's job imports of the package: the Overlay (its
        # resolution and reads), meta, the file with its write-back, and
        # the write half (transactions, copy-up, the buffers)
        "the package after the board's job": [
            "ovl.overlay", "ovl.overlay.file", "ovl.overlay.meta",
            "ovl.overlay.writing"],
        # the reader's open (ovl.squashfs_open) is released after each
        # open on MicroPython (ovl.compat.call_released), CPython keeps it
        "the reader's open after the board's job":
            runtime.name == "cpython",
        "lower changed": False,
        "20 files read": True,
        "origins cached": 4,    # 20 files read after the writes (a commit
        # empties it): emptied at 8 and 16
        "an open file's lines": ["h\u00e9", 3, "llo\n", True, 7,
                                 "w\u00f6rld\n",
                                 ["h\u00e9llo\n", "w\u00f6rld\n"],
                                 "EOPNOTSUPP", [7, 7], 15],
        "refused": ["EBADF", "ValueError", "EBADF"],
        "lazy after lines": [fileops],
        "rewritten": "cut",
        "lazy after a rewrite": [fileops, truncate],
        # the refusals' messages are fileops'
        "str to a binary file": "a bytes-like object is required",
        # MicroPython's own text files take bytes too
        "bytes to a text file": "TypeError" if runtime.name == "cpython"
        else "ok",
        "str to a text file": 4,
        "a bad mode": "invalid mode: 'rwb'",
        "written": ["", "text" if runtime.name == "cpython" else "bytestext"],
        "truncated open": [[2, "EINVAL", 1], "c"],
        "truncated by path": ["opt", "EISDIR"],
        "O_EXCL": ["made", "EEXIST"],
        "lazy after O_EXCL": [fileops, hostops, rare, truncate],
        "through a symlink": "opt",
        "lazy after a symlink": [fileops, hostops, rare, truncate],
        "a walk through a symlink": ["opt", 0o040000],
        "hard link": ["root:changed", [["passwd", 12], ["passwd.lnk", 12]]],
        "statvfs": [10, 4096],
        "lazy after statvfs": [fileops, hostops, rare, truncate],
        "after remove and rename": [["cfg", "config", "passwd", "pw"],
                                    "ENOENT"],
        "after a remount": [["cfg", "config", "passwd", "pw"],
                            "root:changed", "opt", "c"],
        "lazy at the end": [fileops, hostops, rare, truncate,
                            "ovl.overlay.unlink"],
        "no such operation": "AttributeError",
    }, args=[lower_image(tmp_path)])


def test_write_half_is_imported_at_the_first_write(runtime, tmp_path):
    # ovl.overlay.writing: what only a change runs (transactions, copy-up,
    # creation, the write-back's writes and commits) is no import of a
    # mount and reads; a MemoryError while importing it fails the call
    # that needed it and changes nothing (a board near its heap's end)
    runtime.run_checks("overlay_write_lazy.py", {
        "reads": ["option=1\n", "upper file", 10],
        "write half after mount and reads": False,
        "meta after mount and reads: name rule, origin encoder":
            [False, False, False],
        "refused import": ["MemoryError"] * 6,
        "unchanged": True,
        "write half after refused imports": False,
        "write half after a mkdir": True,
        "write to a file open for reading": "EBADF",
        "after a remount": ["new", "option=1\nmore", "cut",
                            ["etc", "made", "up"]],
    }, args=[lower_image(tmp_path)])
