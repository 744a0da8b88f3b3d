"""`ovl install` against the MicroPython unix port's REPL on a pty, standing
in for a board that runs stock MicroPython: dry run, install, idempotent
rerun, an install killed mid-way and rerun (with and without the board
losing power too), the ROMFS route with a stand-in romfs partition, and
then the board booting from what was installed: `ovl flash` through the
installed agent, boot.py, the overlay at / with a firmware module
importable."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import serial

from host_tools.commands import install as cmd_install
from host_tools.boards import load_board
from host_tools.image.mkimage import build_image
from host_tools.bench.install import ReplBoard

from conftest import ROOT, find_micropython

SIM = os.path.join(ROOT, "boards", "sim.json")


@pytest.fixture
def repl(tmp_path):
    work = tmp_path / "board"
    work.mkdir()
    b = ReplBoard(SIM, str(work / "unused.bin"), mode="repl",
                  workdir=str(work), heap="8M")
    b.start()
    yield b
    b.close()


def ovl(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "host_tools"] + list(args),
                          capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def install(repl, *extra):
    return ovl("install", "--port", repl.port, "--board", "sim", "--chip",
               "chip.bin", *extra)


def expected_files(board_dir):
    """{path: sha256} of what a complete .mpy install holds."""
    import tempfile
    with tempfile.TemporaryDirectory() as build:
        files = cmd_install.package_files("mpy", build)
    out = {p: hashlib.sha256(d).hexdigest() for p, d in files}
    out["ovl_board.py"] = hashlib.sha256(cmd_install.board_module(
        load_board("sim"), "chip.bin").encode()).hexdigest()
    out["boot.py"] = hashlib.sha256(cmd_install.BOOT_PY.encode()).hexdigest()
    return out


def on_board(board_dir):
    out = {}
    for folder, _, files in os.walk(board_dir):
        for f in files:
            full = os.path.join(folder, f)
            rel = os.path.relpath(full, board_dir)
            if rel.endswith((".log", ".bin")):
                continue
            with open(full, "rb") as fh:
                out[rel] = hashlib.sha256(fh.read()).hexdigest()
    return out


def test_dry_run_lists_everything_and_writes_nothing(repl):
    work = repl.workdir
    r = install(repl, "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("install: board sim on %s (linux, MicroPython"
                               % repl.port)
    assert lines[0].endswith("the package as .mpy files")
    assert lines[1] == "  create  chip file chip.bin (2048 KiB, erased)"
    listed = [line.split()[1] for line in lines[2:-1]]
    assert listed == sorted(expected_files(work), key=lambda p: (
        p == "boot.py", p == "ovl_board.py", p))
    assert all(line.split()[0] == "new" for line in lines[2:-1])
    assert lines[-1] == "install: dry run: would write %d file(s); nothing" \
                        " written" % len(expected_files(work))
    assert sorted(os.listdir(work)) == ["board-stderr.log"]


TRACEBACK = r"""
import sys, ovl.squashfs
try:
    ovl.squashfs.SquashFS(None)
except Exception as e:
    sys.print_exception(e)
