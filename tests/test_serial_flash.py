"""End to end over a pty pair: the host tools against the agent running under
the real micropython on a simulated board whose flash is a file."""

import hashlib
import io
import os
import random
import struct
import time
import contextlib

import pytest

from host_tools.serial import link as serial_link
from host_tools.cli import main as cli_main
from host_tools.commands.serial import flash_image
from host_tools.serial.link import LinkError
from host_tools.serial.sim import PtyBoard, Noise
from ovl import agent

from conftest import ROOT, find_micropython

SIM = os.path.join(ROOT, "boards", "sim.json")
AB = os.path.join(ROOT, "boards", "sim-ab.json")
FW_OFFSET = 0
ERASE = 4096


@pytest.fixture
def board(tmp_path):
    if not find_micropython():
        pytest.fail("micropython executable missing: run `make test`")
    boards = []

    def make(board_json=SIM, **kw):
        b = PtyBoard(board_json, str(tmp_path / "flash.bin"), **kw)
        boards.append(b)
        return b.start()

    yield make
    for b in boards:
        b.close()


def connect(b, timeout=1.0, bootstrap=False):
    ser = serial_link.open_port(b.port, 921600)
    try:
        return serial_link.connect(ser, bootstrap=bootstrap, timeout=timeout,
                                   boot_wait=2 if bootstrap else 15)
    except BaseException:
        ser.close()
        raise


def image_bytes(n, seed=1):
    rng = random.Random(seed)
    return bytes(rng.getrandbits(8) for _ in range(n))


def flash_file(b):
    with open(b.flash_path, "rb") as f:
        return f.read()


def test_full_then_differential_then_up_to_date(board):
    b = board()
    link = connect(b)
    assert link.info["boot_slot"] is None      # fresh chip: agent only
    img = image_bytes(40 * ERASE + 123)
    s = flash_image(link, img)
    assert (s["sent"], s["written"], s["generation"]) == (41, 41, 1)
    assert flash_file(b)[:len(img)] == img
    img2 = bytearray(img)
    img2[5 * ERASE + 7] ^= 0xFF
    img2[30 * ERASE] ^= 0x01
    s = flash_image(link, bytes(img2))
    assert (s["sent"], s["written"], s["generation"]) == (2, 2, 1)
    s = flash_image(link, bytes(img2))
    assert s["sent"] == 0 and s["generation"] is None
    link.call(agent.REBOOT)
    link = connect(b)
    slot = link.info["slots"][0]
    assert link.info["boot_slot"] == "firmware" and slot["state"] == "ok"
    assert slot["sha256"] == hashlib.sha256(bytes(img2)).hexdigest()
    link.bye()


@pytest.mark.slow
def test_interrupted_flash_boots_agent_only_and_resumes(board):
    b = board()
    link = connect(b)
    flash_image(link, image_bytes(20 * ERASE, seed=2))
    img = image_bytes(60 * ERASE, seed=3)
    b.cut_after_replies(link, 40, retries=2)    # while the blocks stream
    with pytest.raises(LinkError, match="stopped answering"):
        flash_image(link, img)
    link.ser.close()
    b.restart()
    link = connect(b)
    # The old record was erased before the first block changed: the board
    # comes up with the agent only instead of a half-written lower.
    assert link.info["boot_slot"] is None
    assert "agent only" in " ".join(link.info["notes"])
    s = flash_image(link, img)
    assert s["resumed"] and 0 < s["sent"] < 60 and s["generation"] == 1
    assert flash_file(b)[:len(img)] == img
    link.bye()


@pytest.mark.slow
def test_line_noise_both_ways_is_recovered(board):
    b = board(noise_to_board=Noise(flip=0.0001, drop=0.0001, seed=5),
              noise_to_host=Noise(flip=0.0002, drop=0.0002, seed=6))
    link = connect(b, timeout=0.4)
    img = image_bytes(24 * ERASE, seed=4)
    s = flash_image(link, img)
    assert s["generation"] == 1
    assert flash_file(b)[:len(img)] == img
    hit = b.to_board.noise.flipped + b.to_board.noise.dropped
    assert hit > 0 and link.resends > 0
    link.bye()


