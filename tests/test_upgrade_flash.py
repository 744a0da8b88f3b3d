"""Firmware upgrades through `ovl flash`, single-slot (`sim`) and A/B
(`sim-ab`): over the pty against the board under micropython, and a power
cut at every flash operation of the upgrade, in process (the host's flash
flow calling the agent's handlers directly, the board booted by
board_runner.boot after each cut)."""

import io
import os

import pytest

from host_tools.serial import link as serial_link
from host_tools.commands.serial import flash_image
from host_tools.serial.link import remote_error
from ovl import agent, frames, fwslot
from ovl.agent import Agent
from ovl_sim.board_runner import boot, load_board, mount_overlay, open_sim
from ovl_sim.simflash import PowerCut
from ovl_sim.simflash import SimFlash

from conftest import ROOT
from test_upgrade import build, expected, user_edits
from test_serial_flash import board, connect, cli  # noqa: F401 (fixture)

SIM = os.path.join(ROOT, "boards", "sim.json")
AB = os.path.join(ROOT, "boards", "sim-ab.json")


# ----- in process ------------------------------------------------------------

class NullPort:
    def read(self, n):
        return b""

    def write(self, data):
        pass


class DirectLink(serial_link.Link):
    """serial_link.Link whose requests run the agent's handlers in this
    process: the host's flash flow without a line, so a sweep can cut the
    power at every flash operation in seconds."""

    def __init__(self, board, flash, fs):
        serial_link.Link.__init__(self, NullPort())
        self.agent = Agent(NullPort(), board, flash, fs=fs)
        self.info = self.agent.info()
        self.max_payload = self.agent.max_payload
        self.window = self.agent.window

    def pipeline(self, requests, on_reply=None, filler=True):
        for i, (kind, payload) in enumerate(requests):
            wire = self.agent._run(kind, 0, payload)
            rkind, _, rpayload = frames.FrameReader(
                io.BytesIO(wire).read, 1 << 20).read_frame()
            if rkind == frames.ERR:
                raise remote_error(rpayload, kind)
            if on_reply:
                on_reply(i, rkind, rpayload)


def images(root):
    trees = build(root)
    out = {}
    for v in ("v1", "v2"):
        with open(os.path.join(root, v + ".sqfs"), "rb") as f:
            out[v] = f.read()
    return trees, out


def new_board(board_json, v1):
    """A chip with v1 flashed and booted, the user's edits made."""
    board = load_board(board_json)
    flash = SimFlash(board.size, board.erase_size, board.page_size,
                     kind=board.kind)
    flash_image(DirectLink(board, flash, None), v1)
    fs, notes, _ = boot(board, flash)
    user_edits(fs)
    return board, flash


def upgrade(board, flash, image):
    """Boot, `ovl flash` the image, reboot: the overlay on the new lower."""
    fs, _, _ = boot(board, flash)
    summary = flash_image(DirectLink(board, flash, fs), image)
    fs, notes, _ = boot(board, flash)
    return fs, summary, notes


def read_all(fs):
    """Every file under /etc: (content, mode) — raises on any bad read."""
    out = {}
    for name in fs.listdir("/etc"):
        path = "/etc/" + name
        out[path] = (fs.read_bytes(path), fs.stat(path)[0] & 0o777)
    return out


def check_final(fs, trees, want,
                conflicts=(("modified", "/etc/A"), ("created", "/etc/D"))):
    files = read_all(fs)
    for path, data in want.items():
        assert files[path][0] == data, path
    assert files["/etc/C"][1] == 0o600
    from ovl import upgrade as up
    assert up.conflicts(fs) == list(conflicts)
    assert fs.fsck() == []


def check_whole(fs, trees, want):
    """A state after a cut: the user's files exactly as the user left
    them; a file the user did not change reads v1 or v2, whole."""
    files = read_all(fs)
    for path in ("/etc/A", "/etc/B", "/etc/D"):
        assert files[path][0] == want[path], path
    assert files["/etc/C"][1] == 0o600
    for name in ("C", "E", "keep"):
        assert files["/etc/" + name][0] in (
            trees["v1"]["etc/" + name], trees["v2"]["etc/" + name]), name
    assert fs.fsck() == []


