"""`ovl backup` / `ovl restore` / `ovl reset --keep` on image files: the
backup's documented form, a restore over the same firmware giving the same
diff and tree, restores cut by power cuts and finished by running them
again, and one-line errors for bad backups; `ovl remote backup` of a
simulated board writes the same tar as `ovl backup` of its upper."""

import contextlib
import hashlib
import io
import json
import shutil
import sys
import tarfile

import pytest

from conftest import ROOT
from host_tools.serial import link as serial_link
from host_tools.image import mkimage
from host_tools.boards import load_board
from host_tools.cli import main as cli_main
from host_tools.commands.overlay import Session, tree
from host_tools.commands.serial import flash_image
from host_tools.serial.sim import PtyBoard
from ovl import agent

CHANGES = """\
write /etc/config w 0 new-config\\n
chmod 600 /etc/passwd
chown 7:8 /etc/passwd
rm /etc/init.d/net
mkdir /data
write /data/x w 0 xx
ln -s /data/x /data/lnk
ln /data/x /data/hard
rm /www/a/index.html
rm /www/a/old.css
rmdir /www/a
mkdir /www/a
write /www/a/new w 0 new
rm /etc/cfg
ln -s passwd /etc/cfg
mv /etc/init.d/boot /etc/boot-moved
"""


