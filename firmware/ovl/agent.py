"""The device agent: serves flash and overlay commands over the console.

Start it from the REPL in one line (`import ovl.agent; ovl.agent.start()`,
with a board module `ovl_board` providing open_board() -> (Board, Flash)),
or from boot code with Agent(port, board, flash, ...).serve().  It speaks
the frames of ovl.frames; docs/SERIAL.md is the protocol reference.

Sequencing: every host frame carries a seq.  The agent handles frames in
seq order only; a frame ahead of the expected seq means one was lost, so
the agent drops it and sends NAK(expected) once; a frame behind it is a
retransmission whose reply was lost, answered from a small reply cache
(or re-run, for commands without side effects) and never applied twice.
HELLO restarts the sequence at its own seq.

Nothing reaches flash unverified: a WRITE carries the SHA-256 of its
blocks; DATA frames collect in RAM and the agent erases and programs only
after the hash matches, then reads back and hashes again.
"""

import binascii
import json
import struct
import sys

import ovl
from ovl import compat, frames, fwslot
from ovl.frames import RESP, ERR, ACK, NAK, DATA, FrameReader, Interrupted
from ovl.flash import write_blocks

PROTOCOL = 1

HELLO = 0x01
READ = 0x02
HASH = 0x03
HASHES = 0x04
ERASE = 0x05
WRITE = 0x06
FW_STATUS = 0x07
FW_BEGIN = 0x08
FW_COMMIT = 0x09
REBOOT = 0x0A
BYE = 0x0B
FS_LS = 0x10
FS_STAT = 0x11
FS_GET = 0x12
FS_PUT = 0x13
FS_RM = 0x14
FS_MKDIR = 0x15
FS_MV = 0x16
FS_DIFF = 0x17
FS_REVERT = 0x18
FS_RESET = 0x19
FS_FSCK = 0x1A
FS_OP = 0x1B    # chmod, chown, utime, symlink, link, mknod (a restore)
# firmware upgrades (ovl.upgrade): partial files, keep them whole, conflicts
UP_SCAN = 0x20
UP_KEEP = 0x21
UP_CONFLICTS = 0x22

NAMES = {HELLO: "hello", READ: "read", HASH: "hash", HASHES: "hashes",
         ERASE: "erase", WRITE: "write", FW_STATUS: "fw-status",
         FW_BEGIN: "fw-begin", FW_COMMIT: "fw-commit", REBOOT: "reboot",
         BYE: "bye", DATA: "data", FS_LS: "ls", FS_STAT: "stat",
         FS_GET: "get", FS_PUT: "put", FS_RM: "rm", FS_MKDIR: "mkdir",
         FS_MV: "mv", FS_DIFF: "diff", FS_REVERT: "revert",
         FS_RESET: "reset", FS_FSCK: "fsck", FS_OP: "op",
         UP_SCAN: "upgrade-scan",
         UP_KEEP: "upgrade-keep", UP_CONFLICTS: "conflicts"}

# Commands that change nothing: a retransmission simply runs them again.
# The upper root's meta key (docs/OVERLAY.md, "Meta keys") naming, as the
# SHA-256 hex of the image, what a flash kept the user's files whole for
# before it stopped the overlay over the slot it was replacing.
META_KEPT_FOR = "kept_for"

IDEMPOTENT = (HELLO, READ, HASH, HASHES, FW_STATUS, FS_LS, FS_STAT, FS_GET,
              FS_DIFF, UP_SCAN, UP_CONFLICTS)


def unpack(fmt, payload):
    """struct.unpack that raises ValueError on a wrong length (CPython
    raises struct.error, which is not a ValueError)."""
    if len(payload) != struct.calcsize(fmt):
        raise ValueError("payload of %d bytes, expected %d"
                         % (len(payload), struct.calcsize(fmt)))
    return struct.unpack(fmt, payload)


# A name an older ovl on MicroPython stored that is not UTF-8 travels as
# its own bytes both ways; on CPython it is the str they decode to with
# surrogateescape, as the store's listdir gives it (MicroPython ignores the
# handler: its str holds the bytes).
_NAME_ERRORS = "surrogateescape"


