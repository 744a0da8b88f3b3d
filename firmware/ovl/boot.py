"""Boot a board onto its overlay: what boot.py runs on a real board and
board_runner runs in the simulator, the same code on both.

    import ovl.boot; ovl.boot.main()        # boot.py, as `ovl install` writes it

Steps (docs/INSTALL.md):
  0. set the board's gc_threshold (collections every so many bytes
     allocated: a heap that fragments less, docs/FIT.md);
  1. find the partitions the board JSON names on this port (an adapter:
     esp32.Partition.find, rp2.Flash, Linux MTD, or a chip in a file) and
     present them as one Flash in the board's address space;
  2. read the safe-mode pin: held at boot = safe mode, held for the
     board's reset_hold seconds = factory reset (keeping board.keep);
  3. check the firmware slots (newest verified slot that mounts, A/B
     fallback), format a blank upper on first boot, mount the overlay;
  4. vfs.mount the merged tree at the board's mount point ("/" by
     default) so import and open() read it;
  5. keep boot notes for the agent's HELLO (`ovl remote`).

Boot never bricks: an upper that does not mount leaves the firmware alone
(read-only) with the agent answering and the reason in the notes; no
verified slot leaves the agent alone, ready for `ovl flash`.
"""

import sys
import time

from ovl import compat, fwslot
from ovl.board import Board, BoardError
from ovl.flash import Flash, FlashError, Region

# Pin sampling while the safe-mode button is held (ms).
PIN_POLL_MS = 50
# A one-shot safe-mode flag in the board's own filesystem (next to boot.py):
# `mpremote touch :ovl_safe` gets a board into safe mode without a button.
SAFE_FLAG = "ovl_safe"
# Where the port's own filesystem moves when the overlay takes "/".
NATIVE_MOUNT = "/flash"

# The last boot in this process (ovl.agent.start() serves its overlay).
BOOTED = None


class BootError(BoardError):
    """The port's flash does not hold the partitions the board JSON names
    (one line saying what to change)."""


# ----- flash adapters --------------------------------------------------------

