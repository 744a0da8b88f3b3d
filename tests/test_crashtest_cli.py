"""`ovl crashtest` as a user runs it: a script of `ovl shell` commands over
the standard fixture or over the user's own firmware image, on an upper
of the user's geometry; a command that fails even without a power cut is
reported, never skipped in silence."""

import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from host_tools.cli import main
from host_tools.crash import workloads as wl
from ovl.store import LogStore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(capsys, *argv, shrink=False):
    status = main(["crashtest", "--jobs", "1", "--variants", "clean",
                   "--depth2", "0"] + ([] if shrink else ["--no-shrink"]) +
                  list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def script(tmp_path, text):
    path = tmp_path / "work.ovl"
    path.write_text(text)
    return str(path)


def test_script_commands_failing_without_a_cut_are_reported(tmp_path,
                                                            capsys):
    s = script(tmp_path, "write /lf r+b 0 X\nrm /not/in/fixture\n"
                         "# a comment\nmkdir /ld\nsync\n")
    status, out, err = run(capsys, "--script", s)
    assert status == 1 and "crash cases" not in out
    assert "line 2 `rm /not/in/fixture`: ENOENT" in out
    assert "line 4 `mkdir /ld`: EEXIST" in out
    assert err.count("\n") == 1 and "--allow-errors" in err
    status, out, err = run(capsys, "--script", s, "--allow-errors")
    assert status == 0, out + err
    assert "line 2 `rm /not/in/fixture`: ENOENT" in out
    assert "crash cases" in out         # the campaign ran


@pytest.fixture
def firmware(tmp_path):
    """A small firmware image of the user's: a file, a hard-linked pair,
    a symlink, a directory."""
    root = tmp_path / "fw"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "app.conf").write_bytes(b"level=3\n")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(bytes(range(256)) * 20)
    os.link(str(root / "bin" / "tool"), str(root / "bin" / "tool2"))
    os.symlink("app.conf", str(root / "etc" / "link"))
    image = str(tmp_path / "fw.sqfs")
    assert main(["mkimage", str(root), image]) == 0
    return image


def test_campaign_over_the_users_image_and_geometry(tmp_path, capsys,
                                                    firmware):
    s = script(tmp_path, "write /etc/app.conf r+b 6 9\nrm /bin/tool2\n"
                         "mv /etc/link /etc/link2\nsync\n")
    status, out, err = run(capsys, "--script", s, "--lower", firmware,
                           "--upper-size", "128k", "--erase-size", "8k")
    assert status == 0, out + err
    assert "crash cases" in out and "ERROR" not in out
    # the script really ran over the image: a path only the image has
    s = script(tmp_path, "rm /lf\n")      # a std-fixture path
    status, out, err = run(capsys, "--script", s, "--lower", firmware)
    assert status == 1 and "line 1 `rm /lf`: ENOENT" in out


def test_crashtest_geometry_errors_are_one_line(tmp_path, capsys, firmware):
    s = script(tmp_path, "mkdir /x\n")
    for extra in (["--upper-size", "100k", "--erase-size", "8k"],
                  ["--erase-size", "3000"], ["--upper-size", "12Q"]):
        # argument errors: argparse's usage and one line, exit 2
        with pytest.raises(SystemExit) as exit_:
            run(capsys, "--script", s, *extra)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and \
            err.splitlines()[-1].startswith("ovl crashtest: error: "), \
            (extra, err)
    for extra in (["--upper-size", "8k", "--erase-size", "8k"],
                  ["--lower", str(tmp_path / "missing.sqfs")]):
        status, out, err = run(capsys, "--script", s, *extra)
        assert status == 1 and err.count("\n") == 1 and \
            err.startswith("ovl: "), (extra, err)
    fifo = tmp_path / "fw2"
    (fifo / "dev").mkdir(parents=True)
    os.mkfifo(str(fifo / "dev" / "pipe"))
    image = str(tmp_path / "fw2.sqfs")
    assert main(["mkimage", str(fifo), image]) == 0
    capsys.readouterr()
    status, out, err = run(capsys, "--script", s, "--lower", image)
    assert status == 1 and "/dev/pipe" in err and err.count("\n") == 1