def test_agent_refuses_unverified_data_and_upper_writes(board):
    b = board()
    link = connect(b)
    before = flash_file(b)
    data = b"\x55" * ERASE
    link.call(agent.WRITE, struct.pack("<II32s", 8 * ERASE, ERASE,
                                       hashlib.sha256(b"other").digest()))
    with pytest.raises(serial_link.RemoteError, match="nothing written"):
        link.call(0x40, struct.pack("<I", 0) + data)
    assert flash_file(b) == before
    with pytest.raises(serial_link.RemoteError, match="overlay upper"):
        link.call(agent.ERASE, struct.pack("<II", 0x100000, ERASE))
    with pytest.raises(serial_link.RemoteError, match="exceeds"):
        link.call(agent.READ, struct.pack("<II", 0, 1 << 20))
    # The session survives the refusals.
    assert link.call(agent.READ, struct.pack("<II", 0, 4)) == b"\xff" * 4
    link.bye()


@pytest.mark.slow
def test_ab_slots_switch_only_after_verification(board):
    b = board(AB)
    link = connect(b)
    a_img = image_bytes(10 * ERASE, seed=7)
    s = flash_image(link, a_img)
    first = s["partition"]
    link.call(agent.REBOOT)
    link = connect(b)
    assert link.info["boot_slot"] == first
    s = flash_image(link, image_bytes(12 * ERASE, seed=8))
    second = s["partition"]
    assert second != first and s["generation"] == 2
    link.call(agent.REBOOT)
    link = connect(b)
    assert link.info["boot_slot"] == second
    # An interrupted update of the other slot leaves the booted one alone.
    b.cut_after_replies(link, 1)
    with pytest.raises(LinkError):
        flash_image(link, image_bytes(12 * ERASE, seed=9))
    link.ser.close()
    b.restart()
    link = connect(b)
    assert link.info["boot_slot"] == second
    link.bye()


