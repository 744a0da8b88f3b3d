"""`ovl crashtest`: power-cut campaigns proving every operation atomic.

See docs/CRASHTEST.md for the fault model, the oracle and measured sizes.
"""

import argparse
import os
import shlex
import sys

from host_tools.crash import workloads as wl
from host_tools import argtypes
from host_tools.cli import CliError, UsageError
from host_tools.outputs import terminate_as_interrupt


# a workload script is a few dozen lines; anything near this is not one
SCRIPT_LIMIT = 1 << 20


class ScriptError(CliError):
    """A --script line the campaign cannot run: one line FILE:LINE: ...,
    exit status 2 as for a bad argument (argparse's usage would not name
    the line)."""

    status = 2


def add_arguments(p):
    p.add_argument("--size", choices=("ci", "full"), default="full",
                   help="campaign size: ci samples the 2-op-with-sync and "
                        "3-op workloads (default: full)")
    p.add_argument("--jobs", type=argtypes.positive,
                   default=os.cpu_count() or 1,
                   help="worker processes (default: every core)")
    p.add_argument("--shard", metavar="I/N", type=parse_shard,
                   help="run only the I-th of N slices of the campaign")
    p.add_argument("--replay", metavar="ID",
                   help="rerun one case by its id, narrating each step "
                        "(with --script, @CUT:VARIANT:SEED names a case of "
                        "the script's workload)")
    p.add_argument("--script", metavar="FILE",
                   help="run a workload of `ovl shell` commands (one a line: "
                        "write, put, truncate, chmod, mkdir, rm, rmdir, mv, "
                        "ln, ln -s, revert, reset, chown UID[:GID] PATH, "
                        "touch PATH MTIME, sync; no file past %d MiB) over "
                        "the standard fixture instead of the generated ones"
                        % (wl.SCRIPT_FILE_LIMIT >> 20))
    p.add_argument("--allow-errors", action="store_true",
                   help="run a --script even if some of its commands fail "
                        "without a power cut (they are listed either way, "
                        "and tested as those failures)")
    p.add_argument("--lower", metavar="IMAGE",
                   help="with --script: run it over this lower (your "
                        "firmware's SquashFS image, or a directory) and an "
                        "empty upper, instead of the standard fixture")
    p.add_argument("--upper-size", metavar="SIZE", type=argtypes.size,
                   help="upper flash size, e.g. 256k (default: 16 erase "
                        "blocks)")
    p.add_argument("--erase-size", metavar="SIZE",
                   type=argtypes.power_of_two_size,
                   help="upper erase block size, e.g. 4k (default 4k)")
    p.add_argument("--workload", metavar="KEY", action="append",
                   help="run this workload key (repeatable), e.g. "
                        "std:write_lower+sync+rename_dir_lower")
    p.add_argument("--list", action="store_true",
                   help="print the campaign's workload keys and exit")
    p.add_argument("--variants", default="clean,prefix,bits,unstable",
                   help="torn modes of the cut operation (default: all)")
    p.add_argument("--seeds", type=argtypes.positive, default=1,
                   help="seeds per torn variant (default: 1)")
    p.add_argument("--depth2", type=argtypes.fraction, default=0.05,
                   help="fraction of cases that get a second cut during the "
                        "recovery (default: 0.05)")
    p.add_argument("--triples", type=argtypes.count,
                   help="number of sampled 3-op workloads")
    p.add_argument("--lenient", action="store_true",
                   help="require only synced ops to be durable (default: "
                        "every completed op)")
    p.add_argument("--max-failures", type=argtypes.positive, default=3,
                   help="stop a workload after this many failures")
    p.add_argument("--no-shrink", action="store_true",
                   help="do not shrink failing workloads")
    p.add_argument("--store", metavar="MODULE:CLASS",
                   help="store class to test (default ovl.store:LogStore;"
                        " used to check the oracle with broken doubles)")


def parse_shard(text):
    """argparse type: I/N with 1 <= I <= N."""
    try:
        i, n = text.split("/")
        i, n = int(i), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError("--shard wants I/N, e.g. 1/4, not %r"
                                         % text)
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError("--shard wants I/N with 1 <= I <= N,"
                                         " not %r" % text)
    return i, n


def replay_command(case_id, store=None, args=None, script_key=None):
    """The command that replays a case; a case of the --script's own
    workload names the script and its cut, not the key (which carries
    every line of the script, its data too)."""
    workload, _, cut = case_id.rpartition("@")
    if script_key is not None and workload == script_key:
        cmd = "ovl crashtest --script %s --replay @%s" % (
            shlex.quote(args.script), shlex.quote(cut))
        if args.allow_errors:
            cmd += " --allow-errors"
    else:
        cmd = "ovl crashtest --replay %s" % shlex.quote(case_id)
    if store:
        cmd += " --store %s" % shlex.quote(store)
    for flag in ("lower", "upper_size", "erase_size"):
        value = getattr(args, flag, None)
        if value:
            cmd += " --%s %s" % (flag.replace("_", "-"),
                                 shlex.quote(str(value)))
    return cmd