def test_script_hitting_enospc_is_tested_as_the_failure_it_is(tmp_path,
                                                              capsys,
                                                              firmware):
    """The second put fills the upper part way through its data: its
    ENOSPC is listed, then tested as a failure that changes nothing,
    with cuts inside it; the model predicts no space."""
    (tmp_path / "blob").write_bytes(random.Random(1).randbytes(10000))
    s = script(tmp_path, "put blob /a\nput blob /b\nmkdir /x\n")
    status, out, err = run(capsys, "--script", s, "--lower", firmware,
                           "--upper-size", "28k", "--erase-size", "4k",
                           "--allow-errors")
    assert re.search(r"line 2 `write /b wb 0 .*`: ENOSPC without a power "
                     r"cut", out), out
    assert status == 0, out + err
    assert "ERROR" not in out and "FAIL" not in out
    cut_in_full = re.search(r"^script:write \(ENOSPC\) +\d+ +(\d+)", out,
                            re.M)
    assert cut_in_full and int(cut_in_full.group(1)) > 0, out
    assert longest_line(out + err) <= wl.LINE_LIMIT


def longest_line(text):
    return max(len(line) for line in text.splitlines())


class _FirstByteTxn:
    """A store transaction that keeps only the first byte of each write."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def write(self, ino, offset, data):
        return self._real.write(ino, offset, data[:1])


class FirstByteStore(LogStore):
    """Loses data without any cut: the campaign's first run sees it."""

    def begin(self):
        return _FirstByteTxn(LogStore.begin(self))


def test_failures_of_a_script_with_big_data_are_short_lines(tmp_path,
                                                            capsys):
    """A script's key carries its data (tens of KB): the report names the
    script and its lines, never the key, and cuts every line."""
    data = "".join("\\x%02x" % b for b in random.Random(2).randbytes(6000))
    s = script(tmp_path, "mkdir /x\nwrite /uf ab 0 '%s'\n" % data)
    status, out, err = run(capsys, "--script", s, "--store",
                           "test_crashtest_cli:FirstByteStore")
    assert status == 1
    assert "ERROR in script %s (without a cut):" % s in out, out[:2000]
    assert longest_line(out + err) <= wl.LINE_LIMIT
    # with cuts: FAIL lines, a replay of the script's case, a shrink to
    # the script's line that fails
    status, out, err = run(capsys, "--script", s, "--store",
                           "test_crash_doubles:SizeBeforeDataStore",
                           "--max-failures", "1", shrink=True)
    assert status == 1
    fail = re.search(r"^FAIL script %s@(\S+) " % re.escape(s), out, re.M)
    assert fail, out[:2000]
    assert "replay: ovl crashtest --script %s --replay @%s" % (
        s, fail.group(1)) in out
    assert "shrunk to: lines 2 of %s@" % s in out, out[:3000]
    assert longest_line(out + err) <= wl.LINE_LIMIT
    # the replay line runs the case
    status, out, err = run(capsys, "--script", s, "--store",
                           "test_crash_doubles:SizeBeforeDataStore",
                           "--replay", "@" + fail.group(1))
    assert status == 1 and "FAIL: " in out, out[:2000]
    assert longest_line(out + err) <= wl.LINE_LIMIT


def children_of(pid):
    """The pids whose parent is pid (from /proc: no psutil here)."""
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue                # gone meanwhile
            if int(fields[1]) == pid:
                kids.append(int(name))
    return kids


@pytest.mark.slow
@pytest.mark.parametrize("signum, whole_group", [
    (signal.SIGINT, True),          # Ctrl-C: the terminal's process group
    (signal.SIGINT, False),         # kill -INT of the parent alone
    (signal.SIGTERM, True), (signal.SIGHUP, False)])
