"""`ovl flash`, `ovl remote`, `ovl rig`: boards over a serial port.

flash: hash the target on the board, send only the erase blocks that
differ, have each verified by the board, then commit the slot record
(which the board writes only after hashing the whole image itself).  An
interrupted flash resumes by running the same command: blocks already in
place hash equal and are skipped.
"""

import hashlib
import json
import struct
import sys
import time

from host_tools import argtypes
from host_tools.argtypes import seconds
from host_tools.cli import CliError, UsageError
from host_tools.commands.store import FSCK_CLEAN, FSCK_ERRORS
from host_tools.commands import fs_format as fmt
from host_tools.outputs import replacing
from host_tools.serial import link as serial_link
from host_tools.serial.link import (LinkError, RemoteError, hexdigest,
                                    json_payload, json_reply)
from ovl import agent, compat, frames
from ovl.board import Board
from ovl.paths import join as overlay_join, is_dir, is_lnk

RESUME_HINT = "rerun the same command to resume"


# ----- progress ----------------------------------------------------------

class Progress:
    """A progress bar with throughput on stderr (only on a terminal)."""

    def __init__(self, total, label, stream=None, force=False):
        self.total = max(1, total)
        self.label = label
        self.done = 0
        self.start = time.monotonic()
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.last = 0.0

    def rate(self):
        dt = time.monotonic() - self.start
        return self.done / dt if dt > 0 else 0.0

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.1 and
                                self.done < self.total):
            return
        self.last = now
        frac = min(1.0, self.done / self.total)
        bar = "#" * int(frac * 24) + "-" * (24 - int(frac * 24))
        self.stream.write("\r  %-8s %3d%% [%s] %7.1f KiB/s" % (
            self.label, frac * 100, bar, self.rate() / 1024))
        self.stream.flush()

    def finish(self):
        if self.enabled:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def human(n):
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return "%d %s" % (n, unit) if unit == "B" else "%.1f %s" % (n, unit)
        n /= 1024.0


# ----- connecting ----------------------------------------------------------

# Seconds to wait for a booting board's agent.  Longer than a sim board's
# boot on a busy 2-core host; a board sitting at a plain REPL pays it once
# per command before the agent is injected (--boot-wait 0 skips it).
BOOT_WAIT = 5.0


def add_port_args(p):
    p.add_argument("--port", required=True,
                   help="serial device or pyserial URL (loop://, socket://,"
                        " rfc2217://)")
    p.add_argument("--baud", type=argtypes.positive, default=115200)
    p.add_argument("--timeout", type=seconds, default=2.0,
                   help="seconds without an answer before a retry")
    p.add_argument("--no-bootstrap", action="store_true",
                   help="do not inject the agent through the raw REPL")
    p.add_argument("--boot-wait", type=seconds, default=BOOT_WAIT,
                   metavar="SECONDS",
                   help="keep saying HELLO this long before injecting the"
                        " agent or giving up: a board that has just rebooted"
                        " answers once its boot code has mounted the overlay"
                        " (default %g)" % BOOT_WAIT)


def open_link(args):
    ser = serial_link.open_port(args.port, args.baud)
    try:
        return serial_link.connect(
            ser, bootstrap=not args.no_bootstrap, timeout=args.timeout,
            boot_wait=args.boot_wait,
            log=lambda m: print("ovl: %s" % m, file=sys.stderr))
    except BaseException:
        ser.close()
        raise


def check_board(info, name):
    """The board the agent reports, checked against --board if given."""
    board = Board.from_dict(info["board"])
    if name:
        from host_tools.boards import load_board
        want = load_board(name)
        if want.geometry() != board.geometry() or \
                [p.as_dict() for p in want.partitions] != \
                [p.as_dict() for p in board.partitions]:
            raise CliError("board on the port is %s, not %s (geometry or"
                           " partitions differ)" % (board.name, want.name))
    return board


# ----- flash ----------------------------------------------------------------