def workload_text(key, args, script_key):
    """How a message names a workload: the --script's by the script's
    file name, any other by its key (cut to a line)."""
    if script_key is not None and key == script_key:
        return "script %s" % args.script
    return "workload %s" % wl.short_text(key)


def case_text(case_id, args, script_key):
    workload, _, cut = case_id.rpartition("@")
    return "%s@%s" % (workload_text(workload, args, script_key), cut)


def shrunk_text(case_id, args, script_key, lines):
    """A shrunk case of the --script's workload as the script lines it
    kept (its key would carry their data), any other by its id."""
    workload, _, cut = case_id.rpartition("@")
    if script_key is None:
        return case_id, replay_command(case_id, args.store, args)
    full = wl.parse_workload(script_key)[1]
    kept = []
    for name in wl.parse_workload(workload)[1]:
        at = full.index(name, kept[-1] + 1 if kept else 0)
        kept.append(at)
    return ("lines %s of %s@%s" % (", ".join(str(lines[i][0]) for i in kept),
                                   args.script, cut),
            "a script of those lines, with --replay @%s" % cut)


def print_cut(text, indent=""):
    """text, every line indented and cut to a sane length."""
    for line in text.split("\n"):
        print(wl.short_text(indent + line))


# ----- the user's own lower and upper ------------------------------------------

USER_FIXTURE = "user"
# the model holds every lower file's data in RAM, per worker
LOWER_DATA_LIMIT = 64 << 20
UPPER_LIMIT = 64 << 20
PAGE_SIZE = 256


def upper_geometry(args):
    """(blocks, erase size, page size) from --upper-size/--erase-size, or
    None for the fixtures' own."""
    if not (args.upper_size or args.erase_size):
        return None
    es = args.erase_size or 4096
    if es < 512:
        raise UsageError("--erase-size must be a power of two of 512 bytes or"
                         " more, not %d" % es)
    size = args.upper_size or 16 * es
    if size % es or not 0 < size <= UPPER_LIMIT:
        raise UsageError("--upper-size must be a whole number of %d-byte erase"
                       " blocks, at most %d bytes, not %d"
                       % (es, UPPER_LIMIT, size))
    return size // es, es, min(PAGE_SIZE, es)


def lower_spec(lower, image):
    """The crash model's description of a Lower (the spec format of
    host_tools.crash.workloads): kinds, permissions, owners, mtimes, data,
    targets, and hard links as "link" to the first of their names."""
    from host_tools.crash.model import DIR, FILE, SYMLINK
    from ovl.paths import join, S_IFMT, S_IFDIR, S_IFREG, S_IFLNK
    kinds = {S_IFDIR: DIR, S_IFREG: FILE, S_IFLNK: SYMLINK}
    spec = {}
    first = {}              # lower ino of a hard-linked file -> first name
    total = 0
    pending = [("/", lower.lookup("/"))]
    while pending:
        path, e = pending.pop()
        kind = kinds.get(e.mode & S_IFMT)
        if kind is None:
            raise CliError("%s: %s is a device, FIFO or socket; the crash "
                           "model knows files, directories and symlinks "
                           "only" % (image, path))
        d = {"kind": kind, "perm": e.mode & 0o7777, "uid": e.uid,
             "gid": e.gid, "mtime": e.mtime}
        if kind == DIR:
            pending.extend((join(path, n), c) for n, c in lower.readdir(e))
        elif kind == SYMLINK:
            d["target"] = lower.readlink(e)
        else:
            total += e.size
            if total > LOWER_DATA_LIMIT:
                raise CliError("%s holds more than %d bytes of file data, "
                               "more than the campaign keeps in RAM"
                               % (image, LOWER_DATA_LIMIT))
            if e.nlink > 1:
                first.setdefault(e.ino, []).append(path)
            d["data"] = lower.read(e, 0, e.size)
        spec[path] = d
    for names in first.values():
        names.sort()
        for other in names[1:]:
            spec[other] = {"link": names[0]}
    return spec


_FIXTURE_GEOMETRY = {}


def use_user_layers(args):
    """Register the --lower fixture and the --upper-size geometry (for
    this process and the workers it forks), replacing an earlier run's."""
    from host_tools.crash import engine as ct
    from host_tools.commands.overlay import open_lower
    geometry = upper_geometry(args)
    if not _FIXTURE_GEOMETRY:
        _FIXTURE_GEOMETRY.update(ct.GEOMETRY)
    ct.drop_rigs()
    ct.GEOMETRY.clear()
    ct.GEOMETRY.update(_FIXTURE_GEOMETRY)
    wl.FIXTURES.pop(USER_FIXTURE, None)
    ct.LOWERS.pop(USER_FIXTURE, None)
    if args.lower:
        lower = open_lower(args.lower)
        wl.FIXTURES[USER_FIXTURE] = (lower_spec(lower, args.lower), [])
        ct.LOWERS[USER_FIXTURE] = lambda: open_lower(args.lower)
        ct.GEOMETRY[USER_FIXTURE] = geometry or ct.GEOMETRY["std"]
    if geometry:
        for fixture in ct.GEOMETRY:
            ct.GEOMETRY[fixture] = geometry