@pytest.mark.slow
@pytest.mark.parametrize("board_json", [SIM, AB], ids=["sim", "sim-ab"])
def test_power_cut_at_every_flash_operation_of_an_upgrade(tmp_path,
                                                          board_json):
    trees, imgs = images(str(tmp_path))
    want = expected(trees)
    board, flash = new_board(board_json, imgs["v1"])
    snap = flash.snapshot()
    before = flash.counters()["ops"]
    fs, summary, _ = upgrade(board, flash, imgs["v2"])
    total = flash.counters()["ops"] - before
    check_final(fs, trees, want)
    assert summary["kept"] == 1 and summary["kept_bytes"] > 0
    kinds = {"agent only": 0, "old": 0, "new": 0}
    for i in range(total):
        flash.restore(snap)
        flash.arm_power_cut(i, torn="prefix" if i % 2 else "clean", seed=i)
        with pytest.raises(PowerCut):
            upgrade(board, flash, imgs["v2"])
        flash.power_on()
        fs, notes, _ = boot(board, flash)
        if fs is None:
            # single slot, cut between erasing the record and writing it
            assert board_json == SIM and "agent only" in notes[0]
            kinds["agent only"] += 1
        else:
            check_whole(fs, trees, want)
            kinds["new" if read_all(fs)["/etc/E"][0] ==
                  trees["v2"]["etc/E"] else "old"] += 1
        fs, _, _ = upgrade(board, flash, imgs["v2"])       # resume
        check_final(fs, trees, want)
    assert kinds["old"] and kinds["new"]
    assert kinds["agent only"] or board_json == AB


def test_power_cut_at_every_flash_operation_of_the_first_mount_over_a_new_slot(
        tmp_path):
    """A/B: E is edited after the flash, before the reboot, so the first
    mount over the new slot keeps it from the old one (carry_over), then
    rebases.  A cut at each of its flash operations, then a boot: always
    the same final state."""
    trees, imgs = images(str(tmp_path))
    want = expected(trees, ("/etc/A", "/etc/B", "/etc/E"))
    board, flash = new_board(AB, imgs["v1"])
    fs, _, running = boot(board, flash)
    flash_image(DirectLink(board, flash, fs), imgs["v2"])
    old = [s for s in fwslot.scan(board, flash) if s.name == running][0]
    fs, _ = mount_overlay(board, flash, old)     # still running v1
    user_edits(fs, ("/etc/E",))
    snap = flash.snapshot()
    before = flash.counters()["ops"]
    fs, _, _ = boot(board, flash)
    total = flash.counters()["ops"] - before
    conflicts = [("modified", "/etc/A"), ("created", "/etc/D"),
                 ("modified", "/etc/E")]
    check_final(fs, trees, want, conflicts)
    assert total > 10
    for i in range(total):
        flash.restore(snap)
        flash.arm_power_cut(i, torn="prefix" if i % 2 else "clean", seed=i)
        with pytest.raises(PowerCut):
            boot(board, flash)
        flash.power_on()
        fs, _, running = boot(board, flash)
        assert running != old.name
        check_final(fs, trees, want, conflicts)


