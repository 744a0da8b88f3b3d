"""Serial framing shared by the device agent and the host: one implementation.

A frame on the wire:

    END (0xC0) | HDR(4) | BODY (escaped, HDR says how many wire bytes) | END

    BODY before escaping = kind u8 | seq u16 LE | payload | crc32 u32 LE

HDR carries the escaped body length as three 6-bit digits plus a check
digit, each sent as 0x40|digit, so a header never contains a special byte
and a reader knows exactly how many bytes to read: a blocking
readinto(n) is enough, which every MicroPython port has (per-byte reads
with polling are slow on a microcontroller).

Escaping is SLIP's (0xC0 -> DB DC, 0xDB -> DB DD) plus 0x03 -> DB DE, so a
raw Ctrl-C never appears inside a frame: three Ctrl-C in a row on the line
mean "back to the REPL".  Escaping and unescaping are bytes.replace calls,
which run at C speed on both runtimes; COBS would need a Python loop per
zero byte.

The leading END lets a reader that just started (or lost its place) sync
on the frame itself; between frames, repeated ENDs are idle filler.  A
reader that meets anything unexpected (bad header, wrong length, CRC
mismatch) drops bytes up to the next END and carries on: that END is a
sync point, because what follows an END must be a header.
"""

import struct
from binascii import crc32

END = 0xC0
ESC = 0xDB
ETX = 0x03          # Ctrl-C
END_B = b"\xc0"
HEADER_LEN = 4
CRC_LEN = 4
# kind u8, seq u16 before the payload; crc32 after it.
OVERHEAD = 3 + CRC_LEN
MAX_WIRE_BODY = (1 << 18) - 1   # what three 6-bit digits can say
# The agent reads at most this many bytes per blocking read, and a host
# starting a session sends this many ENDs first: they complete any read a
# dead host left half done, and the first END among them, met inside a
# body, ends the broken frame at once (a body never holds an END).
READ_CHUNK = 256

# Frame kinds.  Requests use the command codes of ovl.agent (1..0x3f);
# everything below travels the other way except DATA.
DATA = 0x40     # host -> agent: payload bytes of a WRITE/PUT in progress
RESP = 0x81     # agent -> host: the request with this seq succeeded
ERR = 0x82      # agent -> host: it failed; payload = errno u16 + message
ACK = 0x83      # agent -> host: DATA frame with this seq consumed
NAK = 0x84      # agent -> host: frame(s) lost; payload = expected seq u16

# Binary payload layouts (struct formats, little-endian), declared once
# for the agent that unpacks them and the host that packs them; every
# other payload is JSON.  docs/SERIAL.md, "Commands", has the table.
DIGEST_LEN = 32                 # a SHA-256
RANGE = "<II"                   # READ, HASH, ERASE: addr u32, n u32
HASHES_RANGE = "<III"           # HASHES: addr u32, n u32, unit u32
WRITE_HEAD = "<II%ds" % DIGEST_LEN  # WRITE: addr u32, n u32, sha256
DATA_HEAD = "<I"                # DATA: offset u32, then the bytes
WRITE_DONE = "<H"               # RESP to a WRITE's last DATA: blocks
                                # rewritten u16, then the sha256 read back
ERR_HEAD = "<H"                 # ERR: errno u16, then a UTF-8 message
NAK_BODY = "<H"                 # NAK: the seq expected u16
DATA_HEAD_LEN = struct.calcsize(DATA_HEAD)
WRITE_DONE_LEN = struct.calcsize(WRITE_DONE)
ERR_HEAD_LEN = struct.calcsize(ERR_HEAD)

SEQ_MOD = 0x10000


def seq_next(seq):
    return (seq + 1) & 0xFFFF


def seq_diff(a, b):
    """a - b on the sequence circle, in -32768..32767."""
    d = (a - b) & 0xFFFF
    return d - SEQ_MOD if d >= 0x8000 else d


def _check_digit(d0, d1, d2):
    return (d0 * 7 + d1 * 11 + d2 * 13 + 0x15) & 0x3F


def encode_header(n):
    if n < 0 or n > MAX_WIRE_BODY:
        raise ValueError("frame body of %d bytes is too long" % n)
    d0 = n >> 12
    d1 = (n >> 6) & 0x3F
    d2 = n & 0x3F
    return bytes((0x40 | d0, 0x40 | d1, 0x40 | d2,
                  0x40 | _check_digit(d0, d1, d2)))


def decode_header(h):
    """The wire body length a header announces, or None if it is not one."""
    for c in h:
        if c & 0xC0 != 0x40:
            return None
    d0 = h[0] & 0x3F
    d1 = h[1] & 0x3F
    d2 = h[2] & 0x3F
    if h[3] & 0x3F != _check_digit(d0, d1, d2):
        return None
    return (d0 << 12) | (d1 << 6) | d2


def escape(data):
    # DB first, or the escapes added for C0 and 03 would be escaped again.
    return data.replace(b"\xdb", b"\xdb\xdd").replace(
        b"\xc0", b"\xdb\xdc").replace(b"\x03", b"\xdb\xde")


def unescape(data):
    # Every DB in escaped data starts a pair, so replacing the pairs one
    # kind at a time cannot split a pair; DB DD goes last for the same
    # reason DB went first in escape().
    return data.replace(b"\xdb\xdc", b"\xc0").replace(
        b"\xdb\xde", b"\x03").replace(b"\xdb\xdd", b"\xdb")


