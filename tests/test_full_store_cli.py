"""A full store never wedges and never loses committed work, through the
user interfaces: the fill/empty cycles of tests/scripts/full_store_cycles.py
run through `ovl shell` (one session, no remount), `ovl fs` (one command a
verb, as a user runs it) and `ovl remote` (a simulated board over its
serial link), fsck clean after each cycle."""

import contextlib
import errno
import io
import json
import os
import re
import subprocess
import sys

import pytest

from host_tools.cli import main
from host_tools.commands.serial import remote_verb
from conftest import ROOT, SCRIPTS
from sim_board import booted_board
from test_full_store import lower  # noqa: F401  (a fixture)

sys.path.insert(0, SCRIPTS)
from full_store_cycles import Cycles  # noqa: E402

UPPER_SIZE = "128k"
FS_UPPER_SIZE = "64k"   # `ovl fs` mounts it at every verb
FS_CYCLES = 8
REMOTE_CYCLES = 100


def formatted(tmp_path, size=UPPER_SIZE):
    upper = str(tmp_path / "upper.img")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["format", upper, "--size", size, "--erase-size",
                     "4k"]) == 0
    return upper


def escaped(data):
    """DATA for the shell's write verb: every byte as \\xNN, quoted."""
    return "'%s'" % "".join("\\x%02x" % b for b in data)


class HostFiles:
    """Host files for put and get."""

    def __init__(self, tmp_path):
        self.put_path = str(tmp_path / "put.bin")
        self.get_path = str(tmp_path / "get.bin")

    def source(self, data):
        with open(self.put_path, "wb") as f:
            f.write(data)
        return self.put_path

    def fetched(self):
        with open(self.get_path, "rb") as f:
            return f.read()


def whole_matches(data, chunks):
    want = b"".join(chunks)
    return data == want, len(data)


class ShellOps(HostFiles):
    """One `ovl shell --json` process for the whole test: a command a line,
    its JSON answer a line."""
    appends = True
    links = True

    def __init__(self, tmp_path, lower, upper):
        HostFiles.__init__(self, tmp_path)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host_tools", "shell", "--json",
             "--lower", lower, "--upper", upper],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=ROOT)
        self.commands = 0

    def run(self, *words):
        line = " ".join(words)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, "the shell ended at %r" % line[:80]
        self.commands += 1
        record = json.loads(answer)
        if not record["ok"]:
            code = getattr(errno, record["errno"] or "", errno.EIO)
            raise OSError(code, "%s: %s" % (line[:80], record["error"]))
        return record["out"]

    def close(self):
        self.proc.stdin.close()
        status = self.proc.wait(timeout=60)
        self.proc.stdout.close()
        return status

    def write_file(self, path, data, mode="wb"):
        if mode == "ab":
            self.run("write", path, "ab", "0", escaped(data))
        else:
            self.run("put", self.source(data), path)

    def matches(self, path, chunks):
        self.run("get", path, self.get_path)
        return whole_matches(self.fetched(), chunks)

    def mode(self, path):
        try:
            return int(self.run("stat", path)["mode"], 8)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            return None

    def mkdir(self, path):
        self.run("mkdir", path)

    def symlink(self, target, path):
        self.run("ln", "-s", target, path)

    def readlink(self, path):
        return self.run("ls", "-l", path)[0]["target"]

    def chmod(self, path, perm):
        self.run("chmod", "%o" % perm, path)

    def link(self, src, dst):
        self.run("ln", src, dst)

    def listdir(self, path):
        return [e["name"] for e in self.run("ls", path)]

    def layer_of(self, path):
        return self.run("layer", path)["layer"]

    def remove(self, path):
        self.run("rm", path)

    def rmdir(self, path):
        self.run("rmdir", path)

    def sync(self):
        self.run("sync")

    def fsck(self):
        return self.run("fsck")["problems"]

    def free_blocks(self):
        return None             # the shell has no df


