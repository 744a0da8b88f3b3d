"""The host end of the agent protocol: ports, requests, pipelines, bootstrap.

open_port() takes a device path or a pyserial URL (loop://, socket://,
rfc2217://).  Link speaks ovl.frames to the agent: call() for one request,
pipeline() for many with up to `window` frames in flight, go-back-N on a
NAK or a timeout.  connect() says HELLO and, when no agent answers, injects
one through MicroPython's raw REPL (raw-paste with flow control when the
board has it) and says HELLO again.
"""

import binascii
import json
import os
import random
import struct
import sys
import time

import serial

from ovl import agent, frames
from ovl.frames import RESP, ERR, NAK

from host_tools import FIRMWARE


HELLO_MAX = 16384
FILLER = frames.END_B * 2


class LinkError(OSError):
    """The link failed: no answer, or the board stopped answering."""


class RemoteError(OSError):
    """The agent ran the command and reported an error (errno, message)."""


def warn(msg):
    print("ovl: warning: %s" % msg, file=sys.stderr)


def open_port(spec, baud=115200, timeout=0.05, write_timeout=10.0):
    """A pyserial port for a device path or URL."""
    try:
        if "://" in spec:
            return serial.serial_for_url(spec, baudrate=baud, timeout=timeout,
                                         write_timeout=write_timeout)
        return serial.Serial(spec, baudrate=baud, timeout=timeout,
                             write_timeout=write_timeout)
    except (serial.SerialException, ValueError) as e:
        raise LinkError("cannot open port %s: %s" % (spec, e))


def set_line(ser, line, level):
    """Drive DTR or RTS; a pty or socket that cannot is warned about once."""
    try:
        setattr(ser, line.lower(), bool(level))
        return True
    except (OSError, serial.SerialException, ValueError, AttributeError) as e:
        key = "_ovl_warned_" + line
        if not getattr(ser, key, False):
            warn("cannot drive %s on %s (%s); a pty or socket has no modem"
                 " lines" % (line.upper(), getattr(ser, "port", "?"), e))
            try:
                setattr(ser, key, True)
            except AttributeError:
                pass
        return False


