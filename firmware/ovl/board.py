"""Board definitions: flash geometry plus a partition table, validated.

A board is a plain dict (loaded from boards/NAME.json on the host, or built
in boot code on a device).  Board.from_dict checks it before anything uses
it: geometry consistent, partitions aligned to the erase size, inside the
chip, not overlapping, names unique.
"""

from ovl.flash import Region

PARTITION_TYPES = ("squashfs", "ovl", "raw", "bootloader", "app", "nvs")
KINDS = ("nor", "nand")


class BoardError(ValueError):
    """A board definition or partition table is invalid (one-line message)."""


def _int(d, key, where):
    v = d.get(key)
    if isinstance(v, str):
        try:
            v = int(v, 0)
        except ValueError:
            raise BoardError("%s: %s is not a number: %r" % (where, key, v))
    if not isinstance(v, int) or isinstance(v, bool):
        raise BoardError("%s: %s must be an integer" % (where, key))
    return v


class Partition:
    def __init__(self, name, offset, size, ptype):
        self.name = name
        self.offset = offset
        self.size = size
        self.type = ptype

    def as_dict(self):
        return {"name": self.name, "offset": self.offset, "size": self.size,
                "type": self.type}


class Board:
    """lower_block_size: the largest SquashFS block size the board reads
    (None: no limit); heap: the MicroPython heap (bytes) ovl may use on it
    (None: not an MCU board); gc_threshold: bytes allocated between
    garbage collections, which ovl.boot sets before mounting (None: the
    runtime's default, collect when the heap is full); store_checkpoints:
    whether the upper's log store mounts from and writes checkpoints of
    its index (default true; the MCU boards turn it off: docs/STORE.md,
    "Checkpoint").  All optional in the JSON."""

    def __init__(self, name, kind, size, erase_size, page_size, partitions,
                 description="", lower_block_size=None, heap=None, keep=(),
                 boot=None, gc_threshold=None, store_checkpoints=True):
        self.lower_block_size = lower_block_size
        self.gc_threshold = gc_threshold
        self.store_checkpoints = store_checkpoints
        # boot code options (ovl.boot, docs/INSTALL.md): the safe-mode pin,
        # its active level, the hold that means factory reset, mount point
        self.boot = boot or {}
        self.heap = heap
        self.name = name
        # paths a factory reset keeps (Overlay.reset(keep)), e.g. the
        # board's network configuration
        self.keep = list(keep)
        self.kind = kind
        self.size = size
        self.erase_size = erase_size
        self.page_size = page_size
        self.partitions = partitions
        self.description = description

    @classmethod
    def from_dict(cls, d, name=None):
        if not isinstance(d, dict):
            raise BoardError("board definition must be an object")
        name = d.get("name", name) or "?"
        where = "board %s" % name
        flash = d.get("flash")
        if not isinstance(flash, dict):
            raise BoardError("%s: missing 'flash' geometry" % where)
        kind = flash.get("kind", "nor")
        if kind not in KINDS:
            raise BoardError("%s: flash kind %r is not nor or nand" % (where, kind))
        size = _int(flash, "size", where)
        erase_size = _int(flash, "erase_size", where)
        page_size = _int(flash, "page_size", where)
        for label, v in (("size", size), ("erase_size", erase_size),
                         ("page_size", page_size)):
            if v <= 0 or v & (v - 1):
                raise BoardError("%s: flash %s %d is not a power of two"
                                 % (where, label, v))
        if erase_size > size or page_size > erase_size:
            raise BoardError("%s: need page_size <= erase_size <= size" % where)
        parts = []
        seen = {}
        for i, p in enumerate(d.get("partitions") or []):
            if not isinstance(p, dict):
                raise BoardError("%s: partition %d is not an object" % (where, i))
            pname = p.get("name")
            if not isinstance(pname, str) or not pname:
                raise BoardError("%s: partition %d has no name" % (where, i))
            pw = "%s: partition %s" % (where, pname)
            if pname in seen:
                raise BoardError("%s: duplicate partition name" % pw)
            offset = _int(p, "offset", pw)
            psize = _int(p, "size", pw)
            ptype = p.get("type", "raw")
            if ptype not in PARTITION_TYPES:
                raise BoardError("%s: unknown type %r" % (pw, ptype))
            if offset % erase_size or psize % erase_size:
                raise BoardError("%s: offset 0x%x size 0x%x not aligned to erase"
                                 " size 0x%x" % (pw, offset, psize, erase_size))
            if psize <= 0 or offset < 0 or offset + psize > size:
                raise BoardError("%s: 0x%x+0x%x outside %d-byte flash"
                                 % (pw, offset, psize, size))
            for other in parts:
                if offset < other.offset + other.size and \
                        other.offset < offset + psize:
                    raise BoardError("%s overlaps partition %s"
                                     % (pw, other.name))
            seen[pname] = True
            parts.append(Partition(pname, offset, psize, ptype))
        parts.sort(key=lambda p: p.offset)
        lower_bs = heap = threshold = None
        if d.get("lower_block_size") is not None:
            lower_bs = _int(d, "lower_block_size", where)
            if lower_bs < 4096 or lower_bs > 1 << 20 or lower_bs & (lower_bs - 1):
                raise BoardError("%s: lower_block_size %d is not a power of two"
                                 " from 4096 to 1048576" % (where, lower_bs))
        if d.get("heap") is not None:
            heap = _int(d, "heap", where)
            if heap <= 0:
                raise BoardError("%s: heap must be positive" % where)
        if d.get("gc_threshold") is not None:
            threshold = _int(d, "gc_threshold", where)
            if threshold < 1024:
                raise BoardError("%s: gc_threshold %d is below 1024 bytes"
                                 % (where, threshold))
        checkpoints = d.get("store_checkpoints", True)
        if checkpoints is not True and checkpoints is not False:
            raise BoardError("%s: store_checkpoints must be true or false"
                             % where)
        keep = d.get("keep") or []
        if not isinstance(keep, list) or [k for k in keep if not isinstance(
                k, str) or not k.startswith("/")]:
            raise BoardError("%s: keep must be a list of absolute paths"
                             % where)
        return cls(name, kind, size, erase_size, page_size, parts,
                   d.get("description", ""), lower_bs, heap, keep,
                   boot_options(d.get("boot"), where), threshold,
                   checkpoints)

    def partition(self, name):
        for p in self.partitions:
            if p.name == name:
                return p
        raise BoardError("board %s has no partition %r (has: %s)" % (
            self.name, name, ", ".join(p.name for p in self.partitions)))

    def first_of_type(self, ptype):
        for p in self.partitions:
            if p.type == ptype:
                return p
        raise BoardError("board %s has no %s partition" % (self.name, ptype))

    def region(self, flash, name):
        p = self.partition(name)
        return Region(flash, p.offset, p.size, p.name)

    def geometry(self):
        return {"kind": self.kind, "size": self.size,
                "erase_size": self.erase_size, "page_size": self.page_size}

    def as_dict(self):
        d = {"name": self.name, "description": self.description,
             "flash": self.geometry(),
             "partitions": [p.as_dict() for p in self.partitions],
             "keep": self.keep}
        if self.lower_block_size is not None:
            d["lower_block_size"] = self.lower_block_size
        if self.heap is not None:
            d["heap"] = self.heap
        if self.gc_threshold is not None:
            d["gc_threshold"] = self.gc_threshold
        if not self.store_checkpoints:
            d["store_checkpoints"] = False
        if self.boot:
            d["boot"] = self.boot
        return d


def boot_options(boot, where):
    """The optional "boot" object: pin (a GPIO number, "bootsel" or null),
    active (0 or 1), reset_hold (whole seconds > 0), mount (absolute)."""
    if boot is None:
        return {}
    if not isinstance(boot, dict):
        raise BoardError("%s: boot must be an object" % where)
    pin = boot.get("pin")
    if pin is not None and pin != "bootsel" and (
            not isinstance(pin, int) or isinstance(pin, bool) or pin < 0):
        raise BoardError("%s: boot pin must be a GPIO number or \"bootsel\""
                         % where)
    if boot.get("active", 0) not in (0, 1):
        raise BoardError("%s: boot active must be 0 or 1" % where)
    hold = boot.get("reset_hold", 5)
    if not isinstance(hold, int) or isinstance(hold, bool) or hold <= 0:
        raise BoardError("%s: boot reset_hold must be whole seconds > 0"
                         % where)
    mount = boot.get("mount", "/")
    if not isinstance(mount, str) or not mount.startswith("/"):
        raise BoardError("%s: boot mount must be an absolute path" % where)
    return dict(boot)
