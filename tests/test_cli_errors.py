"""Bad input across the whole `ovl` CLI: every subcommand, run as
`python -m host_tools ...`, must answer with one line on stderr starting
"ovl: " and a nonzero exit -- never a traceback, an "internal error", a hang
or an unbounded allocation -- and must leave the files it was given as they
were.

Two tables: hand-written CASES for each command's own inputs, and generic
cases derived from host_tools.cli.build_parser(), so a command added later
gets the missing/directory/random/empty-file checks without an entry here.
All cases run in parallel once per module (2 cores); each is then reported
as its own test.  Children get a 1 GiB address-space limit, so an unbounded
allocation shows as a MemoryError ("internal error") instead of swapping.
"""

import argparse
import concurrent.futures
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from host_tools.cli import build_parser  # noqa: E402

TIMEOUT = 30                 # seconds: longer is a hang
MEMORY_LIMIT = 1 << 30       # bytes of address space per child
# Sets the limit, then runs the CLI exactly as `python -m host_tools` does.
LAUNCHER = ("import resource, runpy, sys; "
            "resource.setrlimit(resource.RLIMIT_AS, (%d, %d)); "
            "sys.argv = ['ovl'] + sys.argv[1:]; "
            "runpy.run_module('host_tools', run_name='__main__', "
            "alter_sys=True)" % (MEMORY_LIMIT, MEMORY_LIMIT))

ARGPARSE_ERROR = re.compile(r"^ovl( [\w-]+)*: error: ")