class PartitionMap(Flash):
    """The board's flash address space over one Flash per partition, for
    ports that hand out partitions rather than the chip (esp32.Partition)
    or a window of it (rp2.Flash).  Addresses outside every mapped
    partition raise FlashError, so slots and the agent work unchanged."""

    def __init__(self, board, devices):
        Flash.__init__(self, board.size, board.erase_size, board.page_size,
                       board.kind)
        self.parts = []         # (offset, size, device)
        for p in board.partitions:
            dev = devices.get(p.name)
            if dev is None:
                continue
            if dev.size < p.size or dev.erase_size != board.erase_size:
                raise BootError("partition %s on this board is %d bytes in"
                                " %d-byte blocks; the board JSON says %d in"
                                " %d" % (p.name, dev.size, dev.erase_size,
                                         p.size, board.erase_size))
            self.parts.append((p.offset, p.size, dev))

    def _where(self, addr, n):
        for offset, size, dev in self.parts:
            if offset <= addr and addr + n <= offset + size:
                return dev, addr - offset
        raise FlashError("0x%x+%d is not inside one mapped partition"
                         % (addr, n))

    def readinto(self, addr, buf):
        dev, rel = self._where(addr, len(buf))
        dev.readinto(rel, buf)

    def read(self, addr, n):
        dev, rel = self._where(addr, n)
        return dev.read(rel, n)

    def program(self, addr, data):
        dev, rel = self._where(addr, len(data))
        dev.program(rel, data)

    def erase(self, block):
        dev, rel = self._where(block * self.erase_size, self.erase_size)
        dev.erase(rel // self.erase_size)

    def sync(self):
        for _, _, dev in self.parts:
            dev.sync()


def ovl_partitions(board):
    """The partitions boot code touches: firmware slots and the upper."""
    return [p for p in board.partitions if p.type in ("squashfs", "ovl")]


def esp32_flash(board, esp32=None):
    """ESP32: each partition is found by its label in the chip's partition
    table (type data)."""
    from ovl.blockdev import BlockDevFlash
    if esp32 is None:
        import esp32
    devices = {}
    for p in ovl_partitions(board):
        found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=p.name)
        if not found:
            raise BootError("the partition table has no data partition"
                            " labelled %r (%d KiB): `ovl install --dry-run`"
                            " prints the partitions.csv lines"
                            % (p.name, p.size // 1024))
        devices[p.name] = BlockDevFlash(found[0], board.page_size, board.kind)
    return PartitionMap(board, devices)


def rp2_flash(board, rp2=None):
    """RP2: rp2.Flash() is the storage window at the end of the chip; the
    board JSON's offsets are chip offsets inside it."""
    from ovl.blockdev import BlockDevFlash
    if rp2 is None:
        import rp2
    dev = BlockDevFlash(rp2.Flash(), board.page_size, board.kind)
    base = board.size - dev.size
    devices = {}
    for p in ovl_partitions(board):
        if p.offset < base:
            raise BootError("partition %s starts at 0x%x, below the storage"
                            " area rp2.Flash() gives (0x%x..0x%x)"
                            % (p.name, p.offset, base, board.size))
        devices[p.name] = Region(dev, p.offset - base, p.size, p.name)
    return PartitionMap(board, devices)


def linux_flash(board, proc_mtd="/proc/mtd"):
    """Embedded Linux: each partition is the MTD device of the same name
    (/proc/mtd lists `mtdN: size erasesize "name"`)."""
    from ovl.mtd import MtdFlash
    names = {}
    with open(proc_mtd) as f:
        for line in f:
            if ":" in line and '"' in line:
                dev, rest = line.split(":", 1)
                names[rest.split('"')[1]] = "/dev/" + dev.strip()
    devices = {}
    for p in ovl_partitions(board):
        path = names.get(p.name)
        if path is None:
            raise BootError("no MTD partition named %r in %s" % (p.name,
                                                                 proc_mtd))
        devices[p.name] = MtdFlash(path, p.size, board.erase_size,
                                   board.page_size, kind=board.kind)
    return PartitionMap(board, devices)


def chip_file(board, path):
    """The whole chip in a file (the unix port standing in for a board, or
    a raw flash image on Linux): a Flash with the NOR cell rule."""
    from ovl.mtd import MtdFlash
    return MtdFlash(path, board.size, board.erase_size, board.page_size,
                    ioctl=None, kind=board.kind)


def open_flash(board, chip=None, platform=None):
    """The board's flash on this port.  chip: a file holding the whole
    chip; otherwise the adapter for sys.platform."""
    if chip:
        return chip_file(board, chip)
    platform = platform or sys.platform
    if platform == "esp32":
        return esp32_flash(board)
    if platform == "rp2":
        return rp2_flash(board)
    if platform == "linux":
        return linux_flash(board)
    raise BootError("no flash adapter for port %r: give the chip file"
                    % platform)


# ----- the safe-mode pin ------------------------------------------------------

def pin_reader(spec, machine=None, rp2=None):
    """A function -> True while the board's safe-mode button is held, or
    None if the board names none.  spec: the board JSON's "boot" dict:
    pin (a GPIO number, or "bootsel" for the RP2 BOOTSEL button), active
    (the level while held, default 0: a button to ground with pull-up)."""
    pin = spec.get("pin")
    if pin is None:
        return None
    if pin == "bootsel":
        if rp2 is None:
            import rp2
        return lambda: bool(rp2.bootsel_button())
    if machine is None:
        import machine
    active = spec.get("active", 0)
    pull = machine.Pin.PULL_UP if active == 0 else machine.Pin.PULL_DOWN
    p = machine.Pin(pin, machine.Pin.IN, pull)
    return lambda: p.value() == active


def ticks_ms():
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def ticks_diff(a, b):
    """a - b in ms; MicroPython's ticks wrap around."""
    if hasattr(time, "ticks_diff"):
        return time.ticks_diff(a, b)
    return a - b


def sleep_ms(ms):
    if hasattr(time, "sleep_ms"):
        time.sleep_ms(ms)
    else:
        time.sleep(ms / 1000)


def held_ms(held, limit_ms, clock=None, sleep=None):
    """How long the button stays held from now, up to limit_ms (0: not
    held).  A normal boot pays one pin read.  clock, sleep: ms functions
    (default this module's ticks_ms and sleep_ms, looked up per call)."""
    if held is None or not held():
        return 0
    clock = clock or ticks_ms
    sleep = sleep or sleep_ms
    start = clock()
    while True:
        sleep(PIN_POLL_MS)
        elapsed = ticks_diff(clock(), start)
        if elapsed >= limit_ms or not held():
            return max(1, min(elapsed, limit_ms))


# ----- slots and the overlay ----------------------------------------------------

class LowerError(Exception):
    """The slot's image does not mount as a SquashFS: boot another slot."""


def open_lower(board, flash, slot):
    from ovl.squashfs import SquashFS
    # The image may fill the slot up to its record block.
    return SquashFS(Region(flash, slot.offset, slot.capacity, slot.name),
                    max_block_size=board.lower_block_size)


def mount_overlay(board, flash, slot, previous=None, reset=False):
    """The overlay on the boot slot, or (None, why not); LowerError if the
    slot's image is not a SquashFS that mounts.  previous: another slot
    whose image verifies; if the upper was last mounted over it, the mount
    completes from it the files the new slot would break.  reset: a
    factory reset keeping board.keep, requested and performed by this
    mount (a power cut in between leaves it requested: the next boot
    does it)."""
    fs, note, _ = mount_slot(board, flash, slot, previous, reset)
    return fs, note


def mount_slot(board, flash, slot, previous=None, reset=False):
    """mount_overlay plus the lower: (fs or None, note, lower)."""
    try:
        from ovl import overlay
    except ImportError as e:
        return None, "overlay not available: %s" % e, None
    try:
        lower = open_lower(board, flash, slot)
    except ImportError as e:
        return None, "overlay not available: %s" % e, None
    except (OSError, ValueError) as e:
        raise LowerError(str(e) or e.__class__.__name__)
    notes = []
    try:
        upper = board.first_of_type("ovl")
        old = None
        if previous is not None:
            try:
                old = open_lower(board, flash, previous)
            except (OSError, ValueError):
                old = None      # not an image the overlay could have used
        region = Region(flash, upper.offset, upper.size, upper.name)
        ck = board.store_checkpoints
        if region.read(0, 64) == b"\xff" * 64 and is_blank(region):
            from ovl.store import LogStore
            LogStore.format(region)     # first boot: an empty upper
            notes.append("formatted the blank upper partition %s"
                         % upper.name)
        try:
            fs = overlay.mount(lower, region, previous=old, checkpoints=ck)
        except (OSError, ValueError) as e:
            if not reset:
                raise
            # A factory reset asked for by the button: an upper that does
            # not even mount is formatted (its keep list is lost).
            from ovl.store import LogStore
            LogStore.format(region)
            notes.append("factory reset: the upper did not mount (%s), so it"
                         " was formatted; nothing kept" % (str(e) or
                                                           e.__class__.__name__))
            fs = overlay.mount(lower, region, checkpoints=ck)
            reset = False
        if reset:
            fs.request_reset(True, board.keep)
            fs = overlay.mount(lower, region, checkpoints=ck)
            notes.append("factory reset at boot%s" % (
                ": kept " + ", ".join(board.keep) if board.keep else ""))
        return fs, "; ".join(notes) or None, lower
    except (OSError, ValueError, MemoryError) as e:
        # (MemoryError: a board whose heap the mount outgrew boots on the
        # firmware alone, with the reason noted, as for an upper that
        # does not mount)
        notes.append("overlay did not mount: %s" % (str(e) or
                                                    e.__class__.__name__))
        return None, "; ".join(notes), lower


def is_blank(region):
    blank = b"\xff" * region.erase_size
    for b in range(region.block_count):
        if region.read(b * region.erase_size, region.erase_size) != blank:
            return False
    return True


def boot(board, flash, reset=False):
    """(fs, notes, slot name or None) after checking the slots: the newest
    slot whose image verifies and mounts.  A newer slot that fails either
    way is passed over, and the notes say why."""
    fs, notes, running, _ = boot_slots(board, flash, reset)
    return fs, notes, running


def boot_slots(board, flash, reset=False, found=None):
    """boot() plus the running slot's lower (None without one).  found:
    the slots already scanned with verify (else scanned here)."""
    if found is None:
        found = fwslot.scan(board, flash, verify=True)
    failed = []
    for s in found:
        if s.state == "corrupt":
            failed.append("slot %s (generation %d) does not verify: its image"
                          " differs from its record" % (s.name, s.generation))
        elif s.state == "torn":
            failed.append("slot %s has a torn record (an interrupted flash)"
                          % s.name)
    for slot in fwslot.boot_order(found):
        others = [s for s in found if s is not slot and s.state == "ok"]
        try:
            fs, why, lower = mount_slot(board, flash, slot,
                                        others[0] if others else None, reset)
        except LowerError as e:
            failed.append("slot %s (generation %d) did not mount: %s"
                          % (slot.name, slot.generation, e))
            continue
        notes = ["booted slot %s (generation %d)" % (slot.name,
                                                     slot.generation)]
        if failed:
            notes.append("fell back to %s: %s" % (slot.name,
                                                  "; ".join(failed)))
        if fs is None and why is None:
            why = "overlay did not mount"
        if why:
            notes.append(why)
        return fs, notes, slot.name, lower
    states = ", ".join("%s %s" % (s.name, s.state) for s in found)
    notes = ["agent only: no firmware slot holds a verified image that"
             " mounts (%s)" % (states or "board has no squashfs slot")]
    return None, notes + failed, None, None


# ----- the whole boot ----------------------------------------------------------

class Booted:
    """What a boot brought up.  fs: the writable overlay the agent serves
    (None: agent only, fs_error says why); view: the tree mounted for
    import and open() (the overlay, or in safe mode and after an upper
    failure the firmware alone, read-only); notes: what happened."""

    def __init__(self, board, flash):
        self.board = board
        self.flash = flash
        self.fs = None
        self.fs_error = None
        self.view = None
        self.notes = []
        self.running = None
        self.slots = None           # as boot verified them (the agent's)
        self.safe = False
        self.mounted_at = None
        self.native_dir = None      # the port's boot directory, if it moved


def boot_options(board):
    """The board JSON's "boot" dict with defaults: pin (None), active (0),
    reset_hold (seconds, 5), mount ("/")."""
    opts = {"pin": None, "active": 0, "reset_hold": 5, "mount": "/"}
    opts.update(board.boot or {})
    return opts


def bring_up(board, flash, held=0, safe=False, why_safe=None):
    """Boot the overlay (no vfs mount).  held: ms the safe-mode button was
    held at boot (ovl.boot.held_ms); safe: safe mode asked for otherwise
    (why_safe says how)."""
    global BOOTED
    opts = boot_options(board)
    reset = held >= opts["reset_hold"] * 1000
    b = Booted(board, flash)
    if held:
        safe = True
        why_safe = "button held %.1f s%s" % (held / 1000.0, (
            ", past %d s: factory reset" % opts["reset_hold"]) if reset
            else "")
    try:
        b.slots = fwslot.scan(board, flash, verify=True)
        fs, notes, running, lower = boot_slots(board, flash, reset, b.slots)
    except (OSError, ValueError) as e:
        # the flash itself failed (a missing partition, a driver error)
        fs, notes, running, lower = None, ["agent only: %s" % e], None, None
    b.fs, b.notes, b.running = fs, notes, running
    if fs is None:
        b.fs_error = notes[-1]
    if lower is not None:
        if fs is not None and not safe:
            b.view = fs
        else:
            from ovl.overlay import Overlay
            b.view = Overlay(lower, None)       # the firmware alone
            if fs is None:
                b.notes.append("running on the firmware alone (read-only)")
    if safe:
        b.safe = True
        b.notes.append("safe mode (%s): firmware read-only, user code"
                       " skipped%s" % (why_safe or "asked for", (
                           "; the agent serves the overlay for repairs"
                           if fs is not None else "")))
    BOOTED = b
    return b


def mount_vfs(booted, mount_point="/", native=NATIVE_MOUNT, vfs=None):
    """vfs.mount the booted view at mount_point.  At "/", the port's own
    filesystem moves to `native` and sys.path follows it, so modules
    already installed there still import; the overlay's root comes first
    on sys.path.  In safe mode /main.py is hidden: the port's startup does
    not run user code.  Returns the mount point, or None (no view, or no
    vfs module: CPython)."""
    if booted.view is None:
        return None
    if vfs is None:
        try:
            import vfs
        except ImportError:
            return None
    import os
    from ovl.vfs import OvlVfs
    hide = ("/main.py",) if booted.safe else ()
    fs = OvlVfs(booted.view, hide=hide)
    if mount_point == "/":
        cwd = os.getcwd()
        mounts = list_mounts(vfs)
        native_fs = [o for o, w in mounts if w == "/"]
        if native_fs:
            vfs.umount("/")
            vfs.mount(native_fs[0], native)
        try:
            vfs.mount(fs, "/")
        except OSError:
            if native_fs:       # put the port's filesystem back
                vfs.umount(native)
                vfs.mount(native_fs[0], "/")
                os.chdir(cwd)
            raise
        if native_fs:
            follow_native_root(native, cwd, [w for o, w in mounts
                                             if w != "/"])
            # where `ovl install` finds the files it wrote from cwd
            booted.native_dir = native + cwd.rstrip("/")
        os.chdir("/")
        if "" not in sys.path:
            sys.path.insert(0, "")
    else:
        vfs.mount(fs, mount_point)
        sys.path.insert(0, mount_point)
    booted.mounted_at = mount_point
    booted.notes.append("mounted at %s%s" % (mount_point, " read-only"
                                              if booted.view.readonly
                                              else ""))
    return mount_point


def follow_native_root(native, cwd, others=()):
    """The port's filesystem now lives under `native`: sys.path and the
    packages already imported from it (their __path__, which their lazy
    submodule imports use) point there.  cwd: the directory relative
    paths meant; "" on sys.path stays (the overlay's root from now on)
    and the old working directory is appended after it.  Paths on other
    mounts (others: e.g. /rom) and frozen modules stay."""
    def moved(p):
        if p.startswith(".frozen"):
            return p
        if not p.startswith("/"):
            p = cwd.rstrip("/") + "/" + p
        for where in others:
            if p == where or p.startswith(where.rstrip("/") + "/"):
                return p
        return native + p.rstrip("/") if p != "/" else native
    for i in range(len(sys.path)):
        if sys.path[i]:
            sys.path[i] = moved(sys.path[i])
    sys.path.append(moved(""))
    for mod in list(sys.modules.values()):
        path = getattr(mod, "__path__", None)
        if isinstance(path, str):
            mod.__path__ = moved(path)
        elif isinstance(path, list):
            mod.__path__ = [moved(p) for p in path]


def list_mounts(vfs):
    try:
        return vfs.mount()      # MicroPython >= 1.23: (obj, path) pairs
    except TypeError:
        return []


def take_safe_flag(path=SAFE_FLAG):
    """True if the one-shot safe-mode flag file exists; it is removed."""
    import os
    try:
        os.stat(path)
    except OSError:
        return False
    try:
        os.remove(path)
    except OSError:
        pass
    return True


def main(board_module="ovl_board", serve=None):
    """boot.py's body: boot this board as its board module describes, mount
    the tree, and in safe mode serve the agent on the console (the REPL
    comes back with three Ctrl-C); otherwise return, so the port runs
    main.py from the merged tree.  Never raises: a failure is a note, and
    one outside the boot's own handling (a missing board module, a bug)
    is printed and leaves the port as it was, at its REPL."""
    try:
        return boot_board(board_module, serve)
    except Exception as e:      # noqa: boot code must leave the REPL usable
        print("ovl.boot: %s: %s; the board runs without ovl"
              % (e.__class__.__name__, e))
        return None


def boot_board(board_module, serve):
    global BOOTED
    mod = __import__(board_module)
    board = Board.from_dict(mod.BOARD)
    # before anything the boot allocates, as the fit gate's job does
    compat.set_gc_threshold(board.gc_threshold)
    opts = boot_options(board)
    notes = []
    try:
        held = held_ms(pin_reader(opts), opts["reset_hold"] * 1000)
    except (ImportError, OSError, ValueError, AttributeError) as e:
        held = 0
        notes.append("safe-mode pin unreadable: %s" % e)
    safe = take_safe_flag()
    try:
        flash = open_flash(board, getattr(mod, "CHIP", None))
    except (ImportError, OSError, ValueError) as e:
        b = Booted(board, None)
        b.notes = notes + ["agent only: %s" % e]
        b.fs_error = b.notes[-1]
        BOOTED = b
        return b
    b = bring_up(board, flash, held, safe, "flag file %s" % SAFE_FLAG)
    b.notes = notes + b.notes
    try:
        mount_vfs(b, opts["mount"])
    except (OSError, ValueError) as e:
        b.notes.append("vfs mount at %s failed: %s" % (opts["mount"], e))
    if b.safe if serve is None else serve:
        from ovl import agent
        agent.start()
    return b


def open_board():
    """(Board, Flash) for ovl.agent.start(): the booted ones when ovl.boot
    ran in this process."""
    if BOOTED is not None and BOOTED.flash is not None:
        return BOOTED.board, BOOTED.flash
    import ovl_board
    board = Board.from_dict(ovl_board.BOARD)
    return board, open_flash(board, getattr(ovl_board, "CHIP", None))