def request(payload):
    """A request's JSON (the host sends a name that is not UTF-8 as its
    bytes, docs/SERIAL.md "Commands")."""
    return json.loads(payload.decode("utf-8", _NAME_ERRORS))


def error_payload(code, message):
    try:
        text = message.encode("utf-8", _NAME_ERRORS)
    except UnicodeError:    # a lone surrogate a hand-made \\u escape sent
        text = message.encode("utf-8", "backslashreplace")
    return struct.pack(frames.ERR_HEAD, code & 0xFFFF) + text[:200]


def errno_of(e):
    """The errno an error of the overlay stands for: an OSError's own; EIO
    for damage the SquashFS reader found in the lower (a
    CorruptImageError, as `ovl mount` answers it and as the store's
    damage is); None for any other error.  The one mapping: the error
    frame's (error_code) and `ovl fs`'s and the shell's on the host."""
    if isinstance(e, OSError):
        code = compat.error_code(e)
        return code if isinstance(code, int) else compat.EIO
    # the reader imports its errors at its first failure: without them
    # loaded, e is none of them
    errors = sys.modules.get("ovl.squashfs_errors")
    if errors is not None and isinstance(e, errors.CorruptImageError):
        return compat.EIO
    return None


def error_code(e):
    """The errno of the error frame for e: errno_of's, EINVAL for any
    other ValueError, KeyError or TypeError (a malformed request)."""
    code = errno_of(e)
    return compat.EINVAL if code is None else code


def exc_message(e):
    """What the host prints of error e: "ENOENT: /p" for an OSError of
    compat.oserror, on both runtimes."""
    code = compat.error_code(e) if isinstance(e, OSError) else None
    if compat.MICROPYTHON and type(code) is int:
        # the name compat.oserror leaves out where MicroPython prints it
        name = compat.errno_name(code)
        text = str(e.args[1]) if len(e.args) > 1 else name
        return text if text.startswith(name) else name + ": " + text
    if isinstance(e, OSError) and len(e.args) > 1:
        return str(e.args[1])
    return str(e) or e.__class__.__name__


# A frame's bytes arrive back to back: this long without one inside a frame
# means its sender is gone, and the agent drops what it has of it.
IDLE_MS = 500


class StdioPort:
    """The console as a byte port.  read(n) blocks for bytes; where the
    runtime can poll the console it returns None after idle_ms without one
    (an idle gap), so a frame cut off by a dead host is dropped instead of
    waited for."""

    def __init__(self, stdin=None, stdout=None, idle_ms=IDLE_MS):
        inp = stdin or sys.stdin.buffer
        # Below CPython's buffer: bytes held in a buffer are invisible to
        # poll(), and the raw file returns what has arrived.
        self._in = getattr(inp, "raw", inp)
        self._out = stdout or sys.stdout.buffer
        self._flush = getattr(self._out, "flush", None)
        self.idle_ms = idle_ms
        self._poll = None
        try:
            import select
            poller = select.poll()
            poller.register(self._in, select.POLLIN)
            self._poll = poller
        except (ImportError, AttributeError, OSError, TypeError, ValueError):
            pass

    def read(self, n):
        if self._poll is not None and not self._poll.poll(self.idle_ms):
            return None
        return self._in.read(n)

    def write(self, data):
        self._out.write(data)
        if self._flush:
            self._flush()


class WriteJob:
    """Blocks of one WRITE being collected from DATA frames."""

    def __init__(self, addr, size, digest):
        self.addr = addr
        self.buf = bytearray(size)
        self.pos = 0
        self.digest = digest


