"""`ovl crashtest` as a user runs it: a script of `ovl shell` commands over
the standard fixture or over the user's own firmware image, on an upper
of the user's geometry; a command that fails even without a power cut is
reported, never skipped in silence."""

import os
import subprocess

import pytest

from host_tools.cli import main


def run(capsys, *argv):
    status = main(["crashtest", "--jobs", "1", "--variants", "clean",
                   "--depth2", "0", "--no-shrink"] + list(argv))
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
