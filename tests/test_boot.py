"""ovl.boot under the real micropython: the boot a real board runs from
boot.py (ovl.boot.main) on a chip in a file, with stand-ins for the port
modules a real board has (machine.Pin, esp32.Partition, rp2.Flash)
implementing their documented interfaces.  Normal boot with the merged
tree mounted at / (a module of the firmware imports), safe mode (pin or
flag), factory reset at boot keeping the board's keep list, an upper that
does not mount (the firmware alone, the agent answering with the reason),
and a power cut at every flash operation of a boot-time reset."""

import json
import os
import subprocess

import pytest

from host_tools.commands.install import board_module
from host_tools.image.mkimage import build_image
from ovl import agent, frames, fwslot
from ovl.board import Board, BoardError
from ovl_sim.simflash import SimFlash

from conftest import ROOT, FIRMWARE, find_micropython

SIM = os.path.join(ROOT, "boards", "sim.json")
KEEP = ["/etc/keep"]


def sim_board_dict(**boot):
    with open(SIM) as f:
        d = json.load(f)
    d["keep"] = KEEP
    d["boot"] = dict({"pin": 4, "active": 0, "reset_hold": 5}, **boot)
    return d


def make_image(tmp_path):
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "hello.py").write_text("X = 42\n")
    (tree / "main.py").write_text("print('user code ran')\n")
    (tree / "etc" / "keep").write_text("firmware keep\n")
    (tree / "etc" / "other").write_text("firmware other\n")
    out = str(tmp_path / "fw.sqfs")
    build_image(str(tree), out, block_size="4K", mtime=1)
    with open(out, "rb") as f:
        return f.read()


def flash_chip(board, image, path=None):
    """A blank chip with `image` in the board's first slot, recorded."""
    flash = SimFlash(board.size, board.erase_size, board.page_size)
    slot = fwslot.slots(board, flash)[0]
    for at in range(0, len(image), board.page_size):
        flash.program(slot.offset + at, image[at:at + board.page_size])
    import hashlib
    fwslot.commit(flash, slot, len(image), hashlib.sha256(image).digest(),
                  [slot])
    if path:
        with open(path, "wb") as f:
            f.write(flash.mem)
    return flash


@pytest.fixture
def chip(tmp_path):
    """A directory standing in for a board's own filesystem: ovl_board.py
    naming the chip file, and the chip with the firmware flashed."""
    d = sim_board_dict()
    board = Board.from_dict(d)
    image = make_image(tmp_path)
    chip = str(tmp_path / "chip.bin")
    flash_chip(board, image, chip)
    with open(tmp_path / "ovl_board.py", "w") as f:
        f.write(board_module(board, chip))     # as `ovl install` writes it
    return tmp_path


# A stand-in for the port's machine module: Pin(n, mode, pull).value()
# reads the button, held for HOLD_MS of a virtual clock that ovl.boot's
# sampling loop advances (no real waiting).
PRELUDE = r"""
import sys
sys.path.insert(0, %(firmware)r)
HOLD_MS = %(hold)d
NOW = [0]
class Pin:
    IN = 1
    PULL_UP = 2
    PULL_DOWN = 3
    def __init__(self, n, mode=None, pull=None):
        assert n == 4 and mode == Pin.IN and pull == Pin.PULL_UP, (n, mode, pull)
    def value(self):
        return 0 if NOW[0] < HOLD_MS else 1
class machine:
    pass
machine.Pin = Pin
sys.modules["machine"] = machine
import ovl.boot
def _sleep(ms):
    NOW[0] += ms
ovl.boot.ticks_ms = lambda: NOW[0]
ovl.boot.sleep_ms = _sleep
"""


