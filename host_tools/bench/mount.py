"""`ovl mount` against kernel overlayfs and fuse-overlayfs, in one run.

    .venv/bin/python -m host_tools.bench.mount [--rounds N]   (as root)

The same lower (a SquashFS image) under each: ovl mount with an upper image
file; kernel overlayfs over the image loop-mounted, upper and work on a
tmpfs; fuse-overlayfs the same way when it is installed.  Each round mounts
each afresh and times, with real syscalls on the mountpoint: a sequential
read of a 16 MiB lower file, a sequential write of 16 MiB, create+write+
close of 1,000 small files, `tar -x` of a 2,000-file tree, and lstat of
every file.  Prints the median seconds and ovl's ratio to each peer.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

class Sizes:
    big = 16 << 20
    small_files = 1000
    tar_files = 2000


class QuickSizes(Sizes):
    """--quick: the same steps at a size for a smoke test."""
    big = 1 << 20
    small_files = 50
    tar_files = 100


TIMEOUT = 300


def run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=TIMEOUT)
    if proc.returncode:
        raise RuntimeError("%s: %s" % (" ".join(argv), proc.stderr.strip()))


def build(base, sizes):
    lower = os.path.join(base, "lower")
    os.makedirs(lower)
    with open(os.path.join(lower, "big"), "wb") as f:
        f.write(os.urandom(sizes.big))
    for d in range(20):
        os.makedirs(os.path.join(lower, "tree", "d%d" % d))
        for i in range(50):
            with open(os.path.join(lower, "tree", "d%d" % d, "f%d" % i),
                      "wb") as f:
                f.write(b"x" * (i * 40))
    image = os.path.join(base, "lower.sqfs")
    run(["mksquashfs", lower, image, "-noappend", "-quiet"])
    src = os.path.join(base, "tarsrc")
    for i in range(sizes.tar_files):
        d = os.path.join(src, "p%d" % (i // 100))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%d" % i), "wb") as f:
            f.write(b"y" * (i % 3000))
    tar = os.path.join(base, "tree.tar")
    with tarfile.open(tar, "w") as t:
        t.add(src, arcname="x")
    return image, tar


class Ovl:
    name = "ovl mount"

    def __init__(self, base, image):
        self.base, self.image = base, image
        self.mnt = os.path.join(base, "ovl-mnt")
        self.upper = os.path.join(base, "upper.img")
        os.makedirs(self.mnt, exist_ok=True)

    def mount(self):
        if os.path.exists(self.upper):
            os.remove(self.upper)
        ovl = [sys.executable, "-m", "host_tools"]
        run(ovl + ["format", self.upper, "--size", "128M", "--erase-size",
                   "64k"])
        run(ovl + ["mount", "--lower", self.image, "--upper", self.upper,
                   self.mnt])

    def umount(self):
        run([sys.executable, "-m", "host_tools", "umount", self.mnt])


class KernelOverlay:
    name = "kernel overlayfs"
    kind = "overlay"

    def __init__(self, base, image):
        self.base, self.image = base, image
        self.root = os.path.join(base, self.__class__.__name__)
        self.low = os.path.join(self.root, "low")
        self.tmp = os.path.join(self.root, "tmp")
        self.mnt = os.path.join(self.root, "mnt")
        for d in (self.low, self.tmp, self.mnt):
            os.makedirs(d, exist_ok=True)

    def mount(self):
        run(["mount", "-t", "squashfs", "-o", "loop,ro", self.image,
             self.low])
        run(["mount", "-t", "tmpfs", "bench", self.tmp])
        os.makedirs(self.tmp + "/u")
        os.makedirs(self.tmp + "/w")
        opts = "lowerdir=%s,upperdir=%s/u,workdir=%s/w" % (self.low,
                                                             self.tmp,
                                                             self.tmp)
        self.mount_overlay(opts)

    def mount_overlay(self, opts):
        run(["mount", "-t", "overlay", "overlay", "-o", opts, self.mnt])

    def umount(self):
        for d in (self.mnt, self.tmp, self.low):
            subprocess.run(["umount", d], capture_output=True,
                           timeout=TIMEOUT)


class FuseOverlayfs(KernelOverlay):
    name = "fuse-overlayfs"

    def mount_overlay(self, opts):
        run(["fuse-overlayfs", "-o", opts, self.mnt])


def seq_read(mnt, tar, sizes):
    with open(os.path.join(mnt, "big"), "rb") as f:
        while f.read(1 << 20):
            pass


def seq_write(mnt, tar, sizes):
    block = os.urandom(1 << 20)
    with open(os.path.join(mnt, "written"), "wb") as f:
        for _ in range(sizes.big >> 20):
            f.write(block)


def small_files(mnt, tar, sizes):
    os.mkdir(os.path.join(mnt, "small"))
    for i in range(sizes.small_files):
        with open(os.path.join(mnt, "small", "s%d" % i), "wb") as f:
            f.write(b"z" * 1000)


def untar(mnt, tar, sizes):
    run(["tar", "-xf", tar, "-C", mnt])


def stat_all(mnt, tar, sizes):
    for top, dirs, files in os.walk(mnt):
        for name in files:
            os.lstat(os.path.join(top, name))


def tasks(sizes):
    mib = sizes.big >> 20
    return [("read %d MiB (lower)" % mib, seq_read),
            ("write %d MiB" % mib, seq_write),
            ("{:,} small files".format(sizes.small_files), small_files),
            ("tar -x {:,} files".format(sizes.tar_files), untar),
            ("lstat every file", stat_all)]


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="1 MiB, 50 small "
                   "files, 100 in the tar: a smoke test")
    args = p.parse_args(argv)
    sizes = QuickSizes if args.quick else Sizes
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        print("bench_mount: skipped: mounting needs root and /dev/fuse")
        return 0
    base = tempfile.mkdtemp(prefix="ovl-bench-mount-")
    try:
        image, tar = build(base, sizes)
        systems = [Ovl(base, image), KernelOverlay(base, image)]
        if shutil.which("fuse-overlayfs"):
            systems.append(FuseOverlayfs(base, image))
        else:
            print("fuse-overlayfs not installed: compared with the kernel "
                  "only")
        steps = tasks(sizes)
        times = {(s.name, t[0]): [] for s in systems for t in steps}
        for _ in range(args.rounds):
            for s in systems:
                s.mount()
                try:
                    for label, fn in steps:
                        start = time.perf_counter()
                        fn(s.mnt, tar, sizes)
                        times[(s.name, label)].append(
                            time.perf_counter() - start)
                finally:
                    s.umount()
        head = "%-22s" % "task" + "".join("%18s" % s.name for s in systems)
        head += "".join("%20s" % ("ovl/" + s.name.split()[0])
                        for s in systems[1:])
        print(head)
        for label, _fn in steps:
            row = [median(times[(s.name, label)]) for s in systems]
            line = "%-22s" % label + "".join("%16.3f s" % t for t in row)
            line += "".join("%20.2f" % (row[0] / t) for t in row[1:])
            print(line)
        read = median(times[(systems[0].name, steps[0][0])])
        print("ovl mount reads the lower at %.0f MB/s (median of %d rounds)"
              % (sizes.big / read / 1e6, args.rounds))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
