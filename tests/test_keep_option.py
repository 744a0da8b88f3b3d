"""`--keep` of `ovl reset` and `ovl remote`: the paths after it, one per
`--keep` or several after one, never the command's own words (a greedy
list took `reset` or `boot` as a path to keep: a missing verb, or a reset
done now instead of at the next boot)."""

import subprocess
import sys

import pytest

from conftest import ROOT
from host_tools import cli

REMOTE = ["remote", "--port", "/nonexistent/tty"]
LAYERS = ["--lower", "L.sqfs", "--upper", "U.img"]

PARSED = [
    (REMOTE + ["--keep", "/a", "reset", "boot"], ("reset", ["boot"], ["/a"])),
    (REMOTE + ["reset", "--keep", "/a", "boot"], ("reset", ["boot"], ["/a"])),
    (REMOTE + ["reset", "boot", "--keep", "/a", "/b"],
     ("reset", ["boot"], ["/a", "/b"])),
    (REMOTE + ["reset", "--keep", "/a", "--keep", "/b"],
     ("reset", [], ["/a", "/b"])),
    (REMOTE + ["--keep", "/a", "/b", "reset"], ("reset", [], ["/a", "/b"])),
    (REMOTE + ["reset"], ("reset", [], None)),
    (["reset"] + LAYERS + ["--keep", "/a", "--keep", "/b"],
     ("reset", None, ["/a", "/b"])),
    (["reset"] + LAYERS + ["--keep", "/a", "/b"],
     ("reset", None, ["/a", "/b"])),
]


@pytest.mark.parametrize("argv,expected", PARSED,
                         ids=[" ".join(a) for a, _ in PARSED])
def test_keep_takes_the_paths_and_leaves_the_words(argv, expected):
    args = cli.parse(cli.build_parser(), argv)
    verb = getattr(args, "verb", None) or args.command
    assert (verb, getattr(args, "args", None), args.keep) == expected


@pytest.mark.parametrize("argv", [REMOTE + ["reset", "--keep", "etc"],
                                  ["reset"] + LAYERS + ["--keep", "etc"],
                                  ["reset"] + LAYERS + ["--keep", "/a",
                                                        "--keep", "etc"]])
def test_a_relative_keep_path_is_a_usage_error(tmp_path, argv):
    # refused before a port or an image is opened: exit 2, one error line
    p = subprocess.run([sys.executable, "-m", "host_tools"] + argv,
                       capture_output=True, text=True, cwd=str(tmp_path),
                       env={"PYTHONPATH": ROOT, "PATH": "/usr/bin:/bin"})
    lines = p.stderr.splitlines()
    assert p.returncode == 2, p.stderr
    assert lines[-1].startswith("ovl %s: error: argument --keep: " % argv[0])
    assert "'etc' is not an absolute path" in lines[-1], p.stderr