class FsOps(ShellOps):
    """`ovl fs VERB` per operation, in this process: each verb mounts the
    image, runs and saves it, as a user's commands do."""

    def __init__(self, tmp_path, lower, upper):
        HostFiles.__init__(self, tmp_path)
        self.layers = ["--lower", lower, "--upper", upper]
        self.commands = 0
        self.appends = False    # `ovl fs` has no write verb

    def run(self, verb, *args):
        flag = []
        if args[:1] in (("-s",), ("-l",)):
            flag, args = [args[0]], args[1:]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["fs", verb] + flag + self.layers + list(args))
        self.commands += 1
        if status != 0:
            found = re.search(r"\[Errno (\d+)\]", err.getvalue())
            raise OSError(int(found.group(1)) if found else errno.EIO,
                          "fs %s %s: %s" % (verb, " ".join(args),
                                            err.getvalue().strip()))
        return out.getvalue()

    def mode(self, path):
        try:
            return int(json.loads(self.run("stat", path))["mode"], 8)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            return None

    def readlink(self, path):
        return self.run("ls", "-l", path).split(" -> ")[1].strip()

    def listdir(self, path):
        return self.run("ls", path).split()

    def layer_of(self, path):
        return self.run("layer", path).strip()

    def fsck(self):
        text = self.run("fsck")
        return [] if "clean" in text else [text]


@pytest.mark.slow
def test_fill_empty_cycles_shell(tmp_path, lower):
    """100 cycles in one shell session (one mount); every answer ok is
    kept when the session ends."""
    upper = formatted(tmp_path)
    ops = ShellOps(tmp_path, lower, upper)
    run = Cycles(ops)
    try:
        for n in range(100):
            run.cycle(n)
        run.fill_small("last")
        kept = dict(run.model)
    finally:
        status = ops.close()
    assert status == 1          # the fills' ENOSPC answers count as failed
    fs_ops = FsOps(tmp_path, lower, upper)
    run.ops = fs_ops
    run.model = kept
    run.check_model("after the session", None)
    assert fs_ops.fsck() == []


class RemoteOps(FsOps):
    """`ovl remote VERB` over one link to a simulated board (its agent keeps
    the overlay mounted): the verbs' own code (commands.serial.remote_verb),
    without reconnecting for each.  The agent has no append, symlink, hard
    link or chmod."""
    links = False

    def __init__(self, tmp_path, link):
        HostFiles.__init__(self, tmp_path)
        self.link = link
        self.commands = 0
        self.appends = False

    def run(self, verb, *args):
        data = None
        if verb == "put":
            with open(args[0], "rb") as f:
                data = f.read()
        out = io.StringIO()
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(io.StringIO()):
            remote_verb(self.link, verb, list(args), data)
        self.commands += 1
        return out.getvalue()


def board_with_small_upper(tmp_path):
    """The sim board on a 256 KiB chip: 128 KiB of firmware, a 128 KiB
    upper (filled quickly over serial)."""
    with open(os.path.join(ROOT, "boards", "sim.json")) as f:
        board = json.load(f)
    board["flash"]["size"] = "0x40000"
    board["partitions"] = [
        {"name": "firmware", "offset": "0x0", "size": "0x20000",
         "type": "squashfs"},
        {"name": "upper", "offset": "0x20000", "size": "0x20000",
         "type": "ovl"}]
    path = str(tmp_path / "small.json")
    with open(path, "w") as f:
        json.dump(board, f)
    return path


@pytest.mark.slow
def test_fill_empty_cycles_remote(tmp_path, lower):
    """Cycles on a board over serial; afterwards `ovl remote fsck` (the
    command, on a new link) finds the store clean."""
    image = str(tmp_path / "fw.sqfs")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["mkimage", "-q", lower, image]) == 0
    with open(image, "rb") as f:
        image_bytes = f.read()
    with booted_board(board_with_small_upper(tmp_path),
                      str(tmp_path / "flash.bin"), image_bytes) as (sim, link):
        ops = RemoteOps(tmp_path, link)
        run = Cycles(ops, dir_file=4000)
        for n in range(REMOTE_CYCLES):
            run.cycle(n)
        link.bye()
        link.ser.close()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(["remote", "--port", sim.port, "--no-bootstrap",
                           "--boot-wait", "15", "fsck"])
        assert status == 0 and "fsck: clean" in out.getvalue(), out.getvalue()


@pytest.mark.slow
def test_fill_empty_cycles_fs(tmp_path, lower):
    """`ovl fs` mounts the image at every verb: fewer cycles (each kind of
    fill twice), bigger files in the directories (fewer verbs)."""
    upper = formatted(tmp_path, FS_UPPER_SIZE)
    ops = FsOps(tmp_path, lower, upper)
    run = Cycles(ops, dir_file=4000)
    for n in range(FS_CYCLES):
        run.cycle(n)
    assert ops.commands > 500
