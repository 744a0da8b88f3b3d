"""Serial throughput: `ovl flash` and `ovl remote put` against the line rate
and against mpremote, on the same simulated board over the same
rate-limited pty, in the same run.

    python -m host_tools.bench.serial [--kib 256] [--baud 115200,921600]

For each baud rate it prints payload bytes/s and the ratio to the line's
byte rate (baud/10), for: a full flash of random data (every block sent
and verified), an overlay put of the same data (skipped when the overlay
is missing), and `mpremote cp` of the same data to the board's REPL.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from host_tools import ROOT  # (also puts firmware/ on sys.path)
from host_tools.commands.serial import flash_image
from host_tools.serial import link as serial_link
from host_tools.serial.sim import PtyBoard

SIM = os.path.join(ROOT, "boards", "sim.json")


def connect(b, baud):
    ser = serial_link.open_port(b.port, baud)
    # The board was just started: allow for its boot on a busy host.
    return serial_link.connect(ser, bootstrap=False, boot_wait=15)


def bench_ovl(work, data, baud):
    flash = os.path.join(work, "ovl.bin")
    b = PtyBoard(SIM, flash, baud=baud).start()
    try:
        link = connect(b, baud)
        s = flash_image(link, data)
        flash_rate = s["sent_bytes"] / s["write_seconds"]
        link.bye()
        link.ser.close()
        return flash_rate
    finally:
        b.close()


def bench_mpremote(work, data, baud):
    exe = shutil.which("mpremote") or os.path.join(
        os.path.dirname(sys.executable), "mpremote")
    if not os.path.exists(exe):
        return None
    src = os.path.join(work, "payload.bin")
    with open(src, "wb") as f:
        f.write(data)
    b = PtyBoard(SIM, os.path.join(work, "mp.bin"), mode="repl",
                 baud=baud).start()
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        subprocess.run([exe, "connect", b.port, "resume", "cp", src,
                        ":copied.bin"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)
        dt = time.monotonic() - t0
        with open(os.path.join(work, "copied.bin"), "rb") as f:
            if f.read() != data:
                raise RuntimeError("mpremote copy differs")
        return len(data) / dt
    finally:
        b.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kib", type=int, default=256)
    p.add_argument("--baud", default="115200,921600")
    args = p.parse_args(argv)
    data = os.urandom(args.kib * 1024)
    print("payload: %d KiB of random data; board: micropython %s, sim"
          % (args.kib, "board_runner"))
    for baud in [int(x) for x in args.baud.split(",")]:
        line = baud / 10.0
        with tempfile.TemporaryDirectory() as work:
            ovl_rate = bench_ovl(work, data, baud)
            mp_rate = bench_mpremote(work, data, baud)
        text = "%7d baud: line %6.0f B/s | ovl flash %6.0f B/s (%3.0f%% of" \
               " line)" % (baud, line, ovl_rate, 100 * ovl_rate / line)
        if mp_rate:
            text += " | mpremote cp %6.0f B/s (%3.0f%%) | ovl/mpremote %.1fx" \
                % (mp_rate, 100 * mp_rate / line, ovl_rate / mp_rate)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
