"""`ovl install` against `mpremote cp` of the same .mpy files, on the
same stock-MicroPython stand-in (the unix port's REPL) over the same
rate-limited pty, in the same run.

    python -m host_tools.bench.install [--baud 115200,921600]

For each baud rate: seconds for a fresh install (package, ovl_board.py,
boot.py, each hashed on the board), for a rerun (everything hashed,
nothing written), and for `mpremote cp` of the package's files alone (no
hash check, files written in place); the ratio is mpremote's time over
install's.  (mpremote 1.27's `cp -r` refuses a directory, so the bench
lists the files to `cp` after a `mkdir`.)
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from host_tools import ROOT  # (also puts firmware/ on sys.path)
from host_tools.image import romfs
from host_tools.serial.sim import PtyBoard

SIM = os.path.join(ROOT, "boards", "sim.json")


class ReplBoard(PtyBoard):
    """A stock MicroPython board: the unix port's REPL in `workdir`, its
    filesystem.  (PtyBoard's REPL mode would write its own ovl_board.py.)"""

    def write_board_module(self):
        pass


def timed(argv):
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT,
                          timeout=1800)
    if proc.returncode:
        raise RuntimeError("%s failed: %s" % (argv[:4], proc.stderr.strip()))
    return time.monotonic() - t0


def package_files(package_dir):
    """[(path parts below the package, [its files])], parents first: the
    package's directories (ovl/overlay/ is one) and the files in each."""
    out = []
    for top, dirs, files in os.walk(package_dir):
        dirs.sort()
        rel = os.path.relpath(top, package_dir)
        out.append(([] if rel == "." else rel.split(os.sep),
                    [os.path.join(top, f) for f in sorted(files)]))
    return out


def bench_install(work, baud):
    b = ReplBoard(SIM, os.path.join(work, "unused.bin"), mode="repl",
                  baud=baud, workdir=work).start()
    try:
        time.sleep(0.5)
        argv = [sys.executable, "-m", "host_tools", "install", "--port",
                b.port, "--board", "sim", "--baud", str(baud), "--chip",
                "chip.bin"]
        return timed(argv), timed(argv)
    finally:
        b.close()


def bench_mpremote(work, package_dir, baud):
    exe = shutil.which("mpremote") or os.path.join(
        os.path.dirname(sys.executable), "mpremote")
    if not os.path.exists(exe):
        return None
    b = ReplBoard(SIM, os.path.join(work, "unused.bin"), mode="repl",
                  baud=baud, workdir=work).start()
    try:
        time.sleep(0.5)
        # (mpremote 1.27's `cp -r` refuses directories: each directory
        # made, then its files listed to one `cp`, all in one session)
        argv = [exe, "connect", b.port, "resume"]
        for rel, files in package_files(package_dir):
            remote = ":" + "/".join(["ovl"] + rel)
            argv += ["mkdir", remote, "+"]
            if files:
                argv += ["cp"] + files + [remote + "/", "+"]
        return timed(argv[:-1])
    finally:
        b.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baud", default="115200,921600")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        romfs.compile_package(os.path.join(tmp, "mpy"))
        pkg = os.path.join(tmp, "mpy", "ovl")
        files = [f for rel, fs in package_files(pkg) for f in fs]
        print("package: %d .mpy files, %d bytes" % (
            len(files), sum(os.path.getsize(f) for f in files)))
        for baud in [int(x) for x in args.baud.split(",")]:
            a = os.path.join(tmp, "a%d" % baud)
            m = os.path.join(tmp, "m%d" % baud)
            os.makedirs(a)
            os.makedirs(m)
            fresh, rerun = bench_install(a, baud)
            mp = bench_mpremote(m, pkg, baud)
            text = "%7d baud | ovl install %5.1f s, rerun %4.1f s" % (
                baud, fresh, rerun)
            if mp is not None:
                text += " | mpremote cp %5.1f s | mpremote/install %.1fx" \
                    % (mp, mp / fresh)
            print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
