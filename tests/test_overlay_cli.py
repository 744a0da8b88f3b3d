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
    assert ovl(capsys, "fs", "diff", *L)[1] == ""     # no blank line


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
    assert status == 1          # rmdir and frobnicate failed
    assert records[0] == {"ok": True, "out": None}
    assert records[1] == {"ok": True, "out": "option=9\n"}
    assert records[2]["ok"] is False and records[2]["errno"] == "ENOTEMPTY"
    assert records[6]["out"] == {"path": "/etc/config", "layer": "copied-up"}
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


# ----- the shell as a session: nothing answered `ok` is lost ---------------------

class Keyboard:
    """stdin that hands out lines, then raises Ctrl-C (as a terminal does);
    isatty says whether a prompt is expected."""

    def __init__(self, lines, tty=False):
        self.lines = list(lines)
        self.tty = tty

    def isatty(self):
        return self.tty

    def readline(self, limit=-1):
        if not self.lines:
            raise KeyboardInterrupt
        return self.lines.pop(0)


def layer(capsys, monkeypatch, layers, path):
    status, records, _ = shell(capsys, monkeypatch, layers,
                               "layer %s\n" % path)
    return records[0]


def test_shell_keeps_ok_commands_when_ctrl_c_ends_it(layers, capsys,
                                                     monkeypatch):
    lower, upper = layers
    monkeypatch.setattr(sys, "stdin", Keyboard(["mkdir /kept\n"]))
    status = main(["shell", "--lower", lower, "--upper", upper])
    out, err = capsys.readouterr()
    assert status == 130 and out == "ok\n" and err.count("\n") == 1, err
    assert layer(capsys, monkeypatch, layers, "/kept")["ok"] is True


def test_shell_keeps_ok_commands_when_sync_fails(layers, capsys, monkeypatch):
    from ovl.overlay import Overlay

    def broken_sync(self):
        raise OSError(5, "EIO: the chip did not answer")
    lower, upper = layers
    monkeypatch.setattr(Overlay, "sync", broken_sync)
    status, out, err = ovl(capsys, "shell", "--lower", lower, "--upper",
                           upper, stdin="mkdir /kept\nsync\n",
                           monkeypatch=monkeypatch)
    assert status != 0 and out.splitlines()[0] == "ok", (out, err)
    monkeypatch.undo()
    assert layer(capsys, monkeypatch, layers, "/kept")["ok"] is True


def test_shell_exit_status_says_a_command_failed(layers, capsys, monkeypatch):
    status, records, err = shell(capsys, monkeypatch, layers,
                                 "mkdir /a\ncat /nope\nmkdir /b\n")
    assert [r["ok"] for r in records] == [True, False, True]
    assert status == 1 and "1 of 3 commands failed" in err
    assert layer(capsys, monkeypatch, layers, "/b")["ok"] is True


def test_shell_checks_every_argument_before_changing_anything(
        layers, capsys, monkeypatch):
    status, records, _ = shell(capsys, monkeypatch, layers,
                               "write /x wb abc hi\nwrite /y wb -1 hi\n"
                               "write /z rb 0 hi\nlayer /x\nlayer /y\n"
                               "layer /z\n")
    assert [r["ok"] for r in records] == [False] * 6
    assert [r["errno"] for r in records[3:]] == ["ENOENT"] * 3


def test_shell_help_exit_and_fsck(layers, capsys, monkeypatch):
    status, records, _ = shell(capsys, monkeypatch, layers,
                               "exit now\nhelp\nfsck\nexit\nmkdir /never\n")
    assert status == 1 and len(records) == 3      # exit answers nothing
    assert records.pop(0)["error"] == "usage: exit"
    assert "write PATH MODE OFFSET DATA" in records[0]["out"]
    assert "rmdir" in records[0]["out"] and "exit" in records[0]["out"]
    assert records[1]["out"] == {"clean": True, "problems": []}
    assert layer(capsys, monkeypatch, layers, "/never")["ok"] is False
    lower, upper = layers
    status, out, _ = ovl(capsys, "shell", "--lower", lower, "--upper", upper,
                         stdin="fsck\nquit\n", monkeypatch=monkeypatch)
    assert out == "fsck: clean\n"