class Link:
    def __init__(self, ser, timeout=2.0, retries=8):
        self.ser = ser
        self.timeout = timeout
        self.retries = retries
        self.until = 0.0            # when the frame being waited for is late
        self.new_reader()
        self.seq = random.randrange(frames.SEQ_MOD)
        self.max_payload = 256
        self.window = 1
        self.info = None
        self.resends = 0
        self.progress = None        # called with nothing after each reply

    def new_reader(self):
        """A frame reader on the port; until HELLO says how big frames
        get, with room for the HELLO reply."""
        self.reader = frames.FrameReader(self._read, HELLO_MAX)

    def _read(self, n):
        # Past the deadline a read is an idle gap (None): the reader then
        # returns None however many bytes the port still has, so a port
        # that keeps sending what is not frames cannot keep it reading.
        if time.monotonic() >= self.until:
            return None
        return self.ser.read(n)

    def read_frame(self, until):
        """The next good frame, or None once the port had nothing more
        to read or the clock passed `until` (time.monotonic())."""
        self.until = until
        return self.reader.read_frame()

    def _timeout_for(self, frames_in_flight):
        """Allow for the line: a window of full frames at this baud rate."""
        baud = getattr(self.ser, "baudrate", 115200) or 115200
        wire = frames_in_flight * (2 * self.max_payload + 32)
        return self.timeout + wire * 10.0 / baud

    def pipeline(self, requests, on_reply=None, filler=True):
        """Send (kind, payload) requests with up to `window` in flight; call
        on_reply(i, kind, payload) in request order.  Raises RemoteError on
        the first ERR reply, LinkError when the board stops answering."""
        it = iter(requests)
        inflight = []           # [seq, wire, index] oldest first
        replies = {}
        index = 0
        done = False
        tries = 0
        last_heard = time.monotonic()
        write = self._write
        while True:
            sent = False
            while not done and len(inflight) < self.window:
                try:
                    kind, payload = next(it)
                except StopIteration:
                    done = True
                    break
                seq = self.seq
                self.seq = frames.seq_next(seq)
                wire = frames.encode(kind, seq, payload)
                write(wire)
                sent = True
                inflight.append([seq, wire, index, kind])
                index += 1
            if sent and filler:
                # Filler: if a byte of the last frame was lost, these
                # complete the agent's read at once, so it notices now.
                write(FILLER)
            if not inflight:
                return
            frame = self.read_frame(
                last_heard + self._timeout_for(len(inflight)))
            now = time.monotonic()
            if frame is None:
                if now - last_heard > self._timeout_for(len(inflight)):
                    tries += 1
                    if tries > self.retries:
                        seq, _, i, kind = inflight[0]
                        raise LinkError(
                            "board stopped answering (no reply to %s, request"
                            " %d, after %d retries)"
                            % (agent.NAMES.get(kind, kind), i, self.retries))
                    self.reader.drop_partial()
                    self._resend(inflight, replies, None)
                    last_heard = now
                continue
            kind, seq, payload = frame
            if kind == NAK:
                # The agent rate-limits these to one per lost frame.
                (expected,) = struct.unpack_from(frames.NAK_BODY, payload)
                self._resend(inflight, replies, expected)
                continue
            if not any(f[0] == seq for f in inflight) or seq in replies:
                continue        # a stale or repeated reply
            last_heard = now
            tries = 0
            replies[seq] = (kind, payload)
            while inflight and inflight[0][0] in replies:
                s, _, i, _k = inflight.pop(0)
                rkind, rpayload = replies.pop(s)
                if rkind == ERR:
                    raise remote_error(rpayload, _k)
                if on_reply:
                    on_reply(i, rkind, rpayload)
                if self.progress:
                    self.progress()

    def _write(self, data):
        try:
            self.ser.write(data)
        except serial.SerialTimeoutException:
            raise LinkError("board stopped reading (write timed out)")

    def _resend(self, inflight, replies, start):
        go = start is None
        for seq, wire, _, _ in inflight:
            if not go and seq == start:
                go = True
            if go and seq not in replies:
                self._write(wire)
                self.resends += 1
        self._write(FILLER)

    def call(self, kind, payload=b"", filler=True):
        out = []
        self.pipeline([(kind, payload)], lambda i, k, p: out.append(p),
                      filler)
        return out[0]

    def call_json(self, kind, obj=None):
        payload = b"" if obj is None else json_payload(obj)
        reply = self.call(kind, payload)
        return json_reply(reply) if reply else None

    def hello(self, within=2.0, wait=0.5):
        """Start a session; the agent's info dict, or None if none answers
        within `within` seconds.  HELLO is said again every `wait` seconds,
        less often as time goes by: a board that is still booting may have
        lost the earlier ones, and each one it did queue costs it a reply."""
        end = time.monotonic() + within
        while True:
            seq = self.seq
            self.seq = frames.seq_next(seq)
            # ENDs first: they end a frame a dead host left half sent,
            # even inside the agent's read of it (frames.READ_CHUNK).
            self._write(frames.END_B * frames.READ_CHUNK +
                        frames.encode(agent.HELLO, seq))
            deadline = min(end, time.monotonic() + wait)
            while True:
                # Only the latest HELLO's reply counts: the agent starts
                # its session at the last HELLO it reads.
                f = self.read_frame(deadline)
                if f and f[1] == seq and f[0] == RESP:
                    self.info = json_reply(f[2])
                    self.max_payload = self.info["max_payload"]
                    self.reader.set_max_payload(self.max_payload + 64)
                    self.window = max(1, self.info["window"])
                    return self.info
                if time.monotonic() >= deadline:
                    break
            self.reader.drop_partial()
            if time.monotonic() >= end:
                return None
            wait = min(1.0, wait * 1.5)

    def bye(self):
        """End the session; the agent returns to the REPL, where filler
        bytes would read as text."""
        try:
            self.call(agent.BYE, filler=False)
        except OSError:
            pass