"""


def test_mpy_files_keep_line_numbers_only_when_asked(repl, tmp_path):
    # a board loading .mpy files holds their bytecode on its heap, so by
    # default they leave the line-number tables out (a traceback names
    # the function, at "line 1"); --lines keeps them
    frames, sizes = {}, {}
    for lines in (False, True):
        board = tmp_path / ("lines" if lines else "lean")
        files = cmd_install.package_files(
            "mpy", str(tmp_path / ("build-%s" % board.name)), lines)
        for path, data in files:
            os.makedirs(os.path.dirname(board / path), exist_ok=True)
            (board / path).write_bytes(data)
        sizes[lines] = sum(len(data) for _, data in files)
        out = subprocess.run([find_micropython(), "-c", TRACEBACK],
                             cwd=str(board), capture_output=True, text=True,
                             timeout=60).stdout
        frames[lines] = [int(n) for n in re.findall(
            r'File "ovl/squashfs.mpy", line (\d+)', out)]
    assert frames[False] and set(frames[False]) == {1}, frames
    assert frames[True] and max(frames[True]) > 1, frames
    assert sizes[False] < sizes[True] * 0.95, sizes
    # the option reaches the command
    r = install(repl, "--dry-run", "--lines")
    assert r.returncode == 0 and "nothing written" in r.stdout, r.stderr


@pytest.mark.slow
def test_install_then_boot_the_overlay_at_root(repl, tmp_path):
    work = repl.workdir
    r = install(repl)
    assert r.returncode == 0, r.stderr
    package = len(expected_files(work))     # files a complete install holds
    assert r.stdout.splitlines()[-1].startswith(
        "install: wrote %d file(s) (" % package)
    assert on_board(work) == expected_files(work)
    assert os.path.getsize(os.path.join(work, "chip.bin")) == 2 << 20
    # idempotent: nothing more to write
    r = install(repl)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == [
        "  same    chip file chip.bin (2048 KiB, erased)",
        "install: already installed (%d files verified by sha256)" % package]
    r = install(repl, "--dry-run")
    assert "would write 0 file(s)" in r.stdout
    # firmware through the agent the install put there (no injection of
    # modules: the board imports its own ovl.agent)
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "hello.py").write_text("X = 42\n")
    (tree / "etc" / "motd").write_text("from the firmware\n")
    build_image(str(tree), str(tmp_path / "fw.sqfs"), block_size="4K",
                mtime=1)
    r = ovl("flash", "--port", repl.port, "--board", "sim", "--boot-wait",
            "0", str(tmp_path / "fw.sqfs"))
    assert r.returncode == 0, r.stderr
    assert "injected the agent through the raw-paste REPL (35 bytes)" \
        in r.stderr
    # power-up: the port runs boot.py, then the user's code
    boot = subprocess.run(
        [find_micropython(), "-X", "heapsize=4m", "-c",
         "exec(open('boot.py').read())\n"
         "import hello, vfs\n"
         "print(hello.X)\n"
         "print(open('/etc/motd').read().strip())\n"
         "print([w for o, w in vfs.mount()])\n"
         "print(ovl.boot.BOOTED.notes)\n"],
        capture_output=True, text=True, cwd=work, timeout=60)
    assert boot.returncode == 0, boot.stderr
    assert boot.stdout.splitlines() == [
        "42", "from the firmware", "['/flash', '/']",
        "['booted slot firmware (generation 1)', 'formatted the blank upper"
        " partition upper', 'mounted at /']"]
    # the REPL board boots the same way; then `ovl remote` reaches the
    # booted overlay through the installed agent, and a rerun of install
    # finds its files where the port's filesystem moved (/flash + cwd)
    ser = serial.Serial(repl.port, timeout=0.05)
    dev = cmd_install.Board(ser, 10)
    dev.open()
    assert dev.run("exec(open('boot.py').read())\n"
                   "print(ovl.boot.BOOTED.native_dir)").strip() == \
        "/flash" + os.path.realpath(work)
    dev.close()
    ser.close()
    r = ovl("remote", "--port", repl.port, "--boot-wait", "0", "ls", "/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["etc", "hello.py"]
    r = ovl("remote", "--port", repl.port, "--boot-wait", "0", "info")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-3:] == [
        "overlay: mounted", "note: booted slot firmware (generation 1)",
        "note: mounted at /"]
    r = install(repl)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == \
        "install: already installed (%d files verified by sha256)" % package


@pytest.mark.parametrize("files_before_kill,power_cut", [(3, False),
                                                         (12, True)])
@pytest.mark.slow
def test_killed_install_resumes(repl, files_before_kill, power_cut):
    work = repl.workdir
    cmd = [sys.executable, "-m", "host_tools", "install", "--port",
           repl.port, "--board", "sim", "--chip", "chip.bin", "--timeout",
           "3"]
    host = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    pkg = os.path.join(work, "ovl")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.path.isdir(pkg) and len(os.listdir(pkg)) >= files_before_kill:
            break
        time.sleep(0.002)
    host.send_signal(signal.SIGKILL)
    host.communicate()
    if power_cut:
        repl.restart()      # the board lost power too: a fresh REPL
    partial = on_board(work)
    want = expected_files(work)
    assert "boot.py" not in partial         # written last
    assert partial != want
    r = install(repl)
    assert r.returncode == 0, r.stderr
    done = len([p for p in partial if partial[p] == want.get(p)])
    assert r.stdout.splitlines()[-1].startswith(
        "install: wrote %d file(s)" % (len(want) - done))
    assert "%d already in place" % done in r.stdout
    final = on_board(work)
    # a temporary the kill left is replaced when its file is written
    assert {p: h for p, h in final.items() if not p.endswith(".ovl-tmp")} \
        == want
    assert install(repl).stdout.splitlines()[-1].startswith(
        "install: already installed")


STAND_IN_ROMFS = """import sys, vfs as _real
class _RomVfs:
    VfsRom = _real.VfsRom
    mount = _real.mount
    umount = _real.umount