def ovl(*argv, stdin=None):
    """Run the CLI in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli_main([str(a) for a in argv])
    finally:
        sys.stdin = old
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def layers(tmp_path):
    root = tmp_path / "root"
    for rel, data in (("etc/config", b"cfg\n"), ("etc/passwd", b"pw\n"),
                      ("etc/init.d/boot", b"b\n"), ("etc/init.d/net", b"n\n"),
                      ("lib/mod.py", b"m\n"), ("www/a/index.html", b"i\n"),
                      ("www/a/old.css", b"c\n")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "etc" / "cfg").symlink_to("config")
    lower = tmp_path / "fw.sqfs"
    mkimage.build_image(str(root), str(lower), mtime=1700000000)
    upper = tmp_path / "up.img"
    assert ovl("format", "--size", "512k", "--erase-size", "4k", upper)[0] == 0
    return lower, upper


def state(lower, upper):
    s = Session(str(lower), str(upper), readonly=True)
    try:
        o = s.mount()
        return o.diff(), tree(o)
    finally:
        s.release()


def changed(lower, upper):
    status, out, err = ovl("shell", "--lower", lower, "--upper", upper,
                           stdin=CHANGES)
    assert status == 0 and "error" not in out, out + err
    return state(lower, upper)


def test_backup_form_and_restore_gives_the_same_diff(layers, tmp_path):
    lower, upper = layers
    before = changed(lower, upper)
    backup = tmp_path / "b.tar"
    status, out, err = ovl("backup", "--lower", lower, "--upper", upper,
                           backup)
    assert status == 0, err
    with tarfile.open(backup) as tar:
        assert tar.pax_headers["OVL.backup"] == "1"
        members = dict((m.name, m) for m in tar.getmembers())
    # deletions as whiteouts, the remade directory as opaque
    assert "etc/init.d/.wh.net" in members
    assert "etc/init.d/.wh.boot" in members
    assert "www/a/.wh..wh..opq" in members
    assert members["etc/passwd"].pax_headers["OVL.change"] == "metadata"
    assert (members["etc/passwd"].mode, members["etc/passwd"].uid) == (
        0o600, 7)
    assert members["etc/config"].pax_headers["OVL.change"] == "modified"
    assert members["data/x"].islnk() and members["data/lnk"].issym()
    assert "lib/mod.py" not in members
    # over a factory reset, and over a fresh upper
    for start in ("reset", "format"):
        if start == "reset":
            assert ovl("reset", "--lower", lower, "--upper", upper)[0] == 0
        else:
            upper.unlink()
            ovl("format", "--size", "512k", "--erase-size", "4k", upper)
        assert state(lower, upper)[0] == []
        status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                               backup)
        assert status == 0, err
        assert state(lower, upper) == before
    # a second run finds everything in place
    status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                           backup)
    assert status == 0 and "0 files written, 0 put in place" in out


def file_contents(lower, upper):
    s = Session(str(lower), str(upper), readonly=True)
    try:
        o = s.mount()
        out = {}
        for item in tree(o):
            if item["type"] == "-":
                out[item["path"]] = item["sha256"]
        return out
    finally:
        s.release()


@pytest.mark.slow
def test_restore_cut_at_many_points_finishes_when_run_again(layers,
                                                            tmp_path):
    lower, upper = layers
    pristine = tmp_path / "pristine.img"
    shutil.copy(upper, pristine)
    old = file_contents(lower, upper)
    before = changed(lower, upper)
    new = file_contents(lower, upper)
    backup = tmp_path / "b.tar"
    assert ovl("backup", "--lower", lower, "--upper", upper, backup)[0] == 0
    cuts = 0
    point = 0
    while True:
        shutil.copy(pristine, upper)
        status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                               "--power-cut-after", point, "--torn",
                               ("prefix", "bits")[point % 2], "--seed",
                               point, backup)
        if status == 0:
            break
        assert status == 3, err
        cuts += 1
        # every file is whole: its old content, its new one, or absent
        # (a restore's temporary name is not a file of the tree)
        for path, digest in file_contents(lower, upper).items():
            if "/.ovl-restore-" in path:
                continue
            assert digest in (old.get(path), new.get(path)), (point, path)
        if cuts % 3 == 1:
            # cut again while finishing it
            status, out, err = ovl("restore", "--lower", lower, "--upper",
                                   upper, "--power-cut-after", 5, backup)
            assert status in (0, 3), err
        if cuts == 2:
            # a backup taken now leaves the restore's temporaries out
            partial = tmp_path / "partial.tar"
            assert ovl("backup", "--lower", lower, "--upper", upper,
                       partial)[0] == 0
            with tarfile.open(partial) as tar:
                assert not [n for n in tar.getnames() if ".ovl-" in n]
        status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                               backup)
        assert status == 0, err
        assert state(lower, upper) == before, "cut at %d" % point
        status, out, err = ovl("fsck", upper)
        assert status == 0 and "0 errors" in out, out
        point += 7
    assert cuts >= 4
    print("%d cut points" % cuts)


def test_reset_keep_from_the_command_line_and_the_board(layers, tmp_path):
    lower, upper = layers
    changed(lower, upper)
    saved = tmp_path / "saved.img"
    shutil.copy(upper, saved)
    status, out, err = ovl("reset", "--lower", lower, "--upper", upper,
                           "--keep", "/etc/config", "/www")
    assert status == 0 and "keeping /etc/config /www" in out, err
    kept = state(lower, upper)[0]
    assert kept == [("modified", "/etc/config"), ("added", "/www/a"),
                    ("added", "/www/a/new")]
    with open(ROOT + "/boards/sim.json") as f:
        board = json.load(f)
    board["keep"] = ["/etc/config"]
    board_file = tmp_path / "kept.json"
    board_file.write_text(json.dumps(board))
    shutil.copy(saved, upper)
    status, out, err = ovl("reset", "--lower", lower, "--upper", upper,
                           "--board", board_file, "--next-boot")
    assert status == 0, err
    assert len(state(lower, upper)[0]) > 1       # not yet: at next mount
    assert ovl("fs", "ls", "--lower", lower, "--upper", upper)[0] == 0
    assert len(state(lower, upper)[0]) > 1       # a reader never writes
    assert ovl("fs", "sync", "--lower", lower, "--upper", upper)[0] == 0
    assert state(lower, upper)[0] == [("modified", "/etc/config")]
    board["keep"] = "/etc/config"
    board_file.write_text(json.dumps(board))
    status, out, err = ovl("reset", "--lower", lower, "--upper", upper,
                           "--board", board_file)
    assert status == 1 and "keep must be a list" in err


def test_bad_backups_are_one_line(layers, tmp_path):
    lower, upper = layers
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.addfile(tarfile.TarInfo("etc/x"), io.BytesIO(b""))
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w", format=tarfile.PAX_FORMAT,
                      pax_headers={"OVL.backup": "1"}) as tar:
        tar.addfile(tarfile.TarInfo("../outside"), io.BytesIO(b""))
    for path, want in ((junk, "cannot read backup"),
                       (plain, "not an ovl backup"),
                       (evil, "'..' names are refused"),
                       (tmp_path / "missing.tar", "cannot read backup")):
        status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                               path)
        assert status == 1 and want in err, err
        assert len(err.splitlines()) == 1
    assert state(lower, upper)[0] == []
    status, out, err = ovl("backup", "--lower", lower, "--upper", upper,
                           tmp_path)
    assert status == 1 and "directory" in err


def members(path):
    """name -> what a restore uses of each member (content as sha256)."""
    out = {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            data = tar.extractfile(m).read() if m.isreg() else b""
            out[m.name] = (m.type, m.mode, m.uid, m.gid, int(m.mtime),
                           m.linkname, m.pax_headers.get("OVL.change"),
                           hashlib.sha256(data).hexdigest())
    return out


@pytest.mark.slow
def test_remote_backup_equals_the_image_backup(layers, tmp_path):
    lower, _ = layers
    board = load_board("sim")
    upper_part = board.first_of_type("ovl")
    flash = tmp_path / "flash.bin"
    sim = PtyBoard(ROOT + "/boards/sim.json", str(flash)).start()

    def connect():
        ser = serial_link.open_port(sim.port, 921600)
        return serial_link.connect(ser, bootstrap=False, timeout=1.0,
                                   boot_wait=15)
    try:
        link = connect()
        flash_image(link, lower.read_bytes())
        link.call(agent.REBOOT)
        link = connect()            # the first boot formats the upper
        assert link.info["fs"], link.info["notes"]
        link.bye()
        link.ser.close()
        sim.kill()
        # the changes, made on the upper partition's bytes on the host
        chip = bytearray(flash.read_bytes())
        part = slice(upper_part.offset, upper_part.offset + upper_part.size)
        upper = tmp_path / "board-upper.img"
        upper.write_bytes(chip[part])
        changed(lower, upper)
        # more changes than one reply holds: the diff comes in pages
        many = "mkdir /many\n" + "".join(
            "write /many/file-number-%03d w 0 x\n" % i for i in range(160))
        assert ovl("shell", "--lower", lower, "--upper", upper,
                   stdin=many)[0] == 0
        chip[part] = upper.read_bytes()
        flash.write_bytes(bytes(chip))
        sim.restart()
        here = tmp_path / "image.tar"
        there = tmp_path / "remote.tar"
        assert ovl("backup", "--lower", lower, "--upper", upper, here)[0] == 0
        status, out, err = ovl("remote", "--port", sim.port, "--no-bootstrap",
                               "--boot-wait", "15", "backup", there)
        assert status == 0 and "backup: " in out, err
    finally:
        sim.close()
    want = members(here)
    assert members(there) == want and len(want) > 170
    with tarfile.open(there) as tar:
        assert "OVL.lower" not in tar.pax_headers


def test_backup_into_a_fifo_streams_and_keeps_the_fifo(layers, tmp_path):
    """OUT.tar that is not a regular file (a FIFO, /dev/stdout, a device)
    is written straight into: the temporary-and-rename a regular file gets
    would replace the node itself (as root, even /dev/full)."""
    import os
    import stat
    import threading
    lower, upper = layers
    changed(lower, upper)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    # the reader's open waits for the backup to open the FIFO for writing
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()),
                              daemon=True)
    reader.start()
    status, out, err = ovl("backup", "--lower", lower, "--upper", upper,
                           fifo)
    assert status == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    reader.join(30)
    assert "backup: " in err and not out       # stdout may be the tar
    with tarfile.open(fileobj=io.BytesIO(got[0])) as tar:
        assert "etc/config" in tar.getnames()


def test_backup_into_a_full_device_fails_and_keeps_it(layers, tmp_path):
    """A device that takes no bytes (/dev/full's kind, made here) is one
    error line, and the device node stays."""
    import os
    import stat
    lower, upper = layers
    changed(lower, upper)
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("making a device node needs root (CI runs as root)")
    status, out, err = ovl("backup", "--lower", lower, "--upper", upper, full)
    assert status == 1 and err.startswith("ovl: ") and \
        len(err.splitlines()) == 1, err
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_restore_from_a_fifo_is_refused_without_waiting(layers, tmp_path):
    """A restore reads the tar twice (sizes first): a pipe cannot be
    rewound, and opening a FIFO nobody writes would wait for ever."""
    import os
    lower, upper = layers
    import threading
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    answer = []
    run = threading.Thread(target=lambda: answer.append(ovl(
        "restore", "--lower", lower, "--upper", upper, fifo)), daemon=True)
    run.start()
    run.join(20)
    if not answer:              # free the waiting open before failing
        os.close(os.open(fifo, os.O_RDWR))
        run.join(5)
    assert answer, "restore waited for a writer of the FIFO"
    status, out, err = answer[0]
    assert status == 1 and "not a regular file" in err, err
    assert len(err.splitlines()) == 1


def board_upper(flash, tmp_path):
    """The sim board's upper partition, from its flash file, as an image."""
    part = load_board("sim").first_of_type("ovl")
    upper = tmp_path / "board-upper.img"
    upper.write_bytes(flash.read_bytes()[part.offset:part.offset + part.size])
    return upper


def test_remote_restore_gives_the_board_the_same_diff_and_tree(layers,
                                                               tmp_path):
    """`ovl remote restore` of an `ovl backup` onto a freshly flashed board:
    its upper then holds the same diff and merged tree as the upper the
    backup came from; a second run changes nothing; a restore cut by a
    power cut between two steps finishes when run again."""
    lower, upper = layers
    old = file_contents(lower, upper)
    before = changed(lower, upper)
    new = file_contents(lower, upper)
    backup = tmp_path / "b.tar"
    assert ovl("backup", "--lower", lower, "--upper", upper, backup)[0] == 0
    from host_tools.commands.backup import remote_restore
    from sim_board import booted_board
    flash = tmp_path / "flash.bin"
    with booted_board(ROOT + "/boards/sim.json", str(flash),
                      lower.read_bytes()) as (sim, link):
        # a power cut after the 12th step's reply: part of the backup is
        # on the board, each file whole or absent
        sim.cut_after_replies(link, 12)
        with pytest.raises(serial_link.LinkError):
            remote_restore(link, str(backup))
        link.ser.close()
        cut = file_contents(lower, board_upper(flash, tmp_path))
        assert cut != old and cut != new, "the cut fell before or after"
        for path, digest in cut.items():
            if "/.ovl-" not in path:
                assert digest in (old.get(path), new.get(path)), path
        sim.restart()
        for run in ("resumed", "again"):
            status, out, err = ovl("remote", "--port", sim.port,
                                   "--no-bootstrap", "--boot-wait", "15",
                                   "restore", backup)
            assert status == 0 and out.startswith("restore: "), out + err
        assert "0 files written, 0 put in place, 0 attributes set, 0 " \
            "removed" in out, out
        sim.kill()
    upper = board_upper(flash, tmp_path)
    assert state(lower, upper) == before
    status, out, err = ovl("fsck", upper)
    assert status == 0 and "0 errors" in out, out


def test_remote_restore_stops_before_any_change_on_an_older_agent(layers,
                                                                  tmp_path):
    """An agent that predates FS_OP answers it ENOSYS: the restore asks
    first, so it stops in one line having sent nothing that changes."""
    from host_tools.cli import CliError
    from host_tools.commands.backup import remote_restore
    from host_tools.serial.link import RemoteError
    from ovl import compat
    lower, upper = layers
    changed(lower, upper)
    backup = tmp_path / "b.tar"
    assert ovl("backup", "--lower", lower, "--upper", upper, backup)[0] == 0

    class OlderAgent:
        sent = []

        def call_json(self, kind, obj=None):
            self.sent.append(agent.NAMES[kind])
            if kind not in (agent.FS_STAT, agent.FS_LS, agent.FS_GET):
                raise RemoteError(compat.ENOSYS, "board refused: ENOSYS")
            raise AssertionError("the restore began before asking")

    with pytest.raises(CliError, match="update ovl on the board"):
        remote_restore(OlderAgent(), str(backup))
    assert OlderAgent.sent == ["op"]


@pytest.mark.slow
def test_a_tree_deeper_than_the_call_stack_is_planned_and_removed(tmp_path):
    # the plan of an added directory lists its subtree, and a restore
    # removes trees: loops, not recursion (the limit is cut to a little
    # above this test's own depth, which the tree passes)
    import inspect
    from host_tools import backup
    from ovl.dirlower import DirLower
    from ovl.overlay import mount
    from ovl.store import LogStore
    from ovl_sim.simflash import SimFlash
    (tmp_path / "low").mkdir()
    flash = SimFlash(1 << 20, 4096, 256)
    LogStore.format(flash)
    o = mount(DirLower(str(tmp_path / "low")), flash)
    depth = 150
    o.mkdir("/c")
    o.write_bytes("/c/f", b"deep")
    for _ in range(depth - 1):      # grown from its bottom: cheap walks
        o.mkdir("/n")
        o.rename("/c", "/n/q")
        o.rename("/n", "/c")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 100)
    try:
        planned = backup.plan(o, o.lower)
        backup.remove_tree(o, "/c")
    finally:
        sys.setrecursionlimit(limit)
    assert len(planned) == depth + 1
    assert planned[0] == ("/c", "added") and \
        planned[-1] == ("/c" + "/q" * (depth - 1) + "/f", "added")
    assert o.listdir("/") == [] and o.fsck() == []