class Agent:
    def __init__(self, port, board, flash, fs=None, max_payload=4096,
                 window=4, write_max=None, notes=None, running=None,
                 slots=None):
        self.port = port
        # The slot whose image the boot code mounted as the lower (None:
        # not known, or none mounted).  It is what "booted" means to the
        # host, even when a newer slot's record exists but fell back.
        self.running = running
        self.board = board
        self.flash = flash
        self.fs = fs
        # without an overlay, boot's last note says why (e.g. the lower's
        # compressor): every overlay verb answers with it
        self.fs_error = None if fs is not None else \
            (notes[-1] if notes else "no overlay mounted")
        self.max_payload = max_payload
        self.window = window
        erase = flash.erase_size
        self.write_max = write_max or max(erase, (16384 // erase) * erase)
        self.notes = notes or []
        # DATA carries an offset before its bytes.
        self.reader = FrameReader(port.read, max_payload + 8,
                                  stop_on_ctrl_c=True)
        self.reader.on_bad = self._lost
        self.reader.read_chunk = frames.READ_CHUNK
        self.expected = None
        self.nak_sent = None
        self.nak_quiet = 0
        self.replies = {}
        self.reply_order = []
        self.job = None
        self.stop = None
        self.upper_open = None      # an ovl partition opened by FW_BEGIN
        # The slots as boot verified them, else verified here, once: HELLO
        # reports these states, and hashing every image at each HELLO
        # (repeated while a host waits) would take seconds on a board.
        self.slots = slots if slots is not None else \
            fwslot.scan(board, flash)
        if fs is not None:
            self._remove_put_leftovers()
        self.handlers = {
            HELLO: self.hello, READ: self.read, HASH: self.hash,
            HASHES: self.hashes, ERASE: self.erase, WRITE: self.write,
            DATA: self.data, FW_STATUS: self.fw_status,
            FW_BEGIN: self.fw_begin, FW_COMMIT: self.fw_commit,
            REBOOT: self.reboot, BYE: self.bye,
            FS_LS: self.fs_ls, FS_STAT: self.fs_stat, FS_GET: self.fs_get,
            FS_PUT: self.fs_put, FS_RM: self.fs_rm, FS_MKDIR: self.fs_mkdir,
            FS_MV: self.fs_mv, FS_DIFF: self.fs_diff,
            FS_REVERT: self.fs_revert, FS_RESET: self.fs_reset,
            FS_FSCK: self.fs_fsck, FS_OP: self.fs_op, UP_SCAN: self.up_scan,
            UP_KEEP: self.up_keep, UP_CONFLICTS: self.up_conflicts}

    # ----- the loop -------------------------------------------------------

    def serve(self):
        """Serve until BYE, REBOOT, three Ctrl-C or end of input; returns
        which ("bye", "reboot", "ctrl-c", "eof")."""
        kbd = None
        try:
            import micropython
            kbd = micropython.kbd_intr
            kbd(-1)     # Ctrl-C is data now; three of them end the agent
        except (ImportError, AttributeError):
            pass
        try:
            return self._loop()
        finally:
            if kbd:
                kbd(3)

    def _loop(self):
        while self.stop is None:
            try:
                frame = self.reader.read_frame()
            except Interrupted:
                return "ctrl-c"
            if frame is None:
                if self.reader.eof:
                    return "eof"
                self.reader.drop_unfinished()   # an idle gap
                continue
            self.handle_frame(*frame)
        return self.stop

    def _send(self, kind, seq, payload=b""):
        # One END more than the frame needs: if the line loses a byte of
        # this frame, the host's read still completes and sees the damage.
        wire = frames.encode(kind, seq, payload) + frames.END_B
        self.port.write(wire)
        return wire

    def _lost(self):
        """A frame was damaged or skipped ahead: ask for a resend at once
        rather than leave the host to time out.  While waiting, ask again
        only after a window's worth of frames (a whole resent round) went
        by without the one expected, so one loss gets one resend."""
        if self.expected is None:
            return
        if self.nak_sent == self.expected and self.nak_quiet > 0:
            self.nak_quiet -= 1
            return
        self.nak_sent = self.expected
        self.nak_quiet = self.window
        self._send(NAK, self.expected, struct.pack(frames.NAK_BODY,
                                                  self.expected))

    def handle_frame(self, kind, seq, payload):
        if kind == HELLO:
            self.expected = seq         # a new session
            self.replies = {}
            self.reply_order = []
            self._drop_job()
        elif self.expected is None:
            self._send(ERR, seq, error_payload(compat.EINVAL,
                                               "send HELLO first"))
            return
        ahead = frames.seq_diff(seq, self.expected)
        if ahead > 0:
            self._lost()
            return
        if ahead < 0:
            wire = self.replies.get(seq)
            if wire is not None:
                self.port.write(wire)
            elif kind in IDEMPOTENT:
                self._run(kind, seq, payload)
            else:
                self._send(ERR, seq, error_payload(
                    compat.ESTALE, "stale retransmission of seq %d" % seq))
            return
        self.expected = frames.seq_next(seq)
        self.nak_sent = None
        wire = self._run(kind, seq, payload)
        if kind not in IDEMPOTENT:
            self.replies[seq] = wire
            self.reply_order.append(seq)
            if len(self.reply_order) > 2 * self.window + 2:
                self.replies.pop(self.reply_order.pop(0), None)

    def _run(self, kind, seq, payload):
        handler = self.handlers.get(kind)
        try:
            if handler is None:
                raise compat.oserror(compat.ENOSYS, "unknown command 0x%02x"
                                     % kind)
            result = handler(payload)
        except MemoryError:
            self._drop_job()
            return self._send(ERR, seq, error_payload(compat.ENOMEM,
                                                      "out of memory"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            if kind in (WRITE, DATA):
                self._drop_job()    # a failed write or put starts over
            return self._send(ERR, seq, error_payload(error_code(e),
                                                      exc_message(e)))
        if result is ACK:
            return self._send(ACK, seq)
        if isinstance(result, (dict, list)):
            result = json.dumps(result).encode()
        return self._send(RESP, seq, result or b"")

    # ----- session ----------------------------------------------------------

    def info(self):
        heap = None
        try:
            import gc
            heap = gc.mem_free()
        except (ImportError, AttributeError):
            pass
        impl = sys.implementation
        return {"protocol": PROTOCOL, "agent": ovl.VERSION,
                "runtime": "%s %s" % (impl.name, ".".join(
                    str(v) for v in impl.version[:3])),
                "board": self.board.as_dict(),
                "max_payload": self.max_payload, "window": self.window,
                "write_max": self.write_max, "heap_free": heap,
                "slots": [s.as_dict() for s in self.slots],
                "boot_slot": self._booted(),
                "fs": self.fs is not None, "fs_error": self.fs_error,
                "notes": self.notes,
                "line": {"noise": self.reader.noise, "bad": self.reader.bad}}

    def hello(self, payload):
        return self.info()

    def reboot(self, payload):
        self.stop = "reboot"
        return b""

    def bye(self, payload):
        self.stop = "bye"
        return b""

    def _drop_job(self):
        """Forget a write or put in progress; a put's temporary goes too."""
        job, self.job = self.job, None
        if isinstance(job, PutJob):
            job.abort()

    def _remove_put_leftovers(self):
        """Remove the temporaries of puts a power cut interrupted (one walk
        of the upper, at the agent's start: no put is in progress then)."""
        try:
            gone = []
            for kind, path in self.fs.diff("/"):
                if kind == "added" and is_put_temporary(path):
                    self.fs.remove(path)
                    gone.append(path)
            if gone:
                self.fs.sync()
                self.notes.append("removed the temporaries of %d unfinished"
                                  " put(s): %s" % (len(gone), ", ".join(gone)))
        except (OSError, ValueError) as e:
            self.notes.append("could not remove unfinished puts: %s"
                              % exc_message(e))

    # ----- flash ------------------------------------------------------------

    def _check_range(self, addr, n):
        if addr < 0 or n < 0 or addr + n > self.flash.size:
            raise compat.oserror(compat.EINVAL, "range 0x%x+%d outside %d-byte"
                                 " flash" % (addr, n, self.flash.size))

    def _check_writable(self, addr, n):
        """Refuse writes to the upper (overlay verbs own it) and to a slot
        whose record still vouches for its image (FW_BEGIN first)."""
        self._check_range(addr, n)
        erase = self.flash.erase_size
        if addr % erase or n % erase:
            raise compat.oserror(compat.EINVAL, "0x%x+%d is not aligned to"
                                 " %d-byte erase blocks" % (addr, n, erase))
        for p in self.board.partitions:
            if addr < p.offset + p.size and p.offset < addr + n:
                if p.type == "ovl" and p.name != self.upper_open:
                    raise compat.oserror(compat.EACCES, "partition %s is the"
                                         " overlay upper; use the overlay"
                                         " verbs" % p.name)
        for s in self.slots:
            if s.state != "missing" and addr < s.offset + s.capacity + erase \
                    and s.offset < addr + n:
                raise compat.oserror(compat.EBUSY, "slot %s holds a recorded"
                                     " image; FW_BEGIN it first" % s.name)

    def read(self, payload):
        addr, n = unpack(frames.RANGE, payload)
        if n > self.max_payload:
            raise compat.oserror(compat.E2BIG, "read of %d bytes exceeds %d"
                                 % (n, self.max_payload))
        self._check_range(addr, n)
        return self.flash.read(addr, n)

    def hash(self, payload):
        addr, n = unpack(frames.RANGE, payload)
        self._check_range(addr, n)
        return fwslot.hash_range(self.flash, addr, n)

    def hashes(self, payload):
        addr, n, unit = unpack(frames.HASHES_RANGE, payload)
        if unit <= 0 or n % unit or \
                (n // unit) * frames.DIGEST_LEN > self.max_payload:
            raise compat.oserror(compat.EINVAL, "bad hash unit %d for %d bytes"
                                 % (unit, n))
        self._check_range(addr, n)
        out = []
        for a in range(addr, addr + n, unit):
            out.append(fwslot.hash_range(self.flash, a, unit))
        return b"".join(out)

    def erase(self, payload):
        addr, n = unpack(frames.RANGE, payload)
        self._check_writable(addr, n)
        erase = self.flash.erase_size
        for b in range(addr // erase, (addr + n) // erase):
            self.flash.erase(b)
        self.flash.sync()
        return b""

    def write(self, payload):
        addr, n, digest = unpack(frames.WRITE_HEAD, payload)
        self._check_writable(addr, n)
        if n == 0 or n > self.write_max:
            raise compat.oserror(compat.E2BIG, "write of %d bytes; limit %d"
                                 % (n, self.write_max))
        self._drop_job()
        self.job = WriteJob(addr, n, digest)
        return b""

    def data(self, payload):
        job = self.job
        if job is None:
            raise compat.oserror(compat.EINVAL, "DATA without a WRITE")
        head = frames.DATA_HEAD_LEN
        if len(payload) < head:
            raise ValueError("short DATA frame")
        (offset,) = struct.unpack(frames.DATA_HEAD, payload[:head])
        chunk = payload[head:]
        if isinstance(job, PutJob):
            if offset != job.pos or job.pos + len(chunk) > job.size:
                raise compat.oserror(compat.EINVAL, "DATA at %d, expected %d"
                                     % (offset, job.pos))
            job.write(chunk)
            if job.pos < job.size:
                return ACK
            self.job = None
            return job.finish()
        if offset != job.pos or job.pos + len(chunk) > len(job.buf):
            raise compat.oserror(compat.EINVAL, "DATA at %d, expected %d"
                                 % (offset, job.pos))
        job.buf[job.pos:job.pos + len(chunk)] = chunk
        job.pos += len(chunk)
        if job.pos < len(job.buf):
            return ACK
        self.job = None
        return self._commit(job)

    def _commit(self, job):
        """Program the collected blocks once their hash checks out."""
        if compat.sha256(job.buf).digest() != job.digest:
            raise compat.oserror(compat.EIO, "data for 0x%x does not match its"
                                 " hash; nothing written" % job.addr)
        flash = self.flash
        written = write_blocks(flash, job.addr, job.buf)
        flash.sync()
        check = fwslot.hash_range(flash, job.addr, len(job.buf))
        if check != job.digest:
            raise compat.oserror(compat.EIO, "verify failed at 0x%x: flash"
                                 " reads back different data" % job.addr)
        return struct.pack(frames.WRITE_DONE, written) + check

    # ----- firmware slots ---------------------------------------------------

    def _slot(self, name):
        for s in self.slots:
            if s.name == name:
                return s
        raise compat.oserror(compat.ENOENT, "no firmware slot %r" % name)

    def fw_status(self, payload):
        req = request(payload) if payload else {}
        self.slots = fwslot.scan(self.board, self.flash,
                                 bool(req.get("verify")), self.slots)
        out = {"slots": [s.as_dict() for s in self.slots],
               "boot_slot": self._booted()}
        if self.fs is None:
            out["upper"] = self._upper_state()
        return out

    def _upper_state(self):
        """Without an overlay, what `ovl flash` needs to know before it
        replaces firmware the upper may read: {changes: does the upper
        hold anything, kept_for: the image a flash kept the user's files
        whole for (META_KEPT_FOR)}, or {error} if the upper cannot be
        read."""
        part = None
        for p in self.board.partitions:
            if p.type == "ovl":
                part = p
        if part is None:
            return {"changes": False, "kept_for": None}
        erase = self.flash.erase_size
        blank = b"\xff" * erase
        for a in range(part.offset, part.offset + part.size, erase):
            if self.flash.read(a, erase) != blank:
                break
        else:
            return {"changes": False, "kept_for": None}  # never formatted
        try:
            from ovl.flash import Region
            from ovl.store import LogStore, ROOT_INO
            store = LogStore.mount(Region(self.flash, part.offset, part.size,
                                          part.name), readonly=True,
                                   checkpoints=self.board.store_checkpoints)
            changes = False
            for _ in store.listdir(ROOT_INO):
                changes = True
                break
            kept = store.get_meta(ROOT_INO, META_KEPT_FOR)
        except ImportError:
            return {"error": "this agent has no log store to read it with"}
        except (OSError, ValueError, MemoryError) as e:
            return {"error": exc_message(e)}
        return {"changes": changes,
                "kept_for": bytes(kept).decode() if kept else None}

    def _booted(self):
        """The running slot's name; without boot code's word, the one the
        records say boots."""
        if self.running is not None:
            return self.running
        boot = fwslot.boot_slot(self.slots)
        return boot.name if boot else None

    def fw_begin(self, payload):
        req = request(payload)
        name = req["slot"]
        for p in self.board.partitions:
            if p.name == name and p.type == "ovl":
                # An upper dump written back whole: the overlay on it stops
                # first, and the partition takes WRITEs until reboot.
                self.fs = None
                self.fs_error = "upper partition %s is being rewritten;" \
                    " reboot" % name
                self.upper_open = name
                return b""
        slot = self._slot(name)
        if slot.name == self._booted() and self.fs is not None:
            # The overlay reads this slot as its lower: say which image
            # its files were kept whole for (a flash without the overlay
            # may go on with that image only), then stop serving it, here
            # and to an agent started again before the reboot.
            from ovl.store import ROOT_INO
            try:
                txn = self.fs.store.begin()
                txn.set_meta(ROOT_INO, META_KEPT_FOR,
                             (req.get("sha256") or "").encode() or None)
                txn.commit()
                self.fs.sync()
            except OSError:
                pass    # (a full upper) unmarked: such a flash is refused
            self.fs = None
            self.fs_error = "firmware slot %s is being rewritten; reboot" \
                % slot.name
            booted = getattr(sys.modules.get("ovl.boot"), "BOOTED", None)
            if booted is not None and booted.flash is self.flash:
                booted.fs, booted.fs_error = None, self.fs_error
        fwslot.invalidate(self.flash, slot)
        return b""

    def fw_commit(self, payload):
        req = request(payload)
        slot = self._slot(req["slot"])
        digest = binascii.unhexlify(req["sha256"])
        gen = fwslot.commit(self.flash, slot, int(req["size"]), digest,
                            self.slots)
        return {"slot": slot.name, "generation": gen}


    # ----- overlay verbs ------------------------------------------------------

    def _fs(self):
        if self.fs is None:
            raise compat.oserror(compat.ENODEV, self.fs_error or
                                 "no overlay mounted")
        return self.fs

    def fs_ls(self, payload):
        req = request(payload)
        fs = self._fs()
        path = req["path"]
        names = fs.listdir(path)
        start = int(req.get("start", 0))
        out = []
        room = self.max_payload - 64
        i = start
        while i < len(names):
            name = names[i]
            if name.startswith(PUT_PREFIX):
                i += 1
                continue
            st = fs.lstat(join_path(path, name))
            entry = [name, st[0], st[6]]
            room -= len(json.dumps(entry)) + 2
            if room < 0 and out:
                break
            out.append(entry)
            i += 1
        return {"entries": out, "next": i if i < len(names) else None}

    def fs_stat(self, payload):
        req = request(payload)
        path = req["path"]
        fs = self._fs()
        st = fs.lstat(path)
        out = {"mode": st[0], "ino": st[1], "nlink": st[3], "uid": st[4],
               "gid": st[5], "size": st[6], "mtime": st[8],
               "layer": fs.layer_of(path)}
        from ovl.paths import is_lnk    # an injected agent has no ovl.paths
        if is_lnk(st[0]):
            out["target"] = fs.readlink(path)
        if req.get("lower"):
            # what the firmware has at this path (a backup's opaque dirs)
            try:
                out["lower_mode"] = fs.lower.lookup(path).mode
            except OSError:
                out["lower_mode"] = None
        return out

    def fs_get(self, payload):
        req = request(payload)
        n = int(req["n"])
        if n > self.max_payload:
            raise compat.oserror(compat.E2BIG, "read of %d bytes exceeds %d"
                                 % (n, self.max_payload))
        if req.get("layer") == "lower":     # the firmware's own version
            fs = self._fs()
            from ovl.upgrade import read_lower
            return read_lower(fs.lower, req["path"], int(req["offset"]), n)
        with self._fs().open(req["path"], "rb") as f:
            f.seek(int(req["offset"]))
            return f.read(n)

    def fs_put(self, payload):
        req = request(payload)
        self._drop_job()
        self.job = PutJob(self._fs(), req["path"], int(req["size"]),
                          binascii.unhexlify(req["sha256"]))
        if self.job.size == 0:
            job, self.job = self.job, None
            return job.finish()
        return b""

    def fs_rm(self, payload):
        path = request(payload)["path"]
        fs = self._fs()
        from ovl.paths import is_dir    # an injected agent has no ovl.paths
        if is_dir(fs.lstat(path)[0]):
            fs.rmdir(path)
        else:
            fs.remove(path)
        return b""

    def fs_mkdir(self, payload):
        req = request(payload)
        self._fs().mkdir(req["path"], req.get("mode", 0o777))
        return b""

    def fs_mv(self, payload):
        req = request(payload)
        self._fs().rename(req["src"], req["dst"])
        return b""

    def _fit_pairs(self, pairs):
        """([kind, path] pairs that fit in a reply, truncated?)."""
        out = []
        room = self.max_payload - 64
        for kind, path in pairs:
            if is_put_temporary(path):
                continue
            room -= len(kind) + len(path) + 8
            if room < 0:
                return out, True
            out.append([kind, path])
        return out, False

    def _page(self, pairs, req, key):
        """The (kind, path) pairs from the request's start on that fit a
        reply, as {key: pairs, truncated, next}: `next` is the start of
        the following page (None on the last)."""
        pairs = list(pairs)
        start = int(req.get("start", 0))
        out, truncated = self._fit_pairs(pairs[start:])
        nxt = None
        if truncated:
            if not out:
                raise compat.oserror(compat.E2BIG, "a path does not fit"
                                     " a reply")
            nxt = pairs.index(tuple(out[-1]), start) + 1
        return {key: out, "truncated": truncated, "next": nxt}

    def fs_diff(self, payload):
        req = request(payload)
        return self._page(self._fs().diff(req.get("path", "/")), req,
                          "changes")

    def fs_revert(self, payload):
        self._fs().revert(request(payload)["path"])
        return b""

    def fs_reset(self, payload):
        fs = self._fs()
        req = request(payload)
        # without a keep list of its own, the board's keep list applies
        keep = req.get("keep")
        if keep is None:
            keep = self.board.keep
        if req.get("when") == "boot":
            fs.request_reset(True, keep)
        else:
            fs.reset(keep)
        return b""

    def fs_fsck(self, payload):
        return {"problems": list(self._fs().fsck())}

    def fs_op(self, payload):
        """{op, args}: the overlay's op(*args), one transaction."""
        req = request(payload)
        # what a restore needs beside put, mkdir, mv, rm (docs/SERIAL.md)
        if req["op"] not in ("chmod", "chown", "utime", "symlink", "link",
                             "mknod"):
            raise compat.oserror(compat.EINVAL, "no overlay op %r" % req["op"])
        getattr(self._fs(), req["op"])(*req["args"])
        return b""

    # ----- firmware upgrades (docs/SERIAL.md, "Upgrades") -------------------

    def up_scan(self, payload):
        """The partial files from index start on, as many as fit."""
        fs = self._fs()         # before the import: an injected agent has
        from ovl import upgrade  # no overlay modules
        start = int(request(payload).get("start", 0))
        out = []
        room = self.max_payload - 64
        i = start
        for item in upgrade.scan(fs, start):
            room -= len(json.dumps(item)) + 2
            if room < 0 and out:
                return {"files": out, "next": i}
            out.append(item)
            i += 1
        return {"files": out, "next": None}

    def up_keep(self, payload):
        fs = self._fs()
        from ovl import upgrade
        path = request(payload)["path"]
        return {"path": path, "programmed": upgrade.materialize(fs, path)}

    def up_conflicts(self, payload):
        fs = self._fs()
        from ovl import upgrade
        return self._page(upgrade.conflicts(fs),
                          request(payload) if payload else {}, "conflicts")


# A put streams into "<dir>/<PUT_PREFIX><name>": a reserved name, never
# listed or diffed, removed when the put fails and at the agent's start.
PUT_PREFIX = ".ovl-put-"


def is_put_temporary(path):
    return path.rsplit("/", 1)[-1].startswith(PUT_PREFIX)


def join_path(parent, name):
    return "/" + name if parent in ("", "/") else parent.rstrip("/") + "/" + name


class PutJob:
    """A file arriving for the overlay: it streams into a temporary upper
    file, is read back and hashed, then one rename makes it visible, so a
    disconnect leaves the old file or the new one, never a truncated one.
    A symlink path is written through, as open() writes: the temporary
    sits beside the link's target and is renamed over it."""

    def __init__(self, fs, path, size, digest):
        if "/" not in path or path.endswith("/"):
            raise compat.oserror(compat.EINVAL, "bad path %r" % path)
        self.fs = fs
        self.path = path
        self.target = fs.write_target(path)
        parent, name = self.target.rsplit("/", 1)
        self.tmp = parent + "/" + PUT_PREFIX + name
        self.size = size
        self.digest = digest
        self.pos = 0
        try:
            fs.remove(self.tmp)     # left by an earlier, interrupted put
        except OSError:
            pass
        try:
            self.file = fs.open(self.tmp, "wb")
        except OSError as e:
            raise self._named(e)

    def _named(self, e):
        """e with the user's path where it names the temporary."""
        return OSError(compat.error_code(e),
                       exc_message(e).replace(self.tmp, self.path))

    def write(self, chunk):
        try:
            self.file.write(chunk)
        except OSError as e:
            raise self._named(e)
        self.pos += len(chunk)

    def finish(self):
        try:
            self.file.close()
            h = compat.sha256()
            with self.fs.open(self.tmp, "rb") as f:
                while True:
                    chunk = f.read(4096)
                    if not chunk:
                        break
                    h.update(chunk)
            if h.digest() != self.digest:
                raise compat.oserror(compat.EIO, "%s does not match its hash;"
                                     " the old file is kept" % self.path)
            self.fs.rename(self.tmp, self.target)
        except OSError as e:
            self.abort()
            raise self._named(e)
        except ValueError:
            self.abort()
            raise
        self.fs.sync()
        return {"path": self.path, "size": self.size}

    def abort(self):
        """Give up: the temporary goes, the old file stays."""
        try:
            self.file.close()
        except (OSError, ValueError):
            pass
        try:
            self.fs.remove(self.tmp)
            self.fs.sync()
        except OSError:
            pass


def start(**options):
    """One-line start from the REPL: the board module says where flash is."""
    import ovl_board
    board, flash = ovl_board.open_board()
    fs = options.pop("fs", None)
    # after ovl.boot brought this board up: its overlay, notes and slot
    booted = getattr(sys.modules.get("ovl.boot"), "BOOTED", None)
    if fs is None and booted is not None and booted.flash is flash:
        fs = booted.fs
        options.setdefault("notes", booted.notes)
        options.setdefault("running", booted.running)
        options.setdefault("slots", booted.slots)
    agent = Agent(StdioPort(), board, flash, fs=fs, **options)
    if fs is None and booted is not None and booted.fs_error:
        agent.fs_error = booted.fs_error
    return agent.serve()