def xfail(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


# ----- the table ---------------------------------------------------------------
# (id, argv, options).  Placeholders: {img} a good image, {half} it cut in
# half, {rand} 4 KiB of random bytes, {empty} an empty file, {file} a small
# text file, {dir} a directory (the image's source tree), {missing} a path
# under a regular file (neither readable nor creatable), {upper} a fresh copy
# of a formatted upper image with some files, {uphalf} one cut in half,
# {out} an empty scratch directory of the case, {hugeboard} a board of 4 TiB
# of flash, {intname} a board whose name is a number, {noparts} a board
# without partitions, {flash} a sim-board flash file.
# {fifo} a FIFO nobody writes.
# {nuimg} an image holding /bad\xffname, {wl} a one-line rig workload, {big} 300 KB of random bytes (more than the
# 64 KiB upper holds).
# options: stdin (text), keep (placeholders whose files must not change),
# timeout (seconds, default TIMEOUT), mark (an xfail for another's bug).

L = ["--lower", "{img}", "--upper", "{upper}"]
KEEP_UPPER = {"keep": ["{upper}"]}

CASES = [
    # images: ls, cat, extract
    ("ls-missing", ["ls", "{missing}"], {}),
    ("ls-dir-as-image", ["ls", "{dir}"], {}),
    ("ls-empty", ["ls", "{empty}"], {}),
    ("ls-random", ["ls", "-lR", "{rand}"], {}),
    ("ls-truncated", ["ls", "-lR", "{half}"], {}),
    ("ls-no-such-path", ["ls", "{img}", "/nope"], {}),
    ("ls-path-under-file", ["ls", "{img}", "/etc/hostname/x"], {}),
    ("cat-no-such-path", ["cat", "{img}", "/etc/nope"], {}),
    ("cat-directory", ["cat", "{img}", "/etc"], {}),
    ("cat-truncated", ["cat", "{half}", "/big"], {}),
    ("cat-random", ["cat", "{rand}", "/big"], {}),
    ("extract-truncated", ["extract", "{half}", "{out}/dest"], {}),
    ("extract-random", ["extract", "{rand}", "{out}/dest"], {}),
    ("extract-dest-under-file", ["extract", "{img}", "{missing}"], {}),
    ("extract-dest-is-file", ["extract", "{img}", "{file}"],
     {"keep": ["{file}"]}),
    ("extract-dest-not-empty", ["extract", "{img}", "{dir}"], {}),
    # mkimage
    ("mkimage-missing-src", ["mkimage", "{missing}", "{out}/o.sqfs"], {}),
    ("mkimage-file-as-src", ["mkimage", "{file}", "{out}/o.sqfs"], {}),
    ("mkimage-out-under-file", ["mkimage", "{dir}", "{missing}"], {}),
    ("mkimage-out-is-dir", ["mkimage", "{dir}", "{out}"], {}),
    ("mkimage-block-12Q", ["mkimage", "{dir}", "{img}", "-b", "12Q"],
     {"keep": ["{img}"]}),
    ("mkimage-block-negative", ["mkimage", "{dir}", "{img}", "-b", "-4096"],
     {"keep": ["{img}"]}),
    ("mkimage-block-not-pow2", ["mkimage", "{dir}", "{out}/o", "-b", "3K"], {}),
    ("mkimage-block-huge", ["mkimage", "{dir}", "{out}/o", "-b", "9" * 30], {}),
    ("mkimage-comp-unknown", ["mkimage", "{dir}", "{out}/o", "--comp", "lz4"],
     {}),
    ("mkimage-mtime-nonsense", ["mkimage", "{dir}", "{out}/o", "--mtime",
                                "12Q"], {}),
    ("mkimage-mtime-negative", ["mkimage", "{dir}", "{out}/o", "--mtime",
                                "-5"], {}),
    ("mkimage-pseudo-file-missing", ["mkimage", "{dir}", "{out}/o", "-pf",
                                     "{missing}"], {}),
    ("mkimage-pseudo-file-random", ["mkimage", "{dir}", "{out}/o", "-pf",
                                    "{rand}"], {}),
    ("mkimage-pseudo-file-endless", ["mkimage", "{dir}", "{out}/o", "-pf",
                                     "/dev/zero"], {}),
    ("mkimage-pseudo-garbage", ["mkimage", "{dir}", "{out}/o", "-p", "x"], {}),
    ("mkimage-pseudo-bad-device", ["mkimage", "{dir}", "{out}/o", "-p",
                                   "dev/x c 600 0 0 99999999999 1"], {}),
    # boards
    ("boards-unknown", ["boards", "no-such-board"], {}),
    ("boards-json-missing", ["boards", "{missing}.json"], {}),
    ("boards-json-random", ["boards", "{out}/../rand.json"], {}),
    ("boards-json-endless", ["boards", "/dev/zero"], {}),
    ("boards-name-not-string", ["boards", "{intname}"], {}),
    ("provision-unknown-board", ["provision", "{out}/f", "--board", "nope"],
     {}),
    ("provision-huge-board", ["provision", "{out}/f", "--board",
                              "{hugeboard}"], {}),
    ("provision-under-file", ["provision", "{missing}"], {}),
    ("provision-into-dir", ["provision", "{dir}"], {}),
    ("provision-wrong-size-file", ["provision", "{rand}"],
     {"keep": ["{rand}"]}),
    ("flashinfo-missing", ["flashinfo", "{missing}"], {}),
    ("flashinfo-wrong-size", ["flashinfo", "{rand}"], {}),
    ("flashinfo-wrong-board", ["flashinfo", "{flash}", "--board", "esp32-4mb"],
     {"keep": ["{flash}"]}),
    ("flashinfo-unknown-board", ["flashinfo", "{flash}", "--board", "nope"],
     {}),
    ("demo-unknown-board", ["demo", "--board", "nope", "--workdir", "{out}"],
     {}),
    ("demo-board-without-partitions", ["demo", "--board", "{noparts}",
                                       "--workdir", "{out}"], {}),
    ("demo-board-name-not-string", ["demo", "--board", "{intname}",
                                    "--workdir", "{out}"], {}),
    ("demo-workdir-under-file", ["demo", "--workdir", "{missing}"], {}),
    ("demo-workdir-is-file", ["demo", "--workdir", "{file}"],
     {"keep": ["{file}"]}),
    ("demo-workdir-not-its-own", ["demo", "--workdir", "{dir}"],
     {"keep": ["{dir}/etc/hostname", "{dir}/big"]}),
    # upper images: format, fsck, info
    ("format-no-geometry", ["format", "{out}/u"], {}),
    ("format-size-12Q", ["format", "{out}/u", "--size", "12Q",
                         "--erase-size", "4k"], {}),
    ("format-erase-not-dividing", ["format", "{out}/u", "--size", "64k",
                                   "--erase-size", "3k"], {}),
    ("format-erase-zero", ["format", "{out}/u", "--size", "64k",
                           "--erase-size", "0"], {}),
    ("format-page-12Q", ["format", "{out}/u", "--size", "64k", "--erase-size",
                         "4k", "--page-size", "12Q"], {}),
    ("format-too-small", ["format", "{out}/u", "--size", "4k",
                          "--erase-size", "4k"], {}),
    ("format-under-file", ["format", "{missing}", "--size", "64k",
                           "--erase-size", "4k"], {}),
    ("format-wrong-size-file", ["format", "{rand}", "--size", "64k",
                                "--erase-size", "4k"], {"keep": ["{rand}"]}),
    ("format-unknown-board", ["format", "{out}/u", "--board", "nope"], {}),
    ("format-unknown-partition", ["format", "{out}/u", "--board", "sim",
                                  "--partition", "nope"], {}),
    ("format-huge-size", ["format", "{out}/u", "--size", "4096g",
                          "--erase-size", "4k"], {}),
    ("format-huge-board", ["format", "{out}/u", "--board", "{hugeboard}"],
     {}),
    ("fsck-random", ["fsck", "{rand}"], {}),
    ("fsck-squashfs", ["fsck", "{img}"], {}),
    ("fsck-geometry-mismatch", ["fsck", "{upper}", "--board", "sim"],
     KEEP_UPPER),
    ("info-random", ["info", "{rand}"], {}),
    ("info-size-12Q", ["info", "{upper}", "--size", "12Q", "--erase-size",
                       "4k"], KEEP_UPPER),
    # the overlay: fs
    ("fs-lower-missing", ["fs", "ls", "--lower", "{missing}"], {}),
    ("fs-lower-random", ["fs", "ls", "--lower", "{rand}"], {}),
    ("fs-lower-truncated", ["fs", "ls", "--lower", "{half}"], {}),
    ("fs-upper-missing", ["fs", "ls", "--lower", "{img}", "--upper",
                          "{missing}"], {}),
    ("fs-upper-random", ["fs", "ls", "--lower", "{img}", "--upper",
                         "{rand}"], {"keep": ["{rand}"]}),
    ("fs-upper-is-squashfs", ["fs", "ls", "--lower", "{img}", "--upper",
                              "{img}"], {"keep": ["{img}"]}),
    ("fs-upper-is-dir", ["fs", "ls", "--lower", "{img}", "--upper", "{dir}"],
     {}),
    ("fs-ls-no-such-path", ["fs", "ls"] + L + ["/nope"], KEEP_UPPER),
    ("fs-cat-no-such-path", ["fs", "cat"] + L + ["/nope"], KEEP_UPPER),
    ("fs-cat-directory", ["fs", "cat"] + L + ["/etc"], KEEP_UPPER),
    ("fs-get-directory", ["fs", "get"] + L + ["/etc", "{out}/got"],
     KEEP_UPPER),
    ("fs-get-to-unwritable", ["fs", "get"] + L + ["/etc/hostname",
                                                  "{missing}"], KEEP_UPPER),
    ("fs-put-missing-hostfile", ["fs", "put"] + L + ["{missing}", "/x"],
     KEEP_UPPER),
    ("fs-put-dir-hostfile", ["fs", "put"] + L + ["{dir}", "/x"], KEEP_UPPER),
    ("fs-put-into-missing-dir", ["fs", "put"] + L + ["{file}", "/nope/x"],
     KEEP_UPPER),
    ("fs-put-store-full", ["fs", "put"] + L + ["{big}", "/etc/hostname"],
     KEEP_UPPER),
    ("fs-put-endless-source", ["fs", "put"] + L + ["/dev/zero", "/x"],
     KEEP_UPPER),
    ("fs-mv-missing", ["fs", "mv"] + L + ["/nope", "/x"], KEEP_UPPER),
    ("fs-mv-into-itself", ["fs", "mv"] + L + ["/etc", "/etc/sub"],
     KEEP_UPPER),
    ("fs-rmdir-not-empty", ["fs", "rmdir"] + L + ["/etc"], KEEP_UPPER),
    ("fs-rm-root", ["fs", "rm"] + L + ["/"], KEEP_UPPER),
    ("fs-revert-missing", ["fs", "revert"] + L + ["/nope"], KEEP_UPPER),
    ("fs-ln-missing", ["fs", "ln"] + L + ["/nope", "/y"], KEEP_UPPER),
    ("fs-mkdir-name-too-long", ["fs", "mkdir"] + L + ["/" + "a" * 300],
     KEEP_UPPER),
    ("fs-truncate-12Q", ["fs", "truncate"] + L + ["/etc/hostname", "12Q"],
     KEEP_UPPER),
    ("fs-truncate-negative", ["fs", "truncate"] + L + ["/etc/hostname", "-5"],
     KEEP_UPPER),
    ("fs-truncate-beyond-u64", ["fs", "truncate"] + L + ["/etc/hostname",
                                                         "9" * 25],
     KEEP_UPPER),
    ("fs-chmod-not-octal", ["fs", "chmod"] + L + ["9z", "/etc/hostname"],
     KEEP_UPPER),
    ("fs-chown-not-number", ["fs", "chown"] + L + ["a:b", "/etc/hostname"],
     KEEP_UPPER),
    ("fs-chown-beyond-u32", ["fs", "chown"] + L + ["99999999999:1",
                                                   "/etc/hostname"],
     KEEP_UPPER),
    ("fs-chown-negative", ["fs", "chown"] + L + ["-5", "/etc/hostname"],
     KEEP_UPPER),
    ("fs-touch-nonsense", ["fs", "touch"] + L + ["/etc/hostname", "12Q"],
     KEEP_UPPER),
    ("fs-touch-beyond-s64", ["fs", "touch"] + L + ["/etc/hostname", "9" * 25],
     KEEP_UPPER),
    # the upper stores UTF-8 names; a lower name that is not stays readable
    ("fs-mkdir-non-utf8", ["fs", "mkdir"] + L + ["/new\udcff"], KEEP_UPPER),
    ("fs-rm-non-utf8-lower-name", ["fs", "rm", "--lower", "{nuimg}",
                                   "--upper", "{upper}", "/bad\udcffname"],
     KEEP_UPPER),
    ("fs-chmod-non-utf8-lower-name", ["fs", "chmod", "--lower", "{nuimg}",
                                      "--upper", "{upper}", "600",
                                      "/bad\udcffname"], KEEP_UPPER),
    ("fs-wrong-arity", ["fs", "cat"] + L, KEEP_UPPER),
    ("fs-write-read-only", ["fs", "mkdir", "--lower", "{img}", "/d"], {}),
    ("fs-power-cut-negative", ["fs", "mkdir"] + L + ["--power-cut-after",
                                                     "-5", "/d"], KEEP_UPPER),
    ("fs-power-cut-nonsense", ["fs", "mkdir"] + L + ["--power-cut-after",
                                                     "soon", "/d"],
     KEEP_UPPER),
    ("fs-power-cut-without-upper", ["fs", "mkdir", "--lower", "{img}",
                                    "--power-cut-after", "1", "/d"], {}),
    ("fs-torn-unknown", ["fs", "mkdir"] + L + ["--power-cut-after", "1",
                                               "--torn", "half", "/d"],
     KEEP_UPPER),
    ("fs-unknown-verb", ["fs", "frobnicate"] + L, KEEP_UPPER),
    ("fs-upper-truncated", ["fs", "ls", "--lower", "{img}", "--upper",
                            "{uphalf}"],
     {"keep": ["{uphalf}"]}),
    ("shell-lower-random", ["shell", "--lower", "{rand}"], {"stdin": "ls\n"}),
    ("shell-upper-random", ["shell", "--lower", "{img}", "--upper", "{rand}"],
     {"stdin": "ls\n", "keep": ["{rand}"]}),
    ("shell-endless-line", ["shell", "--lower", "{img}"],
     {"stdin": "ls /\n" + "x" * (2 << 20)}),
    ("shell-power-cut-negative", ["shell"] + L + ["--power-cut-after", "-1"],
     {"stdin": "mkdir /d\n", "keep": ["{upper}"]}),
    # serial flashing (no board attached: the port is the bad input)
    ("flash-port-missing", ["flash", "--port", "{missing}", "{img}"], {}),
    ("flash-port-is-file", ["flash", "--port", "{rand}", "{img}"], {}),
    ("flash-port-refused", ["flash", "--port", "socket://127.0.0.1:1",
                            "{img}"], {}),
    ("flash-image-missing", ["flash", "--port", "loop://", "{missing}"], {}),
    ("flash-image-dir", ["flash", "--port", "loop://", "{dir}"], {}),
    ("flash-image-endless", ["flash", "--port", "loop://", "/dev/zero"], {}),
    ("flash-baud-negative", ["flash", "--port", "loop://", "--baud", "-5",
                             "{img}"], {}),
    ("flash-baud-nonsense", ["flash", "--port", "loop://", "--baud", "12Q",
                             "{img}"], {}),
    # a nan or infinite wait would never end
    ("flash-timeout-nan", ["flash", "--port", "loop://", "--timeout", "nan",
                           "{img}"], {}),
    ("remote-boot-wait-inf", ["remote", "--port", "loop://", "--boot-wait",
                              "inf", "ls"], {}),
    ("remote-boot-wait-negative", ["remote", "--port", "loop://",
                                   "--boot-wait", "-1", "ls"], {}),
    # power-cut rig (the sim board needs no hardware)
    ("rig-power-nonsense", ["rig", "--port", "sim", "--power", "nonsense",
                            "--workload", "{wl}", "--cycles", "1"], {}),
    ("rig-boot-timeout-nan", ["rig", "--port", "sim", "--power",
                              "sim:sim:{flash}", "--workload", "{wl}",
                              "--cycles", "1", "--boot-timeout", "nan"],
     {"keep": ["{flash}"]}),
    ("rig-cycles-negative", ["rig", "--port", "sim", "--power",
                             "sim:sim:{flash}", "--workload", "{wl}",
                             "--cycles", "-1"], {"keep": ["{flash}"]}),
    ("rig-workload-missing", ["rig", "--port", "sim", "--power",
                              "sim:sim:{flash}", "--workload", "{missing}",
                              "--cycles", "1"], {"keep": ["{flash}"]}),
    ("rig-workload-random", ["rig", "--port", "sim", "--power",
                             "sim:sim:{flash}", "--workload", "{rand}",
                             "--cycles", "1"], {"keep": ["{flash}"]}),
    ("rig-sim-flash-wrong-size", ["rig", "--port", "sim", "--power",
                                  "sim:sim:{rand}", "--workload", "{wl}",
                                  "--cycles", "1"],
     {"keep": ["{rand}"], "timeout": 10}),
    # crash campaigns: only argument checks (a campaign takes minutes)
    ("crashtest-shard-nonsense", ["crashtest", "--shard", "12Q"], {}),
    ("crashtest-shard-zero", ["crashtest", "--shard", "5/0", "--list"], {}),
    ("crashtest-jobs-zero", ["crashtest", "--jobs", "0"], {}),
    ("crashtest-variant-unknown", ["crashtest", "--variants", "nope"], {}),
    ("crashtest-replay-garbage", ["crashtest", "--replay", "garbage"], {}),
    ("crashtest-script-missing", ["crashtest", "--script", "{missing}"], {}),
    ("crashtest-script-random", ["crashtest", "--script", "{rand}"], {}),
    ("crashtest-script-endless", ["crashtest", "--script", "/dev/zero"], {}),
    ("crashtest-workload-unknown", ["crashtest", "--workload", "nope"], {}),
    ("crashtest-lower-without-script", ["crashtest", "--lower", "{img}"], {}),
    ("crashtest-lower-random", ["crashtest", "--script", "{wl}", "--lower",
                                "{rand}"], {}),
    ("crashtest-erase-size-12Q", ["crashtest", "--list", "--erase-size",
                                  "12Q"], {}),
    # the simulated board: refused before it serves (a case that served
    # would be a hang; its process group is killed and reported)
    ("sim-board-unknown", ["sim", "{out}/f", "--board", "nope"], {}),
    ("sim-flash-wrong-board", ["sim", "{flash}", "--board", "esp32-4mb"],
     {"keep": ["{flash}"]}),
    ("sim-socket-port-huge", ["sim", "{flash}", "--socket", "99999999"],
     {"keep": ["{flash}"]}),
    ("sim-socket-port-negative", ["sim", "{flash}", "--socket", "-1"],
     {"keep": ["{flash}"]}),
    ("sim-hold-pin-nan", ["sim", "{flash}", "--hold-pin", "nan"],
     {"keep": ["{flash}"]}),
    ("sim-baud-zero", ["sim", "{flash}", "--baud", "0"],
     {"keep": ["{flash}"]}),
    # backup, restore, reset --keep
    ("backup-upper-random", ["backup", "--lower", "{img}", "--upper",
                             "{rand}", "{out}/b.tar"], {"keep": ["{rand}"]}),
    ("backup-out-under-file", ["backup"] + L + ["{missing}"], KEEP_UPPER),
    ("backup-out-is-dir", ["backup"] + L + ["{dir}"], KEEP_UPPER),
    ("restore-random", ["restore"] + L + ["{rand}"], KEEP_UPPER),
    ("restore-squashfs-as-tar", ["restore"] + L + ["{img}"], KEEP_UPPER),
    ("restore-endless", ["restore"] + L + ["/dev/zero"], KEEP_UPPER),
    ("restore-dir", ["restore"] + L + ["{dir}"], KEEP_UPPER),
    ("restore-without-upper", ["restore", "--lower", "{img}", "{file}"], {}),
    ("reset-keep-relative", ["reset"] + L + ["--keep", "etc"], KEEP_UPPER),
    ("reset-keep-unknown-board", ["reset"] + L + ["--board", "nope"],
     KEEP_UPPER),
    ("reset-upper-truncated", ["reset", "--lower", "{img}", "--upper",
                               "{uphalf}"], {"keep": ["{uphalf}"]}),
    # dump and install (no board attached: the port is the bad input)
    ("dump-port-refused", ["dump", "--port", "socket://127.0.0.1:1",
                           "--partition", "upper", "{out}/d"], {}),
    ("dump-out-is-dir", ["dump", "--port", "loop://", "--partition", "upper",
                         "{dir}"], {}),
    ("install-unknown-board", ["install", "--port", "loop://", "--board",
                               "nope"], {}),
    ("install-port-refused", ["install", "--port", "socket://127.0.0.1:1",
                              "--board", "sim"], {}),
    # FUSE mounts: refused before mounting (any mount left is reported)
    ("mount-upper-random", ["mount", "--lower", "{img}", "--upper", "{rand}",
                            "{out}"], {"keep": ["{rand}"]}),
    ("mount-lower-random", ["mount", "--lower", "{rand}", "{out}"], {}),
    ("mount-upper-truncated", ["mount", "--lower", "{img}", "--upper",
                               "{uphalf}", "{out}"], {"keep": ["{uphalf}"]}),
    ("mount-option-unknown", ["mount", "--lower", "{img}", "-o", "frob",
                              "{out}"], {}),
    # a buffer past the upper's size could never commit: only RAM grows
    ("mount-write-buffer-huge", ["mount", "--lower", "{img}", "--upper",
                                 "{upper}", "-o", "write_buffer=" + "9" * 30,
                                 "{out}"], KEEP_UPPER),
    ("mount-point-is-file", ["mount", "--lower", "{img}", "{file}"],
     {"keep": ["{file}"]}),
    ("umount-not-a-mount", ["umount", "{out}"], {}),
    # a FIFO where an image is expected: opening it would wait for a writer
    ("ls-fifo", ["ls", "{fifo}"], {}),
    ("cat-fifo", ["cat", "{fifo}", "/x"], {}),
    ("extract-fifo", ["extract", "{fifo}", "{out}/dest"], {}),
    ("flash-image-fifo", ["flash", "--port", "loop://", "{fifo}"], {}),
    ("fs-lower-fifo", ["fs", "ls", "--lower", "{fifo}"], {}),
    ("mount-lower-fifo", ["mount", "--lower", "{fifo}", "{out}"], {}),
    ("backup-lower-fifo", ["backup", "--lower", "{fifo}", "--upper",
                           "{upper}", "{out}/b.tar"], KEEP_UPPER),
    ("fsck-lower-fifo", ["fsck", "--lower", "{fifo}", "{upper}"], KEEP_UPPER),
    ("fs-upper-fifo", ["fs", "ls", "--lower", "{img}", "--upper", "{fifo}"],
     {}),
    ("restore-fifo", ["restore"] + L + ["{fifo}"], KEEP_UPPER),
    # conflicts after an upgrade
    ("fs-conflicts-extra-arg", ["fs", "conflicts"] + L + ["/etc"],
     KEEP_UPPER),
    ("fs-conflicts-upper-random", ["fs", "conflicts", "--lower", "{img}",
                                   "--upper", "{rand}"], {"keep": ["{rand}"]}),
    # the top level
    ("no-such-command", ["frobnicate"], {}),
]


# ----- generic cases from the parser --------------------------------------------

GENERIC_VALUES = {"missing": "{missing}", "dir": "{dir}", "random": "{rand}",
                  "empty": "{empty}"}

# (command, kind) pairs where that input is valid, not bad
GENERIC_VALID = {("shell", "dir"): "LOWER may be a directory"}


def subparsers_of(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return None


def fill(parser, value):
    """argv giving every positional and every required option `value`, or
    None when the command takes no input at all (nothing to get wrong)."""
    argv = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction,
                               argparse._SubParsersAction)):
            continue
        if action.option_strings:
            if action.required:
                argv += [action.option_strings[-1], value]
        elif action.nargs != 0:
            argv.append(value)
    return argv or None