def run_boot(chip, body, hold_ms=0, stdin=b"", check=True):
    """Run ovl.boot.main() and then `body` under micropython in the board
    directory; returns (stdout bytes, stderr text)."""
    script = PRELUDE % {"firmware": FIRMWARE, "hold": hold_ms} + body
    proc = subprocess.run([find_micropython(), "-X", "heapsize=4m", "-c",
                           script], input=stdin, capture_output=True,
                          cwd=str(chip), timeout=120)
    if check and proc.returncode:
        pytest.fail("micropython failed:\n%s%s" % (
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace")), pytrace=False)
    return proc.stdout, proc.stderr.decode("utf-8", "replace")


NORMAL = r"""
b = ovl.boot.main(serve=False)
import os, vfs
print("notes:", "; ".join(b.notes))
print("safe:", b.safe, "mounted:", b.mounted_at)
print("mounts:", [w for o, w in vfs.mount()])
import hello
print("import:", hello.X)
print("read:", open("/etc/other").read().strip())
print("main.py:", "main.py" in os.listdir("/"))
with open("/etc/other", "w") as f:
    f.write("user other\n")
with open("/etc/keep", "w") as f:
    f.write("user keep\n")
with open("/new", "w") as f:
    f.write("new\n")
b.fs.sync()
print("layer:", b.fs.layer_of("/etc/other"))
"""


def lines(out):
    return dict(line.split(": ", 1) for line in out.decode().splitlines()
                if ": " in line)


def test_normal_boot_mounts_the_tree_at_root_and_imports_from_it(chip):
    out = lines(run_boot(chip, NORMAL)[0])
    assert out["notes"].startswith("booted slot firmware (generation 1); "
                                   "formatted the blank upper partition upper")
    assert out["notes"].endswith("mounted at /")
    assert out["safe"] == "False mounted: /"
    # the port's own filesystem moved aside, the overlay took "/"
    assert out["mounts"] == "['/flash', '/']"
    assert out["import"] == "42"
    assert out["read"] == "firmware other"
    assert out["main.py"] == "True"
    assert out["layer"] == "copied-up"
    # the next boot sees the writes: the upper is not formatted again
    out = lines(run_boot(chip, NORMAL.replace("import hello\n",
                                              "import hello\nprint('x')\n"))[0])
    assert out["notes"] == "booted slot firmware (generation 1); mounted at /"
    assert out["read"] == "user other"


SAFE = r"""
b = ovl.boot.main(serve=False)
import os
print("notes:", "; ".join(b.notes))
print("safe:", b.safe)
print("other:", open("/etc/other").read().strip())
print("keep:", open("/etc/keep").read().strip())
print("new:", "new" in os.listdir("/"))
print("main.py:", "main.py" in os.listdir("/"))
try:
    os.stat("/main.py")
    print("stat main.py: found")
except OSError:
    print("stat main.py: hidden")
try:
    open("/x", "w")
    print("write: allowed")
except OSError as e:
    print("write: refused", e.errno)
print("agent fs:", b.fs is not None and b.fs.read_bytes("/etc/other"))
"""


# What gc.threshold() says when the boot starts mounting (bring_up), and
# after the boot: a board's gc_threshold is set before the mount allocates.
THRESHOLD = r"""
import gc
_bring_up = ovl.boot.bring_up
def bring_up(*args):
    print("at mount:", gc.threshold())
    return _bring_up(*args)
ovl.boot.bring_up = bring_up
b = ovl.boot.main(serve=False)
print("after boot:", gc.threshold())
print("mounted:", b.mounted_at)
"""


def test_boot_sets_the_boards_gc_threshold_before_mounting(chip):
    # the simulated board names none: the runtime's default (-1) stays
    out = lines(run_boot(chip, THRESHOLD)[0])
    assert out == {"at mount": "-1", "after boot": "-1", "mounted": "/"}
    d = sim_board_dict()
    d["gc_threshold"] = 16384
    board = Board.from_dict(d)
    with open(chip / "ovl_board.py", "w") as f:
        f.write(board_module(board, str(chip / "chip.bin")))
    out = lines(run_boot(chip, THRESHOLD)[0])
    assert out == {"at mount": "16384", "after boot": "16384",
                   "mounted": "/"}


# The store option a boot mounts the upper with, and whether the
# checkpoint code came in with the mount.
CHECKPOINTS = r"""
import sys
b = ovl.boot.main(serve=False)
print("mounted:", b.mounted_at)
print("checkpoints:", b.fs.store.checkpoints)
print("loaded:", "ovl.store.checkpoint" in sys.modules)
"""


def test_boot_mounts_the_store_with_the_boards_checkpoint_option(chip):
    # the simulated board names none: checkpoints on, the loader tried
    out = lines(run_boot(chip, CHECKPOINTS)[0])
    assert out == {"mounted": "/", "checkpoints": "True", "loaded": "True"}
    d = sim_board_dict()
    d["store_checkpoints"] = False      # as the MCU boards
    board = Board.from_dict(d)
    with open(chip / "ovl_board.py", "w") as f:
        f.write(board_module(board, str(chip / "chip.bin")))
    out = lines(run_boot(chip, CHECKPOINTS)[0])
    assert out == {"mounted": "/", "checkpoints": "False", "loaded": "False"}


def test_safe_mode_by_pin_shows_the_firmware_alone_and_hides_main(chip):
    run_boot(chip, NORMAL)                  # the user's changes
    out = lines(run_boot(chip, SAFE, hold_ms=1200)[0])
    assert "safe mode (button held 1.2 s): firmware read-only, user code" \
        " skipped; the agent serves the overlay for repairs" in out["notes"]
    assert out["safe"] == "True"
    assert out["other"] == "firmware other"
    assert out["keep"] == "firmware keep"
    assert out["new"] == "False"
    assert out["main.py"] == "False"
    assert out["stat main.py"] == "hidden"
    assert out["write"] == "refused 30"     # EROFS
    # the agent still has the user's overlay to repair it
    assert out["agent fs"] == "b'user other\\n'"
    # nothing was reset: a normal boot shows the user's tree again
    out = lines(run_boot(chip, NORMAL)[0])
    assert out["read"] == "user other"


def test_safe_mode_by_flag_file_is_one_shot(chip):
    (chip / "ovl_safe").write_text("")
    out = lines(run_boot(chip, SAFE)[0])
    assert "safe mode (flag file ovl_safe)" in out["notes"]
    assert not (chip / "ovl_safe").exists()
    out = lines(run_boot(chip, SAFE)[0])
    assert out["safe"] == "False"


KEEP_CHECK = r"""
b = ovl.boot.main(serve=False)
import os
print("notes:", "; ".join(b.notes))
print("keep:", open("/etc/keep").read().strip())
print("other:", open("/etc/other").read().strip())
print("new:", "new" in os.listdir("/"))
"""


def test_long_hold_resets_at_boot_keeping_the_keep_list(chip):
    run_boot(chip, NORMAL)
    out = lines(run_boot(chip, SAFE, hold_ms=60000)[0])
    assert "button held 5.0 s, past 5 s: factory reset" in out["notes"]
    assert "factory reset at boot: kept /etc/keep" in out["notes"]
    # the agent's overlay is the reset one: kept path kept, the rest gone
    assert out["agent fs"] == "b'firmware other\\n'"
    # the reset was done at that boot, in safe mode; the next one is normal
    out = lines(run_boot(chip, KEEP_CHECK)[0])
    assert out["notes"] == "booted slot firmware (generation 1); mounted at /"
    assert out["other"] == "firmware other"

    assert out["keep"] == "user keep"
    assert out["new"] == "False"


def hello_frames(n=1):
    return b"".join(frames.END_B * 4 + frames.encode(agent.HELLO, 7 + i)
                    for i in range(n))


def agent_info(stdout):
    reader = frames.FrameReader(__import__("io").BytesIO(stdout).read,
                                1 << 20)
    while True:
        f = reader.read_frame()
        if f is None:
            if reader.eof:
                raise AssertionError("no HELLO reply in %r" % stdout[-200:])
            continue
        if f[0] == frames.RESP:
            return json.loads(f[2])


AGENT = r"""
b = ovl.boot.main(serve=False)
import ovl.agent
ovl.agent.start()
"""


@pytest.mark.slow
def test_broken_upper_boots_on_the_firmware_with_the_agent_answering(chip):
    board = Board.from_dict(sim_board_dict())
    upper = board.first_of_type("ovl")
    run_boot(chip, NORMAL)
    with open(chip / "chip.bin", "r+b") as f:     # garbage over the upper
        for b in range(upper.size // board.erase_size):
            f.seek(upper.offset + b * board.erase_size)
            f.write(bytes((i * 7 + b) & 0xFF for i in range(64)))
    out = lines(run_boot(chip, NORMAL.split("import hello")[0] + r"""
import hello
print("import:", hello.X)
print("read:", open("/etc/other").read().strip())
""")[0])
    assert "overlay did not mount" in out["notes"]
    assert "running on the firmware alone (read-only)" in out["notes"]
    assert out["import"] == "42"
    assert out["read"] == "firmware other"
    stdout, _ = run_boot(chip, AGENT, stdin=hello_frames())
    info = agent_info(stdout)
    assert info["fs"] is False
    assert info["fs_error"].startswith("overlay did not mount")
    assert info["boot_slot"] == "firmware"
    assert any("firmware alone" in n for n in info["notes"])
    # a long hold formats an upper that does not mount: back to normal
    out = lines(run_boot(chip, SAFE, hold_ms=9000)[0])
    assert "the upper did not mount" in out["notes"]
    out = lines(run_boot(chip, NORMAL)[0])
    assert out["read"] == "firmware other" and out["layer"] == "copied-up"


def test_agent_after_a_normal_boot_serves_the_booted_overlay(chip):
    run_boot(chip, NORMAL)
    stdout, _ = run_boot(chip, AGENT, stdin=hello_frames())
    info = agent_info(stdout)
    assert info["fs"] is True
    assert info["notes"] == ["booted slot firmware (generation 1)",
                             "mounted at /"]


def test_safe_mode_serves_the_agent_from_boot(chip):
    """boot.py in safe mode does not return (main.py would run): it serves
    the agent on the console, with the overlay for repairs."""
    run_boot(chip, NORMAL)
    stdout, _ = run_boot(chip, "ovl.boot.main()\nprint('returned')\n",
                         hold_ms=800, stdin=hello_frames())
    info = agent_info(stdout)
    assert info["fs"] is True
    assert info["notes"][-2].startswith("safe mode (button held 0.8 s)")
    assert info["notes"][-1] == "mounted at / read-only"
    # the agent ran until the console closed, only then did main() return
    assert stdout.rstrip().endswith(b"returned")


def test_a_board_module_that_fails_leaves_the_repl(chip):
    (chip / "ovl_board.py").write_text("BOARD = {'name': 'x'}\n")
    out, _ = run_boot(chip, "print(ovl.boot.main())\n")
    assert out.decode().splitlines() == [
        "ovl.boot: BoardError: board x: missing 'flash' geometry; the board"
        " runs without ovl", "None"]


def test_no_verified_slot_is_agent_only(chip):
    board = Board.from_dict(sim_board_dict())
    slot = fwslot.slots(board, SimFlash(board.size, board.erase_size,
                                        board.page_size))[0]
    with open(chip / "chip.bin", "r+b") as f:     # damage the image
        f.seek(slot.offset + 100)
        f.write(b"\x00" * 16)
    stdout, _ = run_boot(chip, AGENT, stdin=hello_frames())
    info = agent_info(stdout)
    assert info["fs"] is False
    # HELLO reports the slot as boot found it
    assert [s["state"] for s in info["slots"]] == ["corrupt"]
    assert info["notes"][0].startswith("agent only: no firmware slot")


# ----- port adapters against stand-ins of esp32 and rp2 -------------------------

PORTS = r"""
import sys
sys.path.insert(0, %(firmware)r)
from ovl.board import Board
import ovl.boot
BOARD = Board.from_dict(%(board)r)
CHIP = bytearray(open(%(chip)r, "rb").read())
BS = 4096

class BlockDev:
    # the extended block protocol over CHIP[start:start+size]: readblocks
    # and writeblocks with a byte offset, ioctl 4/5 geometry, 6 erase
    def __init__(self, start, size):
        self.start, self.size = start, size
    def readblocks(self, n, buf, off=0):
        a = self.start + n * BS + off
        assert a + len(buf) <= self.start + self.size
        buf[:] = CHIP[a:a + len(buf)]
    def writeblocks(self, n, buf, off=None):
        assert off is not None, "simple protocol used"
        a = self.start + n * BS + off
        assert a + len(buf) <= self.start + self.size
        for i in range(len(buf)):
            CHIP[a + i] &= buf[i]
    def ioctl(self, op, arg):
        if op == 4: return self.size // BS
        if op == 5: return BS
        if op == 6:
            a = self.start + arg * BS
            CHIP[a:a + BS] = b"\xff" * BS
            return 0
        return 0

class Partition(BlockDev):
    TYPE_APP = 0
    TYPE_DATA = 1
    TABLE = {}
    def __init__(self, label, start, size):
        BlockDev.__init__(self, start, size)
        self.label = label
    @classmethod
    def find(cls, type=TYPE_APP, subtype=0xff, label=None, block_size=4096):
        return [p for p in cls.TABLE.values()
                if type == cls.TYPE_DATA and p.label == label]

class esp32:
    pass
esp32.Partition = Partition
for p in BOARD.partitions:
    if p.type in ("squashfs", "ovl"):
        Partition.TABLE[p.name] = Partition(p.name, p.offset, p.size)

class rp2:
    pass
rp2.Flash = lambda: BlockDev(%(rp2_base)d, BOARD.size - %(rp2_base)d)

sys.modules["esp32"] = esp32
sys.modules["rp2"] = rp2
for port in ("esp32", "rp2"):
    flash = ovl.boot.open_flash(BOARD, platform=port)
    b = ovl.boot.bring_up(BOARD, flash)
    b.fs.write_bytes("/etc/" + port, port.encode())
    b.fs.sync()
    print(port, "; ".join(b.notes), b.fs.read_bytes("/etc/other"))
b = ovl.boot.bring_up(BOARD, ovl.boot.open_flash(BOARD, platform="esp32"))
print("both", sorted(n for n in b.fs.listdir("/etc")))
del Partition.TABLE["upper"]
try:
    ovl.boot.open_flash(BOARD, platform="esp32")
except ovl.boot.BootError as e:
    print("missing", e)
"""


def test_esp32_and_rp2_adapters_against_stand_ins(tmp_path, mpy):
    d = sim_board_dict()
    board = Board.from_dict(d)
    chip = str(tmp_path / "chip.bin")
    flash_chip(board, make_image(tmp_path), chip)
    out = mpy(PORTS % {"firmware": FIRMWARE, "board": d, "chip": chip,
                       "rp2_base": 0}, heap="16m").splitlines()
    assert out[0] == ("esp32 booted slot firmware (generation 1); formatted"
                      " the blank upper partition upper b'firmware other\\n'")
    assert out[1] == "rp2 booted slot firmware (generation 1) " \
                     "b'firmware other\\n'"
    assert out[2] == "both ['esp32', 'keep', 'other', 'rp2']"
    assert out[3].startswith("missing the partition table has no data"
                             " partition labelled 'upper'")


def test_rp2_window_must_hold_the_partitions(tmp_path, mpy):
    d = sim_board_dict()
    board = Board.from_dict(d)
    chip = str(tmp_path / "chip.bin")
    flash_chip(board, make_image(tmp_path), chip)
    script = (PORTS % {"firmware": FIRMWARE, "board": d, "chip": chip,
                       "rp2_base": 0x1000}).split("for port in")[0] + r"""
try:
    ovl.boot.open_flash(BOARD, platform="rp2")
except ovl.boot.BootError as e:
    print(e)
"""
    assert mpy(script, heap="16m").strip() == (
        "partition firmware starts at 0x0, below the storage area"
        " rp2.Flash() gives (0x1000..0x200000)")


# ----- power cuts during a boot-time reset ------------------------------------

def test_power_cut_at_every_flash_operation_of_a_boot_time_reset(tmp_path):
    """In process (the same ovl.boot code, CPython): a cut at every program
    and erase of a long-hold boot; every state then boots normally to a
    mounted overlay, holding either the user's tree or the reset one (a
    cut after the request finishes the reset at that boot)."""
    from ovl.boot import bring_up
    board = Board.from_dict(sim_board_dict())
    flash = flash_chip(board, make_image(tmp_path))
    b = bring_up(board, flash)
    for path, data in (("/etc/keep", b"user keep\n"),
                       ("/etc/other", b"user other\n"), ("/new", b"n")):
        b.fs.write_bytes(path, data)
    b.fs.sync()
    before = flash.snapshot()
    user = (b"user keep\n", b"user other\n", True)
    reset = (b"user keep\n", b"firmware other\n", False)
    seen = set()
    n = 0
    while True:
        flash.restore(before)
        flash.arm_power_cut(n, torn="clean" if n % 2 else "prefix", seed=n)
        try:
            bring_up(board, flash, held=6000)
            flash.disarm()
            break
        except Exception as e:      # PowerCut: not an OSError on purpose
            assert type(e).__name__ == "PowerCut", e
        flash.power_on()
        after = bring_up(board, flash)
        assert after.fs is not None, after.notes
        fs = after.fs
        state = (fs.read_bytes("/etc/keep"), fs.read_bytes("/etc/other"),
                 "new" in fs.listdir("/"))
        assert state in (user, reset), (n, state)
        assert fs.fsck() == []
        seen.add(state)
        n += 1
    assert n >= 2 and seen == {user, reset}, (n, seen)


def test_board_boot_options_are_checked():
    d = sim_board_dict(pin="x")
    with pytest.raises(BoardError, match="GPIO number"):
        Board.from_dict(d)
    with pytest.raises(BoardError, match="reset_hold"):
        Board.from_dict(sim_board_dict(reset_hold=0))
    with pytest.raises(BoardError, match="absolute"):
        Board.from_dict(sim_board_dict(mount="flash"))
    assert Board.from_dict(sim_board_dict(pin="bootsel")).boot["pin"] == \
        "bootsel"


# ----- the simulator boots through the same code ----------------------------------

@pytest.mark.slow
def test_simulated_board_holds_its_pin_through_ovl_boot(chip):
    """board_runner (what `ovl sim` runs) with --hold-pin: a short hold is
    safe mode, a long one a factory reset keeping the keep list."""
    run_boot(chip, NORMAL)
    board_json = str(chip / "board.json")
    with open(board_json, "w") as f:
        json.dump(sim_board_dict(), f)
    runner = os.path.join(FIRMWARE, "ovl_sim", "board_runner.py")

    def hello(*extra):
        proc = subprocess.run([find_micropython(), "-X", "heapsize=24M",
                               runner, board_json,
                               str(chip / "chip.bin")] + list(extra),
                              input=hello_frames(), capture_output=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        return agent_info(proc.stdout)

    info = hello("--hold-pin", "2")
    assert info["fs"] is True
    assert "safe mode (button held 2.0 s)" in info["notes"][-1]
    info = hello("--safe")
    assert "safe mode (--safe)" in info["notes"][-1]
    info = hello("--hold-pin", "30")
    assert "factory reset at boot: kept /etc/keep" in info["notes"]
    out = lines(run_boot(chip, KEEP_CHECK)[0])
    assert (out["keep"], out["other"]) == ("user keep", "firmware other")


def test_a_mount_short_of_heap_is_a_note_not_a_crash(tmp_path, monkeypatch):
    # A board whose heap runs out while the upper mounts (a refusal's
    # message is made in a module imported at the raise, too) boots on
    # the firmware alone with the reason noted, as for an upper that does
    # not mount, rather than failing boot.py
    import ovl.boot
    import ovl.overlay
    board = Board.from_dict(sim_board_dict())
    flash = SimFlash(board.size, board.erase_size, board.page_size)
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "hello.py").write_text("X = 42\n")
    build_image(str(tree), str(tmp_path / "fw.sqfs"), block_size="4K",
                mtime=1)
    slot = fwslot.slots(board, flash)[0]
    data = (tmp_path / "fw.sqfs").read_bytes()
    for at in range(0, len(data), 4096):
        flash.program(slot.offset + at, data[at:at + 4096])

    def short_of_heap(*args, **opts):
        raise MemoryError("memory allocation failed, allocating 4096 bytes")
    monkeypatch.setattr(ovl.overlay, "mount", short_of_heap)
    fs, note = ovl.boot.mount_overlay(board, flash, slot)
    assert fs is None
    assert note.endswith("overlay did not mount: memory allocation failed,"
                         " allocating 4096 bytes")
