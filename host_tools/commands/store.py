"""`ovl format`, `ovl fsck`, `ovl info`: upper-layer images on the host.

An upper image is a raw dump of the upper partition's flash (what SimFlash
keeps in its file).  Its geometry comes from --board (the board's first
`ovl` partition, or --partition NAME of a whole-chip file) or from
--size/--erase-size/--page-size/--nand; `fsck` and `info` can also read it
from the block headers of an image that is already formatted.
"""

import json
import os
import stat
import sys
import time

from ovl.flash import Region
from ovl_sim.simflash import PowerCut, SimFlash
from ovl.store import LogStore, ROOT_INO
from ovl.store.blocks import STATE_NAMES
from ovl.store.format import BLOCK_HDR_SIZE, BlockCountError, \
    unpack_block_header
from host_tools.boards import SIM_FLASH_LIMIT, load_board
from host_tools import argtypes
from host_tools.cli import CliError, UsageError, one_line
from host_tools.outputs import write_file


def add_geometry_args(p, required_file=True):
    p.add_argument("image", help="upper image file (raw flash dump) or MTD "
                   "device (/dev/mtdN)")
    p.add_argument("--board", help="board name or JSON: take the geometry "
                   "of its upper (type ovl) partition")
    p.add_argument("--partition", help="IMAGE is the board's whole chip: use"
                   " this partition of it")
    p.add_argument("--size", type=argtypes.size, help="flash size (e.g. 1M)")
    p.add_argument("--erase-size", type=argtypes.power_of_two_size,
                   help="erase block size (e.g. 4k)")
    p.add_argument("--page-size", type=argtypes.power_of_two_size,
                   help="program page size (default 256, NAND 2k)")
    p.add_argument("--nand", action="store_true", help="NAND rules (page "
                   "programs, few partial programs per page)")


def geometry_from_args(args):
    """(size, erase_size, page_size, kind, offset) or None if none given."""
    if args.board:
        if args.size or args.erase_size or args.page_size or args.nand:
            raise UsageError("give --board or --size/--erase-size/--page-size/"
                           "--nand, not both: the board says its geometry")
        board = load_board(args.board)
        if args.partition:
            part = board.partition(args.partition)
            return (board.size, board.erase_size, board.page_size, board.kind,
                    part)
        part = board.first_of_type("ovl")
        return (part.size, board.erase_size, board.page_size, board.kind, None)
    if args.partition:
        raise UsageError("--partition needs --board")
    if args.size or args.erase_size:
        if not (args.size and args.erase_size):
            raise UsageError("give both --size and --erase-size")
        size, es = args.size, args.erase_size
        kind = "nand" if args.nand else "nor"
        ps = args.page_size or (2048 if args.nand else 256)
        if size % es:
            raise UsageError("--size %d is not a whole number of %d-byte"
                             " erase blocks" % (size, es))
        check_geometry(es, ps, kind)
        return size, es, ps, kind, None
    return None


# A NAND block's first page holds its header and every commit pads to a
# page end, leaving room for the block summary: with fewer pages than this
# no transaction fits (the store would answer ENOSPC to the first write).
NAND_MIN_PAGES = 4