def generic_cases():
    """Every command gets: no arguments at all, and each positional or
    required input as a missing path, a directory, random bytes, an empty
    file.  Commands with verbs get the missing-path check per verb."""
    cases = []
    for name, p in sorted(subparsers_of(build_parser()).items()):
        verbs = subparsers_of(p)
        if verbs is not None:
            cases.append(("generic-%s-no-verb" % name, [name], {}))
            for verb, q in sorted(verbs.items()):
                argv = fill(q, "{missing}")
                if argv:
                    cases.append(("generic-%s-%s-missing" % (name, verb),
                                  [name, verb] + argv, {"stdin": ""}))
            continue
        for kind, value in GENERIC_VALUES.items():
            argv = fill(p, value)
            if argv and (name, kind) not in GENERIC_VALID:
                cases.append(("generic-%s-%s" % (name, kind), [name] + argv,
                              {"stdin": "", "keep": [value]}))
    return cases


ALL_CASES = CASES + generic_cases()


# ----- the workspace ------------------------------------------------------------

def ovl_run(argv, cwd, stdin="", timeout=TIMEOUT):
    """Run the CLI in its own session; on a timeout its whole process group
    is killed (a board or FUSE server it started must not outlive the
    case) and TimeoutExpired raised."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("OVL_DEBUG", None)
    with subprocess.Popen([sys.executable, "-c", LAUNCHER] + argv, cwd=cwd,
                          env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True) as child:
        try:
            out, err = child.communicate(stdin.encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise
        # what it left running in its group after answering
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def mounts_under(path):
    """Mount points at or below path (from /proc/self/mounts)."""
    path = os.path.realpath(path)
    found = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                point = line.split()[1].replace("\\040", " ")
                if point == path or point.startswith(path + "/"):
                    found.append(point)
    except OSError:
        pass
    return found


def unmount(point):
    for cmd in (["fusermount3", "-u", "-z", point],
                ["fusermount", "-u", "-z", point], ["umount", "-l", point]):
        try:
            if subprocess.run(cmd, capture_output=True,
                              timeout=10).returncode == 0:
                return
        except (OSError, subprocess.TimeoutExpired):
            continue


def make_workspace(ws):
    src = os.path.join(ws, "src")
    os.makedirs(os.path.join(src, "etc"))
    with open(os.path.join(src, "etc", "hostname"), "w") as f:
        f.write("router\n")
    with open(os.path.join(src, "big"), "wb") as f:
        f.write(b"".join(b"%08d\n" % i for i in range(20000)))
    paths = {"dir": src, "img": os.path.join(ws, "img.sqfs"),
             "file": os.path.join(ws, "file.txt"),
             "rand": os.path.join(ws, "rand.bin"),
             "empty": os.path.join(ws, "empty"),
             "half": os.path.join(ws, "half.sqfs"),
             "upper0": os.path.join(ws, "upper.img"),
             "flash": os.path.join(ws, "sim.flash")}
    paths["missing"] = os.path.join(paths["file"], "x")
    paths["fifo"] = os.path.join(ws, "fifo")
    os.mkfifo(paths["fifo"])
    r = ovl_run(["mkimage", "-q", src, paths["img"], "-b", "4K"], ws)
    assert r.returncode == 0, r.stderr
    with open(paths["img"], "rb") as f:
        image = f.read()
    with open(paths["half"], "wb") as f:
        f.write(image[:len(image) // 2])
    with open(paths["file"], "w") as f:
        f.write("a small text file\n")
    with open(paths["rand"], "wb") as f:
        f.write(os.urandom(4096))
    with open(os.path.join(ws, "rand.json"), "wb") as f:
        f.write(os.urandom(512))
    open(paths["empty"], "wb").close()
    paths["big"] = os.path.join(ws, "big.bin")
    with open(paths["big"], "wb") as f:
        f.write(os.urandom(300000))
    paths["wl"] = os.path.join(ws, "workload.txt")
    with open(paths["wl"], "w") as f:
        f.write("mkdir /d\n")
    nusrc = os.path.join(ws, "nusrc")
    os.makedirs(nusrc)
    with open(os.path.join(os.fsencode(nusrc), b"bad\xffname"), "wb") as f:
        f.write(b"lower data\n")
    paths["nuimg"] = os.path.join(ws, "nu.sqfs")
    r = ovl_run(["mkimage", "-q", nusrc, paths["nuimg"]], ws)
    assert r.returncode == 0, r.stderr
    r = ovl_run(["fs", "cat", "--lower", paths["nuimg"], "/bad\udcffname"], ws)
    assert r.stdout == b"lower data\n", r.stderr
    r = ovl_run(["format", paths["upper0"], "--size", "64k", "--erase-size",
                 "4k"], ws)
    assert r.returncode == 0, r.stderr
    r = ovl_run(["shell", "--lower", paths["img"], "--upper", paths["upper0"]],
                ws, stdin="mkdir /d\nwrite /d/f w 0 hello\nsync\n")
    assert r.returncode == 0 and b"error" not in r.stdout, r.stdout
    with open(paths["upper0"], "rb") as f:
        upper = f.read()
    paths["uphalf"] = os.path.join(ws, "uphalf.img")
    with open(paths["uphalf"], "wb") as f:
        f.write(upper[:len(upper) // 2])
    r = ovl_run(["provision", paths["flash"]], ws)
    assert r.returncode == 0, r.stderr
    boards = {
        "hugeboard": '{"name": "huge", "flash": {"size": "0x40000000000", '
                     '"erase_size": 4096, "page_size": 256}, "partitions": ['
                     '{"name": "fw", "offset": 0, "size": "0x100000", '
                     '"type": "squashfs"}, {"name": "up", "offset": '
                     '"0x100000", "size": "0x3ffff00000", "type": "ovl"}]}',
        "intname": '{"name": 5, "flash": {"size": 65536, "erase_size": 4096,'
                   ' "page_size": 256}, "partitions": [{"name": "fw", '
                   '"offset": 0, "size": 32768, "type": "squashfs"}, {"name":'
                   ' "up", "offset": 32768, "size": 32768, "type": "ovl"}]}',
        "noparts": '{"name": "bare", "flash": {"size": 65536, "erase_size": '
                   '4096, "page_size": 256}, "partitions": []}'}
    for key, text in boards.items():
        paths[key] = os.path.join(ws, key + ".json")
        with open(paths[key], "w") as f:
            f.write(text)
    return paths


def expand(argv, paths, case_dir):
    subst = dict(paths, out=case_dir)
    if any("{upper}" in a for a in argv):
        subst["upper"] = os.path.join(case_dir, "..", os.path.basename(
            case_dir) + ".upper.img")
        shutil.copyfile(paths["upper0"], subst["upper"])
    return [a.format(**subst) for a in argv], subst


def digest(path):
    if not os.path.isfile(path):
        return ("not a file", os.path.isdir(path))
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_case(case, paths, ws):
    name, argv, opts = case
    case_dir = os.path.join(ws, "cases", name)
    os.makedirs(case_dir)
    argv, subst = expand(argv, paths, case_dir)
    keep = [k.format(**subst) for k in opts.get("keep", [])]
    before = {k: digest(k) for k in keep}
    try:
        r = ovl_run(argv, ws, opts.get("stdin", ""),
                    opts.get("timeout", TIMEOUT))
    except subprocess.TimeoutExpired:
        return {"hang": True, "argv": argv,
                "timeout": opts.get("timeout", TIMEOUT)}
    changed = [k for k in keep if digest(k) != before[k]]
    left = mounts_under(case_dir)
    for point in left:
        unmount(point)
    return {"hang": False, "argv": argv, "status": r.returncode,
            "stderr": r.stderr.decode("utf-8", "replace"),
            "changed": changed, "mounts_left": left}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    ws = str(tmp_path_factory.mktemp("cli_errors"))
    paths = make_workspace(ws)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {c[0]: pool.submit(run_case, c, paths, ws)
                   for c in ALL_CASES}
        return {name: f.result() for name, f in futures.items()}


def check(res):
    assert not res["hang"], "no answer within %d s: %s" % (res["timeout"],
                                                          res["argv"])
    err = res["stderr"]
    where = "%s -> status %s, stderr:\n%s" % (res["argv"], res["status"], err)
    assert "Traceback" not in err, where
    assert "internal error" not in err, where
    assert res["status"] != 0, where
    lines = err.splitlines()
    if res["status"] == 2 and lines and lines[0].startswith("usage:"):
        # argparse's own format for argument-syntax errors: usage, then one
        # "PROG: error:" line
        assert ARGPARSE_ERROR.match(lines[-1]), where
    else:
        assert len(lines) == 1 and lines[0].startswith("ovl: "), where
        assert len(lines[0]) > len("ovl: error: ") + 5, where
    assert not res["changed"], "%s changed: %s" % (res["changed"], where)
    assert not res["mounts_left"], "left mounted: %s: %s" % (
        res["mounts_left"], where)


@pytest.mark.parametrize("name", [
    pytest.param(c[0], marks=c[2]["mark"]) if "mark" in c[2] else c[0]
    for c in ALL_CASES])
@pytest.mark.slow
def test_bad_input_gives_one_line_and_nonzero_exit(results, name):
    check(results[name])


def test_every_command_gets_checked():
    """Discovery sees the commands, and each has hand-written or generic
    cases (a command without inputs, like demo, has hand-written ones)."""
    names = set(subparsers_of(build_parser()))
    assert {"ls", "cat", "extract", "mkimage", "fs", "shell", "boards",
            "provision", "flashinfo", "demo", "sim", "backup", "restore",
            "reset", "dump", "install", "mount", "umount"} <= names
    checked = {argv[0] for _, argv, _ in ALL_CASES}
    assert names <= checked, names - checked
    assert checked - names <= {"frobnicate"}, checked - names


# ----- shell verbs: errors are per-command records, the session goes on ---------

SHELL_BAD = [
    "cat /nope", "truncate /etc/hostname 12Q",
    "truncate /etc/hostname 99999999999999999999999",
    "write /etc/x w 9223372036854775807 a", "write /etc/y w -5 a",
    "write /etc/y zz 0 a", "chmod 9z /etc/hostname",
    "chown 99999999999:1 /etc/hostname", "chown -5 /etc/hostname",
    "touch /etc/hostname 99999999999999999999999", "revert /nope",
    'ls "unterminated', "frobnicate", "mkdir /" + "a" * 300, "rm /",
    "rmdir /", "mv /etc /etc/sub", "tree /nope", "layer /nope",
]


@pytest.mark.slow
def test_shell_bad_lines_are_one_error_record_each(tmp_path):
    """`ovl shell` reports each failed command as one "error: ..." line on
    stdout (documented session behaviour) and keeps going; nothing may
    escape as an internal error or traceback, and the store stays clean."""
    paths = make_workspace(str(tmp_path))
    script = "\n".join(SHELL_BAD + ["truncate /etc/hostname 4000000000",
                                    "cat /etc/hostname", "ls /d"]) + "\n"
    r = ovl_run(["shell", "--lower", paths["img"], "--upper", paths["upper0"]],
                str(tmp_path), stdin=script)
    err = r.stderr.decode()
    # the session goes on; its exit status and one stderr line say that
    # commands failed
    assert r.returncode == 1 and err == "ovl: %d of %d commands failed\n" % (
        len(SHELL_BAD) + 1, len(SHELL_BAD) + 3), err
    out = r.stdout.decode().splitlines()
    # truncate to 4 GB succeeds (sparse); cat refuses to hold it in RAM
    assert len(out) == len(SHELL_BAD) + 3, out
    assert all(line.startswith("error: ") for line in out[:len(SHELL_BAD)]), \
        out
    assert out[-3] == "ok" and out[-2].startswith("error: ") and out[-1] == "f"
    assert not any("internal" in line or "Traceback" in line for line in out)
    r = ovl_run(["fsck", paths["upper0"]], str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr


# ----- the API under the CLI: the same limits on both runtimes -----------------

API_LIMITS = r"""
import os
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
o = mount(DirLower(LOWER), flash)