def choose_target(info, board, name):
    """(partition, slot dict or None) the image goes to."""
    slots = {s["name"]: s for s in info["slots"]}
    if name:
        part = board.partition(name)
        return part, slots.get(name)
    if not slots:
        raise CliError("board %s has no squashfs partition; name one with"
                       " --partition" % board.name)
    if len(slots) == 1:
        s = info["slots"][0]
        return board.partition(s["name"]), s
    # A/B: the slot that is not booted, so the running one stays intact.
    boot = info.get("boot_slot")
    for s in info["slots"]:
        if s["name"] != boot:
            return board.partition(s["name"]), s
    raise CliError("no inactive firmware slot")


def target_hashes(link, addr, nblocks, erase):
    per = max(1, link.max_payload // frames.DIGEST_LEN)
    reqs = []
    for first in range(0, nblocks, per):
        k = min(per, nblocks - first)
        reqs.append((agent.HASHES, struct.pack(frames.HASHES_RANGE,
                                               addr + first * erase,
                                               k * erase, erase)))
    out = []
    link.pipeline(reqs, lambda i, k, p: out.extend(
        p[j:j + frames.DIGEST_LEN]
        for j in range(0, len(p), frames.DIGEST_LEN)))
    return out


def runs_of(blocks, limit):
    """Contiguous runs of block indexes, each at most `limit` blocks."""
    runs = []
    for b in blocks:
        if runs and runs[-1][-1] == b - 1 and len(runs[-1]) < limit:
            runs[-1].append(b)
        else:
            runs.append([b])
    return runs


def write_blocks(link, base, padded, blocks, erase, progress):
    """Send the given blocks; each WRITE is verified on the board."""
    limit = max(1, link.info["write_max"] // erase)
    chunk = link.max_payload
    reqs = []
    expect = {}     # request index -> (run start addr, sha256)
    for run in runs_of(blocks, limit):
        start = run[0] * erase
        data = padded[start:start + len(run) * erase]
        digest = hashlib.sha256(data).digest()
        reqs.append((agent.WRITE, struct.pack(frames.WRITE_HEAD, base + start,
                                              len(data), digest)))
        for off in range(0, len(data), chunk):
            reqs.append((frames.DATA, struct.pack(frames.DATA_HEAD, off) +
                         data[off:off + chunk]))
        expect[len(reqs) - 1] = (base + start, digest)
    sizes = [len(p) - frames.DATA_HEAD_LEN if k == frames.DATA else 0
             for k, p in reqs]
    written = [0]

    def on_reply(i, kind, payload):
        progress.update(sizes[i])
        if i in expect:
            addr, digest = expect[i]
            if payload[frames.WRITE_DONE_LEN:] != digest:
                raise LinkError("board read back different data at 0x%x;"
                                " %s" % (addr, RESUME_HINT))
            written[0] += struct.unpack(
                frames.WRITE_DONE, payload[:frames.WRITE_DONE_LEN])[0]

    link.pipeline(reqs, on_reply)
    return written[0]


def check_squashfs(image, name="image"):
    """The image opened as a SquashFS 4.0 whose every directory and inode
    reads and every name of a directory with an index looks up
    (lowercheck.walk), or CliError in one line: a board boots only what
    mounts.  The opened image's `not_utf8` is its first path that is not
    UTF-8 and its `link_not_utf8` the first symlink whose target is not
    (None if every one is), which a board running MicroPython cannot
    list or read (check_runtime); its `too_long` the first path longer
    than the overlay copies up (check_paths)."""
    from ovl.flash import BytesSource
    from ovl.overlay.meta_rare import ORIGIN_PATH_MAX
    from ovl.squashfs import SquashFS
    from host_tools.image import lowercheck
    why = None
    if not image:
        why = "it is empty (0 bytes)"
    else:
        try:
            lower = SquashFS(BytesSource(image))
            lower.not_utf8 = lower.link_not_utf8 = lower.too_long = None
            for path, entry in lowercheck.walk(lower):
                if lower.not_utf8 is None and not lowercheck.is_utf8(path):
                    lower.not_utf8 = path
                if lower.too_long is None and len(path.encode(
                        "utf-8", "surrogateescape")) > ORIGIN_PATH_MAX:
                    lower.too_long = path
                if lower.link_not_utf8 is None and is_lnk(entry.mode) and \
                        not lowercheck.is_utf8(lower.readlink(entry)):
                    lower.link_not_utf8 = path
            return lower
        except lowercheck.DAMAGE as e:
            why = str(e) or e.__class__.__name__
    raise CliError("%s is not a SquashFS 4.0 image a board can mount: %s;"
                   " --force flashes it anyway" % (name, why))


def check_runtime(lower, runtime):
    """CliError if a board whose agent runs on `runtime` (its HELLO's
    "runtime", e.g. "micropython 1.22.0") cannot mount or list the image
    `lower` opened by check_squashfs."""
    from host_tools.boards import MICROPYTHON_COMPRESSORS
    from host_tools.image.tree import shown_path
    if not runtime.startswith("micropython"):
        return
    if lower.compression not in MICROPYTHON_COMPRESSORS:
        raise CliError("image uses the %s compressor; the board runs %s,"
                       " which decompresses only %s: rebuild it with `ovl"
                       " mkimage --comp gzip`, or --force"
                       % (lower.compression, runtime,
                          " and ".join(MICROPYTHON_COMPRESSORS)))
    for path, what, fix in (
            (lower.not_utf8, "a name that is not UTF-8; the board runs %s,"
             " which cannot list its directory", "rename it"),
            (lower.link_not_utf8, "a symlink whose target is not UTF-8;"
             " the board runs %s, which cannot read it", "change the target")):
        if path is not None:
            raise CliError("image holds %s, %s: %s and rebuild, or --force"
                           % (shown_path(path.encode("utf-8",
                                                     "surrogateescape")),
                              what % runtime, fix))


def check_paths(lower):
    """CliError if the image `lower` opened by check_squashfs holds a path
    longer than the overlay copies up: the board could change nothing at
    or below it."""
    from host_tools.image.tree import too_long_message
    if lower.too_long is not None:
        raise CliError("image holds %s: rebuild it with shorter paths, or"
                       " --force" % too_long_message(lower.too_long.encode(
                           "utf-8", "surrogateescape")))


def check_block_size(lower, board):
    """CliError if the board cannot read blocks this big (its RAM bounds
    one inflated block: the board's lower_block_size)."""
    limit = getattr(board, "lower_block_size", None)
    if limit and lower.block_size > limit:
        raise CliError("image has %d KiB blocks; board %s reads at most %d KiB"
                       " (lower_block_size): rebuild it with `ovl mkimage -b"
                       " %dK`, or --force" % (lower.block_size >> 10,
                                             board.name, limit >> 10,
                                             limit >> 10))


def keep_user_files(link, image):
    """Before the old firmware's bytes go: the board lists its partially
    copied-up files with the digest of the lower bytes each is based on;
    those whose bytes differ in `image` are copied up whole on the board,
    one at a time (docs/SERIAL.md, "Upgrades").  Returns a summary dict."""
    from ovl import upgrade
    from ovl.flash import BytesSource
    from ovl.squashfs import SquashFS
    try:
        new = SquashFS(BytesSource(image))
    except (OSError, ValueError):
        new = None      # no overlay will mount it: keep every partial file
    files = []
    start = 0
    while start is not None:
        try:
            res = link.call_json(agent.UP_SCAN, {"start": start})
        except RemoteError as e:
            if e.errno != compat.ENOSYS:
                raise
            raise CliError("the board's agent cannot keep changed files"
                           " whole through an upgrade (it predates"
                           " upgrade-scan); update ovl on the board first")
        files.extend(res["files"])
        start = res["next"]
    todo = [path for path, lower_path, n, digest in files
            if new is None or upgrade.differs(new, lower_path, n, digest)]
    programmed = [0]

    def on_reply(i, kind, payload):
        programmed[0] += json_reply(payload)["programmed"]

    link.pipeline([(agent.UP_KEEP, json_payload({"path": p}))
                   for p in todo], on_reply)
    return {"partial": len(files), "kept": len(todo),
            "kept_bytes": programmed[0]}


def check_upper_kept(info, board, target, sha256):
    """CliError unless replacing the firmware in slot `target` is safe for
    the user's files although no overlay is mounted to keep them whole
    (keep_user_files): the upper is empty, or it reads another slot that
    is booted, or the last flash kept its files for this very image (a
    flash being resumed).  info: the agent's HELLO and FW_STATUS."""
    if not any(p.type == "ovl" for p in board.partitions) or \
            info.get("boot_slot") not in (None, target):
        return
    upper = info.get("upper") or {"error": "the board's agent does not say"
                                  " what it holds"}
    if upper.get("error") is None and (not upper["changes"] or
                                       upper["kept_for"] == sha256):
        return
    raise CliError(
        "the board has no overlay mounted (%s), so the user's changed files"
        " cannot be kept whole before this image replaces the firmware they"
        " read%s: boot the board onto its firmware first (rerun the last"
        " flash, with --reboot, to finish it), then flash this image; or"
        " --force to flash anyway and lose their unchanged bytes" % (
            info.get("fs_error") or "not mounted",
            "" if upper.get("error") is None else
            " (its upper: %s)" % upper["error"]))


def flash_image(link, image, partition=None, board_name=None, force=False,
                progress_stream=None, log=None, lower=None, upper_dump=False):
    """Flash `image`; returns a summary dict.  lower: the image opened by
    check_squashfs, to be checked against the board's block-size limit,
    what its runtime reads and the paths the overlay copies up.
    upper_dump: the image is a log store, which only an ovl partition
    takes."""
    t0 = time.monotonic()
    info = dict(link.info)
    info.update(link.call_json(agent.FW_STATUS, {"verify": False}))
    board = check_board(info, board_name)
    if lower is not None:
        check_block_size(lower, board)
        check_runtime(lower, info.get("runtime", ""))
        check_paths(lower)
    part, slot = choose_target(info, board, partition)
    erase = board.erase_size
    capacity = slot["capacity"] if slot else part.size
    if not force and upper_dump != (part.type == "ovl"):
        raise CliError("%s: an upper dump goes to the overlay partition"
                       " (--partition NAME of type ovl), a firmware image to"
                       " a firmware slot" % part.name)
    if part.type == "ovl" and len(image) != part.size:
        # blocks past a short image would keep the old store's nodes
        raise CliError("%s is the overlay upper: give a dump of all of it"
                       " (%d bytes, from `ovl dump`), not %d bytes"
                       % (part.name, part.size, len(image)))
    if len(image) > capacity:
        raise CliError("image is %d bytes; %s holds at most %d%s" % (
            len(image), part.name, capacity,
            " (its last erase block keeps the image record)" if slot else ""))
    pad = (-len(image)) % erase
    padded = image + b"\xff" * pad
    nblocks = len(padded) // erase
    image_sha = hashlib.sha256(image).digest()
    have = target_hashes(link, part.offset, nblocks, erase)
    differ = [i for i in range(nblocks) if force or
              have[i] != hashlib.sha256(padded[i * erase:(i + 1) * erase])
              .digest()]
    recorded = slot is not None and slot["state"] == "ok" and \
        slot["image_size"] == len(image) and \
        slot["sha256"] == hexdigest(image_sha)
    summary = {"partition": part.name, "image_size": len(image),
               "blocks": nblocks, "sent": len(differ), "written": 0,
               "sent_bytes": len(differ) * erase,
               "sha256": hexdigest(image_sha), "generation": None,
               "resumed": slot is not None and slot["state"] != "ok" and
               0 < len(differ) < nblocks}
    if differ or (slot is not None and not recorded):
        if slot is not None and info.get("fs"):
            # a new firmware: the overlay's partial files still read the old
            summary.update(keep_user_files(link, image))
        elif slot is not None and not force:
            check_upper_kept(info, board, part.name, hexdigest(image_sha))
        if (slot is not None and slot["state"] != "missing") or \
                (part.type == "ovl" and differ):
            link.call_json(agent.FW_BEGIN, {"slot": part.name,
                                            "sha256": hexdigest(image_sha)})
        if log and summary["resumed"]:
            log("resuming: %d of %d blocks already in place"
                % (nblocks - len(differ), nblocks))
        progress = Progress(len(differ) * erase, "flash", progress_stream)
        t1 = time.monotonic()
        summary["written"] = write_blocks(link, part.offset, padded, differ,
                                          erase, progress)
        summary["write_seconds"] = time.monotonic() - t1
        progress.finish()
        if slot is not None:
            res = link.call_json(agent.FW_COMMIT, {
                "slot": part.name, "size": len(image),
                "sha256": hexdigest(image_sha)})
            summary["generation"] = res["generation"]
    else:
        summary["write_seconds"] = 0.0
    summary["seconds"] = time.monotonic() - t0
    return summary


def summary_line(s, baud):
    if not s["sent"] and s["generation"] is None:
        return "flash: %s already holds this image (%s, sha256 %s...)" % (
            s["partition"], human(s["image_size"]), s["sha256"][:12])
    rate = s["sent_bytes"] / s["write_seconds"] if s["write_seconds"] else 0.0
    text = "flash: %s %s -> %s: %d/%d blocks sent, %d rewritten, verified" \
        " sha256 %s..." % ("resumed" if s["resumed"] else "wrote",
                           human(s["image_size"]), s["partition"], s["sent"],
                           s["blocks"], s["written"], s["sha256"][:12])
    if s["generation"] is not None:
        text += ", slot generation %d" % s["generation"]
    if s.get("kept"):
        text += "; kept %d changed file(s) whole first (%d bytes programmed;" \
            " after the reboot `ovl remote conflicts` lists what changed in" \
            " both)" % (s["kept"], s["kept_bytes"])
    if rate:
        text += "; %.1f KiB/s (%d%% of %d baud)" % (
            rate / 1024, 100 * rate / (baud / 10.0), baud)
    return text + "; %.1f s" % s["seconds"]


def add_flash_args(p):
    add_port_args(p)
    p.add_argument("--board", help="expected board (name or JSON path)")
    p.add_argument("--partition", help="target partition (default: the"
                   " firmware slot, or the inactive one of two)")
    p.add_argument("--force", action="store_true",
                   help="flash even an image that is not a SquashFS the board"
                        " can mount, send every block even if the board"
                        " has it, and flash even when no overlay is mounted"
                        " to keep the user's changed files whole")
    p.add_argument("--reboot", action="store_true",
                   help="reboot the board after a successful flash")
    p.add_argument("image", help="image file (a SquashFS 4.0, e.g. from ovl"
                   " mkimage)")


# No board's firmware partition comes near this; a bigger "image" is a
# mistake (a device node, the wrong file) and must not be read into RAM.
IMAGE_LIMIT = 256 << 20


def read_image(path, limit=IMAGE_LIMIT):
    from host_tools.inputs import read_limited
    return read_limited(path, limit, "firmware image", CliError)


def is_upper_dump(path):
    """Whether the file holds a log store (an `ovl dump` of an upper)."""
    from host_tools.commands.store import sniff_geometry
    try:
        sniff_geometry(path)
        return True
    except CliError:
        return False


def run_flash(args):
    image = read_image(args.image)
    upper = is_upper_dump(args.image)
    lower = None if args.force or upper else \
        check_squashfs(image, args.image)
    link = open_link(args)
    try:
        s = flash_image(link, image, args.partition, args.board, args.force,
                        log=lambda m: print("ovl: %s" % m, file=sys.stderr),
                        lower=lower, upper_dump=upper)
        print(summary_line(s, args.baud))
        if args.reboot:
            link.call(agent.REBOOT)
        else:
            if s["sent"] or s["generation"] is not None:
                # the board keeps running what it booted until then (after
                # an upper dump its agent answers ENODEV)
                print("flash: the board runs it after a reboot (power it"
                      " off and on, or rerun with --reboot)")
            link.bye()
    except LinkError as e:
        raise CliError("%s; %s" % (str(e).rstrip("."), RESUME_HINT)
                       if RESUME_HINT not in str(e) else str(e))
    finally:
        link.ser.close()


# ----- remote overlay verbs ------------------------------------------------

def remote_get(link, path, out, progress=None, layer="merged"):
    """Stream a file from the board's overlay into `out`, pipelined, to
    its end: the first short chunk (the file a symlink names, as `fs cat`
    reads it; a directory is the agent's EISDIR).  layer="lower": the
    lower layer's own version.  Returns the bytes written."""
    chunk = link.max_payload
    req = {"path": path, "n": chunk}
    if layer == "lower":
        req["layer"] = "lower"
    ended = [False]
    size = [0]

    def reqs():
        # pulled as the window frees: at most a window's worth of reads
        # past the end, each answered empty
        off = 0
        while not ended[0]:
            req["offset"] = off
            yield agent.FS_GET, json_payload(req)
            off += chunk

    def on_reply(i, kind, payload):
        if ended[0]:
            return
        out.write(payload)
        size[0] += len(payload)
        ended[0] = len(payload) < chunk
        if progress:
            progress.update(len(payload))

    link.pipeline(reqs(), on_reply)
    return size[0]


def remote_put(link, path, data, progress=None):
    """Send a file; the board makes it visible in one rename, verified."""
    head = json_payload({"path": path, "size": len(data),
                         "sha256": hashlib.sha256(data).hexdigest()})
    chunk = link.max_payload
    reqs = [(agent.FS_PUT, head)] + [
        (frames.DATA, struct.pack(frames.DATA_HEAD, off) +
         data[off:off + chunk])
        for off in range(0, len(data), chunk)]

    def on_reply(i, kind, payload):
        if progress and i:
            progress.update(len(reqs[i][1]) - frames.DATA_HEAD_LEN)

    link.pipeline(reqs, on_reply)


def remote_ls(link, path, long=False):
    """Print a listing as `ovl fs ls` does (host_tools.commands.fs_format); a page
    of entries at a time, -l asks stat for each entry."""
    st = link.call_json(agent.FS_STAT, {"path": path})
    if not is_dir(st["mode"]):
        pages = [[[path.rstrip("/").rsplit("/", 1)[-1], st["mode"],
                   st["size"]]]]
        path = path.rstrip("/").rsplit("/", 1)[0] or "/"
    else:
        pages = remote_ls_pages(link, path)
    for page in pages:
        for name, mode, size in page:
            if long:
                st = link.call_json(agent.FS_STAT,
                                    {"path": overlay_join(path, name)})
                entry = fmt.ls_entry(name, mode, size, st["nlink"], st["uid"],
                                     st["gid"], st["layer"], st.get("target"))
            else:
                entry = fmt.ls_entry(name, mode, size)
            print(fmt.ls_line(entry))


def remote_ls_pages(link, path):
    start = 0
    while start is not None:
        res = link.call_json(agent.FS_LS, {"path": path, "start": start})
        yield res["entries"]
        start = res["next"]


def remote_pages(link, kind, req, key):
    """(every (kind, path) pair of the agent's answer under `key`,
    truncated?): its pages in turn, each request `req` with its start (an
    agent without paging answers one page, perhaps truncated)."""
    out, start = [], 0
    while True:
        res = link.call_json(kind, dict(req, start=start))
        out += [tuple(c) for c in res[key]]
        start = res.get("next")
        if start is None:
            return out, bool(res["truncated"])


def remote_diff(link, path):
    """(every change below path, truncated?)."""
    return remote_pages(link, agent.FS_DIFF, {"path": path}, "changes")


def run_remote(args):
    verb = args.verb
    need = {"ls": (0, 1), "cat": (1, 1), "get": (1, 2), "put": (2, 2),
            "rm": (1, 1), "rmdir": (1, 1), "mkdir": (1, 1), "mv": (2, 2),
            "diff": (0, 1), "revert": (1, 1), "reset": (0, 1),
            "fsck": (0, 0), "stat": (1, 1), "layer": (1, 1),
            "conflicts": (0, 0), "info": (0, 0), "backup": (1, 1),
            "restore": (1, 1)}[verb]
    if not need[0] <= len(args.args) <= need[1]:
        raise UsageError("remote %s takes %s" % (verb, (
            "%d argument%s" % (need[0], "" if need[0] == 1 else "s")
            if need[0] == need[1] else "%d to %d arguments" % need)))
    a = (["-l"] if args.long else []) + args.args
    if args.long and verb != "ls":
        raise UsageError("-l is an option of remote ls only")
    if verb == "reset" and a[:1] not in ([], ["now"], ["boot"]):
        raise UsageError("remote reset takes 'now' or 'boot'")
    if args.layer != "merged" and verb not in ("cat", "get"):
        raise UsageError("--layer is an option of remote cat and get only")
    data = None
    if verb == "put":
        data = read_image(a[0])
    fmt.names_as_bytes(sys.stdout)      # as ovl fs prints them
    link = open_link(args)
    answering = True
    try:
        return remote_verb(link, verb, a, data, keep=args.keep,
                           layer=args.layer)
    except LinkError as e:
        answering = False
        raise CliError("%s; nothing was changed by a partial transfer, rerun"
                       " the command" % str(e).rstrip("."))
    finally:
        if answering:       # BYE to a silent board would wait out retries
            link.bye()
        link.ser.close()


def print_info(info, out=None):
    """What the agent said at HELLO, for a person: board, slots, boot notes."""
    out = out or sys.stdout
    board = info["board"]
    out.write("board: %s (%s %s)\n" % (board["name"], board["flash"]["kind"],
                                       human(board["flash"]["size"])))
    out.write("agent: %s on %s\n" % (info["agent"], info["runtime"]))
    out.write("boot slot: %s\n" % (info["boot_slot"] or "none"))
    for s in info["slots"]:
        out.write("  %s  %s  generation %d  %s\n" % (
            s["name"], s["state"], s["generation"], human(s["image_size"])))
    out.write("overlay: %s\n" % ("mounted" if info["fs"] else
                                 info["fs_error"] or "not mounted"))
    for note in info["notes"]:
        out.write("note: %s\n" % note)


def remote_verb(link, verb, a, data, keep=None, layer="merged"):
    call = link.call_json
    if verb == "info":
        print_info(link.info)
    elif verb == "ls":
        long = a[:1] == ["-l"]
        a = a[1:] if long else a
        remote_ls(link, a[0] if a else "/", long)
    elif verb in ("stat", "layer"):
        st = call(agent.FS_STAT, {"path": a[0]})
        record = fmt.layer_record(a[0], st["layer"]) if verb == "layer" else \
            fmt.stat_record(a[0], st["mode"], st["ino"], st["nlink"],
                            st["uid"], st["gid"], st["size"], st["mtime"],
                            st["layer"])
        fmt.print_text(sys.stdout, fmt.as_text(verb, record))
    elif verb == "cat":
        remote_get(link, a[0], sys.stdout.buffer, layer=layer)
        sys.stdout.flush()
    elif verb == "get":
        dest = a[1] if len(a) > 1 else a[0].rsplit("/", 1)[-1]
        # a get that fails (a lost link, EIO) leaves dest as it was
        with replacing(dest, ".part") as f:
            n = remote_get(link, a[0], f, Progress(0, "get"), layer)
        print("get: %s -> %s (%s)" % (a[0], dest, human(n)))
    elif verb == "put":
        t0 = time.monotonic()
        remote_put(link, a[1], data, Progress(len(data), "put"))
        dt = time.monotonic() - t0
        print("put: %s -> %s (%s, verified, %.1f KiB/s)" % (
            a[0], a[1], human(len(data)), len(data) / 1024 / max(dt, 1e-6)))
    elif verb in ("rm", "rmdir"):
        # the agent's rm takes both kinds: the words keep fs's meaning
        a_dir = is_dir(call(agent.FS_STAT, {"path": a[0]})["mode"])
        if a_dir != (verb == "rmdir"):
            raise fmt.rm_kind_error(a[0], a_dir)
        call(agent.FS_RM, {"path": a[0]})
    elif verb == "mkdir":
        call(agent.FS_MKDIR, {"path": a[0]})
    elif verb == "mv":
        call(agent.FS_MV, {"src": a[0], "dst": a[1]})
    elif verb == "diff":
        changes, truncated = remote_diff(link, a[0] if a else "/")
        fmt.print_text(sys.stdout, fmt.as_text(
            "diff", fmt.diff_records(changes)))
        if truncated:
            print("... (more; diff a subdirectory)")
    elif verb == "revert":
        call(agent.FS_REVERT, {"path": a[0]})
    elif verb == "backup":
        from host_tools.commands.backup import remote_backup
        remote_backup(link, a[0])
    elif verb == "restore":
        from host_tools.commands.backup import remote_restore
        remote_restore(link, a[0])
    elif verb == "reset":
        when = a[0] if a else "now"
        req = {"when": when}
        if keep is not None:
            req["keep"] = keep
        else:               # the board's own keep list applies
            keep = link.info["board"].get("keep")
        call(agent.FS_RESET, req)
        print(fmt.reset_line("done" if when == "now" else
                             "requested for the next boot", keep))
    elif verb == "conflicts":
        conflicts, truncated = remote_pages(link, agent.UP_CONFLICTS, {},
                                            "conflicts")
        fmt.print_text(sys.stdout, fmt.as_text(
            "conflicts", fmt.conflict_records(conflicts)))
        if truncated:
            print("... (more)")
    elif verb == "fsck":
        problems = call(agent.FS_FSCK)["problems"]
        for p in problems:
            print(p)
        print("fsck: %s" % ("clean" if not problems else
                            "%d problem(s)" % len(problems)))
        # `ovl fsck`'s statuses: problems left is 4 (the agent repairs
        # nothing; a board it cannot reach is 1, as for every verb)
        return FSCK_ERRORS if problems else FSCK_CLEAN
    return 0


def add_remote_args(p):
    add_port_args(p)
    p.add_argument("verb", choices=("ls", "stat", "cat", "get", "put", "rm",
                                    "rmdir", "mkdir", "mv", "diff", "revert",
                                    "reset", "fsck", "layer", "conflicts",
                                    "info", "backup", "restore"))
    p.add_argument("-l", dest="long", action="store_true",
                   help="ls: long listing, as `ovl fs ls -l`")
    p.add_argument("args", nargs="*", help="paths (put: LOCAL REMOTE; reset:"
                   " now|boot; backup: OUT.tar, restore: IN.tar on the"
                   " host)")
    p.add_argument("--layer", choices=("merged", "lower"), default="merged",
                   help="cat, get: lower = the firmware's own version, "
                        "whatever the upper holds (after an upgrade: see "
                        "both sides of a conflict)")
    p.add_path_list("--keep", help="reset: a path whose changes survive;"
                    " repeat it, or name several (default: the board's keep"
                    " list)")


COMMANDS = {
    "flash": ("flash an image over serial: only differing blocks, each"
              " verified, resumable", add_flash_args, run_flash),
    "remote": ("manage a board's overlay over serial (info, ls, stat, cat,"
               " get, put, rm, rmdir, mkdir, mv, diff, revert, reset, fsck, "
               "layer, conflicts, backup, restore)",
               add_remote_args, run_remote),
}