def check_reference_run(key, args, lines):
    """Every command that fails without a cut, listed; an error unless
    --allow-errors (a typo would make the campaign test nothing).  Returns
    the key to test: one that failed with ENOSPC is tested as the failure
    it is (("full", op): ENOSPC, nothing changed, after any cut too), as
    the model predicts the other errnos but knows no space."""
    from host_tools.crash import engine as ct
    from ovl import compat
    try:
        failed = ct.reference_errors(key, store=args.store)
    except ValueError as e:       # e.g. an upper too small for the store
        raise CliError("%s" % e)
    for k, code in failed:
        number, op = lines[k]
        print_cut("script %s line %d `%s`: %s without a power cut"
                  % (args.script, number, wl.short_op(op),
                     compat.errno_name(code)))
    if failed and not args.allow_errors:
        raise CliError("%d command(s) of %s fail without a power cut (listed"
                       " above): fix the script, or pass --allow-errors"
                       % (len(failed), args.script))
    full = set(k for k, code in failed if code == compat.ENOSPC)
    return wl.workload_key(key.partition(":")[0], [
        wl.name_of_op(("full", op) if k in full else op)
        for k, (_, op) in enumerate(lines)])


def run(args):
    from host_tools.crash import engine as ct
    variants = tuple(v for v in args.variants.split(",") if v)
    for v in variants:
        if v not in ct.VARIANTS:
            raise CliError("unknown variant %r (choose from %s)"
                           % (v, ", ".join(ct.VARIANTS)))
    strict = not args.lenient
    if args.lower and not (args.script or args.replay):
        raise CliError("--lower needs --script (or --replay of a case it "
                       "gave): the generated workloads use the standard "
                       "fixture's paths")
    use_user_layers(args)
    script_key = lines = None
    if args.script:
        from host_tools.inputs import read_limited
        raw = read_limited(args.script, SCRIPT_LIMIT, "script", CliError)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CliError("script %s is not UTF-8 text" % args.script)
        try:
            lines = wl.script_ops(text, base_dir=os.path.dirname(
                os.path.abspath(args.script)), name=args.script)
        except ValueError as e:
            raise ScriptError(e)
        script_key = check_reference_run(
            wl.workload_key(USER_FIXTURE if args.lower else "std",
                            [wl.name_of_op(op) for _, op in lines]),
            args, lines)
        keys = [script_key]
    if args.replay:
        case_id = args.replay
        if case_id.startswith("@"):
            if not args.script:
                raise UsageError("--replay @CUT:VARIANT:SEED names a case of"
                                 " a --script's workload: give --script")
            case_id = script_key + case_id
        failure = ct.replay(case_id, store=args.store, strict=strict,
                            out=print_cut)
        return 1 if failure else 0
    if args.workload and not args.script:
        keys = list(args.workload)
        for k in keys:
            wl.parse_workload(k)
    elif not args.script:
        keys = wl.generate(args.size, triples=args.triples)
    if args.shard:
        keys = wl.shard(keys, *args.shard)
    if args.list:
        for k in keys:
            print(k)
        return 0

    def progress(n, total, stats):
        if sys.stderr.isatty():
            print("\r%d/%d workloads, %d cases, %d failures" % (
                n, total, stats.total()[0], stats.total()[2]),
                end="", file=sys.stderr, flush=True)

    # SIGTERM and SIGHUP end it as Ctrl-C does (the workers stopped, exit
    # 128 + N with one line), not by the default action
    with terminate_as_interrupt():
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
        print("\nERROR in %s (without a cut):"
              % workload_text(key, args, script_key))
        print_cut(message, "  ")
    shown = stats.failures[:10]
    for n, (case_id, label, message) in enumerate(shown):
        print("\nFAIL %s (power cut during %s)"
              % (case_text(case_id, args, script_key), label))
        print_cut(message, "  ")
        print("  replay: " + replay_command(case_id, args.store, args,
                                            script_key))
        if n < 3 and not args.no_shrink:
            small = ct.shrink(case_id, store=args.store, strict=strict)
            if small and small[0].split("@")[0] != case_id.split("@")[0]:
                text, replay = shrunk_text(small[0], args, script_key, lines)
                print("  shrunk to: %s" % text)
                print("  replay: " + replay)
    if len(stats.failures) > len(shown):
        print("\n... and %d more failures" % (len(stats.failures) - len(shown)))
    return 1 if stats.failures or stats.errors else 0


COMMANDS = {"crashtest": ("power-cut campaign: cut the power at every flash "
                          "operation of many workloads and check each state",
                          add_arguments, run)}