def test_shell_prompts_on_a_terminal_only(layers, capsys, monkeypatch):
    lower, upper = layers
    status, out, err = ovl(capsys, "shell", "--lower", lower, stdin="ls /\n",
                           monkeypatch=monkeypatch)
    assert "ovl>" not in out + err
    monkeypatch.setattr(sys, "stdin", Keyboard(["layer /etc\n", "exit\n"],
                                               tty=True))
    assert main(["shell", "--lower", lower]) == 0
    out, err = capsys.readouterr()
    assert out == "lower\n" and err.count("ovl> ") == 2


def test_shell_json_is_structured(layers, capsys, monkeypatch):
    status, records, _ = shell(capsys, monkeypatch, layers,
                               "mkdir /d\nls -l /etc\nstat /etc/cfg\n"
                               "diff\nlayer /d\nls /empty\n")
    ls = records[1]["out"]
    assert [e["name"] for e in ls][:2] == ["cfg", "config"]
    cfg = ls[0]
    assert (cfg["type"], cfg["target"], cfg["layer"]) == \
        ("symlink", "config", "lower")
    assert ls[1]["type"] == "file" and ls[1]["size"] == 9
    st = records[2]["out"]
    assert (st["type"], st["perm"], st["layer"], st["path"]) == \
        ("symlink", "0777", "lower", "/etc/cfg")
    assert records[3]["out"] == [{"change": "added", "path": "/d"}]
    assert records[4]["out"] == {"path": "/d", "layer": "upper"}
    assert records[5]["out"] == []


# ----- fs: bad host files, odd names, one-line errors ----------------------------

def run_cli(*argv, timeout=30):
    return subprocess.run([sys.executable, "-m", "host_tools"] + list(argv),
                          cwd=ROOT, capture_output=True, timeout=timeout)


def test_fs_put_of_a_fifo_refuses_instead_of_hanging(layers, tmp_path):
    lower, upper = layers
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    before = open(upper, "rb").read()
    r = run_cli("fs", "put", "--lower", lower, "--upper", upper, fifo, "/x")
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("\n") == 1, err
    assert "not a regular file" in err
    assert open(upper, "rb").read() == before


