"""Host files a command writes (host_tools.outputs): a failure, Ctrl-C,
SIGTERM or SIGHUP leaves the destination as it was (or complete) and no
temporary beside it; a signal exits 128 + its number with one line.

Each command class is run as a process and signalled while its temporary
is being written: it is stopped (SIGSTOP) once the temporary is seen, sent
the signal, then continued, so the signal lands while the temporary is
there however fast the machine is."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from host_tools import outputs

SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]


def start(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("OVL_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "host_tools"] + [str(a) for a in args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env=env)


def signal_while(proc, writing, signum, timeout=60):
    """Send signum to proc while writing() is true (the temporary is being
    written); returns stderr once it has ended."""
    deadline = time.monotonic() + timeout
    while not writing():
        assert proc.poll() is None, "ended before its temporary was seen: %s" \
            % proc.communicate()[1]
        assert time.monotonic() < deadline, "no temporary appeared"
        time.sleep(0.0005)
    proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(0.05)        # (a stop takes effect at once; be sure)
        assert writing(), "the temporary was gone before the stop: make" \
            " the output larger"
        proc.send_signal(signum)
    finally:
        proc.send_signal(signal.SIGCONT)
    return proc.communicate(timeout=timeout)[1]


def assert_interrupted(proc, err, signum):
    assert proc.returncode == 128 + signum, err
    assert err == "ovl: interrupted\n", err


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def big_file(path, mib):
    with open(path, "wb") as f:
        for i in range(mib):
            f.write(os.urandom(1 << 20))


def nonempty(path):
    return lambda: os.path.isfile(path) and os.path.getsize(path) > 0


# ----- the mechanism, in this process -------------------------------------------

def test_temporary_removes_on_failure_unless_kept(tmp_path):
    part = tmp_path / "f.part"
    with pytest.raises(ValueError):
        with outputs.temporary(str(part)):
            part.write_bytes(b"half")
            raise ValueError("lost")
    assert not part.exists()
    # a resumable file survives a failure, not an interrupt
    with pytest.raises(ValueError):
        with outputs.temporary(str(part), keep_on=Exception):
            part.write_bytes(b"half")
            raise ValueError("lost link")
    assert part.read_bytes() == b"half"
    with pytest.raises(KeyboardInterrupt):
        with outputs.temporary(str(part), keep_on=Exception):
            raise KeyboardInterrupt
    assert not part.exists()


def test_temporary_of_a_directory_keeps_one_that_was_there(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ValueError):
        with outputs.temporary(str(dest), keep_dir=True):
            (dest / "sub").mkdir()
            (dest / "sub" / "f").write_bytes(b"x")
            (dest / "g").write_bytes(b"y")
            raise ValueError
    assert os.listdir(dest) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_in_replacing_raises_and_removes_the_temporary(tmp_path,
                                                                signum):
    dest = tmp_path / "out"
    dest.write_bytes(b"old")
    with pytest.raises(outputs.Terminated) as got:
        with outputs.replacing(str(dest), ".new") as f:
            f.write(b"new, half")
            os.kill(os.getpid(), signum)
            time.sleep(5)       # the handler raises before this ends
    assert got.value.signum == signum
    assert dest.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out"]
    assert signal.getsignal(signum) == signal.SIG_DFL


# ----- each command class, signalled mid-write ----------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("signum", SIGNALS)
def test_fs_get_signalled_keeps_the_old_file(tmp_path, signum):
    """`replacing`: fs get (and backup, remote get, remote backup)."""
    lower = tmp_path / "lower"
    lower.mkdir()
    big_file(lower / "big", 96)
    out = tmp_path / "got"
    out.write_bytes(b"old")
    proc = start("fs", "get", "--lower", lower, "/big", out)
    err = signal_while(proc, nonempty("%s.tmp-%d" % (out, proc.pid)), signum)
    assert_interrupted(proc, err, signum)
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["got", "lower"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", SIGNALS)
def test_upper_save_signalled_keeps_the_old_image(tmp_path, signum):
    """An upper image saved by format (and every `ovl fs` verb that
    writes): the old image whole, no NAME.saving."""
    image = tmp_path / "U.img"
    geometry = ["--size", "160M", "--erase-size", "64k"]
    assert start("format", *geometry, image).wait() == 0
    before = digest(image)
    proc = start("format", "--force", *geometry, image)
    err = signal_while(proc, nonempty("%s.saving" % image), signum)
    assert_interrupted(proc, err, signum)
    assert digest(image) == before
    assert os.listdir(tmp_path) == ["U.img"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", SIGNALS)
def test_extract_signalled_leaves_no_tree(tmp_path, signum):
    src = tmp_path / "src"
    src.mkdir()
    big_file(src / "big", 48)
    image = tmp_path / "img.sqfs"
    assert start("mkimage", "-q", "--comp", "none", src, image).wait() == 0
    dest = tmp_path / "dest"
    for given in (False, True):     # a DEST it makes, an empty one given
        if given:
            dest.mkdir()
        proc = start("extract", image, dest)
        err = signal_while(proc, nonempty(dest / "big"), signum)
        assert_interrupted(proc, err, signum)
        assert (os.listdir(dest) if given else dest.exists()) in ([], False)
        assert sorted(os.listdir(tmp_path)) == \
            ["dest", "img.sqfs", "src"][not given:]


# ----- an output named through a symlink: the file it names is written ---------

def linked_output(tmp_path, old=b"old"):
    """(link, target): tmp_path/out/link -> ../real/target.img holding old."""
    (tmp_path / "real").mkdir()
    (tmp_path / "out").mkdir()
    target = tmp_path / "real" / "target.img"
    target.write_bytes(old)
    link = tmp_path / "out" / "link"
    link.symlink_to("../real/target.img")
    return link, target


def assert_written_through(link, target):
    # the link stays a link, its folder and the target's hold no temporary
    assert os.readlink(link) == "../real/target.img"
    assert os.listdir(link.parent) == ["link"]
    assert os.listdir(target.parent) == ["target.img"]


def test_mkimage_through_a_symlink_writes_the_file_it_names(tmp_path):
    from host_tools.image.mkimage import build_image
    link, target = linked_output(tmp_path)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a").write_text("a\n")
    build_image(str(tree), str(link))
    assert_written_through(link, target)
    assert target.read_bytes()[:4] == b"hsqs"


def test_the_simulator_saves_through_a_symlink(tmp_path):
    from host_tools.boards import load_board, open_sim_flash
    board = load_board("sim")
    link, target = linked_output(tmp_path, b"\xff" * board.size)
    flash = open_sim_flash(board, str(link), create=False)
    flash.program(0, b"saved")
    flash.sync()
    assert_written_through(link, target)
    assert target.read_bytes()[:5] == b"saved"
