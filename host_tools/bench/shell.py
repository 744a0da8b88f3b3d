"""What `ovl shell` pays per command to have it in the image file.

    .venv/bin/python -m host_tools.bench.shell [--commands N]

The shell writes each flash program and erase into the upper image in
place as it happens (ImageFlash.write_through), so a command answered ok
is in the file whatever ends the session.  For a 1 MiB and a 16 MiB upper
(4 KiB erase blocks) this times N `write` commands of 200 bytes, each to a
new file, three ways in the same run: the chip in RAM only (what the shell
did before, saving once at the end), written through, and the peer, the
whole image saved (written beside, renamed) after each command.  The
write-through cost should not grow with the image; the peer's does.
"""

import argparse
import contextlib
import io
import os
import tempfile
import time

from host_tools.cli import main as ovl_main
from host_tools.commands.overlay import Session, run_verb

SIZES = (1 << 20, 16 << 20)


def time_commands(lower, upper, count, way):
    session = Session(lower, upper, in_place=(way == "through"))
    try:
        ovl = session.mount()
        start = time.perf_counter()
        for i in range(count):
            run_verb(ovl, ["write", "/f%d" % i, "wb", "0", "x" * 200])
            if way == "save":
                session.flash.save()
        return (time.perf_counter() - start) / count
    finally:
        session.release()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", type=int, default=200)
    args = ap.parse_args()
    print("%-8s %12s %14s %16s %9s" % ("upper", "RAM ms/cmd", "through ms/cmd",
                                       "save-all ms/cmd", "through/RAM"))
    with tempfile.TemporaryDirectory() as tmp:
        lower = os.path.join(tmp, "lower")
        os.makedirs(lower)
        for size in SIZES:
            upper = os.path.join(tmp, "up.img")
            row = {}
            for way in ("ram", "through", "save"):
                if os.path.exists(upper):
                    os.remove(upper)
                with contextlib.redirect_stdout(io.StringIO()):
                    ovl_main(["format", upper, "--size", str(size),
                              "--erase-size", "4k"])
                row[way] = time_commands(lower, upper, args.commands, way)
            print("%-8s %12.3f %14.3f %16.3f %9.2f"
                  % ("%d MiB" % (size >> 20), row["ram"] * 1e3,
                     row["through"] * 1e3, row["save"] * 1e3,
                     row["through"] / row["ram"]))


if __name__ == "__main__":
    main()