def test_a_parallel_campaign_stopped_by_a_signal_ends_at_once(
        signum, whole_group):
    """`ovl crashtest --jobs 2` stopped mid-campaign exits 128 + the
    signal with one line and no worker's traceback, and leaves no worker
    behind (before, Ctrl-C waited for the whole queue, printing the
    workers' KeyboardInterrupt and BrokenPipeError tracebacks)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "crashtest", "--size", "ci",
         "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(children_of(proc.pid)) < 2:
            assert proc.poll() is None, "the campaign ended before the signal"
            assert time.monotonic() < deadline, "no workers started"
            time.sleep(0.05)
        time.sleep(1)                   # the workers well into workloads
        if whole_group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 128 + signum, err
    assert err == "ovl: interrupted\n", err
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)          # no worker left in its group


def shell_result(tmp_path, firmware, commands, path):
    """What `ovl shell` leaves at path after commands, on a fresh upper."""
    upper = str(tmp_path / "shell.img")
    assert main(["format", upper, "--size", "64k", "--erase-size", "4k"]) == 0
    got = tmp_path / "got"
    proc = subprocess.run(
        [sys.executable, "-m", "host_tools", "shell", "--lower", firmware,
         "--upper", upper], input=commands + "get %s %s\n" % (path, got),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return got.read_bytes()


@pytest.mark.parametrize("line, path, want", [
    ("write /etc/new wb 10 abc", "/etc/new", b"\0" * 10 + b"abc"),
    ("write /etc/new2 w 2 xy", "/etc/new2", b"\0\0xy"),
    ("write /etc/app.conf ab 2 +", "/etc/app.conf", b"level=3\n+"),
    ("write /etc/app.conf r+b 10 Z", "/etc/app.conf", b"level=3\n\0\0Z"),
])
def test_a_script_write_means_what_the_shell_write_means(tmp_path, capsys,
                                                         firmware, line,
                                                         path, want):
    """OFFSET and MODE as `ovl shell` reads them: wb 10 writes at 10
    (crashtest wrote at 0 and then judged the overlay wrong)."""
    assert shell_result(tmp_path, firmware, line + "\n", path) == want
    status, out, err = run(capsys, "--script", script(tmp_path, line + "\n"),
                           "--lower", firmware)
    assert status == 0 and "ERROR" not in out, out + err


def test_chown_of_one_id_keeps_the_other(tmp_path, capsys, firmware):
    """The shell's chown UID[:GID], and -1 for "unchanged" (the model
    stored -1 as the new id)."""
    s = script(tmp_path, "chown 5 /etc/app.conf\nchown -1:-1 /bin/tool\n"
                         "chown -1:7 /etc\n")
    status, out, err = run(capsys, "--script", s, "--lower", firmware)
    assert status == 0 and "ERROR" not in out, out + err
    # ids past 32 bits, times past 64: EINVAL, as the model now predicts
    s = script(tmp_path, "chown 4294967296 /etc/app.conf\n"
                         "touch /etc 99999999999999999999\n")
    status, out, err = run(capsys, "--script", s, "--lower", firmware,
                           "--allow-errors")
    assert status == 0 and "ERROR" not in out, out + err
    assert out.count("EINVAL without a power cut") == 2, out


def script_error(capsys, tmp_path, text):
    """A script refused before the campaign: exit 2, one line FILE:LINE."""
    s = script(tmp_path, text)
    status = main(["crashtest", "--jobs", "1", "--script", s])
    out, err = capsys.readouterr()
    assert status == 2 and out == "", out + err
    assert err.count("\n") == 1 and err.startswith("ovl: error: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert "%s:%d: " % (s, text.count("\n")) in err, err
    return err


def test_script_inputs_are_bounded_and_errors_name_the_line(tmp_path,
                                                            capsys):
    """Sizes the model would hold in RAM (a 50 MB truncate cost 2 GB a
    case), offsets past any file, a put of a device or of no file: each is
    refused at its line before the campaign, never a MemoryError or
    OverflowError."""
    limit = wl.SCRIPT_FILE_LIMIT
    for text in ("mkdir /x\ntruncate /lf 50000000\n",
                 "truncate /lf 3000000000\n",
                 "sync\nwrite /lf r+b 99999999999999999999 a\n",
                 "write /lf r+b %d ab\n" % (limit - 1),
                 "write /lf r+b -1 a\n"):
        assert "must be" in script_error(capsys, tmp_path, text)
    # the limit itself is allowed
    status, out, err = run(capsys, "--script", script(
        tmp_path, "truncate /uf %d\nwrite /lf r+b %d Z\n" % (limit,
                                                              limit - 1)))
    assert "must be" not in err and "ERROR" not in out, out + err
    assert "not a regular file" in script_error(capsys, tmp_path,
                                                "mkdir /x\nput /dev/zero /x\n")
    assert "missing" in script_error(capsys, tmp_path, "put missing /x\n")
    (tmp_path / "huge").write_bytes(b"\0" * (limit + 1))
    assert "over %d bytes" % limit in script_error(capsys, tmp_path,
                                                   "put huge /x\n")
    assert "bad command" in script_error(capsys, tmp_path, "sync\nbogus\n")
