"""`ovl crashtest`: power-cut campaigns proving every operation atomic.

See docs/CRASHTEST.md for the fault model, the oracle and measured sizes.
"""

import os
import shlex
import sys

from host_tools import crash_workloads as wl
from host_tools.cli import CliError


# a workload script is a few dozen lines; anything near this is not one
SCRIPT_LIMIT = 1 << 20


def add_arguments(p):
    p.add_argument("--size", choices=("ci", "full"), default="full",
                   help="campaign size: ci samples the 2-op-with-sync and "
                        "3-op workloads (default: full)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: every core)")
    p.add_argument("--shard", metavar="I/N",
                   help="run only the I-th of N slices of the campaign")
    p.add_argument("--replay", metavar="ID",
                   help="rerun one case by its id, narrating each step")
    p.add_argument("--script", metavar="FILE",
                   help="run a workload of `ovl shell` commands (one a line: "
                        "write, put, truncate, chmod, mkdir, rm, rmdir, mv, "
                        "ln, ln -s, revert, reset, and chown UID:GID PATH, "
                        "touch PATH MTIME, sync) over the standard fixture "
                        "instead of the generated ones")
    p.add_argument("--workload", metavar="KEY", action="append",
                   help="run this workload key (repeatable), e.g. "
                        "std:write_lower+sync+rename_dir_lower")
    p.add_argument("--list", action="store_true",
                   help="print the campaign's workload keys and exit")
    p.add_argument("--variants", default="clean,prefix,bits,unstable",
                   help="torn modes of the cut operation (default: all)")
    p.add_argument("--seeds", type=int, default=1,
                   help="seeds per torn variant (default: 1)")
    p.add_argument("--depth2", type=float, default=0.05,
                   help="fraction of cases that get a second cut during the "
                        "recovery (default: 0.05)")
    p.add_argument("--triples", type=int,
                   help="number of sampled 3-op workloads")
    p.add_argument("--lenient", action="store_true",
                   help="require only synced ops to be durable (default: "
                        "every completed op)")
    p.add_argument("--max-failures", type=int, default=3,
                   help="stop a workload after this many failures")
    p.add_argument("--no-shrink", action="store_true",
                   help="do not shrink failing workloads")
    p.add_argument("--store", metavar="MODULE:CLASS",
                   help="store class to test (default ovl.logstore:LogStore;"
                        " used to check the oracle with broken doubles)")


def parse_shard(text):
    try:
        i, n = text.split("/")
        return int(i), int(n)
    except ValueError:
        raise CliError("--shard wants I/N, e.g. 1/4, not %r" % text)


def replay_command(case_id, store=None):
    cmd = "ovl crashtest --replay %s" % shlex.quote(case_id)
    if store:
        cmd += " --store %s" % shlex.quote(store)
    return cmd


def run(args):
    from host_tools import crashtest as ct
    variants = tuple(v for v in args.variants.split(",") if v)
    for v in variants:
        if v not in ct.VARIANTS:
            raise CliError("unknown variant %r (choose from %s)"
                           % (v, ", ".join(ct.VARIANTS)))
    if args.jobs < 1 or args.seeds < 1 or args.max_failures < 1:
        raise CliError("--jobs, --seeds and --max-failures must be at least 1")
    if args.triples is not None and args.triples < 0:
        raise CliError("--triples must be 0 or more")
    if not 0 <= args.depth2 <= 1:
        raise CliError("--depth2 is a fraction between 0 and 1")
    strict = not args.lenient
    if args.replay:
        failure = ct.replay(args.replay, store=args.store, strict=strict)
        return 1 if failure else 0
    if args.script:
        from host_tools.inputs import read_limited
        raw = read_limited(args.script, SCRIPT_LIMIT, "script", CliError)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CliError("script %s is not UTF-8 text" % args.script)
        try:
            keys = [wl.parse_script(text, base_dir=os.path.dirname(
                os.path.abspath(args.script)))]
        except ValueError as e:
            raise CliError("script %s: %s" % (args.script, e))
    elif args.workload:
        keys = list(args.workload)
        for k in keys:
            wl.parse_workload(k)
    else:
        keys = wl.generate(args.size, triples=args.triples)
    if args.shard:
        keys = wl.shard(keys, *parse_shard(args.shard))
    if args.list:
        for k in keys:
            print(k)
        return 0

    def progress(n, total, stats):
        if sys.stderr.isatty():
            print("\r%d/%d workloads, %d cases, %d failures" % (
                n, total, stats.total()[0], stats.total()[2]),
                end="", file=sys.stderr, flush=True)

    stats, wall = ct.campaign(keys, jobs=args.jobs, progress=progress,
                              variants=variants,
                              seeds=tuple(range(1, args.seeds + 1)),
                              depth2=args.depth2, strict=strict,
                              store=args.store,
                              max_failures=args.max_failures)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(ct.format_summary(stats, wall))
    for key, message in stats.errors[:10]:
        print("\nERROR in workload %s (without a cut): %s" % (key, message))
    shown = stats.failures[:10]
    for n, (case_id, label, message) in enumerate(shown):
        print("\nFAIL %s (power cut during %s)" % (case_id, label))
        print("  " + message.replace("\n", "\n  "))
        print("  replay: " + replay_command(case_id, args.store))
        if n < 3 and not args.no_shrink:
            small = ct.shrink(case_id, store=args.store, strict=strict)
            if small and small[0].split("@")[0] != case_id.split("@")[0]:
                print("  shrunk to: %s" % small[0])
                print("  replay: " + replay_command(small[0], args.store))
    if len(stats.failures) > len(shown):
        print("\n... and %d more failures" % (len(stats.failures) - len(shown)))
    return 1 if stats.failures or stats.errors else 0


COMMANDS = {"crashtest": ("power-cut campaign: cut the power at every flash "
                          "operation of many workloads and check each state",
                          add_arguments, run)}
