"""`ovl fs` and `ovl shell` on image files: verbs, JSON results, errors as
one line, and a simulated power cut that leaves the image as the chip
would hold it."""

import io
import json
import os
import subprocess
import sys

import pytest

from host_tools.cli import main
from test_overlay import build_lower

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def layers(tmp_path):
    lower = build_lower(str(tmp_path / "lower"))
    upper = str(tmp_path / "up.img")
    assert main(["format", upper, "--size", "512k", "--erase-size", "4k"]) == 0
    return lower, upper


def ovl(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def shell(capsys, monkeypatch, layers, script, *extra):
    lower, upper = layers
    status, out, err = ovl(capsys, "shell", "--json", "--lower", lower,
                           "--upper", upper, *extra, stdin=script,
                           monkeypatch=monkeypatch)
    return status, [json.loads(line) for line in out.splitlines()], err


def test_fs_verbs_change_and_persist(layers, capsys, tmp_path):
    lower, upper = layers
    L = ["--lower", lower, "--upper", upper]
    host = tmp_path / "hostfile"
    host.write_bytes(b"from host\n")
    assert ovl(capsys, "fs", "put", *L, str(host), "/etc/new")[0] == 0
    assert ovl(capsys, "fs", "mv", *L, "/etc/config", "/etc/config.old")[0] == 0
    status, out, _ = ovl(capsys, "fs", "ls", *L, "/etc")
    assert out.split() == ["cfg", "config.old", "init.d", "new", "passwd",
                           "passwd.lnk"]
    status, out, _ = ovl(capsys, "fs", "cat", *L, "/etc/new")
    assert out == "from host\n"
    status, out, _ = ovl(capsys, "fs", "ls", "-l", *L, "/etc")
    assert "upper" in out and "copied-up" in out and "lower" in out
    status, out, _ = ovl(capsys, "fs", "diff", *L)
    assert out.split("\n")[:3] == ["deleted  /etc/config",
                                   "added    /etc/config.old",
                                   "added    /etc/new"]
    assert ovl(capsys, "fs", "revert", *L, "/etc/config")[0] == 0
    status, out, _ = ovl(capsys, "fs", "cat", *L, "/etc/config")
    assert out == "option=1\n"
    assert ovl(capsys, "fs", "reset", *L)[0] == 0
    assert ovl(capsys, "fs", "diff", *L)[1] == "\n"


def test_fs_errors_are_one_line(layers, capsys):
    lower, upper = layers
    status, out, err = ovl(capsys, "fs", "cat", "--lower", lower, "--upper",
                           upper, "/nope")
    assert status == 1 and err.count("\n") == 1 and "ENOENT" in err
    status, out, err = ovl(capsys, "fs", "rm", "--lower", lower, "/etc/config")
    assert status == 1 and "EROFS" in err       # no upper: read-only
    status, out, err = ovl(capsys, "fs", "ls", "--lower", lower, "--upper",
                           upper + ".missing", "/")
    assert status == 1 and "does not exist" in err


def test_shell_json_results_and_tree(layers, capsys, monkeypatch):
    script = "\n".join([
        "write /etc/config r+b 7 9",
        "cat /etc/config",
        "rmdir /etc",
        "mkdir /d",
        "ln -s ../etc/config /d/link",
        "chown 5:6 /d",
        "layer /etc/config",
        "frobnicate",
        "tree /d",
    ]) + "\n"
    status, records, _ = shell(capsys, monkeypatch, layers, script)
    assert status == 0
    assert records[0] == {"ok": True, "out": None}
    assert records[1] == {"ok": True, "out": "option=9\n"}
    assert records[2]["ok"] is False and records[2]["errno"] == "ENOTEMPTY"
    assert records[6]["out"] == "copied-up"
    assert records[7]["ok"] is False and records[7]["errno"] is None
    tree = records[8]["out"]
    assert [t["path"] for t in tree] == ["/d", "/d/link"]
    assert (tree[0]["uid"], tree[0]["gid"]) == (5, 6)
    assert tree[1]["target"] == "../etc/config"


def test_shell_power_cut_leaves_image_before_or_after(layers, capsys,
                                                      monkeypatch):
    lower, upper = layers
    script = "mkdir /made\n"
    seen = set()
    for n in range(0, 8):
        before = open(upper, "rb").read()
        status, records, err = shell(capsys, monkeypatch, layers, script,
                                     "--power-cut-after", str(n), "--torn",
                                     "prefix")
        if status == 0:
            break
        assert status == 3 and "power cut" in err
        status, records, _ = shell(capsys, monkeypatch, layers,
                                   "layer /made\n")
        state = "after" if records[0]["ok"] else "before"
        seen.add(state)
        if state == "after":
            break
        assert records[0]["errno"] == "ENOENT"
        with open(upper, "wb") as f:       # put the chip back for the next n
            f.write(before)
    assert "before" in seen


def test_cli_runs_as_a_program_without_traceback(layers):
    lower, upper = layers
    proc = subprocess.run([sys.executable, "-m", "host_tools", "fs", "stat",
                           "--lower", lower, "--upper", upper, "/etc/config"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["layer"] == "lower"
    proc = subprocess.run([sys.executable, "-m", "host_tools", "fs", "stat",
                           "--lower", "/nonexistent", "/x"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
