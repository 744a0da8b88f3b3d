"""What the CLI writes on the host and into the image from the host:
`ovl fs get` and the shell's get leave an existing destination as it was
when the read fails (a damaged file), and the shell's `write` stores its
DATA's characters as UTF-8."""

import contextlib
import io
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from host_tools.cli import main

PATTERN = b"PATTERN!" * 500
PRECIOUS = b"precious host data\n"


def cli(*argv):
    """`ovl ARGV` in this process: (status, stdout + stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main([str(a) for a in argv])
    return status, out.getvalue()


def shell(lower, upper, commands):
    """`ovl shell` fed `commands`: the finished process."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, "-m", "host_tools", "shell", "--lower", lower,
         "--upper", upper], input=commands, capture_output=True, text=True,
        env=env, cwd=ROOT, timeout=120)


def layers(tmp_path):
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "hostname").write_bytes(b"board\n")
    lower, upper = str(tmp_path / "low.sqfs"), str(tmp_path / "c.img")
    assert cli("mkimage", "-q", tree, lower)[0] == 0
    assert cli("format", "--size", "64k", "--erase-size", "4k", upper)[0] == 0
    return lower, upper


def damaged_file(tmp_path):
    """Layers whose upper holds /etc/pat with a flipped bit in its data."""
    lower, upper = layers(tmp_path)
    pat = tmp_path / "pat"
    pat.write_bytes(PATTERN)
    assert cli("fs", "put", "--lower", lower, "--upper", upper, pat,
               "/etc/pat")[0] == 0
    image = bytearray(open(upper, "rb").read())
    at = image.find(PATTERN[:80])
    assert at > 0
    image[at + 100] ^= 4
    with open(upper, "wb") as f:
        f.write(image)
    return lower, upper


def test_failed_fs_get_keeps_the_destination(tmp_path):
    lower, upper = damaged_file(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "keep.txt"
    keep.write_bytes(PRECIOUS)
    status, err = cli("fs", "get", "--lower", lower, "--upper", upper,
                      "/etc/pat", keep)
    assert status == 1 and "EIO" in err, err
    assert keep.read_bytes() == PRECIOUS
    assert os.listdir(out) == ["keep.txt"]      # no temporary left behind
    # a get that succeeds replaces it
    status, err = cli("fs", "get", "--lower", lower, "--upper", upper,
                      "/etc/hostname", keep)
    assert status == 0, err
    assert keep.read_bytes() == b"board\n"
    assert os.listdir(out) == ["keep.txt"]


def test_failed_shell_get_keeps_the_destination(tmp_path):
    lower, upper = damaged_file(tmp_path)
    keep = tmp_path / "keep.txt"
    keep.write_bytes(PRECIOUS)
    proc = shell(lower, upper, "get /etc/pat %s\n" % keep)
    assert proc.returncode == 1 and "EIO" in proc.stdout, proc.stdout
    assert keep.read_bytes() == PRECIOUS
    assert not [n for n in os.listdir(tmp_path) if n.startswith("keep.txt")
                and n != "keep.txt"]


def test_fs_get_into_a_directory_is_one_line(tmp_path):
    lower, upper = layers(tmp_path)
    dest = tmp_path / "d"
    dest.mkdir()
    status, err = cli("fs", "get", "--lower", lower, "--upper", upper,
                      "/etc/hostname", dest)
    assert status == 1 and "is a directory" in err.lower(), err
    assert len(err.splitlines()) == 1, err
    assert os.listdir(dest) == []


def test_shell_write_stores_text_as_utf8(tmp_path):
    lower, upper = layers(tmp_path)
    proc = shell(lower, upper, "write /u w 0 'h\u00e9llo \u20ac\\x00\\n\\\\'\n"
                               "get /u %s\n" % (tmp_path / "got"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "got").read_bytes() == \
        "h\u00e9llo \u20ac".encode("utf-8") + b"\x00\n\\"


def test_crash_scripts_read_data_as_the_shell_does():
    from host_tools.crash import workloads as wl
    assert wl.parse_line("write /x wb 0 '\u00e9\u20ac\\x00'") == (
        "write", "/x", "wb", 0, "\u00e9\u20ac".encode("utf-8") + b"\x00")


# DATA as written on a line -> the bytes stored: a backslash escape means the
# same whether DATA is quoted or not (fs_format.split_command)
DATA_SPELLINGS = [
    ("hello\\n", b"hello\n"),
    ("'hello\\n'", b"hello\n"),
    ('"hello\\n"', b"hello\n"),
    ("a\\x00b", b"a\x00b"),
    ('"a\\x00b"', b"a\x00b"),
    ("back\\\\slash", b"back\\slash"),
    ("'back\\\\slash'", b"back\\slash"),
    ("\u00e9\u20ac\\n", "\u00e9\u20ac\n".encode("utf-8")),
    ("'\u00e9 \u20ac'", "\u00e9 \u20ac".encode("utf-8")),
    ("two words # and a hash", b"two words # and a hash"),
    ("it's", b"it's"),
    ("'it\\'s'", b"it's"),
    ('"say \\"hi\\""', b'say "hi"'),
    ("''", b""),
]


def test_shell_write_data_escapes_quoted_or_not(tmp_path):
    lower, upper = layers(tmp_path)
    script = "".join("write /d%d w 0 %s\nget /d%d %s\n"
                     % (i, spelt, i, tmp_path / ("got%d" % i))
                     for i, (spelt, _) in enumerate(DATA_SPELLINGS))
    proc = shell(lower, upper, script)
    assert proc.returncode == 0, proc.stderr
    for i, (spelt, want) in enumerate(DATA_SPELLINGS):
        got = (tmp_path / ("got%d" % i)).read_bytes()
        assert got == want, (spelt, got)


def test_crash_script_write_data_escapes_quoted_or_not():
    from host_tools.crash import workloads as wl
    for spelt, want in DATA_SPELLINGS:
        assert wl.parse_line("write /x wb 0 %s" % spelt) == (
            "write", "/x", "wb", 0, want), spelt


def test_write_data_that_is_not_one_quoted_string_is_refused(tmp_path):
    from host_tools.crash import workloads as wl
    bad = ["'a' 'b'", "'unterminated", "'a'b", "bad\\x4"]
    for spelt in bad:
        with pytest.raises(ValueError):
            wl.parse_line("write /x wb 0 %s" % spelt)
    lower, upper = layers(tmp_path)
    proc = shell(lower, upper, "".join("write /x w 0 %s\n" % s for s in bad)
                 + "write /x w 0\nls /\n")
    assert proc.returncode == 1, proc.stdout
    lines = proc.stdout.splitlines()
    assert [ln.startswith("error: ") for ln in lines[:5]] == [True] * 5, lines
    assert lines[5:] == ["etc"], lines       # nothing written


def test_crash_script_lines_round_trip_any_data():
    from host_tools.crash import workloads as wl
    for data in (b"it's", b"\\'\"", b"a # b", bytes(range(256)), b""):
        op = ("write", "/x y", "r+b", 3, data)
        assert wl.parse_line(wl.format_op(op)) == op, wl.format_op(op)
