"""Benchmark: `ovl mkimage` against mksquashfs on the same tree, same run.

    python -m host_tools.bench.mkimage [SRC_DIR] [--block-sizes 4K,128K,1M]
                                       [--comp gzip|xz]

Prints, per block size, both image sizes and build times and the ratios
ours/mksquashfs.  mksquashfs runs with its defaults (gzip level 9, export
table on) plus -no-xattrs (ovl images carry none), and once more with
-no-exports, which is what ovl writes.  Without SRC_DIR the tree is this
Python's standard library (text, some binaries, many small files: close
to a firmware root's mix), minus __pycache__ and site-packages.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from host_tools.image import mkimage


def default_source():
    return os.path.dirname(os.__file__)


def default_excludes():
    # Tests and bundled wheels are most of the bulk; a firmware root has
    # neither, and leaving them out keeps a run near half a minute.
    return ["__pycache__", "site-packages", "dist-packages", "test", "tests",
            "idlelib", "ensurepip", "tkinter", "lib2to3", "config-*"]


def mksquashfs_cmd(src, out, block_size, excludes, extra, comp="gzip"):
    cmd = ["mksquashfs", src, out, "-noappend", "-quiet", "-no-progress",
           "-b", block_size, "-no-xattrs", "-wildcards", "-comp", comp] + extra
    if excludes:
        cmd += ["-e"] + ["... " + pat for pat in excludes]
    return cmd


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(src, block_sizes, excludes, comp="gzip"):
    if not shutil.which("mksquashfs"):
        print("mksquashfs is not installed (apt install squashfs-tools): "
              "no peer to compare with")
        return 1
    print("source: %s (excluding %s), %s" % (
        src, ", ".join(excludes) or "nothing", comp))
    print("%-6s %12s %12s %12s %8s %8s %8s %8s" % (
        "block", "ovl bytes", "mksq bytes", "mksq -noexp", "size/mk",
        "size/mk-ne", "ovl s", "time/mk"))
    with tempfile.TemporaryDirectory() as tmp:
        for bs in block_sizes:
            ours = os.path.join(tmp, "ovl.sqfs")
            ref = os.path.join(tmp, "mk.sqfs")
            ref_ne = os.path.join(tmp, "mk-ne.sqfs")
            summary = [None]

            def build_ours():
                summary[0] = mkimage.build_image(src, ours, block_size=bs,
                                                 comp=comp, excludes=excludes)
            t_ours = timed(build_ours)
            t_ref = timed(lambda: subprocess.run(
                mksquashfs_cmd(src, ref, bs, excludes, [], comp), check=True,
                stdout=subprocess.DEVNULL))
            subprocess.run(mksquashfs_cmd(src, ref_ne, bs, excludes,
                                          ["-no-exports"], comp),
                           check=True, stdout=subprocess.DEVNULL)
            s_ours, s_ref, s_ne = (os.path.getsize(p) for p in (ours, ref, ref_ne))
            print("%-6s %12d %12d %12d %8.3f %8.3f %8.2f %8.1f" % (
                bs, s_ours, s_ref, s_ne, s_ours / s_ref, s_ours / s_ne,
                t_ours, t_ours / t_ref))
        print("input: %s" % summary[0].line())
    print("size/mk < 1 means ovl's image is smaller; time/mk compares a "
          "single-threaded Python builder with multi-threaded C")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", nargs="?", help="tree to build (default: the stdlib)")
    p.add_argument("--block-sizes", default="4K,128K,1M")
    p.add_argument("--comp", choices=("gzip", "xz"), default="gzip")
    args = p.parse_args(argv)
    src = args.src or default_source()
    excludes = [] if args.src else default_excludes()
    return run(src, args.block_sizes.split(","), excludes, args.comp)


if __name__ == "__main__":
    sys.exit(main())