# A name an older ovl on MicroPython stored that is not UTF-8 travels as
# its own bytes, the str it is on the host decoded with surrogateescape (as
# os.fsdecode decodes argv and the store's listdir its names).
NAME_ERRORS = "surrogateescape"


def json_payload(obj):
    """obj as the agent reads JSON: UTF-8 text, a name that is not UTF-8
    as its bytes (NAME_ERRORS).  Not ASCII with \\u escapes: MicroPython's
    json turns each half of a surrogate pair (a character outside the BMP,
    e.g. an emoji) into its own 3-byte sequence, and a name stored so is
    not UTF-8."""
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", NAME_ERRORS)


def json_reply(payload):
    """An agent's JSON reply: a name in it that is not UTF-8 decodes as
    json_payload encodes it (MicroPython's json sends its bytes as they
    are; CPython's escapes the surrogates, which decode to the same str)."""
    return json.loads(bytes(payload).decode("utf-8", NAME_ERRORS))


def remote_error(payload, kind=None):
    head = frames.ERR_HEAD_LEN
    code = struct.unpack(frames.ERR_HEAD, payload[:head])[0] \
        if len(payload) >= head else 5
    msg = payload[head:].decode("utf-8", NAME_ERRORS)
    what = agent.NAMES.get(kind, "request") if kind is not None else "request"
    return RemoteError(code, "board refused %s: %s" % (what, msg))


# ----- bootstrap through the raw REPL --------------------------------------

# What a board without ovl needs to run the agent (in import order).  The
# simulated board brings its own ovl_sim (host_tools/serial/sim.py).
AGENT_MODULES = ("ovl", "ovl.compat", "ovl.flash", "ovl.flash_rare",
                 "ovl.board", "ovl.frames", "ovl.fwslot", "ovl.agent")


def module_source(name):
    rel = name.replace(".", "/")
    path = os.path.join(FIRMWARE, rel, "__init__.py")
    if not os.path.exists(path):
        path = os.path.join(FIRMWARE, rel + ".py")
    with open(path, encoding="utf-8") as f:
        return f.read()


# A module installed this way is a plain object holding its globals; its
# own __getattr__ (ovl.compat's errno numbers, ovl.flash's lazy parts)
# answers the names the object lacks, as it would for a module.  Only a
# module that has one gets a class that asks it: MicroPython lets an
# instance __getattr__'s AttributeError escape an import, so a package
# object answering every name would turn "no module named ovl.x" (an
# ImportError callers catch) into an AttributeError.
INSTALLER = """import sys
class _OvlPlain:
    pass
class _OvlMod(_OvlPlain):
    def __getattr__(self, name):
        return self._getattr(name)
def _ovl_install(name, src):
    g = {'__name__': name}
    exec(src, g)
    m = _OvlMod() if '__getattr__' in g else _OvlPlain()
    for k in g:
        setattr(m, k, g[k])
    m._getattr = g.get('__getattr__')
    sys.modules[name] = m
    if '.' in name:
        p, leaf = name.rsplit('.', 1)
        setattr(sys.modules[p], leaf, m)
"""


def bootstrap_script(modules=AGENT_MODULES, start="ovl.agent.start()"):
    parts = [INSTALLER]
    for name in modules:
        parts.append("_ovl_install(%r, %r)\n" % (name, module_source(name)))
    parts.append("import ovl.agent\n%s\n" % start)
    return "".join(parts)


