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
        # a power cut after the 12th step's reply (the first 6 replies
        # are the checks': FS_OP, then FS_STAT of the 5 directories above
        # members): part of the backup is on the board, each file whole or
        # absent
        sim.cut_after_replies(link, 6 + 12)
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


def small_backup(layers, tmp_path):
    """A backup of three added files, and the upper it is restored onto
    (a fresh one, kept as bytes to check that a refusal changed nothing)."""
    lower, upper = layers
    fresh = upper.read_bytes()
    for name in "abc":
        status, out, err = ovl("shell", "--lower", lower, "--upper", upper,
                               stdin="write /etc/%s.txt w 0 %s\n" % (name,
                                                                   name))
        assert status == 0 and "error" not in out, out + err
    backup = tmp_path / "full.tar"
    assert ovl("backup", "--lower", lower, "--upper", upper, backup)[0] == 0
    upper.write_bytes(fresh)
    return backup


def test_a_cut_backup_is_refused_before_any_change(layers, tmp_path):
    """tarfile ends its listing without a word at a cut header or at a
    member boundary: a restore reads to the end-of-archive marker (two
    zero blocks) and refuses anything shorter, so it never restores part
    of a backup and exits 0."""
    lower, upper = layers
    backup = small_backup(layers, tmp_path)
    whole = backup.read_bytes()
    fresh = upper.read_bytes()
    # the archive ends with two zero blocks, then padding to a record
    with tarfile.open(backup) as tar:
        tar.getmembers()
        end = tar.offset + 2 * tarfile.BLOCKSIZE
    assert whole[end - 2 * tarfile.BLOCKSIZE:end] == bytes(
        2 * tarfile.BLOCKSIZE)
    cut = tmp_path / "cut.tar"
    # the reviewer's cut points: inside a header, at a member's end, and
    # inside the next member's pax header; then every block boundary
    points = [3272, 5120, 5500] + list(range(0, len(whole), 512))
    refused = 0
    for point in points:
        cut.write_bytes(whole[:point])
        status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                               cut)
        if point >= end:        # only padding is missing: a whole backup
            assert status == 0, (point, err)
            assert len(state(lower, upper)[0]) == 3, point
            upper.write_bytes(fresh)
            continue
        refused += 1
        assert status == 1 and len(err.splitlines()) == 1, (point, err)
        assert ("cannot read backup" if point == 0 else "is damaged") in err, \
            (point, err)
        assert upper.read_bytes() == fresh, point
    assert refused > 10
    cut.write_bytes(whole[:5120])
    status, out, err = ovl("restore", "--lower", lower, "--upper", upper, cut)
    assert "damaged (truncated after member 2" in err, err


def test_a_backup_with_a_bad_header_after_its_members_is_refused(layers,
                                                                  tmp_path):
    """One zero block and then garbage, or a member header spoiled: tarfile
    stops there without a word; the restore calls it damaged."""
    lower, upper = layers
    backup = small_backup(layers, tmp_path)
    whole = bytearray(backup.read_bytes())
    fresh = upper.read_bytes()
    with tarfile.open(backup) as tar:
        third = tar.getmembers()[2].offset      # its pax header
    whole[third + 148:third + 156] = b"garbage!"    # its header checksum
    backup.write_bytes(whole)
    status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                           backup)
    assert status == 1 and "no valid header after member 2" in err, err
    assert upper.read_bytes() == fresh


def test_a_backup_written_anywhere_ends_with_the_end_marker(layers,
                                                             tmp_path):
    """`ovl backup` closes the tar whole: the end-of-archive marker is there
    in a file and in a stream (a FIFO), so a restore accepts it."""
    import os
    import threading
    lower, upper = layers
    changed(lower, upper)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(
        open(fifo, "rb").read()), daemon=True)
    reader.start()
    assert ovl("backup", "--lower", lower, "--upper", upper, fifo)[0] == 0
    reader.join(20)
    streamed = tmp_path / "streamed.tar"
    streamed.write_bytes(got[0])
    backup = tmp_path / "b.tar"
    assert ovl("backup", "--lower", lower, "--upper", upper, backup)[0] == 0
    for path in (backup, streamed):
        with tarfile.open(path) as tar:
            tar.getmembers()
            tar.fileobj.seek(tar.offset)
            assert tar.fileobj.read(1024) == bytes(1024), path
        status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                               path)
        assert status == 0, err