def check_geometry(es, ps, kind):
    """UsageError for a geometry no chip has or the log store cannot use
    (argparse checked each size is a power of two; the store itself checks
    the block count and the smallest block)."""
    if ps > es:
        raise UsageError("page size %d is larger than the erase size %d"
                       % (ps, es))
    if kind == "nand" and es // ps < NAND_MIN_PAGES:
        raise UsageError("NAND erase block of %d bytes holds %d pages of %d;"
                       " the log store needs at least %d (one for the block"
                       " header, commits pad to a page end)"
                       % (es, es // ps, ps, NAND_MIN_PAGES))


def sniff_geometry(path):
    """Geometry of a formatted upper image from its block headers.

    The first valid header found gives it.  Bytes before that header
    that are not erased are another partition (a whole-chip file) only
    when the store it describes fits after them; a store whose block
    count spans the whole file starts at 0, and what precedes is its own
    blocks with a damaged or torn header (a flipped bit, an erase cut
    short), which the store's mount judges as it would on the device
    (ovl.store.damage.mend_header): reported, mended or erased before
    use, and no reason to lock the host tools out."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        off = 0
        while off + BLOCK_HDR_SIZE <= min(size, 1 << 22):
            f.seek(off)
            raw = f.read(BLOCK_HDR_SIZE)
            # The format module decides what a block header is (its
            # magic, version and CRC); None for anything else.
            hdr = unpack_block_header(raw)
            if hdr is not None:
                prog_unit, ec, seq, es, count = hdr
                if es and off % es == 0:
                    f.seek(0)
                    if off and off + es * count <= size and \
                            f.read(off) != b"\xff" * off:
                        # something else lives before it: a whole chip
                        raise CliError(
                            "%s: the log store starts at 0x%x, after "
                            "other data: give --board NAME --partition "
                            "NAME for a whole-chip file" % (path, off))
                    if size != es * count:
                        raise CliError(block_count_message(
                            path, size / es, count))
                    nand = prog_unit > 4
                    return (size, es, prog_unit if nand else min(256, es),
                            "nand" if nand else "nor", None)
            off += 512
    raise CliError("%s: no log store block header found: give --board or "
                   "--size/--erase-size (or `ovl format` it)" % path)


def block_count_message(path, have, formatted):
    have = "%d" % have if have == int(have) else "%.1f" % have
    return ("%s: upper image has %s blocks but its store was formatted with "
            "%d: truncated or wrong partition" % (path, have, formatted))


def is_mtd_device(path):
    """Is path a character device (an MTD partition, /dev/mtdN)?"""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def open_mtd(path):
    """MtdFlash on /dev/mtdN: the geometry is the device's own."""
    from ovl.mtd import MtdFlash
    try:
        return MtdFlash(path)
    except ValueError:
        raise CliError("%s is a character device but not an MTD device"
                       % path)
    except OSError as e:
        raise CliError("%s: %s" % (path, e.strerror or e))


def save_chip(chip):
    """Write an image file back; an MTD device already holds every write."""
    if hasattr(chip, "save"):
        chip.save()
    else:
        chip.sync()


def check_image_path(path, create=False):
    """CliError unless path is a regular file (or absent, when creating)."""
    if os.path.isdir(path):
        raise CliError("%s is a directory, not an upper image" % path)
    if not os.path.exists(path):
        if not create:
            raise CliError("%s does not exist" % path)
    elif not os.path.isfile(path):
        raise CliError("%s is not a regular file" % path)


class ImageWriteError(CliError):
    """A program or erase could not be written into the image file in
    place: the session must stop (the file holds every operation before)."""


class ImageFlash(SimFlash):
    """A SimFlash on an image file.  Every save (the store's syncs too)
    writes PATH.saving then renames it over PATH (where PATH is a symlink,
    over the file it names: the link stays); one that fails (a full disk,
    a sticky folder where the image is not the user's to replace) or is
    stopped (Ctrl-C, SIGTERM, SIGHUP) leaves the image as it was and
    removes what it had written (host_tools.outputs.replacing).

    After write_through(), each program and erase is written into the
    file in place as it happens instead, and a save writes nothing."""

    fd = None
    lost = None         # the write-through error that stopped the chip

    def write_through(self):
        """From now on the image file is the chip: each program's bytes and
        each erased block are written into it (pwrite) as the operation
        completes, in the chip's own order.  Whatever kills the process,
        the file is then a flash the store was built to mount: a kill
        between two writes is a power cut between two operations, one
        inside a write a torn operation.  (Whole changed blocks written
        after a command would not be: garbage collection copies to one
        block, then erases another, so those blocks in another order lose
        what was copied.)  No fsync: the promise is about the session
        ending however it does, and what pwrite returned survives the
        process in the page cache; the save it replaces did not fsync
        either.  The cost of an operation is its own bytes, whatever the
        image's size.  (`ovl mount` writes through with ovl.mtd.MtdFlash,
        which holds no chip in RAM; the shell keeps this SimFlash for its
        flash-rule checks and --power-cut-after, and stops the chip at the
        first write that fails rather than going on past a lost one.)"""
        try:
            self.fd = os.open(self.path, os.O_WRONLY)
        except OSError as e:
            raise OSError(e.errno, "cannot write %s: %s"
                          % (self.path, e.strerror))

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def program(self, addr, data):
        if self.fd is None:
            return SimFlash.program(self, addr, data)
        self._through(addr, len(data), SimFlash.program, addr, data)

    def erase(self, block):
        if self.fd is None:
            return SimFlash.erase(self, block)
        es = self.erase_size
        self._through(block * es, es, SimFlash.erase, block)

    def _through(self, start, n, operation, *args):
        if self.lost is not None:
            raise self.lost
        try:
            operation(self, *args)
        except PowerCut:
            # a simulated cut (--power-cut-after): its torn bytes too
            self._write_range(start, n)
            raise
        self._write_range(start, n)

    def _write_range(self, start, n):
        with memoryview(self.mem) as mem:
            try:
                while n:
                    done = os.pwrite(self.fd, mem[start:start + n], start)
                    start += done
                    n -= done
            except OSError as e:
                self.lost = ImageWriteError(
                    "cannot write %s: %s; stopped (the image holds what was"
                    " done before, as after a power cut)"
                    % (self.path, e.strerror or e))
                raise self.lost

    def save(self, path=None):
        if self.fd is not None and path is None:
            return              # the file already holds every operation
        path = path or self.path
        if path is None:
            return              # a reader's chip: no file to write
        try:
            write_file(path, self.mem, ".saving")
        except OSError as e:
            if e.filename is None:
                raise           # outputs' own line, naming the file
            raise OSError(e.errno, "cannot save %s: %s"
                          % (path, e.strerror or e))


def open_image(path, geom, create=False):
    """A SimFlash on the image file, or a Region of it for --partition."""
    if is_mtd_device(path):
        flash = open_mtd(path)
        return flash, flash
    size, es, ps, kind, part = geom
    check_image_path(path, create)
    if os.path.exists(path) and os.path.getsize(path) != size:
        raise CliError("%s is %d bytes but the geometry says %d"
                       % (path, os.path.getsize(path), size))
    if size > SIM_FLASH_LIMIT:
        # the image is held in RAM: refuse before allocating it
        raise CliError("%s: %d bytes of flash is more than the %d an image"
                       " on the host may hold" % (path, size, SIM_FLASH_LIMIT))
    try:
        flash = ImageFlash(size, es, ps, kind=kind, path=path)
    except ValueError as e:
        raise CliError(str(e))
    if part is not None:
        return flash, Region(flash, part.offset, part.size, part.name)
    return flash, flash


def open_upper_image(path):
    """The SimFlash of an upper image whose geometry its headers give
    (used by `ovl fs`/`ovl shell`)."""
    check_image_path(path)
    return open_image(path, sniff_geometry(path))[0]


def root_entries(flash):
    """How many names the root of the log store on flash holds (0 when
    there is no store that mounts)."""
    try:
        store = LogStore.mount(flash, readonly=True)
    except (OSError, ValueError):
        return 0
    return sum(1 for _ in store.listdir(ROOT_INO))


def run_format(args):
    geom = geometry_from_args(args)
    if geom is None and not is_mtd_device(args.image):
        raise UsageError("give --board NAME or --size S --erase-size E")
    # refused while a session (`ovl shell`, `mount`) holds the image: it
    # would go on answering ok to changes the new store no longer holds
    from host_tools.commands.overlay import lock_upper
    with lock_upper(args.image):
        format_image(args, geom)


def format_image(args, geom):
    if is_mtd_device(args.image):
        chip, flash = open_image(args.image, None)
        geom = (flash.size, flash.erase_size, flash.page_size, flash.kind,
                None)
    else:
        part = geom[4]
        if part is not None and part.type != "ovl" and not args.force:
            raise CliError("partition %s is of type %s, not ovl: formatting it"
                           " would destroy what it holds; --force to format"
                           " it anyway" % (part.name, part.type))
        chip, flash = open_image(args.image, geom, create=True)
    if os.path.exists(args.image) and not args.force:
        n = root_entries(flash)
        if n:
            raise CliError("%s holds a log store with files (%d names in its"
                           " root): formatting it loses them; --force to"
                           " format it anyway" % (args.image, n))
    LogStore.format(flash)
    save_chip(chip)
    size, es, ps, kind, part = geom
    print("formatted %s: %d blocks of %d bytes (%s, page %d)%s"
          % (args.image, flash.block_count, es, kind.upper(), ps,
             " in partition %s" % part.name if part else ""))


def mount_image(args, readonly=True):
    if is_mtd_device(args.image):
        geom = None
    else:
        check_image_path(args.image)
        geom = geometry_from_args(args) or sniff_geometry(args.image)
    chip, flash = open_image(args.image, geom)
    try:
        return chip, LogStore.mount(flash, readonly=readonly)
    except BlockCountError as e:
        raise CliError(block_count_message(args.image, e.have, e.formatted))


def check_union(store, lower_path, report):
    """Add to report (the store's fsck) the union's own problems
    (whiteouts, origins, link index, the lower's directory indexes) of
    the upper `store` over the lower at lower_path, as "overlay"; and drop
    the store's nlink warnings of lower hard links copied up: their nlink
    counts the lower's names too, which the store cannot see (the
    union's check bounds it by their upper names)."""
    from host_tools.commands.overlay import open_lower
    from host_tools.image.lowercheck import lower_problems
    from ovl.overlay import Overlay
    lower = open_lower(lower_path)
    ovl = Overlay(lower, store)
    problems = ovl.fsck()
    report["overlay"] = [p for p in problems
                         if not p.startswith("store: ")] + \
        lower_problems(lower)
    # the store's words for them (ovl.store.check)
    counted = tuple("inode %d: nlink " % ino for ino in ovl.linked_inodes())
    report["warnings"] = [w for w in report["warnings"]
                          if not w.startswith(counted)]


# Exit statuses, as e2fsck's: no errors; errors repaired (--repair), none
# left; errors left; could not check at all (no image, not a store, wrong
# geometry).
FSCK_CLEAN = 0
FSCK_REPAIRED = 1
FSCK_ERRORS = 4
FSCK_FAILED = 8


def repair_store(store, report):
    """What `--repair` mends (ovl.store.repair: orphans deleted, a
    directory's second name dropped, each
    directory with a damaged entry made anew, what the damage hid kept
    under its name or in /lost+found) in one transaction; what was done,
    as lines."""
    from ovl.store.repair import repair
    done = repair(store, report, now=int(time.time()))
    if done:
        store.sync()
    return done


def run_fsck(args):
    """The check, with e2fsck's exit statuses (FSCK_*)."""
    lock = None
    try:
        if args.repair and (os.path.isfile(args.image) or
                            is_mtd_device(args.image)):
            # a writer: refused while an `ovl fs`/`shell`/`mount` session
            # holds the image, as they refuse each other
            from host_tools.commands.overlay import lock_upper
            lock = lock_upper(args.image)
        chip, store = mount_image(args, readonly=not args.repair)
        report = store.fsck()
        repaired = []
        if args.repair:
            repaired = repair_store(store, report)
            if repaired:
                save_chip(chip)
                chip, store = mount_image(args)     # check what was saved
                report = store.fsck()
        if args.lower:
            check_union(store, args.lower, report)
    except UsageError:
        raise                       # an argument error: exit 2
    except (CliError, OSError, ValueError) as e:
        print("ovl: error: %s" % one_line(e), file=sys.stderr)
        return FSCK_FAILED
    finally:
        if lock is not None:
            lock.close()
    left = report["errors"] or report["orphans"] or report.get("overlay")
    if args.json:
        print(json.dumps(dict(report, repaired=repaired), indent=2))
    else:
        for e in report["errors"]:
            print("error: %s" % e)
        for w in report["warnings"]:
            print("warning: %s" % w)
        for p in report.get("overlay", ()):
            print("overlay: %s" % p)
        for r in repaired:
            print("repaired: %s" % r)
        if report["orphans"]:
            print("%d orphan inode(s): --repair deletes them"
                  % len(report["orphans"]))
        print("%s: %d nodes, %d inodes, %d live bytes, %d errors, %d warnings"
              "%s" % (args.image, report["nodes"], report["inodes"],
                      report["live_bytes"], len(report["errors"]),
                      len(report["warnings"]),
                      ", %d overlay problems" % len(report["overlay"])
                      if args.lower else ""))
    if left:
        return FSCK_ERRORS
    return FSCK_REPAIRED if repaired else FSCK_CLEAN


def store_info(store):
    from ovl.flash_host import geometry
    c = store.counters()
    info = {"geometry": geometry(store.flash), "counters": c,
            "erase_counts": list(store.blocks.ec),
            "block_states": [STATE_NAMES[s] for s in store.blocks.state],
            "damaged": ["%s %d: %s" % (kind, n, why) for (kind, n), why
                        in sorted(store.damaged.items())]}
    return info


def run_info(args):
    chip, store = mount_image(args)
    info = store_info(store)
    if args.json:
        print(json.dumps(info, indent=2))
        return
    c = info["counters"]
    g = info["geometry"]
    print("%s: %s upper, %d blocks of %d bytes" % (args.image, g["kind"].upper(),
                                                   g["block_count"],
                                                   g["erase_size"]))
    print("  blocks: %d free, %d open, %d full, %d unknown, %d bad"
          % (c["blocks_free"], c["blocks_open"], c["blocks_full"],
             c["blocks_unknown"], c["blocks_bad"]))
    print("  bytes: %d in use, %d reclaimable, %d free" % (
        c["bytes_in_use"], c["bytes_reclaimable"], c["bytes_free"]))
    print("  wear: erase count max %d, min %d, mean %.1f (%d erases in all)"
          % (c["erase_max"], c["erase_min"], c["erase_mean"],
             c["erase_total"]))
    print("  this session: read %d bytes, programmed %d, erased %d blocks" % (
        c["bytes_read"], c["bytes_programmed"], c["erases"]))
    print("  mount: read %d bytes (%d summaries, %d blocks scanned)" % (
        c["mount_bytes_read"], c["summaries_used"], c["blocks_scanned"]))
    print("  inodes: %d" % c["inodes"])
    print("  damage: %d corrupt nodes, %d blocks holding a torn tail%s"
          % (c["corrupt_nodes"], c["torn_tails"],
             "".join("\n    " + d for d in info["damaged"])))


def add_format_args(p):
    add_geometry_args(p)
    p.add_argument("--force", action="store_true",
                   help="format even a store that holds files, or a"
                        " partition whose type is not ovl")


def add_fsck_args(p):
    add_info_args(p)
    p.add_argument("--repair", action="store_true",
                   help="mount read-write, as a device does, delete"
                        " orphan inodes, drop an entry naming a directory"
                        " that has a name already (a loop), make each"
                        " directory with a"
                        " damaged entry readable again (what it hid kept"
                        " under its name or in /lost+found); exit 1 if"
                        " that leaves no errors")
    p.add_argument("--lower", help="the firmware (SquashFS image or"
                   " directory): check the union too (whiteouts, origins,"
                   " link index)")


def add_info_args(p):
    add_geometry_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable")


COMMANDS = {
    "format": ("create a formatted (empty) upper image", add_format_args,
               run_format),
    "fsck": ("check an upper image: CRCs, summaries, tree, link counts, "
             "space accounting; with --lower, the union too; exits 0 clean,"
             " 1 repaired, 4 errors left, 8 could not check", add_fsck_args,
             run_fsck),
    "info": ("show an upper image's blocks, wear, space and mount cost",
             add_info_args, run_info),
}
