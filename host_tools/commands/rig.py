"""`ovl rig`: a power-cut rig for a board running the agent (see
host_tools/crash/rig.py and docs/SERIAL.md, "Power-cut rig")."""

import json
import os
import sys

from host_tools.argtypes import positive, seconds
from host_tools.crash.rig import Rig, RigError, parse_power, parse_workload, \
    report_text


def add_rig_args(p):
    p.add_argument("--port", required=True,
                   help="the board's console (device or pyserial URL);"
                        " `sim` with --power sim:...")
    p.add_argument("--power", required=True, metavar="SPEC",
                   help="dtr:PORT or rts:PORT (a relay on that line of a"
                        " second adapter; !dtr:PORT when released means off),"
                        " cmd:PORT:OFF_CMD:ON_CMD (a relay board or supply),"
                        " sim:BOARD:FLASH (the simulated board)")
    p.add_argument("--workload", required=True, metavar="SCRIPT",
                   help="ovl shell verbs run in a loop: put HOSTFILE|@SIZE"
                        " PATH, rm, rmdir, mkdir, mv")
    p.add_argument("--cycles", type=positive, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--min-delay", type=seconds, default=0.0,
                   help="earliest cut, seconds after the workload starts")
    p.add_argument("--max-delay", type=seconds, default=2.0,
                   help="latest cut (default 2)")
    p.add_argument("--off-time", type=seconds, default=0.5,
                   help="seconds without power (default 0.5)")
    p.add_argument("--baud", type=positive, default=115200)
    p.add_argument("--timeout", type=seconds, default=2.0,
                   help="seconds without an answer before a retry")
    p.add_argument("--boot-timeout", type=seconds, default=30.0,
                   help="seconds the board may take to answer after power on")
    p.add_argument("--bootstrap", action="store_true",
                   help="start the agent through the raw REPL if the board"
                        " does not start it at boot")
    p.add_argument("--json", action="store_true", help="the report as JSON")


def run_rig(args):
    try:
        with open(args.workload, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise RigError("cannot read workload %s: %s" % (
            args.workload, getattr(e, "strerror", None) or e))
    steps = parse_workload(text, os.path.dirname(args.workload) or ".")
    power = parse_power(args.power)
    try:
        port = args.port
        if port == "sim":
            if power.kind != "sim":
                raise RigError("--port sim needs --power sim:BOARD:FLASH")
            port = power.board.port
        log = None if args.json else \
            (lambda m: print("ovl: %s" % m, file=sys.stderr))
        rig = Rig(port, power, steps, args.cycles, seed=args.seed,
                  min_delay=args.min_delay, max_delay=args.max_delay,
                  off_time=args.off_time if power.kind != "sim" else 0.0,
                  baud=args.baud, timeout=args.timeout,
                  boot_timeout=args.boot_timeout, bootstrap=args.bootstrap,
                  log=log)
        report = rig.run()
    finally:
        power.close()
    print(json.dumps(report, sort_keys=True) if args.json
          else report_text(report))
    return 0 if report["ok"] else 1


COMMANDS = {
    "rig": ("power-cut rig: cut a board's power at random instants while a"
            " workload writes, then check fsck and what survived",
            add_rig_args, run_rig),
}
