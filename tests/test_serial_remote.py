"""Overlay verbs over serial against the agent under micropython, and the
atomicity of put across a power cut."""

import io
import os
import subprocess

import pytest

from host_tools.serial import link as serial_link
from host_tools.commands.serial import flash_image, remote_get, remote_put
from host_tools.serial.link import LinkError, RemoteError
from host_tools.serial.sim import PtyBoard
from ovl import agent

from conftest import ROOT

SIM = os.path.join(ROOT, "boards", "sim.json")


@pytest.fixture
def booted(tmp_path):
    """A sim board running a SquashFS firmware with /etc/motd and /bin/sh."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc" / "motd").write_bytes(b"hello from the lower\n")
    (root / "bin" / "sh").write_bytes(os.urandom(9000))
    os.symlink("sh", str(root / "bin" / "ash"))
    img = tmp_path / "fw.sqfs"
    mksquashfs(root, img)
    b, link = boot_image(tmp_path, img.read_bytes())
    yield b, link, root
    b.close()


def mksquashfs(root, img, *options):
    subprocess.run(["mksquashfs", str(root), str(img), "-noappend",
                    "-all-root", "-comp", "gzip", "-quiet"] + list(options),
                   check=True, stdout=subprocess.DEVNULL)


def boot_image(tmp_path, image, runtime="micropython"):
    """A sim board booted on `image` (bytes) as its firmware, its overlay
    mounted: (board, link).  runtime: what the board runs, micropython or
    cpython."""
    b = PtyBoard(SIM, str(tmp_path / "flash.bin"), runtime=runtime).start()
    link = connect(b)
    flash_image(link, image)
    link.call(agent.REBOOT)
    link = connect(b)
    assert link.info["fs"], link.info["notes"]
    return b, link


def connect(b, timeout=1.0):
    ser = serial_link.open_port(b.port, 921600)
    return serial_link.connect(ser, bootstrap=False, timeout=timeout,
                               boot_wait=15)


def get(link, path):
    out = io.BytesIO()
    remote_get(link, path, out)
    return out.getvalue()


def test_verbs_over_the_union(booted):
    b, link, root = booted
    call = link.call_json
    names = [e[0] for e in call(agent.FS_LS, {"path": "/"})["entries"]]
    assert names == ["bin", "etc"]
    assert get(link, "/bin/sh") == (root / "bin" / "sh").read_bytes()
    assert call(agent.FS_STAT, {"path": "/etc/motd"})["layer"] == "lower"
    big = os.urandom(30000)
    remote_put(link, "/etc/motd", big)
    assert get(link, "/etc/motd") == big
    call(agent.FS_MKDIR, {"path": "/data"})
    remote_put(link, "/data/empty", b"")
    call(agent.FS_MV, {"src": "/data/empty", "dst": "/data/e2"})
    call(agent.FS_RM, {"path": "/bin/sh"})
    changes = call(agent.FS_DIFF, {"path": "/"})["changes"]
    assert ["deleted", "/bin/sh"] in changes
    # put renames a new file over the lower one: it records what it
    # replaced, so the overlay reports a modified firmware file
    assert ["modified", "/etc/motd"] in changes
    assert ["added", "/data"] in changes
    assert call(agent.FS_FSCK)["problems"] == []
    # FS_OP calls only the overlay operations it lists
    call(agent.FS_OP, {"op": "chmod", "args": ["/data/e2", 0o600]})
    assert call(agent.FS_STAT, {"path": "/data/e2"})["mode"] == 0o100600
    with pytest.raises(RemoteError, match="EINVAL"):
        call(agent.FS_OP, {"op": "reset", "args": []})
    assert call(agent.FS_STAT, {"path": "/data"})["layer"] == "upper"
    call(agent.FS_REVERT, {"path": "/etc/motd"})
    assert get(link, "/etc/motd") == b"hello from the lower\n"
    with pytest.raises(RemoteError, match="ENOENT"):
        call(agent.FS_STAT, {"path": "/nope"})
    # Reset at next boot: still there now, gone after the reboot.
    call(agent.FS_RESET, {"when": "boot"})
    assert call(agent.FS_STAT, {"path": "/data"})["layer"] == "upper"
    link.call(agent.REBOOT)
    link = connect(b)
    names = [e[0] for e in link.call_json(agent.FS_LS,
                                          {"path": "/"})["entries"]]
    assert names == ["bin", "etc"]
    link.bye()


def cli(*argv):
    """Run `ovl ARGV` in this process: (status, stdout + stderr)."""
    import contextlib
    from host_tools.cli import main as cli_main
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = cli_main(list(argv))
        except SystemExit as e:     # a usage error: argparse's exit
            status = e.code
    return status, out.getvalue()


def test_remote_ls_l_shows_symlink_targets_as_fs_ls_does(booted):
    b, link, root = booted
    link.bye()
    link.ser.close()
    image = str(root.parent / "fw.sqfs")
    listed = {}
    for path in ("/bin", "/bin/ash"):
        status, remote = cli("remote", "--port", b.port, "--no-bootstrap",
                             "--boot-wait", "15", "ls", "-l", path)
        assert status == 0, remote
        status, local = cli("fs", "ls", "--lower", image, "-l", path)
        assert status == 0, local
        assert remote == local, (path, remote, local)
        listed[path] = remote.splitlines()
    ash = [line for line in listed["/bin"] if " ash" in line]
    assert ash and ash[0].startswith("l") and ash[0].endswith(" ash -> sh"), \
        listed
    assert listed["/bin/ash"] == ash, listed
    sh = [line for line in listed["/bin"] if line.split()[-1:] == ["sh"]
          and " -> " not in line]
    assert len(sh) == 1 and sh[0].startswith("-"), listed


def test_failed_remote_get_keeps_the_destination(booted):
    b, link, root = booted
    link.bye()
    link.ser.close()
    out = root.parent / "out"
    out.mkdir()
    keep = out / "keep.txt"
    keep.write_bytes(b"precious host data\n")
    remote = ("remote", "--port", b.port, "--no-bootstrap", "--boot-wait",
              "15", "get")
    status, text = cli(*remote, "/nope", str(keep))
    assert status == 1 and "ENOENT" in text, text
    assert keep.read_bytes() == b"precious host data\n"
    assert os.listdir(str(out)) == ["keep.txt"]     # no .part left behind
    status, text = cli(*remote, "/etc/motd", str(keep))
    assert status == 0, text
    assert keep.read_bytes() == b"hello from the lower\n"
    assert os.listdir(str(out)) == ["keep.txt"]


@pytest.mark.slow
def test_put_interrupted_by_power_cut_keeps_the_old_file(booted):
    b, link, root = booted
    old = os.urandom(5000)
    remote_put(link, "/etc/motd", old)
    b.cut_after_replies(link, 1)
    with pytest.raises(LinkError):
        remote_put(link, "/etc/motd", os.urandom(60000))
    link.ser.close()
    b.restart()
    link = connect(b)
    assert get(link, "/etc/motd") == old
    assert link.call_json(agent.FS_FSCK)["problems"] == []
    link.bye()


def names(link, path):
    return [e[0] for e in link.call_json(agent.FS_LS, {"path": path})
            ["entries"]]


@pytest.mark.slow
def test_put_temporary_is_hidden_and_cleaned_up(booted):
    import hashlib
    import struct
    from ovl import frames
    b, link, root = booted
    data = os.urandom(20000)
    # A put in progress: its temporary is not listed, nor diffed.
    link.call_json(agent.FS_PUT, {"path": "/etc/motd", "size": len(data),
                                  "sha256": hashlib.sha256(data).hexdigest()})
    link.call(frames.DATA, struct.pack("<I", 0) + data[:4096])
    assert names(link, "/etc") == ["motd"]
    changes = link.call_json(agent.FS_DIFF, {"path": "/"})["changes"]
    assert not [c for c in changes if ".ovl-put-" in c[1]], changes
    # The host goes away; the next session drops the unfinished put and
    # its temporary with it.
    link.ser.close()
    link = connect(b)
    with pytest.raises(RemoteError, match="ENOENT"):
        link.call_json(agent.FS_STAT, {"path": "/etc/.ovl-put-motd"})
    assert get(link, "/etc/motd") == b"hello from the lower\n"
    # A put cut by a power cut: the next boot removes the temporary.
    b.cut_after_replies(link, 3)
    with pytest.raises(LinkError):
        remote_put(link, "/etc/motd", data)
    link.ser.close()
    b.restart()
    link = connect(b)
    # The store commits a file written by open-write-close whole or not at
    # all, so the cut put left no temporary for boot to remove (boot's
    # sweep, for a temporary that did commit, is tested below).
    notes = " ".join(link.info["notes"])
    assert "unfinished put" not in notes, notes
    with pytest.raises(RemoteError, match="ENOENT"):
        link.call_json(agent.FS_STAT, {"path": "/etc/.ovl-put-motd"})
    assert names(link, "/etc") == ["motd"]
    assert get(link, "/etc/motd") == b"hello from the lower\n"
    assert link.call_json(agent.FS_FSCK)["problems"] == []
    link.bye()


def test_remote_fsck_exit_status_follows_fsck(booted):
    """`ovl remote fsck`: 0 clean, 4 problems left, as `ovl fsck`."""
    import contextlib
    from host_tools.cli import main as cli_main
    from ovl_sim.board_runner import load_board
    from ovl.flash import Region
    from ovl.store import LogStore
    from ovl_sim.simflash import SimFlash
    b, link, root = booted
    remote_put(link, "/etc/motd", b"changed\n")
    link.bye()
    link.ser.close()

    def remote_fsck():
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli_main(["remote", "--port", b.port, "--no-bootstrap",
                               "--boot-wait", "15", "fsck"])
        return status, out.getvalue() + err.getvalue()

    status, out = remote_fsck()
    assert status == 0 and "fsck: clean" in out, out
    # Damage the upper while the board is off: the file's link count no
    # longer matches its names.
    b.kill()
    board = load_board(SIM)
    chip = SimFlash(board.size, board.erase_size, board.page_size,
                    path=b.flash_path)
    upper = board.first_of_type("ovl")
    store = LogStore.mount(Region(chip, upper.offset, upper.size))
    ino = None
    for name, value in store.listdir(1):
        if name == "etc":
            for child, cino in store.listdir(value):
                if child == "motd":
                    ino = cino
    attrs = store.get(ino).attrs()
    attrs["nlink"] = 3
    t = store.begin()
    t.put_inode(ino, **attrs)
    t.commit()
    chip.save()
    b.restart()
    status, out = remote_fsck()
    assert status == 4, out
    assert "nlink 3 but 1 names" in out, out


def test_agent_start_removes_a_committed_put_temporary(tmp_path):
    """A put temporary that reached the store (an agent cut between its
    close and its rename) is removed when the next agent starts."""
    import io
    import json
    from ovl.agent import Agent
    from ovl.board import Board
    from ovl.dirlower import DirLower
    from ovl.flash import Region
    from ovl.store import LogStore
    from ovl.overlay import mount
    from ovl_sim.simflash import SimFlash
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "motd").write_bytes(b"lower\n")
    with open(SIM) as f:
        board = Board.from_dict(json.load(f))
    flash = SimFlash(board.size, board.erase_size, board.page_size)
    part = board.first_of_type("ovl")
    upper = Region(flash, part.offset, part.size, part.name)
    LogStore.format(upper)
    fs = mount(DirLower(str(tmp_path)), upper)
    fs.write_bytes("/etc/.ovl-put-motd", b"half")
    fs.sync()
    notes = Agent(io.BytesIO(), board, flash, fs=fs).notes
    assert any("/etc/.ovl-put-motd" in n for n in notes), notes
    assert fs.listdir("/etc") == ["motd"]


def test_names_outside_the_bmp_round_trip_as_utf8(booted):
    """A name with a character outside Unicode's BMP travels as UTF-8 both
    ways, so MicroPython stores its UTF-8 bytes (JSON's surrogate-pair
    escapes would give it two 3-byte halves, CESU-8, which no host decodes
    as the name); a put that fails names the user's path, not its
    temporary."""
    b, link, root = booted
    note = "/etc/note\U0001f642.txt"
    folder = "/data \U0001f4be"
    inside = folder + "/f\u00fc b.bin"
    remote_put(link, note, b"smile\n")
    link.call_json(agent.FS_MKDIR, {"path": folder})
    remote_put(link, inside, b"disk\n")
    assert names(link, "/etc") == ["motd", "note\U0001f642.txt"]
    assert names(link, folder) == ["f\u00fc b.bin"]
    assert get(link, note) == b"smile\n"
    assert get(link, inside) == b"disk\n"
    changes = link.call_json(agent.FS_DIFF, {"path": "/"})["changes"]
    assert sorted(changes) == [["added", folder], ["added", inside],
                               ["added", note]], changes
    with pytest.raises(RemoteError) as failed:
        remote_put(link, "/nowhere \U0001f4be/\u00fc b.bin", b"x")
    assert failed.value.errno == 2, failed.value
    assert str(failed.value).endswith(
        "ENOENT: /nowhere \U0001f4be/\u00fc b.bin"), failed.value
    # the CLI's ls, get and diff print the names
    link.bye()
    link.ser.close()
    port = ["--port", b.port, "--no-bootstrap", "--boot-wait", "15"]
    status, out = cli("remote", *port, "ls", "/etc")
    assert (status, out.split()) == (0, ["motd", "note\U0001f642.txt"]), out
    status, out = cli("remote", *port, "diff")
    assert status == 0 and note in out and inside in out, out
    dest = root.parent / "got\U0001f642"
    status, out = cli("remote", *port, "get", note, str(dest))
    assert status == 0, out
    assert dest.read_bytes() == b"smile\n"


def cli_bytes(*argv):
    """Run `ovl ARGV` in this process: (status, stdout bytes, stderr)."""
    import contextlib
    from host_tools.cli import main as cli_main
    out, err = io.TextIOWrapper(io.BytesIO()), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(list(argv))
    out.flush()
    return status, out.buffer.getvalue(), err.getvalue()


def remote_words(b):
    return ("remote", "--port", b.port, "--no-bootstrap", "--boot-wait", "15")


def test_remote_cat_and_get_follow_a_symlink_and_refuse_a_directory(booted):
    """cat and get read the file a symlink names to its end, as `fs cat`
    does (not the link's own lstat size), and a directory, lower or upper,
    is EISDIR: one line, exit 1, no output file."""
    b, link, root = booted
    link.call_json(agent.FS_MKDIR, {"path": "/data"})
    whole = b"x" * link.max_payload
    remote_put(link, "/data/four", whole)
    link.bye()
    link.ser.close()
    sh = (root / "bin" / "sh").read_bytes()
    assert len(sh) > 2 * 4096
    status, out, err = cli_bytes(*remote_words(b), "cat", "/bin/ash")
    assert (status, len(out), err) == (0, len(sh), ""), err
    assert out == sh
    # a file of whole chunks ends at the first empty read
    status, out, err = cli_bytes(*remote_words(b), "cat", "/data/four")
    assert (status, out, err) == (0, whole, ""), err
    dest = root.parent / "ash.bin"
    status, out, err = cli_bytes(*remote_words(b), "get", "/bin/ash",
                                 str(dest))
    assert status == 0, err
    assert dest.read_bytes() == sh
    assert out.decode().endswith("(%.1f KiB)\n" % (len(sh) / 1024)), out
    for path in ("/bin", "/data"):
        status, out, err = cli_bytes(*remote_words(b), "cat", path)
        assert (status, out) == (1, b""), (path, out, err)
        assert "EISDIR" in err and err.count("\n") == 1, err
        dest = root.parent / ("got" + path.replace("/", "_"))
        status, out, err = cli_bytes(*remote_words(b), "get", path, str(dest))
        assert status == 1 and "EISDIR" in err and err.count("\n") == 1, err
        assert not dest.exists() and not os.path.exists(str(dest) + ".part")


def test_remote_put_writes_through_a_symlink_as_fs_put_does(booted):
    """put to a symlink writes the file it names (POSIX `cp f link`), the
    link staying a link: `ovl remote put` on the board and `ovl fs put` on
    images of the same tree leave the same listings and contents (a link
    to a link, a relative target in another directory, a dangling link
    naming the file put creates)."""
    b, link, root = booted
    link.bye()
    link.ser.close()
    host = root.parent
    image = str(host / "fw.sqfs")
    upper = str(host / "up.img")
    assert cli("format", "--size", "512k", "--erase-size", "4k",
               upper)[0] == 0
    fs = ("--lower", image, "--upper", upper)
    words = (["mkdir", "/data"], ["ln", "-s", "../bin/ash", "/etc/cfg"],
             ["ln", "-s", "/data/new.json", "/etc/dangle"])
    for verb, *args in words:
        status, out = cli("fs", verb, *fs, *args)
        assert status == 0, out
    remote = remote_words(b)
    link = connect(b)
    link.call_json(agent.FS_MKDIR, {"path": "/data"})
    link.call_json(agent.FS_OP, {"op": "symlink",
                                 "args": ["../bin/ash", "/etc/cfg"]})
    link.call_json(agent.FS_OP, {"op": "symlink",
                                 "args": ["/data/new.json", "/etc/dangle"]})
    link.bye()
    link.ser.close()
    puts = {"/bin/ash": b"through ash\n", "/etc/cfg": b"through cfg\n",
            "/etc/dangle": b"made by put\n"}
    for path, data in puts.items():
        src = host / "src.txt"
        src.write_bytes(data)
        status, out = cli("fs", "put", *fs, str(src), path)
        assert status == 0, out
        status, out = cli(*remote, "put", str(src), path)
        assert status == 0, out
    for path in ("/bin", "/etc", "/data"):
        status, local = cli("fs", "ls", *fs, "-l", path)
        assert status == 0, local
        status, on_board = cli(*remote, "ls", "-l", path)
        assert status == 0, on_board
        # layers too: a put renamed over a firmware file is "copied-up",
        # as one written in place (diff, below, calls both modified)
        assert on_board == local, (path, on_board, local)
    status, local = cli("fs", "diff", *fs)
    assert status == 0, local
    assert cli(*remote, "diff") == (0, local)
    assert "modified /bin/sh" in " ".join(local.split()), local
    for path in ("/bin/sh", "/data/new.json"):
        status, local, err = cli_bytes("fs", "cat", *fs, path)
        assert status == 0, err
        status, on_board, err = cli_bytes(*remote, "cat", path)
        assert status == 0, err
        assert on_board == local, (path, on_board, local)
    assert local == b"made by put\n"
    status, out, err = cli_bytes(*remote, "cat", "/bin/sh")
    assert out == b"through cfg\n"
    status, listing = cli(*remote, "ls", "-l", "/etc")
    assert "cfg -> ../bin/ash" in listing and \
        "dangle -> /data/new.json" in listing, listing


def test_put_job_writes_through_symlinks(runtime, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sh").write_bytes(b"lower sh\n")
    runtime.run_checks("put_through_symlinks.py", {
        "write_target /etc/cfg": "/bin/sh",
        "write_target /etc/dangle": "/data/new",
        "write_target /etc/plain": "/etc/plain",
        "write_target /bin/sh": "/bin/sh",
        "put through a chain": "ok", "put through a dangling link": "ok",
        "put through a loop": "ELOOP", "put at a plain path": "ok",
        "links kept": ["sh", "../bin/ash", "/data/new"],
        "/bin/sh": "chain", "/data/new": "made", "/etc/plain": "plain",
        "etc": ["cfg", "dangle", "loop", "plain"], "fsck": [],
    }, args=[str(tmp_path)])


def test_remote_reset_says_what_it_kept_and_refuses_other_words(booted):
    """`remote reset` reports as `ovl reset` does ("done, keeping ..."),
    and a word other than now or boot is a usage error (exit 2) sent to
    no board."""
    b, link, root = booted
    remote_put(link, "/etc/motd", b"mine\n")
    remote_put(link, "/etc/wifi.json", b"{}\n")
    link.bye()
    link.ser.close()
    remote = remote_words(b)
    status, out = cli(*remote, "reset", "later")
    assert status == 2 and "now" in out and "boot" in out, out
    status, out = cli(*remote, "reset", "now", "--keep", "/etc/wifi.json")
    assert (status, out) == (0, "reset: done, keeping /etc/wifi.json\n"), out
    status, out = cli(*remote, "ls", "/etc")
    assert (status, out.split()) == (0, ["motd", "wifi.json"]), out
    status, out, err = cli_bytes(*remote, "cat", "/etc/motd")
    assert out == b"hello from the lower\n", (out, err)
    status, out = cli(*remote, "reset", "boot")
    # the sim board keeps no paths of its own
    assert (status, out) == (0, "reset: requested for the next boot\n"), out
    status, out = cli(*remote, "reset")
    assert (status, out) == (0, "reset: done\n"), out
    status, out = cli(*remote, "ls", "/etc")
    assert (status, out.split()) == (0, ["motd"]), out


def damaged_image(tmp_path):
    """A SquashFS firmware (bytes) the reader finds damaged: /etc/a's
    inode of an unknown type (99), /etc/b's first data block that does not
    inflate; /etc/motd is sound ("sound\\n")."""
    import struct
    from ovl.flash import BytesSource
    from ovl.squashfs import SquashFS
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "a").write_bytes(b"inode damaged\n")
    (root / "etc" / "b").write_bytes(os.urandom(6000).hex().encode())
    (root / "etc" / "motd").write_bytes(b"sound\n")
    img = tmp_path / "fw.sqfs"
    # inodes raw (one byte to damage); 4 KiB blocks: /etc/b's first one
    # is the image's first data, after the 96-byte superblock
    mksquashfs(root, img, "-noI", "-b", "4096")
    image = bytearray(img.read_bytes())
    lower = SquashFS(BytesSource(bytes(image)))
    inodes = struct.unpack_from("<Q", image, 64)[0]     # inode_table_start
    first = lower.lookup("/etc/a")
    assert first.ref == 0 and image[inodes + 2] == 2    # a basic file
    image[inodes + 2] = 99
    image[96 + 8:96 + 40] = bytes(32)
    return bytes(image)


def test_damage_in_the_lower_answers_eio_as_fs_says_it(tmp_path):
    """What the SquashFS reader finds damaged in the firmware (an inode of
    an unknown type, a data block that does not inflate) is EIO over
    serial, as damage on flash is (before: EINVAL, a bad request's
    code), with the message `ovl fs` prints for the same image."""
    image = damaged_image(tmp_path)
    bad = tmp_path / "bad.sqfs"
    bad.write_bytes(image)
    b, link = boot_image(tmp_path, image)
    eio = "ovl: error: [Errno 5] "
    try:
        link.bye()
        link.ser.close()
        for path in ("/etc/a", "/etc/b"):
            status, out, local = cli_bytes("fs", "cat", "--lower", str(bad),
                                           path)
            assert status == 1 and local.startswith(eio), local
            status, out, remote = cli_bytes(*remote_words(b), "cat", path)
            assert status == 1, remote
            assert remote.startswith(eio + "board refused get: "), remote
            if path == "/etc/a":
                assert remote.endswith(local[len(eio):]), (remote, local)
                assert "unknown type 99" in remote, remote
            else:
                # the decoder's own words differ by runtime
                assert "gzip block: " in remote, remote
        status, out, err = cli_bytes(*remote_words(b), "cat", "/etc/motd")
        assert (status, out) == (0, b"sound\n"), err
    finally:
        b.close()


# Names an older ovl on MicroPython stored that are not UTF-8: what its str
# holds, an overlong form, UTF-16 surrogates, a code point past U+10FFFF
# (a byte that starts no sequence, \xff, it cannot hold).
OLD_MICROPYTHON_NAMES = (b"get\xc0\xaf", b"rm\xe0\x80\xaf", b"d\xed\xa0\x80",
                         b"mv\xed\xbf\xbf", b"rev\xf4\x90\x80\x80")


def link_upper_names(flash_path, raws):
    """Put names straight into the upper of the sim board's flash file
    (the board stopped), as tests/test_overlay.py's rig does: a
    directory for a name starting with d, else a file holding the name's
    first three bytes and a newline.  The upper partition's bytes."""
    from ovl.flash import Region
    from ovl.store import ROOT_INO, LogStore
    from ovl_sim.fileflash import open_sim
    board, flash = open_sim(SIM, flash_path)
    try:
        part = [p for p in board.partitions if p.name == "upper"][0]
        store = LogStore.mount(Region(flash, part.offset, part.size))
        txn = store.begin()
        for raw in raws:
            ino = txn.new_ino()
            directory = raw[:1] == b"d"
            txn.put_inode(ino, mode=0o40755 if directory else 0o100644,
                          nlink=2 if directory else 1,
                          size=0 if directory else 4)
            if not directory:
                txn.write(ino, 0, raw[:3] + b"\n")
            txn.link(ROOT_INO, raw, ino)
        txn.commit()
        store.sync()
        return bytes(flash.read(part.offset, part.size))
    finally:
        flash.close()


def motd_board(tmp_path, runtime):
    """A sim board running `runtime`, booted on a firmware holding only
    /etc/motd ("hello"): (board, link, image path)."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "motd").write_bytes(b"hello\n")
    img = tmp_path / "fw.sqfs"
    mksquashfs(root, img)
    b, link = boot_image(tmp_path, img.read_bytes(), runtime)
    return b, link, img


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_names_that_are_not_utf8_travel_as_their_bytes(tmp_path, runtime):
    """A name an older ovl on MicroPython stored in the upper that is not
    UTF-8 travels over serial as its bytes both ways (the host's JSON
    encodes and decodes with surrogateescape, as ovl fs decodes argv), on
    a board running either runtime: remote ls, ls -l, diff and fsck print
    what ovl fs prints for the same layers, and the bytes ls prints name
    it to get, rm, rmdir, mv and revert.  Before: the reply did not decode
    on the host, the request did not encode."""
    b, link, img = motd_board(tmp_path, runtime)
    try:
        link.bye()
        link.ser.close()
        b.kill()
        upper = tmp_path / "upper.img"
        upper.write_bytes(link_upper_names(str(tmp_path / "flash.bin"),
                                           OLD_MICROPYTHON_NAMES))
        b.start()
        layers = ("--lower", str(img), "--upper", str(upper))
        for verb in (["ls", "/"], ["ls", "-l", "/"], ["diff"], ["fsck"]):
            status, local, err = cli_bytes("fs", verb[0], *layers,
                                           *verb[1:])
            assert status in (0, 4) and err == "", (verb, err)
            got = cli_bytes(*remote_words(b), *verb)
            assert got == (status, local, ""), (verb, local, got)
        # (the last, fsck, names each: both listed them)
        assert status == 4 and len([n for n in local.splitlines()
                                    if not n.isascii()]) == 5, local
        # each name ls prints as the shell passes it back: os.fsdecode
        status, out, err = cli_bytes(*remote_words(b), "ls", "/")
        arg = dict((raw[:2], "/" + os.fsdecode(raw))
                   for raw in OLD_MICROPYTHON_NAMES
                   if b"\n" + raw + b"\n" in b"\n" + out)
        assert sorted(arg) == [b"d\xed", b"ge", b"mv", b"re", b"rm"], out
        dest = tmp_path / "got"
        for verb in (["get", arg[b"ge"], str(dest)], ["rm", arg[b"rm"]],
                     ["rmdir", arg[b"d\xed"]], ["mv", arg[b"mv"], "/moved"],
                     ["revert", arg[b"re"]]):
            status, out, err = cli_bytes(*remote_words(b), *verb)
            assert (status, err) == (0, ""), (verb, err)
        assert dest.read_bytes() == b"get\n"
        status, out, err = cli_bytes(*remote_words(b), "ls", "/")
        assert out.split() == [b"etc", b"get\xc0\xaf", b"moved"], (out, err)
        status, out, err = cli_bytes(*remote_words(b), "cat", "/moved")
        assert out == b"mv\xed\n", err
        # an error naming such a name: one line holding its bytes, as fs says
        gone = "/gone" + os.fsdecode(b"\xc0\xaf")
        status, out, local = cli_bytes("fs", "cat", *layers, gone)
        assert status == 1 and local.endswith("ENOENT: %s\n" % gone), local
        status, out, remote = cli_bytes(*remote_words(b), "cat", gone)
        assert status == 1 and remote.endswith("ENOENT: %s\n" % gone), \
            remote
        assert remote.count("\n") == 1, remote
    finally:
        b.close()


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_lone_surrogate_escape_in_a_request_is_refused_not_fatal(
        tmp_path, runtime):
    """A hand-made request whose JSON holds a lone surrogate escape
    (\\ud800: no host of ovl sends one, link.json_payload writes UTF-8)
    is answered with an error frame, and the agent goes on serving.
    Before: on a CPython board the agent died building the error reply
    (its message, naming the path, did not encode)."""
    b, link, img = motd_board(tmp_path, runtime)
    try:
        with pytest.raises(RemoteError) as e:
            link.call(agent.FS_STAT, b'{"path": "/x\\ud800"}')
        assert e.value.errno in (2, 22), e.value
        assert get(link, "/etc/motd") == b"hello\n"
    finally:
        b.close()