class RawRepl:
    """MicroPython's raw REPL on a port (enter, paste code, leave).

    Every wait for the board is bounded by `timeout` seconds, however
    short the port's own read timeout: a board compiling what it is sent
    may be silent for a while, more so on a busy host."""

    def __init__(self, ser, timeout=10.0):
        self.ser = ser
        self.timeout = timeout

    def read_until(self, marker, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        buf = bytearray()   # grows in place: a chatty port fills it fast
        while not buf.endswith(marker):
            if time.monotonic() > deadline:
                raise LinkError("no raw REPL: waited for %r, got %r"
                                % (marker, bytes(buf[-60:])))
            buf += self.ser.read(1)
        return bytes(buf)

    def read_exact(self, n, what):
        deadline = time.monotonic() + self.timeout
        buf = b""
        while len(buf) < n:
            if time.monotonic() > deadline:
                raise LinkError("board did not answer the %s" % what)
            buf += self.ser.read(n - len(buf))
        return buf

    def enter(self):
        # Ctrl-C three times also stops a running agent (see ovl.frames).
        self.ser.write(b"\r\x03\x03\x03")
        time.sleep(0.1)
        self.ser.reset_input_buffer()
        self.ser.write(b"\r\x01")
        self.read_until(b"raw REPL; CTRL-B to exit\r\n>")

    def paste(self, code):
        """Send code for execution; raw-paste with flow control if the board
        has it, else the plain raw REPL in small slices."""
        data = code.encode()
        self.ser.write(b"\x05A\x01")
        reply = self.read_exact(2, "raw-paste probe")
        if reply == b"R\x01":
            self._raw_paste(data)
            return "raw-paste"
        if reply == b"R\x00":
            self.read_until(b">")       # understood, not supported
        else:
            self.read_until(b">")       # old firmware echoed the probe
        for i in range(0, len(data), 256):
            self.ser.write(data[i:i + 256])
            time.sleep(0.01)
        self.ser.write(b"\x04")
        if self.read_until(b"OK")[-2:] != b"OK":
            raise LinkError("board did not accept the code")
        return "raw"

    def _raw_paste(self, data):
        head = self.read_exact(2, "raw-paste start")
        (increment,) = struct.unpack("<H", head)
        window = increment
        pos = 0
        granted = time.monotonic()
        while pos < len(data):
            # The board grants more room with \x01, or aborts with \x04;
            # no grant for `timeout` seconds ends the paste, however many
            # other bytes keep coming.
            while window == 0 or self.ser.in_waiting:
                if time.monotonic() - granted > self.timeout:
                    raise LinkError("board stopped granting raw-paste room")
                c = self.ser.read(1)
                if c == b"\x01":
                    window += increment
                    granted = time.monotonic()
                elif c == b"\x04":
                    self.ser.write(b"\x04")
                    raise LinkError("board aborted the raw paste")
            n = min(window, len(data) - pos)
            self.ser.write(data[pos:pos + n])
            pos += n
            window -= n
        self.ser.write(b"\x04")
        self.read_until(b"\x04")

    def has_agent(self):
        """True if the board can import ovl.agent already."""
        self.ser.write(b"try:\n import ovl.agent\n print('OVL-YES')\n"
                       b"except ImportError:\n print('OVL-NO')\n\x04")
        out = self.read_until(b"\x04>")
        return b"OVL-YES" in out


# Seconds a freshly started agent may take to answer once injected: the
# board compiles every module it was sent first.
INJECTED_WAIT = 15.0


def connect(ser, bootstrap=True, modules=AGENT_MODULES, start=None,
            timeout=2.0, log=None, boot_wait=2.0):
    """A Link with a session open; injects the agent if none answers within
    boot_wait seconds (a board that has just rebooted may still be mounting
    its overlay)."""
    link = Link(ser, timeout=timeout)
    if link.hello(within=boot_wait):
        return link
    silent = "no ovl agent answered on %s" % ser.port
    if link.reader.noise:
        # a program printing in a loop, another device, the wrong port
        silent += " (it sent %d bytes that are not ovl frames)" \
            % link.reader.noise
    if not bootstrap:
        raise LinkError(silent)
    repl = RawRepl(ser)
    try:
        repl.enter()
    except LinkError as e:
        raise LinkError("%s and the raw REPL did not open (%s)" % (silent, e))
    if repl.has_agent():
        code = "import ovl.agent\n%s\n" % (start or "ovl.agent.start()")
    else:
        code = bootstrap_script(modules, start or "ovl.agent.start()")
    how = repl.paste(code)
    if log:
        log("injected the agent through the %s REPL (%d bytes)"
            % (how, len(code)))
    link.new_reader()
    if link.hello(within=INJECTED_WAIT):
        return link
    raise LinkError("the agent was injected on %s but does not answer"
                    % ser.port)


def hexdigest(b):
    return binascii.hexlify(b).decode()