def test_a_raw_overwrite_of_the_lower_gives_eio(tmp_path):
    """dd/esptool: the old bytes are gone before anything could keep them."""
    trees, imgs = images(str(tmp_path))
    board, flash = new_board(SIM, imgs["v1"])
    fs, _, _ = boot(board, flash)
    part = board.partition("firmware")
    region_v2 = imgs["v2"] + b"\xff" * (-len(imgs["v2"]) % flash.erase_size)
    # the tool writes the image and a valid record, as a flasher would
    for b in range(part.offset // flash.erase_size,
                   (part.offset + len(region_v2)) // flash.erase_size):
        flash.erase(b)
    flash.program(part.offset, region_v2)
    slots = fwslot.scan(board, flash, verify=False)
    fwslot.commit(flash, slots[0], len(imgs["v2"]),
                  __import__("hashlib").sha256(imgs["v2"]).digest(), slots)
    fs, _, _ = boot(board, flash)
    with pytest.raises(OSError) as e:
        fs.read_bytes("/etc/A")
    assert e.value.errno == 5       # EIO, never mixed bytes
    assert fs.layer_of("/etc/A") == "conflict"
    assert ("conflict", "/etc/A") in fs.diff("/etc")
    fs.revert("/etc/A")
    assert fs.read_bytes("/etc/A") == trees["v2"]["etc/A"]


@pytest.mark.parametrize("board_json", [SIM, AB], ids=["sim", "sim-ab"])
def test_files_put_over_firmware_files_are_modified_ones(tmp_path,
                                                         board_json):
    """`ovl remote put` (the host's put, the agent's rename over) of a file
    v2 keeps and of one v2 changes, then `ovl flash` v2: only the changed
    one is a conflict, 'modified', and both read as put."""
    from host_tools.commands.serial import remote_put
    trees, imgs = images(str(tmp_path))
    board, flash = new_board(board_json, imgs["v1"])
    fs, _, _ = boot(board, flash)
    link = DirectLink(board, flash, fs)
    remote_put(link, "/etc/keep", b"my keep\n")
    remote_put(link, "/etc/E", b"my E\n")
    assert ["modified", "/etc/keep"] in link.call_json(
        agent.FS_DIFF, {"path": "/etc"})["changes"]
    fs, _, _ = upgrade(board, flash, imgs["v2"])
    assert trees["v1"]["etc/keep"] == trees["v2"]["etc/keep"]
    want = expected(trees)
    want.update({"/etc/keep": b"my keep\n", "/etc/E": b"my E\n"})
    check_final(fs, trees, want, (
        ("modified", "/etc/A"), ("created", "/etc/D"), ("modified", "/etc/E")))


# ----- over the pty, the board under micropython -------------------------------

def edit_offline(flash_path, board_json, paths, slot=None):
    """The device's own software making changes (there is no serial verb
    for a 1-byte edit): the board is off, its chip is edited in process,
    over the boot slot or the named one (the slot a board still runs)."""
    board, flash = open_sim(board_json, flash_path)
    if slot is None:
        fs, _, _ = boot(board, flash)
    else:
        found = [s for s in fwslot.scan(board, flash) if s.name == slot]
        fs, _ = mount_overlay(board, flash, found[0])
    user_edits(fs, paths)
    flash.close()


@pytest.mark.slow
@pytest.mark.parametrize("board_json", [SIM, AB], ids=["sim", "sim-ab"])
def test_ovl_flash_upgrade_keeps_the_users_files(board, tmp_path,  # noqa: F811
                                                 board_json):
    trees, imgs = images(str(tmp_path))
    for v in imgs:
        (tmp_path / (v + ".img")).write_bytes(imgs[v])
    b = board(board_json)
    status, out, err = cli("flash", "--port", b.port, "--no-bootstrap",
                           "--boot-wait", "15", "--reboot",
                           str(tmp_path / "v1.img"))
    assert status == 0, err
    connect(b).bye()            # booted v1 (and formatted the upper)
    b.kill()
    edit_offline(b.flash_path, board_json, ("/etc/A", "/etc/B", "/etc/C",
                                            "/etc/D"))
    b.restart()
    status, out, err = cli("flash", "--port", b.port, "--no-bootstrap",
                           "--boot-wait", "15", str(tmp_path / "v2.img"))
    assert status == 0, err
    assert "kept 1 changed file(s) whole first" in out
    edited = ("/etc/A", "/etc/B")
    if board_json == AB:
        # still running v1 after the flash: an edit made now is kept by
        # the first mount over the new slot, from the old one
        b.kill()
        edit_offline(b.flash_path, board_json, ("/etc/E",), "firmware_a")
        edited += ("/etc/E",)
    b.restart()
    want = expected(trees, edited)
    for path, data in want.items():
        status, out, err = cli("remote", "--port", b.port, "--no-bootstrap",
                               "--boot-wait", "15", "get", path,
                               str(tmp_path / "got"))
        assert status == 0, err
        assert (tmp_path / "got").read_bytes() == data, path
    link = connect(b)
    assert link.call_json(agent.FS_STAT, {"path": "/etc/C"})["mode"] & 0o777 \
        == 0o600
    link.bye()
    link.ser.close()
    # both sides: the firmware's own A beside the user's
    status, out, err = cli("remote", "--port", b.port, "--no-bootstrap",
                           "get", "/etc/A", str(tmp_path / "got"),
                           "--layer", "lower")
    assert status == 0, err
    assert (tmp_path / "got").read_bytes() == trees["v2"]["etc/A"]
    status, out, err = cli("remote", "--port", b.port, "--no-bootstrap",
                           "conflicts")
    assert status == 0, err
    lines = [line.split() for line in out.splitlines()]
    want_conflicts = [["modified", "/etc/A"], ["created", "/etc/D"]]
    if board_json == AB:
        want_conflicts.append(["modified", "/etc/E"])
    assert lines == want_conflicts


def small_upper(tmp_path, board_json):
    """The board with a 256 KiB upper, as a JSON file."""
    import json
    with open(board_json) as f:
        small = json.load(f)
    for p in small["partitions"]:
        if p["type"] == "ovl":
            p["size"] = "0x40000"
    path = tmp_path / "small.json"
    path.write_text(json.dumps(small))
    return str(path)


def fill(fs):
    """Append to one file until not even a byte more fits."""
    import random
    rng = random.Random(3)
    size = 16384
    while size:
        try:
            with fs.open("/fill", "ab") as f:
                f.write(rng.randbytes(size))
        except OSError as e:
            assert e.errno == 28
            size //= 2


@pytest.mark.slow
def test_a_full_upper_stops_the_flash_before_any_firmware_block(tmp_path):
    """Keeping a file needs room in the upper: without it the flash stops
    with ENOSPC, and the board still boots the old firmware with every
    file as the user left it."""
    trees, imgs = images(str(tmp_path))
    want = expected(trees)
    board, flash = new_board(small_upper(tmp_path, SIM), imgs["v1"])
    fs, _, _ = boot(board, flash)
    fill(fs)
    part = board.partition("firmware")
    before = flash.read(part.offset, part.size)
    with pytest.raises(OSError) as e:
        flash_image(DirectLink(board, flash, fs), imgs["v2"])
    assert e.value.errno == 28 and "upgrade-keep" in str(e.value)
    assert flash.read(part.offset, part.size) == before
    fs, notes, _ = boot(board, flash)
    assert fs is not None
    for path in ("/etc/A", "/etc/B"):
        assert fs.read_bytes(path) == want[path]


@pytest.mark.slow
def test_a_full_upper_at_the_first_mount_over_a_new_slot(tmp_path):
    """A/B, the new slot written without keeping (an agent with no overlay
    mounted) and no room to keep A from the old slot at boot: the board
    comes up, A is a conflict (EIO), B is the user's."""
    trees, imgs = images(str(tmp_path))
    want = expected(trees)
    board, flash = new_board(small_upper(tmp_path, AB), imgs["v1"])
    fs, _, _ = boot(board, flash)
    fill(fs)
    flash_image(DirectLink(board, flash, None), imgs["v2"])
    fs, notes, running = boot(board, flash)
    assert running == "firmware_b"
    with pytest.raises(OSError) as e:
        fs.read_bytes("/etc/A")
    assert e.value.errno == 5
    assert fs.read_bytes("/etc/B") == want["/etc/B"]
    from ovl import upgrade as up
    assert ("conflict", "/etc/A") in up.conflicts(fs)


# ----- a flash with no overlay mounted ----------------------------------------

def mid_image(tmp_path, trees):
    """v1 with one more file: its /etc/A and /etc/B are v1's, so a flash
    of it keeps none of the user's partial files (none needs it)."""
    from host_tools.image.mkimage import build_image
    from test_upgrade import MTIME
    top = tmp_path / "mid"
    for rel, data in dict(trees["v1"], **{"etc/F": b"f\n"}).items():
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_bytes(data)
    build_image(str(top), str(tmp_path / "mid.sqfs"), mtime=MTIME)
    return (tmp_path / "mid.sqfs").read_bytes()


class KilledLink(DirectLink):
    """A flash killed (the host gone) right after its first block write."""

    def pipeline(self, requests, on_reply=None, filler=True):
        for i, (kind, payload) in enumerate(requests):
            DirectLink.pipeline(self, [(kind, payload)],
                                lambda _, k, p: on_reply and
                                on_reply(i, k, p), filler)
            if kind == frames.DATA:
                raise serial_link.LinkError("board stopped answering")


def test_a_flash_without_the_overlay_refuses_to_lose_the_users_files(
        tmp_path):
    """`ovl flash` of an image without --reboot, then of another one: the
    second finds no overlay mounted (the first stopped it), so it cannot
    keep the user's partial files whole; it refuses rather than erase the
    firmware bytes they read, until the board reboots onto the overlay."""
    from host_tools.cli import CliError
    trees, imgs = images(str(tmp_path))
    mid = mid_image(tmp_path, trees)
    board, flash = new_board(SIM, imgs["v1"])
    fs, _, _ = boot(board, flash)
    flash_image(DirectLink(board, flash, fs), mid)     # no reboot
    with pytest.raises(CliError) as e:
        flash_image(DirectLink(board, flash, None), imgs["v2"])
    assert "no overlay mounted" in str(e.value) and \
        "--reboot" in str(e.value) and "--force" in str(e.value)
    fs, notes, _ = boot(board, flash)       # the reboot: mid, the overlay
    assert fs.read_bytes("/etc/A") == expected(trees)["/etc/A"]
    flash_image(DirectLink(board, flash, fs), imgs["v2"])
    fs, _, _ = boot(board, flash)
    check_final(fs, trees, expected(trees))


def test_a_killed_flash_resumes_but_another_image_is_refused(tmp_path):
    """A flash killed after its first block: the board boots agent-only.
    Rerunning it resumes (the user's files were kept for that image before
    the first erase); a different image would erase what they read."""
    from host_tools.cli import CliError
    trees, imgs = images(str(tmp_path))
    mid = mid_image(tmp_path, trees)
    board, flash = new_board(SIM, imgs["v1"])
    fs, _, _ = boot(board, flash)
    with pytest.raises(serial_link.LinkError):
        flash_image(KilledLink(board, flash, fs), mid)
    fs, notes, _ = boot(board, flash)
    assert fs is None and "agent only" in notes[0]
    with pytest.raises(CliError) as e:
        flash_image(DirectLink(board, flash, None), imgs["v2"])
    assert "no overlay mounted" in str(e.value)
    summary = flash_image(DirectLink(board, flash, None), mid)
    assert summary["generation"] is not None
    fs, _, _ = boot(board, flash)
    assert fs.read_bytes("/etc/A") == expected(trees)["/etc/A"]
    fs, _, _ = upgrade(board, flash, imgs["v2"])
    check_final(fs, trees, expected(trees))


def test_force_flashes_without_the_overlay_and_the_file_is_a_conflict(
        tmp_path):
    trees, imgs = images(str(tmp_path))
    mid = mid_image(tmp_path, trees)
    board, flash = new_board(SIM, imgs["v1"])
    fs, _, _ = boot(board, flash)
    flash_image(DirectLink(board, flash, fs), mid)
    flash_image(DirectLink(board, flash, None), imgs["v2"], force=True)
    fs, _, _ = boot(board, flash)
    assert fs.layer_of("/etc/A") == "conflict"


def test_remote_conflicts_lists_every_conflict_as_fs_conflicts_does(
        tmp_path, capsys):
    """More conflicts than one reply holds: `ovl remote conflicts` pages
    through them all (as `remote diff` does), no `... (more)`."""
    from host_tools.commands import fs_format as fmt
    from host_tools.commands.serial import remote_verb
    from host_tools.image.mkimage import build_image
    from ovl import upgrade as up
    names = ["service_%03d.conf" % i for i in range(150)]
    for v in ("v1", "v2"):
        top = tmp_path / v / "etc"
        top.mkdir(parents=True)
        for name in names:
            (top / name).write_bytes(b"option %s %s\n" % (name.encode(),
                                                          v.encode()))
        build_image(str(tmp_path / v), str(tmp_path / (v + ".sqfs")),
                    mtime=1000)
    imgs = {v: (tmp_path / (v + ".sqfs")).read_bytes() for v in ("v1", "v2")}
    board = load_board(SIM)
    flash = SimFlash(board.size, board.erase_size, board.page_size,
                     kind=board.kind)
    flash_image(DirectLink(board, flash, None), imgs["v1"])
    fs, _, _ = boot(board, flash)
    for name in names:
        fs.write_bytes("/etc/" + name, b"mine\n")
    fs.sync()
    fs, _, _ = upgrade(board, flash, imgs["v2"])
    want = up.conflicts(fs)
    assert len(want) == 150
    capsys.readouterr()
    assert remote_verb(DirectLink(board, flash, fs), "conflicts", [],
                       None) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == fmt.as_text(
        "conflicts", fmt.conflict_records(want)).splitlines()
