"""`ovl dump`: read a partition of a board over serial into a file, every
erase block verified by the board's SHA-256 of it, resumable (esptool's
read_flash, with the hash per block).

    ovl dump --port P --partition upper upper.img
    ovl flash --port P --partition upper --reboot upper.img   # write it back

The file grows as OUT.part; blocks already there that hash as the board's
are not read again, so rerunning the same command after a lost link only
reads what is missing (and dumping over an earlier OUT only what changed).
OUT appears (renamed) once every block verified.
"""

import hashlib
import os
import shutil
import struct
import time

from host_tools.cli import CliError
from host_tools.outputs import (refuse_input, renamed_over, signals_held,
                                temporary)
from host_tools.commands.serial import (Progress, RESUME_HINT, add_port_args,
                                   human, open_link, target_hashes)
from host_tools.serial.link import LinkError
from ovl import agent, frames
from ovl.board import Board

ROUNDS = 3          # reads of a block whose bytes do not hash as the board's


def local_hashes(path, nblocks, erase):
    """sha256 of each erase block of the partial file (None past its end)."""
    out = [None] * nblocks
    if not os.path.isfile(path):
        return out
    with open(path, "rb") as f:
        for i in range(nblocks):
            block = f.read(erase)
            if len(block) < erase:
                break
            out[i] = hashlib.sha256(block).digest()
    return out


def read_blocks(link, base, blocks, erase, out, progress):
    """READ the given erase blocks into the open file out; returns the
    sha256 of each block as received."""
    chunk = link.max_payload
    reqs = []
    where = []          # per request: (block, offset in block)
    for b in blocks:
        for off in range(0, erase, chunk):
            n = min(chunk, erase - off)
            reqs.append((agent.READ, struct.pack(frames.RANGE,
                                                 base + b * erase + off, n)))
            where.append((b, off))
    got = {}

    def on_reply(i, kind, payload):
        b, off = where[i]
        out.seek(b * erase + off)
        out.write(payload)
        got.setdefault(b, hashlib.sha256()).update(payload)
        progress.update(len(payload))

    link.pipeline(reqs, on_reply)
    out.flush()
    return dict((b, h.digest()) for b, h in got.items())


def dump_partition(link, name, path, progress_stream=None):
    """Dump partition `name` into path; returns a summary dict."""
    t0 = time.monotonic()
    board = Board.from_dict(link.info["board"])
    part = board.partition(name)
    erase = board.erase_size
    nblocks = part.size // erase
    # beside the file a symlink at path names, renamed over that file
    target = renamed_over(path)
    tmp = target + ".part"
    # PATH.part is a resume file whatever stops the dump (a lost link, bad
    # reads, Ctrl-C, SIGTERM, SIGHUP): a rerun keeps only the blocks whose
    # hashes match the board's, so a block cut half-written is read again
    with temporary(tmp, keep_on=BaseException):
        if not os.path.isfile(tmp) and os.path.isfile(path) and \
                os.path.getsize(path) == part.size:
            # an earlier dump: only the blocks changed since are read again
            shutil.copyfile(path, tmp)
        want = target_hashes(link, part.offset, nblocks, erase)
        have = local_hashes(tmp, nblocks, erase)
        todo = [i for i in range(nblocks) if have[i] != want[i]]
        summary = {"partition": part.name, "size": part.size,
                   "blocks": nblocks, "read": len(todo),
                   "resumed": len(todo) < nblocks and os.path.isfile(tmp),
                   "rereads": 0}
        read_partition(link, part, tmp, todo, want, summary,
                       Progress(len(todo) * erase, "dump", progress_stream))
        whole = hashlib.sha256()
        with open(tmp, "rb") as f:
            for _ in range(nblocks):
                whole.update(f.read(erase))
        with signals_held():
            os.replace(tmp, target)
    summary["sha256"] = whole.hexdigest()
    summary["seconds"] = time.monotonic() - t0
    return summary


def read_partition(link, part, tmp, todo, want, summary, progress):
    """Read the blocks todo of part into tmp (a new file, or the blocks
    not in it yet), each verified by hash."""
    erase = part.size // summary["blocks"]
    mode = "r+b" if os.path.isfile(tmp) else "w+b"
    try:
        f = open(tmp, mode)
    except OSError as e:
        raise CliError("cannot write %s: %s" % (tmp, e.strerror))
    with f:
        f.truncate(part.size)
        t1 = time.monotonic()
        for rounds in range(ROUNDS):
            if not todo:
                break
            got = read_blocks(link, part.offset, todo, erase, f, progress)
            bad = [b for b in todo if got.get(b) != want[b]]
            summary["rereads"] += len(bad)
            for b in bad:
                # the line or the flash changed under us: hash it again
                want[b] = target_hashes(link, part.offset + b * erase, 1,
                                        erase)[0]
            todo = bad
        summary["read_seconds"] = time.monotonic() - t1
    progress.finish()
    if todo:
        raise CliError("blocks %s of %s did not read back as the board hashes"
                       " them after %d tries (is something writing it?)"
                       % (", ".join(str(b) for b in todo[:8]), part.name,
                          ROUNDS))


def run_dump(args):
    if os.path.isdir(args.out):
        raise CliError("%s is a directory" % args.out)
    refuse_input(args.out, (args.port,))    # a rename over the device node
    link = open_link(args)
    try:
        s = dump_partition(link, args.partition, args.out)
        link.bye()
    except LinkError as e:
        raise CliError("%s; %s" % (str(e).rstrip("."), RESUME_HINT))
    finally:
        link.ser.close()
    rate = s["read"] * (s["size"] // s["blocks"]) / s["read_seconds"] \
        if s["read_seconds"] else 0.0
    print("dump: %s %s -> %s: %d/%d blocks read%s, each verified by sha256"
          " (sha256 %s...)%s; %.1f s" % (
              s["partition"], human(s["size"]), args.out, s["read"],
              s["blocks"], " (resumed)" if s["resumed"] else "",
              s["sha256"][:12],
              "; %.1f KiB/s" % (rate / 1024) if rate else "", s["seconds"]))
    return 0


def add_dump_args(p):
    add_port_args(p)
    p.add_argument("--partition", required=True,
                   help="partition to read (e.g. upper, firmware)")
    p.add_argument("out", metavar="OUT", help="file to write (grows as"
                   " OUT.part until every block verified)")


COMMANDS = {
    "dump": ("read a board partition over serial into a file, each block"
             " verified, resumable", add_dump_args, run_dump),
}