@pytest.mark.slow
def test_bootstrap_through_the_raw_repl(board, tmp_path):
    b = board(mode="repl")
    ser = serial_link.open_port(b.port, 921600)
    notes = []
    # A board at its REPL answers no HELLO: inject without waiting long.
    link = serial_link.connect(ser, bootstrap=True, log=notes.append,
                               boot_wait=0.5)
    assert "raw-paste" in notes[0]
    assert link.info["runtime"].startswith("micropython")
    s = flash_image(link, image_bytes(3 * ERASE, seed=10))
    assert s["generation"] == 1
    link.bye()
    # The pasted program ends (raw REPL: end of stdout, end of stderr,
    # prompt) and the raw REPL runs code again.
    repl = serial_link.RawRepl(ser)
    repl.read_until(b"\x04\x04>")
    ser.write(b"print(6*7)\x04")
    assert b"OK42" in repl.read_until(b"\x04>")
    ser.close()


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(list(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_cli_flash_summary_and_one_line_errors(board, tmp_path):
    b = board()
    img = tmp_path / "fw.img"
    img.write_bytes(squashfs_image(tmp_path, blob=5 * ERASE, seed=11))
    # The board has only just been started: wait for it as for a reboot.
    status, out, err = cli("flash", "--port", b.port, "--board", "sim",
                           "--no-bootstrap", "--boot-wait", "15", str(img))
    assert status == 0, err
    assert out.startswith("flash: wrote 24.0 KiB -> firmware: 6/6 blocks")
    # until it reboots the board runs what it ran (here: the agent alone,
    # whose refusals say "firmware missing"): the summary says so
    assert "runs it after a reboot" in out, out
    status, out, err = cli("flash", "--port", b.port, "--board", "pico",
                           "--no-bootstrap", str(img))
    assert status == 1 and "not pico" in err and len(err.splitlines()) == 1
    # A SquashFS that does not fit the slot (its record takes the last
    # erase block) is refused, --force or not.
    big = tmp_path / "big.img"
    big.write_bytes(squashfs_image(tmp_path, "big.sqfs", blob=1 << 20))
    for force in ((), ("--force",)):
        status, out, err = cli("flash", "--port", b.port, "--no-bootstrap",
                               *force, str(big))
        assert status == 1 and "record" in err, err
    status, out, err = cli("flash", "--port", b.port, "--reboot", str(img))
    assert status == 0 and "already holds" in out, err
    link = connect(b)       # rebooted
    link.bye()
    link.ser.close()
    # A board that stays silent for 3 s (a slow boot, as after --reboot on
    # a real board): a command gives up after its --boot-wait in one line
    # without breaking in,
    b.freeze(3.0)
    status, out, err = cli("flash", "--port", b.port, "--no-bootstrap",
                           "--timeout", "0.2", "--boot-wait", "0.5", str(img))
    assert status == 1 and "no ovl agent answered" in err
    assert len(err.splitlines()) == 1
    # and by default waits out the 2.5 s left, rather than injecting a
    # second agent over the raw REPL.
    status, out, err = cli("flash", "--port", b.port, str(img))
    assert status == 0 and "already holds" in out and "inject" not in err


# ----- firmware safety: only a SquashFS that fits is flashed ----------------

def squashfs_image(tmp_path, name="fw.sqfs", block_size="4K", seed=1,
                   blob=6000):
    """A real SquashFS 4.0 image (ovl mkimage) holding `blob` random
    bytes, as bytes."""
    from host_tools.image.mkimage import build_image
    src = tmp_path / ("src-" + name)
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "motd").write_bytes(b"firmware %d\n" % seed)
    (src / "blob").write_bytes(image_bytes(blob, seed=seed))
    out = tmp_path / name
    build_image(str(src), str(out), block_size=block_size, mtime=0)
    return out.read_bytes()


def test_cli_flash_refuses_what_is_not_a_squashfs_before_writing(board,
                                                                 tmp_path):
    b = board()
    good = squashfs_image(tmp_path)
    wrong_magic = b"sqsh" + good[4:]
    link = connect(b)       # booted: its flash file exists
    link.bye()
    link.ser.close()
    cases = {"random.bin": image_bytes(3 * ERASE, seed=12),
             "empty.bin": b"",
             "truncated.sqfs": good[:len(good) // 2],
             "wrong-magic.sqfs": wrong_magic,
             "version-3.sqfs": good[:28] + b"\x03\x00" + good[30:]}
    before = flash_file(b)
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        status, out, err = cli("flash", "--port", b.port, "--no-bootstrap",
                               "--boot-wait", "15", str(path))
        assert status == 1, (name, out, err)
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("ovl: error: "), err
        assert "SquashFS" in err and "--force" in err, (name, err)
        assert flash_file(b) == before, name
    # --force flashes it anyway (a user who knows better).
    path = tmp_path / "random.bin"
    status, out, err = cli("flash", "--port", b.port, "--no-bootstrap",
                           "--boot-wait", "15", "--force", str(path))
    assert status == 0, err
    assert flash_file(b)[:3 * ERASE] == cases["random.bin"]
    # A good image is flashed as before.
    path = tmp_path / "fw.sqfs"
    status, out, err = cli("flash", "--port", b.port, "--no-bootstrap",
                           "--boot-wait", "15", str(path))
    assert status == 0 and out.startswith("flash: wrote"), err


def tree_image(tmp_path, name, names, links=(), **options):
    """An `ovl mkimage` image of a tree holding the files `names` (bytes,
    paths below the root) and the symlinks `links` ((path, target) pairs
    of bytes), as bytes."""
    from host_tools.image.mkimage import build_image
    src = os.path.join(str(tmp_path), "src-" + name)
    for path in names:
        full = os.path.join(os.fsencode(src), path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(b"x\n")
    out = os.path.join(str(tmp_path), name)
    for link, target in links:
        os.symlink(target, os.path.join(os.fsencode(src), link))
    build_image(src, out, block_size="4K", mtime=0, **options)
    with open(out, "rb") as f:
        return f.read()


def damaged_index_image(tmp_path):
    """An image whose /big (3,000 names) has an index entry's first name
    made "a" (the reviewer's case): every name lists, but the names of
    the run before it answered ENOENT to a lookup."""
    from ovl.flash import BytesSource
    from ovl.squashfs import SquashFS
    from ovl import squashfs_rare
    image = bytearray(tree_image(
        tmp_path, "indexed.sqfs", [b"big/f%05d" % i for i in range(3000)],
        raw_metadata=True))
    fs = SquashFS(BytesSource(bytes(image)))
    loc = fs.lookup("/big").loc
    entries = list(squashfs_rare.index_entries(fs, loc))
    assert len(entries) >= 4
    # the entries lie raw after their block's 2-byte header
    at = loc.pos + 2 + loc.off
    for _, _, name in entries[:len(entries) // 2]:
        at += 12 + len(name)
    assert image[at + 12:at + 13] == b"f"
    image[at + 12] = ord("a")
    return bytes(image)


def test_check_squashfs_looks_up_by_each_directory_index_entry(tmp_path):
    """A walk never reads a directory's index, which lookups jump by: the
    check before flashing looks each index entry's name up, so a damaged
    index is refused (before: accepted, and the board's lookups of listed
    names answered ENOENT)."""
    from host_tools.cli import CliError
    from host_tools.commands.serial import check_squashfs
    with pytest.raises(CliError) as info:
        check_squashfs(damaged_index_image(tmp_path), "idx.sqfs")
    assert "idx.sqfs is not a SquashFS 4.0 image a board can mount:" \
        " directory index not sorted at b'a" in str(info.value)


def test_check_runtime_refuses_what_micropython_cannot_read(tmp_path):
    from host_tools.cli import CliError
    from host_tools.commands.serial import check_runtime, check_squashfs
    xz = check_squashfs(tree_image(tmp_path, "xz.sqfs", [b"etc/motd"],
                                   comp="xz"))
    u8 = check_squashfs(tree_image(tmp_path, "u8.sqfs",
                                   [b"etc/motd", b"etc/caf\xe9"]))
    gz = check_squashfs(tree_image(tmp_path, "gz.sqfs", [b"etc/motd"],
                                   comp="none"))
    ln = check_squashfs(tree_image(tmp_path, "ln.sqfs", [b"etc/motd"],
                                   links=[(b"etc/ln", b"caf\xe9")]))
    assert u8.not_utf8 == "/etc/caf\udce9" and gz.not_utf8 is None
    assert ln.not_utf8 is None and ln.link_not_utf8 == "/etc/ln"
    assert u8.link_not_utf8 is None
    for runtime in ("cpython 3.11.4", ""):
        for lower in (xz, u8, gz, ln):
            check_runtime(lower, runtime)
    check_runtime(gz, "micropython 1.22.0")
    with pytest.raises(CliError) as info:
        check_runtime(xz, "micropython 1.22.0")
    assert str(info.value).startswith(
        "image uses the xz compressor; the board runs micropython 1.22.0,"
        " which decompresses only gzip")
    with pytest.raises(CliError) as info:
        check_runtime(u8, "micropython 1.22.0")
    assert str(info.value).startswith(
        "image holds /etc/caf\\xe9, a name that is not UTF-8; the board runs"
        " micropython 1.22.0, which cannot list its directory")
    # (before: flashed, and the board's readlink of it failed)
    with pytest.raises(CliError) as info:
        check_runtime(ln, "micropython 1.22.0")
    assert str(info.value).startswith(
        "image holds /etc/ln, a symlink whose target is not UTF-8; the board"
        " runs micropython 1.22.0, which cannot read it")


def test_a_lower_symlink_target_that_is_not_utf8_reads_on_cpython_only(
        tmp_path, runtime):
    """What `ovl flash` and `mkimage --board` guard a MicroPython board
    against: its reader (and the overlay over it) lists and stats such a
    link, but cannot read its target."""
    image = tmp_path / "ln.sqfs"
    image.write_bytes(tree_image(tmp_path, "ln.sqfs", [b"ok"],
                                 links=[(b"link", b"caf\xe9")],
                                 raw_metadata=True))
    fails = "ok" if runtime.name == "cpython" else "BadDirectoryError"
    runtime.run_checks("lower_symlink_not_utf8.py", {
        "reader lists /": ["link", "ok"], "overlay lstat": "ok",
        "reader readlink": fails, "overlay readlink": fails},
        args=[str(image)])


def test_cli_flash_refuses_what_the_boards_runtime_cannot_read(board,
                                                               tmp_path):
    """The simulated board's agent runs under micropython: an xz image
    (MicroPython inflates gzip only) and one holding a name that is not
    UTF-8 (its reader cannot list that directory) or a symlink whose target
    is not (it cannot read it) are refused in one line before a byte is
    written, as is a damaged directory index (before: all four flashed,
    rc 0)."""
    b = board()
    link = connect(b)       # booted: its flash file exists
    runtime = link.info["runtime"]
    link.bye()
    link.ser.close()
    assert runtime.startswith("micropython")
    cases = {
        "xz.sqfs": (tree_image(tmp_path, "xz.sqfs", [b"etc/motd"],
                               comp="xz"),
                    "image uses the xz compressor; the board runs %s"
                    % runtime),
        "u8.sqfs": (tree_image(tmp_path, "u8.sqfs",
                               [b"etc/motd", b"caf\xe9"]),
                    "image holds /caf\\xe9, a name that is not UTF-8"),
        "idx.sqfs": (damaged_index_image(tmp_path),
                     "directory index not sorted"),
        "ln.sqfs": (tree_image(tmp_path, "ln.sqfs", [b"etc/motd"],
                               links=[(b"etc/ln", b"caf\xe9")]),
                    "image holds /etc/ln, a symlink whose target is not"
                    " UTF-8"),
    }
    before = flash_file(b)
    for name, (data, want) in cases.items():
        path = tmp_path / ("flash-" + name)
        path.write_bytes(data)
        status, out, err = cli("flash", "--port", b.port, "--no-bootstrap",
                               "--boot-wait", "15", str(path))
        assert status == 1, (name, out, err)
        lines = err.splitlines()
        assert len(lines) == 1 and want in lines[0], (name, err)
        assert "--force" in err, (name, err)
        assert flash_file(b) == before, name


def remote_info(link, b):
    """End the link's session; what `ovl remote info` prints."""
    link.bye()
    link.ser.close()
    status, out, err = cli("remote", "--port", b.port, "--no-bootstrap",
                           "info")
    assert status == 0, err
    return out


@pytest.mark.slow
def test_ab_boot_falls_back_when_the_newest_slot_fails(board, tmp_path):
    b = board(AB)
    link = connect(b)
    good = squashfs_image(tmp_path, "a.sqfs", seed=1)
    assert flash_image(link, good)["partition"] == "firmware_a"
    link.call(agent.REBOOT)
    link = connect(b)
    assert link.info["boot_slot"] == "firmware_a" and link.info["fs"]
    # Garbage with a valid record (what `--force` or a bad build gives):
    # generation 2 verifies by hash but does not mount.
    s = flash_image(link, image_bytes(5 * ERASE, seed=13))
    assert (s["partition"], s["generation"]) == ("firmware_b", 2)
    link.call(agent.REBOOT)
    link = connect(b)
    notes = " ".join(link.info["notes"])
    assert link.info["boot_slot"] == "firmware_a", notes
    assert link.info["fs"], notes
    assert "firmware_b" in notes and "did not mount" in notes, notes
    assert "fell back to firmware_a" in notes, notes
    # `ovl remote info` shows it to the user.
    out = remote_info(link, b)
    assert "boot slot: firmware_a" in out, out
    assert "firmware_b  ok  generation 2" in out, out
    assert "note: fell back to firmware_a: slot firmware_b" in out, out
    link = connect(b)
    # The next flash goes to the slot that failed, never the running one.
    s = flash_image(link, squashfs_image(tmp_path, "b.sqfs", seed=2))
    assert (s["partition"], s["generation"]) == ("firmware_b", 2)
    link.call(agent.REBOOT)
    link = connect(b)
    assert link.info["boot_slot"] == "firmware_b" and link.info["fs"]
    # Damage the booted slot's image on flash: it no longer verifies, and
    # boot falls back to the older slot, saying why.
    link.bye()
    link.ser.close()
    b.kill()
    with open(b.flash_path, "r+b") as f:
        f.seek(0x80000 + 100)
        byte = f.read(1)
        f.seek(0x80000 + 100)
        f.write(bytes([byte[0] ^ 0xFF]))
    b.restart()
    link = connect(b)
    notes = " ".join(link.info["notes"])
    assert link.info["boot_slot"] == "firmware_a" and link.info["fs"], notes
    assert "firmware_b" in notes and "does not verify" in notes, notes
    assert "fell back to firmware_a" in notes, notes
    # and `remote info`'s slot table says so (HELLO keeps boot's verdict)
    out = remote_info(link, b)
    assert "firmware_b  corrupt  generation 2" in out, out
    assert "firmware_a  ok  generation 1" in out, out


def test_block_size_over_the_board_limit_is_refused(tmp_path):
    from types import SimpleNamespace
    from host_tools.cli import CliError
    from host_tools.commands.serial import check_block_size, check_squashfs
    lower = check_squashfs(squashfs_image(tmp_path, block_size="64K"))
    mcu = SimpleNamespace(name="mcu", lower_block_size=16384)
    with pytest.raises(CliError, match="64 KiB blocks; board mcu reads at"
                       " most 16 KiB"):
        check_block_size(lower, mcu)
    # The boards' own limits (boards/*.json lower_block_size).
    from host_tools.boards import load_board
    check_block_size(lower, load_board("sim"))
    with pytest.raises(CliError, match="board esp32-4mb reads at most 4 KiB"):
        check_block_size(lower, load_board("esp32-4mb"))
    check_block_size(lower, SimpleNamespace(name="router",
                                            lower_block_size=131072))
    check_block_size(lower, SimpleNamespace(name="old"))    # no limit given


# ----- serial recovery: the host dies at any byte, the rerun completes ------

@pytest.mark.slow
def test_host_killed_at_random_bytes_then_rerun_completes(board, tmp_path):
    """`ovl flash` killed after a seeded random number of bytes reached the
    board (mid-frame, mostly): the same command run again must find the
    agent, finish the flash and verify it."""
    import subprocess
    import sys
    b = board()
    link = connect(b)
    link.bye()
    link.ser.close()
    rng = random.Random(20261205)
    cuts = [rng.randrange(20, 200)] + [rng.randrange(200, 100000)
                                       for _ in range(4)]

    def flash_cmd(path):
        return [sys.executable, "-m", "host_tools", "flash", "--port", b.port,
                "--no-bootstrap", "--boot-wait", "3", "--timeout", "0.5",
                str(path)]

    for i, cut in enumerate(cuts):
        data = squashfs_image(tmp_path, "fw%d.sqfs" % i, seed=100 + i,
                              blob=30 * ERASE)
        path = tmp_path / ("fw%d.sqfs" % i)
        relay = b.to_board
        relay.limit = relay.bytes + cut
        host = subprocess.Popen(flash_cmd(path), cwd=ROOT,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while relay.bytes < relay.limit and host.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.002)
        host.kill()
        host.wait()
        assert relay.bytes == relay.limit, "the flash ended before byte %d" \
            % cut
        time.sleep(0.2)     # the relay drops what the dead host had queued
        relay.limit = None
        r = subprocess.run(flash_cmd(path), cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, "cut at byte %d: %s" % (cut, r.stderr)
        assert r.stdout.startswith("flash: "), r.stdout
        assert flash_file(b)[:len(data)] == data, cut
    link = connect(b)
    status = link.call_json(agent.FW_STATUS, {"verify": True})
    slot = status["slots"][0]
    assert slot["state"] == "ok"
    assert slot["sha256"] == hashlib.sha256(data).hexdigest()
    link.bye()


def test_hello_reports_a_slot_that_fails_verification_as_corrupt(runtime):
    """HELLO's slot table agrees with boot: a slot whose image no longer
    hashes to its record is `corrupt` (boot's verdict, kept while its
    record stands), never `ok`."""
    damaged = [["firmware_a", "ok", 1], ["firmware_b", "corrupt", 2]]
    runtime.run_checks("agent_slot_states.py", {
        "after a boot [name, state, generation]": damaged,
        "boot note": True,
        "agent started without a boot": damaged,
        "after FW_STATUS without verify": damaged,
        "after FW_STATUS with verify": damaged,
        "states after FW_BEGIN of firmware_b": ["ok", "missing"],
    }, args=[AB], heap="8M")
