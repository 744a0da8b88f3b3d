"""`python -m host_tools.image.romfs mpy|image`: the build commands' edges
(the image's encoding and its loading are checked in tests/test_fit.py)."""

import os
import subprocess
import sys

from conftest import ROOT
from host_tools.image import romfs


def build(*args):
    return subprocess.run([sys.executable, "-m", "host_tools.image.romfs"]
                          + list(args), capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_lines_option_before_or_after_the_output(tmp_path):
    for i, args in enumerate((["mpy", "--lines", "OUT"],
                              ["mpy", "OUT", "--lines"],
                              ["--lines", "mpy", "OUT"])):
        out = str(tmp_path / ("out%d" % i))
        r = build(*[out if a == "OUT" else a for a in args])
        assert r.returncode == 0, (args, r.stderr)
        assert os.path.exists(os.path.join(out, "ovl", "store",
                                           "__init__.mpy")), args


def test_modules_the_package_no_longer_has_are_removed(tmp_path):
    out = tmp_path / "mpy"
    stale = out / "ovl" / "gone.mpy"
    kept = out / "ovl" / "notes.txt"
    os.makedirs(stale.parent)
    stale.write_bytes(b"M\x06old")
    kept.write_text("not a module")
    written = romfs.compile_package(str(out))
    assert not stale.exists()
    assert kept.exists()          # only .mpy files are the build's
    on_disk = sorted(os.path.join(d, f) for d, _, fs in os.walk(out / "ovl")
                     for f in fs if f.endswith(".mpy"))
    assert on_disk == sorted(written)


def test_bad_output_paths_are_refused_in_one_line(tmp_path):
    before = set(os.listdir(tmp_path))
    r = build("image", str(tmp_path))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].endswith(
        "%s is a directory: give the image file's path" % tmp_path)
    assert "Traceback" not in r.stderr
    assert set(os.listdir(tmp_path)) == before     # no OUT.tmp left
    for what in ("mpy", "image"):
        r = build(what, "")
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().endswith("the output path is empty")