ROM = bytearray(b'\\xff' * 262144)
def _rom_ioctl(op, *a):
    if op == 1:
        return 1
    if op == 2:
        return memoryview(ROM)
    if op == 3:
        ROM[:a[1]] = b'\\xff' * a[1]
        return 16
    if op == 4:
        ROM[a[1]:a[1] + len(a[2])] = a[2]
        return 0
    return 0
_RomVfs.rom_ioctl = _rom_ioctl
sys.modules['vfs'] = _RomVfs
"""


@pytest.mark.slow
def test_romfs_install_into_a_stand_in_partition(repl):
    """A port with a romfs partition (vfs.rom_ioctl 1-5, as documented for
    `mpremote romfs deploy`): the package goes there as one ROMFS image and
    only ovl_board.py and boot.py go to the filesystem; boot.py mounts the
    image when the port did not, and the board boots from it."""
    work = repl.workdir
    # a board that had the package as .mpy files: the ROMFS install takes
    # them away (the filesystem comes first on sys.path, and even an empty
    # ovl/ there would be the package MicroPython imports)
    r = install(repl, "--method", "mpy")
    assert r.returncode == 0, r.stderr
    assert "ovl/store/__init__.mpy" in on_board(work)
    dev = cmd_install.Board(serial.Serial(repl.port,
                                                        timeout=0.05), 10)
    dev.open()
    dev.run(STAND_IN_ROMFS)
    dev.close()
    dev.repl.ser.close()
    r = install(repl)
    assert r.returncode == 0, r.stderr
    assert "the package as a ROMFS image" in r.stdout
    assert "  changed romfs partition 0 (" in r.stdout
    assert "  remove  ovl/store/__init__.mpy (not in this package)" \
        in r.stdout
    assert "  remove  ovl/ (not in this package)" in r.stdout
    assert sorted(on_board(work)) == ["boot.py", "ovl_board.py"]
    assert not os.path.exists(os.path.join(work, "ovl"))
    r = install(repl)
    assert r.stdout.splitlines()[-1].startswith("install: already installed")
    # boot in the same process, where the stand-in partition lives
    ser = serial.Serial(repl.port, timeout=0.05)
    dev = cmd_install.Board(ser, 10)
    dev.open()
    out = dev.run("exec(open('boot.py').read())\n"
                  "print(ovl.boot.__file__)\n"
                  "print(ovl.boot.BOOTED.notes[0])\n")
    dev.close()
    ser.close()
    assert out.split() == ["/rom/ovl/boot.mpy", "agent", "only:", "no",
                           "firmware", "slot", "holds", "a", "verified",
                           "image", "that", "mounts", "(firmware",
                           "missing)"]


def test_partition_advice_for_esp32_and_rp2():
    esp = load_board("esp32-4mb")
    lines = cmd_install.esp32_advice(esp, [["firmware", [(0x200000,
                                                          0x100000)]],
                                           ["upper", []]])
    assert lines[0].startswith("the board's partition table lacks upper"
                               " (1024 KiB)")
    assert lines[2:] == ["firmware, data, 0x40,    0x200000, 0x100000",
                         "upper,    data, 0x41,    0x300000, 0x100000"]
    assert cmd_install.esp32_advice(esp, [["firmware", [(0, 0x100000)]],
                                          ["upper", [(0, 0x100000)]]]) == []
    pico = load_board("pico")
    assert cmd_install.rp2_advice(pico, 0x160000) == []
    (line,) = cmd_install.rp2_advice(pico, 0x100000)
    assert "MICROPY_HW_FLASH_STORAGE_BYTES=0x160000" in line
    assert "but partition(s) firmware start below it" in line


STAND_IN_ESP32 = """import sys
class _Part:
    TYPE_APP = 0
    TYPE_DATA = 1
    def __init__(self, label, addr, size):
        self.label, self.addr, self.size = label, addr, size
    def info(self):
        return (1, 0x40, self.addr, self.size, self.label, False)
    @classmethod
    def find(cls, type=0, subtype=255, label=None, block_size=4096):
        return [p for p in TABLE if type == 1 and p.label == label]
TABLE = [_Part('firmware', 0x200000, 0x100000), _Part('upper', 0x300000, 0x80000)]
class esp32:
    Partition = _Part