def errno_of(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    return "no error"

def write_at(pos):
    with o.open("/etc/hostname", "r+b") as f:
        f.seek(pos)
        f.write(b"x")

def seek_to(pos):
    with o.open("/etc/hostname", "rb") as f:
        f.seek(pos)

print(errno_of(lambda: o.truncate("/etc/hostname", 1 << 64)),
      errno_of(lambda: write_at((1 << 63) - 1)),
      errno_of(lambda: seek_to(1 << 64)),
      errno_of(lambda: o.chown("/etc/hostname", 1 << 32, 0)),
      errno_of(lambda: o.chown("/etc/hostname", 0, -2)),
      errno_of(lambda: o.utime("/etc/hostname", (0, 1 << 63))),
      errno_of(lambda: o.revert("/nope")),
      errno_of(lambda: o.revert("/etc/nope")))
o.revert("/etc/hostname")           # a lower name without changes: no-op
o.chown("/etc/hostname", -1, 7)
o.truncate("/etc/hostname", 1 << 40)    # sparse: stores no data
o.utime("/etc/hostname", (0, -5))
st = o.stat("/etc/hostname")
print(st[4], st[5], st[8], st[6] == 1 << 40, o.read_bytes("/etc/hostname")
      if st[6] < 100 else "big", flash.counters()["bytes_programmed"] < 4096)
"""


def test_overlay_limits_on_both_runtimes(runtime, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_bytes(b"router\n")
    out = runtime("LOWER = %r\n" % str(tmp_path) + API_LIMITS).splitlines()
    # EFBIG for sizes past the u64/off_t fields, EINVAL for ids and times
    # the format cannot hold, ENOENT for reverting a name no layer has
    assert out[0] == "27 27 22 22 22 22 2 2"
    assert out[1] == "0 7 -5 True big True"


def test_provision_over_an_existing_chip_keeps_it(tmp_path):
    ws = str(tmp_path)
    flash = os.path.join(ws, "sim.flash")
    assert ovl_run(["provision", flash], ws).returncode == 0
    with open(flash, "r+b") as f:
        f.write(b"state")
    r = ovl_run(["provision", flash], ws)
    assert r.returncode == 0 and b"unchanged" in r.stdout, r.stdout
    with open(flash, "rb") as f:
        assert f.read(5) == b"state"


@pytest.mark.slow
def test_a_second_session_on_a_busy_upper_is_refused(tmp_path):
    """Two sessions on one upper would each save their own copy, losing
    one's changes: the second is refused while the first holds it."""
    from host_tools.commands.overlay import lock_upper
    paths = make_workspace(str(tmp_path))
    upper = paths["upper0"]
    before = digest(upper)
    with lock_upper(upper):      # what a first session holds
        r = ovl_run(["fs", "mkdir", "--lower", paths["img"], "--upper", upper,
                     "/d2"], str(tmp_path))
    err = r.stderr.decode()
    assert r.returncode == 1 and err.startswith("ovl: ") and \
        "in use" in err and len(err.splitlines()) == 1, err
    assert digest(upper) == before
    r = ovl_run(["fs", "mkdir", "--lower", paths["img"], "--upper", upper,
                 "/d2"], str(tmp_path))
    assert r.returncode == 0, r.stderr


def test_chmod_refuses_a_mode_outside_0_to_7777_on_both_runtimes(runtime,
                                                                  tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_bytes(b"router\n")
    refused = {"chmod %s" % m: "EINVAL"
               for m in ("-1", "-2", "10000", "77777777", "107777")}
    runtime.run_checks("chmod_mode_range.py", dict(refused, **{
        "agent chmod -1": "EINVAL", "mode after the refusals": "640",
        "chmod 7777": "ok", "mode after 7777": "7777",
        "chmod 0": "ok", "mode after 0": "0",
        "agent chmod 644": "ok", "mode after agent 644": "644",
        "fsck": []}), args=[str(tmp_path)])
