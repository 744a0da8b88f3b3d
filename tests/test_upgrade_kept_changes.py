"""What an upgrade does to the changes that are not edits of a file in
place: a firmware file only renamed, a renamed firmware directory and a
copied-up one that the new firmware drops or makes a file, an edited
hard-linked file whose image numbers its inodes anew, names made again
over firmware ones the new firmware leaves alone (docs/OVERLAY.md,
"Firmware upgrades").  Each is run with the keep step `ovl flash` runs
before the old image goes, and without (the lower replaced behind ovl's
back: `ovl fs --lower NEW`), on both runtimes."""

import os

import pytest

from host_tools.image.mkimage import build_image

MTIME = 1700000000      # one mtime for every file: only content tells

TREES = {
    "v1": {"etc/gonelater": b"gone later\n",
           "etc/renamesrc": b"renamed src AAAA\n",
           "etc/modeonly": b"mode only old\n",
           "etc/tmpl/a.conf": b"template A\n",
           "etc/d2f/x": b"inside\n", "etc/d2f_ch/y": b"inside2\n",
           "etc/dd/x": b"x\n", "etc/plain": b"file\n", "etc/ff/y": b"y\n",
           "bin/tool": b"tool v1 original\n"},
    "v2": {"etc/renamesrc": b"renamed src BBBB\n",
           "etc/modeonly": b"mode only NEW\n",
           "etc/d2f": b"now a file\n", "etc/d2f_ch": b"now a file2\n",
           "etc/dd/x": b"x\n", "etc/plain": b"file\n", "etc/ff/y": b"y\n",
           "etc/other": b"unrelated\n",
           "bin/tool": b"tool v1 original\n", "bin/added": b"new\n"},
}


def build(root):
    for version, files in TREES.items():
        top = os.path.join(root, version)
        for rel, data in files.items():
            path = os.path.join(top, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
        os.link(os.path.join(top, "bin/tool"),
                os.path.join(top, "bin/tool-alias"))
        os.makedirs(os.path.join(top, "lnk"))
        for name, target in (("rel", "../etc/modeonly"), ("via", "rel"),
                             ("abs", "/etc/modeonly"), ("loop", "loop"),
                             ("none", "nothing")):
            os.symlink(target, os.path.join(top, "lnk", name))
        build_image(top, top + ".sqfs", mtime=MTIME)


ETC = ["d2f", "d2f_ch", "dd", "ff", "mine", "mine2", "modeonly", "mytmpl",
       "other", "plain"]

# what reads the same with and without the keep step
COMMON = {
    "before": ["gone later\n", "renamed src AAAA\n"],
    "ino moved": True,
    "read /etc/modeonly": "mode only NEW\n",
    "mode modeonly": 0o600,
    "read /etc/d2f/new": "user file\n",
    # an edit of one name of a hard-linked file: both names keep it,
    # though /bin/added moved every inode number after it
    "read /bin/tool": "TOOL v1 original\n",
    "read /bin/tool-alias": "TOOL v1 original\n",
    "read again /bin/tool-alias": "TOOL v1 original\n",
    "tool links": True,
    "read /etc/dd": "mine\n",
    "ls /etc": ETC,
    "ls /etc/plain": [],
    # `cat --layer lower` follows a firmware symlink within the lower
    "lower /lnk/rel": "mode only NEW\n", "lower /lnk/via": "mode only NEW\n",
    "lower /lnk/abs": "mode only NEW\n", "lower /lnk/loop": "ELOOP",
    "lower /lnk/none": "ENOENT",
    # a directory of yours at home whose firmware directory became a file:
    # what it showed from the lower is gone (listed as "dropped")
    "ls /etc/d2f": ["new"], "ls /etc/d2f_ch": [],
}


def test_the_keep_step_keeps_renamed_files_and_dropped_directories(
        runtime, tmp_path):
    build(str(tmp_path))
    want = dict(COMMON)
    # a renamed file, and a moved directory whose firmware directory
    # goes, are copied up whole; dd, plain and ff, made again over
    # firmware names the new firmware left alone, are no conflict
    conflicts = [["dropped", "/etc/d2f"], ["dropped", "/etc/d2f_ch"],
                 ["modified", "/etc/mine"], ["modified", "/etc/mine2"]]
    want.update({
        "kept": ["/etc/mine", "/etc/mine2", "/etc/mytmpl"],
        "again": [0, 0, 0],
        "conflicts": conflicts, "conflicts again": conflicts,
        "read /etc/mine": "gone later\n",
        "read /etc/mine2": "renamed src AAAA\n",
        "read /etc/mytmpl/a.conf": "template A\n",
        "ls /etc/mytmpl": ["a.conf"],
        "fsck": ["/etc/d2f: redirect to missing lower dir /etc/d2f",
                 "/etc/d2f_ch: redirect to missing lower dir /etc/d2f_ch",
                 "/etc/gonelater: whiteout over nothing",
                 "/etc/tmpl: whiteout over nothing"]})
    runtime.run_checks("upgrade_kept_changes.py", want,
                       args=["keep", str(tmp_path)], heap="16M")


def test_without_the_keep_step_they_are_conflicts_never_new_bytes(
        runtime, tmp_path):
    build(str(tmp_path))
    want = dict(COMMON)
    conflicts = [["dropped", "/etc/d2f"], ["dropped", "/etc/d2f_ch"],
                 ["conflict", "/etc/mine"], ["conflict", "/etc/mine2"],
                 ["dropped", "/etc/mytmpl"]]
    want.update({
        "conflicts": conflicts, "conflicts again": conflicts,
        "read /etc/mine": "EIO", "read /etc/mine2": "EIO",
        "read /etc/mytmpl/a.conf": "ENOENT",
        "ls /etc/mytmpl": []})
    runtime.run_checks("upgrade_kept_changes.py", want,
                       args=["raw", str(tmp_path)], heap="16M")