sys.modules['esp32'] = esp32
"""


def test_esp32_partition_table_check_on_the_board(repl):
    """The snippet install runs on an ESP32, against a stand-in of
    esp32.Partition (find by label, info()): an upper smaller than the
    board JSON's is reported with the partitions.csv lines."""
    esp = load_board("esp32-4mb")
    ser = serial.Serial(repl.port, timeout=0.05)
    dev = cmd_install.Board(ser, 10)
    dev.open()
    dev.run(STAND_IN_ESP32)
    code, stop = cmd_install.partition_check(esp, {"platform": "esp32"},
                                             None)
    found = dev.json(code)
    dev.close()
    ser.close()
    assert found == [["firmware", [[0x200000, 0x100000]]],
                     ["upper", [[0x300000, 0x80000]]]]
    lines = cmd_install.esp32_advice(esp, found)
    assert lines[0].startswith("the board's partition table lacks upper")


def test_a_new_method_or_package_leaves_no_old_module(repl):
    """.py sources installed before .mpy files would run in their place
    (MicroPython imports X.py before X.mpy), and a module the package no
    longer has stays importable: the install removes both, first."""
    work = repl.workdir
    r = install(repl, "--method", "py")
    assert r.returncode == 0, r.stderr
    gone = os.path.join(work, "ovl", "overlay", "resolve.py")
    with open(gone, "w") as f:          # a module of an older package
        f.write("raise ImportError('old package')\n")
    assert "ovl/store/__init__.py" in on_board(work)
    r = install(repl, "--dry-run")
    assert "  remove  ovl/overlay/resolve.py (not in this package)" \
        in r.stdout
    assert "  remove  ovl/store/__init__.py (not in this package)" \
        in r.stdout
    assert r.stdout.splitlines()[-1].endswith("nothing written")
    assert "ovl/store/__init__.py" in on_board(work)
    r = install(repl)
    assert r.returncode == 0, r.stderr
    assert ", removed " in r.stdout.splitlines()[-1]
    assert on_board(work) == expected_files(work)
    boot = subprocess.run(
        [find_micropython(), "-X", "heapsize=4m", "-c",
         "import ovl.store, ovl.overlay\n"
         "print(ovl.store.__file__, ovl.overlay.__file__)\n"],
        capture_output=True, text=True, cwd=work, timeout=60)
    assert boot.stdout.split() == ["ovl/store/__init__.mpy",
                                   "ovl/overlay/__init__.mpy"], boot.stderr
    r = install(repl)
    assert r.stdout.splitlines()[-1].startswith("install: already installed")


def test_methods_py_and_romfs_by_choice(repl):
    r = install(repl, "--method", "py", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "the package as .py sources" in r.stdout
    assert "  new     ovl/boot.py (" in r.stdout
    r = install(repl, "--method", "romfs")
    assert r.returncode == 1
    assert r.stderr.strip() == "ovl: error: the board has no ROMFS partition" \
        " (vfs.rom_ioctl); use --method mpy"


@pytest.mark.slow
def test_bad_input_is_one_line(tmp_path):
    r = ovl("install", "--port", str(tmp_path / "none"), "--board", "sim")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "cannot open port" in r.stderr
    r = ovl("install", "--port", "loop://", "--board", "nosuch")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "unknown board" in r.stderr
    r = ovl("install", "--port", "loop://", "--board", "sim", "--timeout",
            "0.5")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "no MicroPython REPL on loop://" in r.stderr


@pytest.mark.parametrize("setup,chip,message", [
    ("file ovl", "chip.bin",
     "ovl is a file where the install needs a directory"),
    ("dir boot.py", "chip.bin",
     "boot.py is a directory where the install needs a file"),
    ("dir ovl/boot.mpy", "chip.bin",
     "ovl/boot.mpy is a directory where the install needs a file"),
    ("dir chip.bin", "chip.bin",
     "chip.bin is a directory where the install needs a file"),
    ("", "/", "/ is a directory where the install needs a file"),
    ("file data", "data/chip.bin",
     "data is a file where the install needs a directory"),
    ("", "x" * 300, "cannot create the chip file %s: OSError: 36 "
     "(ENAMETOOLONG)" % ("x" * 300)),
])
def test_what_stands_in_the_way_is_refused_before_writing(repl, setup, chip,
                                                          message):
    """The probe finds what the real run would fail on: the dry run and
    the real run both refuse, in one line naming the path, and write
    nothing (no chip file either)."""
    work = repl.workdir
    if setup:
        kind, path = setup.split()
        full = os.path.join(work, path)
        if kind == "dir":
            os.makedirs(full)
        else:
            open(full, "w").close()
    before = sorted(os.path.relpath(os.path.join(d, n), work)
                    for d, dirs, files in os.walk(work)
                    for n in dirs + files)
    for extra in (["--dry-run"], []):
        r = ovl("install", "--port", repl.port, "--board", "sim", "--chip",
                chip, *extra)
        assert r.returncode == 1, (extra, r.stdout, r.stderr)
        assert r.stderr == "ovl: error: %s; nothing was written\n" % message
        after = sorted(os.path.relpath(os.path.join(d, n), work)
                       for d, dirs, files in os.walk(work)
                       for n in dirs + files)
        assert after == before, extra


class FailingRepl:
    """A raw REPL whose board raises what MicroPython prints."""

    def __init__(self, last_line):
        self.answers = [b"\x04", ("Traceback (most recent call last):\n%s\n"
                                  "\x04>" % last_line).encode()]

    def paste(self, code):
        pass

    def read_until(self, end):
        return self.answers.pop(0)


def test_a_board_error_names_the_step_and_the_path():
    dev = cmd_install.Board.__new__(cmd_install.Board)
    dev.repl = FailingRepl("OSError: 20")
    with pytest.raises(cmd_install.CliError) as e:
        cmd_install.write_file(dev, "ovl/boot.mpy", b"x")
    assert str(e.value) == "the board failed writing ovl/boot.mpy: " \
                           "OSError: 20 (ENOTDIR)"
    dev.repl = FailingRepl("OSError: [Errno 21] EISDIR")
    with pytest.raises(cmd_install.CliError) as e:
        cmd_install.create_chip(dev, load_board("sim"), "chip.bin", None)
    assert str(e.value) == "the board failed creating the chip file " \
                           "chip.bin: OSError: [Errno 21] EISDIR"


def board_state(work):
    """Every path under the board's folder with its bytes (a link as its
    target), but the board's own log."""
    out = {}
    for folder, dirs, files in os.walk(work):
        for name in dirs + files:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, work)
            if rel.endswith(".log"):
                continue
            if os.path.islink(full):
                out[rel] = "-> " + os.readlink(full)
            elif os.path.isfile(full):
                with open(full, "rb") as f:
                    out[rel] = f.read()
            else:
                out[rel] = "dir"
    return out