def symlink_tar(path, members):
    """A backup tar of members: (name, type, linkname or data)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT,
                      pax_headers={"OVL.backup": "1"}) as tar:
        for name, kind, arg in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            data = None
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = arg
            elif kind == tarfile.REGTYPE:
                info.size = len(arg)
                data = io.BytesIO(arg)
            tar.addfile(info, data)


def test_restore_does_not_write_through_symlinks(layers, tmp_path):
    """A member under a symlink, made by an earlier member or already in
    the tree, is refused before anything is written: the classic tar rule
    (a restore would otherwise write where the link points)."""
    lower, upper = layers
    status, out, err = ovl("shell", "--lower", lower, "--upper", upper,
                           stdin="ln -s /etc /www/web\n")
    assert status == 0 and "error" not in out, out + err
    before = state(lower, upper)
    image = upper.read_bytes()
    reg, sym, lnk, dirt = (tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                           tarfile.DIRTYPE)
    cases = {
        "made here": ([("home/x", sym, "/etc"), ("home/x/passwd", reg,
                                                   b"owned\n")],
                      "'home/x/passwd'", "/home/x"),
        "deeper": ([("home/x", sym, "/"), ("home/x/etc/passwd", reg, b"o")],
                   "'home/x/etc/passwd'", "/home/x"),
        "in the tree": ([("www/web/passwd", reg, b"owned\n")],
                        "'www/web/passwd'", "/www/web"),
        "a whiteout": ([("www/web/.wh.passwd", reg, b"")],
                       "'www/web/.wh.passwd'", "/www/web"),
        "a directory": ([("www/web/new", dirt, None)], "'www/web/new'",
                        "/www/web"),
        "a hard link's target": ([("home/x", sym, "/etc"),
                                  ("h", lnk, "home/x/passwd")],
                                 "'h'", "/home/x"),
    }
    for case, (members, member, link) in cases.items():
        tar = tmp_path / "evil.tar"
        symlink_tar(tar, members)
        status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                               tar)
        assert status == 1 and len(err.splitlines()) == 1, (case, err)
        assert member in err and "symlink " + link in err, (case, err)
        assert upper.read_bytes() == image, case
    assert state(lower, upper) == before
    # a member that replaces the link first makes a directory there
    tar = tmp_path / "fine.tar"
    symlink_tar(tar, [
        ("www/web", dirt, None), ("www/web/passwd", reg, b"mine\n"),
        ("home/x", sym, "/etc"), ("home/.wh.x", reg, b""),
        ("home/x/y", reg, b"y\n")])
    status, out, err = ovl("restore", "--lower", lower, "--upper", upper, tar)
    assert status == 0, err
    s = Session(str(lower), str(upper), readonly=True)
    try:
        o = s.mount()
        assert o.read_bytes("/www/web/passwd") == b"mine\n"
        assert o.read_bytes("/etc/passwd") == b"pw\n"
        assert o.read_bytes("/home/x/y") == b"y\n"
    finally:
        s.release()


@pytest.mark.parametrize("size", [10 ** 15, 10 ** 9])
def test_a_member_claiming_a_huge_size_is_a_damaged_backup(layers,
                                                           tmp_path, size):
    """A header whose size runs past the end of the file: seeking there
    fails (EINVAL past the file system's largest file) or reads nothing;
    either is one line naming the backup as damaged."""
    lower, upper = layers
    image = upper.read_bytes()
    huge = tmp_path / "huge.tar"
    with open(huge, "wb") as f:
        tar = tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT,
                           pax_headers={"OVL.backup": "1"})
        info = tarfile.TarInfo("huge.bin")
        info.size = size
        f.write(info.tobuf(tar.format, tar.encoding, tar.errors))
        f.write(b"A" * 4096)
    status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                           huge)
    assert status == 1 and len(err.splitlines()) == 1, err
    assert "backup %s is damaged: " % huge in err, err
    assert upper.read_bytes() == image


@pytest.mark.parametrize("member,fragment", [
    (dict(name="etc/a", uid=1 << 40), "uid 1099511627776 is outside"),
    (dict(name="etc/a", gid=-5 + (1 << 33)), "gid 8589934587 is outside"),
    (dict(name="."), "the root can only be a directory"),
])
def test_a_member_the_upper_cannot_hold_is_refused_first(layers, tmp_path,
                                                         member, fragment):
    """An owner past 32 bits, or a file named as the root: refused before
    anything changes (before, the chown failed half way with EINVAL and
    left a temporary in the tree; the root file gave EBUSY)."""
    lower, upper = layers
    image = upper.read_bytes()
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w", format=tarfile.PAX_FORMAT,
                      pax_headers={"OVL.backup": "1"}) as tar:
        info = tarfile.TarInfo(member.pop("name"))
        for key, value in member.items():
            setattr(info, key, value)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    status, out, err = ovl("restore", "--lower", lower, "--upper", upper,
                           bad)
    assert status == 1 and len(err.splitlines()) == 1, err
    assert fragment in err, err
    assert upper.read_bytes() == image


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