def encode(kind, seq, payload=b""):
    """The wire bytes of one frame."""
    body = struct.pack("<BH", kind, seq) + payload
    body = escape(body + struct.pack("<I", crc32(body) & 0xFFFFFFFF))
    return END_B + encode_header(len(body)) + body + END_B


def wire_limit(max_payload):
    """Longest escaped body a reader must accept for payloads up to
    max_payload (escaping at most doubles every byte)."""
    return min(MAX_WIRE_BODY, 2 * (max_payload + OVERHEAD))


class Interrupted(Exception):
    """Three Ctrl-C bytes arrived between frames: the user wants the REPL."""


class FrameReader:
    """Pulls frames out of a byte stream, resynchronising after noise.

    read(n) returns up to n bytes: a device port blocks until it has them;
    a host port returns fewer (maybe none) when its timeout expires, and
    read_frame then returns None with the partial frame kept for later.
    A port may also return None for "nothing came for a while" (an idle
    gap); b"" means end of input (.eof).  read_chunk caps each read.
    """

    def __init__(self, read, max_payload, stop_on_ctrl_c=False):
        self._read = read
        self.max_payload = max_payload
        self.max_wire = wire_limit(max_payload)
        self.stop_on_ctrl_c = stop_on_ctrl_c
        self._pending = b""
        self._synced = False
        self._etx_run = 0
        self.noise = 0          # bytes skipped while looking for an END
        self.bad = 0            # frames dropped: length, trailer or CRC
        self.on_bad = None      # called when a frame is dropped
        self.eof = False
        self.read_chunk = None  # most bytes asked of one read (None: all)

    def set_max_payload(self, max_payload):
        self.max_payload = max_payload
        self.max_wire = wire_limit(max_payload)

    def drop_partial(self):
        """Give up on a half-read frame (its header may have been noise
        announcing a length that never comes): rescan from its next byte."""
        if self._pending:
            self._skipped(self._pending[:1])
            self._pending = self._pending[1:]
        self._synced = False

    def drop_unfinished(self):
        """After an idle gap: the frame begun before it will not be
        completed (its sender died or restarted).  Drop it and wait for the
        next frame's leading END."""
        if self._pending:
            self._skipped(self._pending)
            self._pending = b""
            self._synced = False
            self._dropped()

    def _take(self, n, early_end=False):
        """n bytes, or None if the stream ran dry first (what came stays
        pending).  early_end: a frame body is being read, which holds no
        END: return fewer bytes, at once, when one arrives."""
        p = self._pending
        most = self.read_chunk or n
        if early_end and END_B in p[:n]:
            most = 0
        while len(p) < n and most:
            chunk = self._read(min(n - len(p), most))
            if not chunk:
                self._pending = p
                self.eof = chunk is not None
                return None
            p += chunk
            if early_end and END_B in chunk:
                break
        self.eof = False
        self._pending = p[n:]
        return p[:n]

    def _skipped(self, data):
        """Count skipped bytes; three Ctrl-C in a row interrupt."""
        for c in data:
            if c == ETX:
                self._etx_run += 1
                if self._etx_run >= 3 and self.stop_on_ctrl_c:
                    self._etx_run = 0
                    raise Interrupted("Ctrl-C")
            else:
                self._etx_run = 0
        self.noise += len(data)

    def _dropped(self):
        self.bad += 1
        if self.on_bad:
            self.on_bad()

    def _resync(self, data):
        """Drop data up to and including its first END (if any)."""
        i = data.find(END_B)
        if i < 0:
            self._skipped(data)
            self._synced = False
            return
        self._skipped(data[:i])
        self._pending = data[i + 1:] + self._pending
        self._synced = True

    def read_frame(self):
        """(kind, seq, payload) of the next good frame, or None if the
        stream ran dry first."""
        while True:
            if not self._synced:
                b = self._take(1)
                if b is None:
                    return None
                if b[0] == END:
                    self._synced = True
                else:
                    self._skipped(b)
                continue
            # Header bytes one at a time: a user typing Ctrl-C at an idle
            # agent sends fewer than HEADER_LEN bytes.
            hdr = self._take(1)
            if hdr is None:
                return None
            if hdr[0] == END:
                continue        # idle filler between frames
            if hdr[0] & 0xC0 != 0x40:
                self._resync(hdr)
                continue
            more = self._take(HEADER_LEN - 1)
            if more is None:
                self._pending = hdr + self._pending
                return None
            hdr += more
            n = decode_header(hdr)
            if n is None or n > self.max_wire or n < OVERHEAD:
                self._dropped()
                self._resync(hdr[1:])
                continue
            rest = self._take(n + 1, early_end=True)
            if rest is None:
                self._pending = hdr + self._pending
                return None
            wire = rest[:n]
            if len(rest) <= n or rest[n] != END or END_B in wire:
                # A byte was lost or gained: the frame's real END (or a
                # later one) sits somewhere in what we read.
                self._dropped()
                self._resync(rest)
                continue
            body = unescape(wire)
            if len(body) < OVERHEAD:
                self._dropped()
                continue
            (crc,) = struct.unpack("<I", body[-CRC_LEN:])
            if crc32(body[:-CRC_LEN]) & 0xFFFFFFFF != crc:
                self._dropped()
                continue
            kind, seq = struct.unpack("<BH", body[:3])
            self._etx_run = 0
            return kind, seq, body[3:-CRC_LEN]