@pytest.mark.slow
def test_fs_works_over_a_lower_directory_with_a_non_utf8_name(tmp_path,
                                                               capsys):
    low = tmp_path / "low"
    bad = os.fsencode(str(low)) + b"/bad\xffdir"
    os.makedirs(bad)
    with open(bad + b"/f", "wb") as f:
        f.write(b"inside\n")
    (low / "plain").write_bytes(b"p\n")
    upper = str(tmp_path / "up.img")
    assert main(["format", upper, "--size", "64k", "--erase-size", "4k"]) == 0
    L = ["--lower", str(low), "--upper", upper]
    r = run_cli("fs", "ls", *L, "/")
    assert r.returncode == 0 and r.stdout == b"bad\xffdir\nplain\n", r.stderr
    r = run_cli("fs", "cat", *L, os.fsdecode(b"/bad\xffdir/f"))
    assert r.returncode == 0 and r.stdout == b"inside\n", r.stderr
    r = run_cli("fs", "rm", *L, "/plain")
    assert r.returncode == 0, r.stderr
    r = run_cli("fs", "diff", *L)
    assert r.stdout == b"deleted  /plain\n", r.stderr
    # typed into the shell, such a name reaches the lower's file too
    r = subprocess.run([sys.executable, "-m", "host_tools", "shell", *L],
                       input=b"cat /bad\xffdir/f\nls /\n", cwd=ROOT,
                       capture_output=True, timeout=30,
                       env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    assert r.returncode == 0 and r.stdout == b"inside\nbad\xffdir\n", \
        r.stdout + r.stderr


def test_fs_refuses_a_name_that_is_not_utf8_in_one_line(layers, tmp_path,
                                                        capsys):
    lower, upper = layers
    L = ["--lower", lower, "--upper", upper]
    host = tmp_path / "hostfile"
    host.write_bytes(b"from host\n")
    assert ovl(capsys, "fs", "put", *L, str(host), "/etc/new")[0] == 0
    before = open(upper, "rb").read()
    bad = os.fsdecode(b"/etc/bad\xff")         # as argv decodes it
    for argv in (("mkdir", bad), ("mv", "/etc/new", bad),
                 ("put", str(host), bad), ("ln", "-s", "new", bad)):
        r = run_cli("fs", argv[0], *L, *argv[1:])
        err = r.stderr.decode("utf-8", "replace")
        assert r.returncode == 1 and err.count("\n") == 1, (argv, err)
        assert "EINVAL" in err and "not UTF-8" in err, (argv, err)
    assert open(upper, "rb").read() == before


def test_fs_upper_errors_name_only_what_fs_has(layers, tmp_path, capsys):
    lower, upper = layers
    status, out, err = ovl(capsys, "fs", "ls", "--lower", lower, "--upper",
                           str(tmp_path))
    assert status == 1 and "is a directory" in err and \
        "does not exist" not in err, err
    junk = tmp_path / "junk.img"
    junk.write_bytes(os.urandom(8192))
    status, out, err = ovl(capsys, "fs", "ls", "--lower", lower, "--upper",
                           str(junk))
    assert status == 1 and err.count("\n") == 1
    assert "--board" not in err and "--partition" not in err, err
    assert "ovl format" in err


def test_fs_error_echoing_a_huge_argument_is_cut(layers, capsys):
    lower, upper = layers
    huge = "/" + "a" * 20000
    status, out, err = ovl(capsys, "fs", "cat", "--lower", lower, "--upper",
                           upper, huge)
    assert status == 1 and err.count("\n") == 1 and len(err) < 400, err[:500]
    assert "ENAMETOOLONG" in err


def test_no_lock_file_is_left_beside_the_upper(layers, capsys, monkeypatch):
    lower, upper = layers
    before = sorted(os.listdir(os.path.dirname(upper)))
    assert ovl(capsys, "fs", "mkdir", "--lower", lower, "--upper", upper,
               "/d")[0] == 0
    shell(capsys, monkeypatch, layers, "mkdir /e\n")
    assert sorted(os.listdir(os.path.dirname(upper))) == before


def test_fs_rm_of_a_directory_is_refused_and_rmdir_removes_it(layers,
                                                               capsys):
    lower, upper = layers
    L = ["--lower", lower, "--upper", upper]
    status, out, err = ovl(capsys, "fs", "rm", *L, "/empty")
    assert status == 1 and "EISDIR" in err and "rmdir" in err
    assert ovl(capsys, "fs", "rmdir", *L, "/empty")[0] == 0
    status, out, err = ovl(capsys, "fs", "rmdir", *L, "/etc/config")
    assert status == 1 and "ENOTDIR" in err and "use rm" in err
    status, out, err = ovl(capsys, "fs", "stat", *L, "/etc/config")
    st = json.loads(out)
    assert (st["type"], st["perm"], st["layer"]) == ("file", "0644", "lower")
    status, out, err = ovl(capsys, "fs", "layer", *L, "/etc")
    assert out == "lower\n"


# ----- one vocabulary: `ovl remote` answers as `ovl fs` does ----------------------

from test_serial_remote import booted  # noqa: E402,F401  (a fixture)


def test_remote_speaks_the_fs_vocabulary_and_format(booted, tmp_path,
                                                    capsys):
    """The board runs the image tmp_path/fw.sqfs: `fs --lower` over the same
    image must print exactly what `remote` prints for lower objects."""
    from host_tools.commands.serial import remote_verb
    b, link, root = booted
    image = str(tmp_path / "fw.sqfs")
    for argv in (["ls", "/etc"], ["ls", "-l", "/"], ["stat", "/etc/motd"],
                 ["layer", "/bin/sh"]):
        assert remote_verb(link, argv[0], argv[1:], None) == 0
        remote_out = capsys.readouterr().out
        status, fs_out, err = ovl(capsys, "fs", argv[0], "--lower", image,
                                  *argv[1:])
        assert status == 0 and remote_out == fs_out, (argv, remote_out,
                                                      fs_out)
    remote_verb(link, "mkdir", ["/data"], None)
    with pytest.raises(OSError, match="EISDIR.*use rmdir"):
        remote_verb(link, "rm", ["/data"], None)
    with pytest.raises(OSError, match="ENOTDIR"):
        remote_verb(link, "rmdir", ["/etc/motd"], None)
    remote_verb(link, "rmdir", ["/data"], None)
    capsys.readouterr()
    remote_verb(link, "diff", [], None)
    assert capsys.readouterr().out == ""         # as `fs diff`: no blank line
    remote_verb(link, "rm", ["/etc/motd"], None)
    remote_verb(link, "diff", [], None)
    assert capsys.readouterr().out == "deleted  /etc/motd\n"
    link.bye()


# ----- mkimage and help texts -----------------------------------------------------

def test_mkimage_never_packs_its_own_old_output(tmp_path, capsys):
    from ovl.flash import BytesSource
    from ovl.squashfs import SquashFS
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_bytes(b"print(1)\n")
    out = str(src / "fw.sqfs")
    assert main(["mkimage", str(src), out]) == 0
    assert main(["mkimage", str(src), out]) == 0
    with open(out, "rb") as f:
        image = SquashFS(BytesSource(f.read()))
    assert [n for n, _ in image.readdir(image.lookup("/"))] == ["app.py"]


def test_flash_help_names_only_commands_that_exist(capsys):
    with pytest.raises(SystemExit):
        main(["flash", "--help"])
    out = capsys.readouterr().out
    assert "ovl build" not in out and "ovl mkimage" in out


def test_argument_errors_echoing_a_huge_word_are_cut(capsys):
    with pytest.raises(SystemExit) as e:
        main(["fs", "x" * 20000])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "invalid choice" in err and len(err) < 2000


def test_shell_saves_on_a_real_ctrl_c(layers, capsys, monkeypatch):
    """SIGINT while the shell waits for the next line: the session ends
    with 130 and what was answered ok is in the image."""
    import signal
    lower, upper = layers
    proc = subprocess.Popen([sys.executable, "-m", "host_tools", "shell",
                             "--lower", lower, "--upper", upper], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b"mkdir /kept\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"ok\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and b"saved" in err, err
    assert layer(capsys, monkeypatch, layers, "/kept")["ok"] is True


def test_ctrl_c_during_a_command_waits_for_its_end():
    """The first Ctrl-C inside a command is held until the command has
    finished (so the command is never cut half way); a second one, or one
    while waiting for input, stops at once."""
    import signal
    from host_tools.commands.overlay import HeldInterrupt
    held = HeldInterrupt()
    steps = []

    def command():
        held._fire(signal.SIGINT, None)
        steps.append("finished")
        return "done"
    assert held.run(command) == "done" and steps == ["finished"]
    with pytest.raises(KeyboardInterrupt):
        held.check()

    def stubborn():
        held._fire(signal.SIGINT, None)
    with pytest.raises(KeyboardInterrupt):
        held.run(stubborn)          # the second Ctrl-C of the session
    with pytest.raises(KeyboardInterrupt):
        HeldInterrupt()._fire(signal.SIGINT, None)     # not in a command


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGKILL"])
def test_shell_keeps_ok_commands_whatever_signal_ends_it(layers, capsys,
                                                         monkeypatch,
                                                         signame):
    """A command is answered ok only once what it changed is in the image
    file: a closed terminal (SIGHUP), a service stop (SIGTERM) or even
    SIGKILL right after the answer keeps it, and the image is sound.
    Before SIGKILL the rewrites of one file fill the 512 KiB upper over
    again, so garbage collection's copies and erases are among what
    reaches the file."""
    import signal
    lower, upper = layers
    proc = subprocess.Popen([sys.executable, "-m", "host_tools", "shell",
                             "--lower", lower, "--upper", upper], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    signum = getattr(signal, signame)
    rewrites = 100 if signum == signal.SIGKILL else 3
    try:
        proc.stdin.write(b"mkdir /kept\n")
        for i in range(rewrites):
            proc.stdin.write(b"write /etc/x wb 0 '%d:%s'\n" % (i, b"y" * 6000))
        proc.stdin.flush()
        answers = [proc.stdout.readline() for _ in range(rewrites + 1)]
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert answers == [b"ok\n"] * (rewrites + 1), err
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        # ended as at the end of input, with the shell's 128 + signal
        assert proc.returncode == 128 + signum and b"saved" in err, err
    status, _, err = ovl(capsys, "fsck", upper, "--lower", lower)
    assert status == 0, err
    assert layer(capsys, monkeypatch, layers, "/kept")["ok"] is True
    status, records, _ = shell(capsys, monkeypatch, layers, "cat /etc/x\n")
    assert records[0]["out"].startswith("%d:" % (rewrites - 1)), records


class DiskFullAfter(Keyboard):
    """stdin whose second line comes once the disk under the image is
    full: every later write into the image file fails."""

    def readline(self, limit=-1):
        self.read = getattr(self, "read", 0) + 1
        if self.read == 2:
            def full(fd, data, offset):
                raise OSError(28, "No space left on device")
            self.monkeypatch.setattr(os, "pwrite", full)
        return self.lines.pop(0) if self.lines else ""


def test_shell_stops_in_one_line_when_the_image_cannot_be_written(
        layers, capsys, monkeypatch):
    """A command whose flash operations cannot reach the image file is not
    answered ok, and the session stops there (the file holds what came
    before, as after a power cut), with one line and status 1."""
    lower, upper = layers
    stdin = DiskFullAfter(["mkdir /kept\n", "mkdir /lost\n", "mkdir /x\n"])
    stdin.monkeypatch = monkeypatch
    monkeypatch.setattr(sys, "stdin", stdin)
    status = main(["shell", "--lower", lower, "--upper", upper])
    out, err = capsys.readouterr()
    monkeypatch.undo()
    assert status == 1 and out == "ok\n", (out, err)
    assert err.count("\n") == 1 and "No space left" in err, err
    assert "Traceback" not in err
    status, _, err = ovl(capsys, "fsck", upper, "--lower", lower)
    assert status == 0, err
    assert layer(capsys, monkeypatch, layers, "/kept")["ok"] is True
    assert layer(capsys, monkeypatch, layers, "/lost")["ok"] is False


def test_sigterm_during_a_command_waits_for_its_end():
    """SIGTERM and SIGHUP are held as Ctrl-C is, and say which ended it."""
    import signal
    from host_tools.commands.overlay import HeldInterrupt
    for signum in (signal.SIGTERM, signal.SIGHUP):
        held = HeldInterrupt()
        steps = []

        def command():
            held._fire(signum, None)
            steps.append("finished")
        held.run(command)
        with pytest.raises(KeyboardInterrupt) as ended:
            held.check()
        assert steps == ["finished"] and ended.value.signum == signum


def test_damage_in_the_lower_is_eio_in_fs_and_shell(tmp_path, capsys,
                                                     monkeypatch):
    """What the SquashFS reader finds damaged in the lower (an inode of an
    unknown type, a block that does not inflate) is EIO with the reader's
    message, as `ovl remote` and `ovl mount` answer it: `ovl fs` prints
    one line and exits 1, the shell's JSON names EIO (before: no errno,
    "errno": null)."""
    from test_serial_remote import damaged_image
    lower = str(tmp_path / "bad.sqfs")
    with open(lower, "wb") as f:
        f.write(damaged_image(tmp_path))
    for path in ("/etc/a", "/etc/b"):
        status, out, err = ovl(capsys, "fs", "cat", "--lower", lower, path)
        assert (status, out, err.count("\n")) == (1, "", 1), err
        assert err.startswith("ovl: error: [Errno 5] "), err
    assert "unknown type 99" in err or "gzip block" in err, err
    upper = str(tmp_path / "up.img")
    assert ovl(capsys, "format", upper, "--size", "512k", "--erase-size",
               "4k")[0] == 0
    status, records, err = shell(capsys, monkeypatch, (lower, upper),
                                 "cat /etc/a\ncat /etc/b\ncat /etc/motd\n")
    assert status == 1 and err == "ovl: 2 of 3 commands failed\n", err
    assert [r.get("errno") for r in records] == ["EIO", "EIO", None]
    assert "unknown type 99" in records[0]["error"], records[0]
    assert "gzip block" in records[1]["error"], records[1]
    assert records[2] == {"ok": True, "out": "sound\n"}
    # the text form says it as an OSError's EIO
    status, out, err = ovl(capsys, "shell", "--lower", lower, "--upper",
                           upper, stdin="cat /etc/a\n",
                           monkeypatch=monkeypatch)
    assert status == 1 and out.startswith("error: [Errno 5] "), out
    assert "unknown type 99" in out, out


def usage_error(capsys, *argv):
    """The one error line of an `ovl` command that must exit 2."""
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    return err.splitlines()[-1]


@pytest.mark.parametrize("mode", ["-1", "10000", "77777777"])
def test_fs_chmod_refuses_a_mode_outside_0_to_7777(layers, capsys, mode):
    """A usage error (exit 2, one line naming the range), the mode as it
    was; before, -1 set 7777 and wider modes were masked."""
    lower, upper = layers
    L = ["--lower", lower, "--upper", upper]
    assert usage_error(capsys, "fs", "chmod", *L, mode, "/etc/config") == \
        "ovl fs: error: MODE must be an octal number from 0 to 7777, not " \
        "%r" % mode
    status, out, _ = ovl(capsys, "fs", "stat", *L, "/etc/config")
    assert status == 0 and json.loads(out)["perm"] == "0644", out


def config_owner(capsys, layer_args):
    """(uid, gid) of /etc/config, as `ovl fs stat` shows them."""
    status, out, _ = ovl(capsys, "fs", "stat", *layer_args, "/etc/config")
    assert status == 0, out
    return json.loads(out)["uid"], json.loads(out)["gid"]


@pytest.mark.parametrize("owner,what,word", [
    ("4294967296", "UID", "4294967296"), ("-2", "UID", "-2"),
    ("5:4294967296", "GID", "4294967296"), ("5:-7", "GID", "-7")])
def test_fs_chown_refuses_an_id_outside_0_to_2_32(layers, capsys, owner, what,
                                                  word):
    """As chmod's mode: a usage error (exit 2, one line naming the range),
    the owner as it was; before, the API's EINVAL exited 1."""
    lower, upper = layers
    L = ["--lower", lower, "--upper", upper]
    assert usage_error(capsys, "fs", "chown", *L, owner, "/etc/config") == \
        "ovl fs: error: %s must be a number from 0 to 4294967295 (-1: " \
        "unchanged), not %r" % (what, word)
    assert config_owner(capsys, L) == (0, 0)
    assert ovl(capsys, "fs", "chown", *L, "4294967295:-1",
               "/etc/config")[0] == 0
    assert config_owner(capsys, L) == (4294967295, 0)


def test_fs_chown_takes_minus_one_first_as_chown_does(layers, capsys):
    """-1 (unchanged) as the owner's first word, no "--" needed: argparse
    read "-1:3" as an option; a real bad option is still a usage error."""
    lower, upper = layers
    L = ["--lower", lower, "--upper", upper]
    assert ovl(capsys, "fs", "chown", *L, "7:8", "/etc/config")[0] == 0
    assert ovl(capsys, "fs", "chown", "-1:3", "/etc/config", *L)[0] == 0
    assert config_owner(capsys, L) == (7, 3)
    assert ovl(capsys, "fs", "chown", *L, "-1:-1", "/etc/config")[0] == 0
    assert config_owner(capsys, L) == (7, 3)
    assert "unrecognized arguments: -x" in usage_error(
        capsys, "fs", "chown", *L, "-x", "-1:3", "/etc/config")
    assert config_owner(capsys, L) == (7, 3)


def test_shell_chown_refuses_an_id_outside_0_to_2_32(layers, capsys,
                                                     monkeypatch):
    status, records, err = shell(capsys, monkeypatch, layers,
                                 "chown 1:4294967296 /etc/config\n")
    assert records[0] == {"ok": False, "errno": None, "error": "GID must be"
                          " a number from 0 to 4294967295 (-1: unchanged),"
                          " not '4294967296'"}, records


def test_shell_chmod_refuses_a_mode_outside_0_to_7777(layers, capsys,
                                                      monkeypatch):
    status, records, err = shell(capsys, monkeypatch, layers,
                                 "chmod -2 /etc/config\nstat /etc/config\n"
                                 "chmod 7777 /etc/config\nstat /etc/config\n")
    assert records[0] == {"ok": False, "errno": None, "error": "MODE must "
                          "be an octal number from 0 to 7777, not '-2'"}
    assert records[1]["ok"] and records[1]["out"]["perm"] == "0644", records
    assert records[3]["ok"] and records[3]["out"]["perm"] == "7777", \
        records