@pytest.mark.parametrize("chip,message", [
    ("boot.py", "is a path the install writes"),
    ("./boot.py", "is a path the install writes"),
    ("{work}/ovl_board.py", "is a path the install writes"),
    ("boot.py.ovl-tmp", "is a path the install writes"),
    ("boot.py.before-ovl", "is a path the install writes"),
    ("ovl", "is a path the install writes"),
    ("ovl/chip.bin", "lies under ovl, which the install writes"),
    ("ovl/boot.mpy.ovl-tmp", "is a path the install writes"),
    ("ovl/x/chip.bin", "lies under ovl, which the install writes"),
])
def test_a_chip_file_where_the_install_writes_is_refused(repl, chip,
                                                         message):
    """The chip file must not be one of the install's own files, their
    temporary names, the ovl/ tree or the boot.py backup: the real run
    would write the chip over them (or them over the chip).  Both runs
    refuse in one line and change nothing, a boot.py of the user's too."""
    work = repl.workdir
    chip = chip.format(work=work)
    with open(os.path.join(work, "boot.py"), "w") as f:
        f.write("print('mine')\n")
    before = board_state(work)
    for extra in (["--dry-run"], []):
        r = ovl("install", "--port", repl.port, "--board", "sim", "--chip",
                chip, *extra)
        assert r.returncode == 1, (extra, r.stdout, r.stderr)
        assert r.stderr == "ovl: error: the chip file %s %s; nothing was " \
            "written\n" % (chip, message), (extra, r.stderr)
        assert board_state(work) == before, extra


def test_a_chip_file_that_is_a_symbolic_link_is_refused(repl):
    """The dry run's probe (create the chip file, remove it again) would
    create a dangling link's target and remove the link; the real run
    would write through the link, wherever it points."""
    work = repl.workdir
    os.symlink("target.bin", os.path.join(work, "chip.bin"))
    os.symlink("boot.py", os.path.join(work, "chip2.bin"))
    with open(os.path.join(work, "boot.py"), "w") as f:
        f.write("print('mine')\n")
    before = board_state(work)
    for chip in ("chip.bin", "chip2.bin"):
        for extra in (["--dry-run"], []):
            r = ovl("install", "--port", repl.port, "--board", "sim",
                    "--chip", chip, *extra)
            assert r.returncode == 1, (extra, r.stdout, r.stderr)
            assert r.stderr == "ovl: error: the chip file %s is a symbolic" \
                " link (give the file it names); nothing was written\n" \
                % chip, (extra, r.stderr)
            assert board_state(work) == before, (chip, extra)
