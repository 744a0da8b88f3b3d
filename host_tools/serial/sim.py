"""A simulated board on a pseudo-terminal, for tests, benchmarks and rigs.

The board process (ovl_sim.board_runner under micropython or CPython, or a
bare micropython REPL for bootstrapping) runs on one pty pair; the host
opens the slave of a second pair, like a USB serial device.  A relay
thread per direction copies between the two masters and can
  * limit the rate to a baud rate's byte rate (10 bits per byte), and
  * inject line noise: flipped and dropped bytes, seeded.
kill() is a power cut: SIGKILL at any instant; the flash file keeps what
completed (board_runner writes every operation through).  start() boots
the board again on the same ptys.
"""

import os
import random
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
import tty

from host_tools import FIRMWARE

RUNNER = os.path.join(FIRMWARE, "ovl_sim", "board_runner.py")


def find_micropython():
    exe = os.environ.get("OVL_MICROPYTHON")
    if exe:
        return exe
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else shutil.which("micropython")


def parent_death_signal():
    """A preexec_fn: the child gets SIGKILL when this process dies (Linux
    prctl PR_SET_PDEATHSIG); None where that is not available."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm():
        prctl(1, signal.SIGKILL)        # PR_SET_PDEATHSIG
        if os.getppid() != parent:      # the host died before prctl
            os._exit(1)
    return arm


def interrupt_on_ctrl_c(fd):
    """A raw tty that turns Ctrl-C, and no other byte, into SIGINT (the
    quit and suspend characters are disabled: frames carry any byte but
    Ctrl-C, see ovl.frames)."""
    attrs = termios.tcgetattr(fd)
    attrs[3] |= termios.ISIG
    cc = attrs[6]
    cc[termios.VINTR] = b"\x03"
    for name in ("VQUIT", "VSUSP", "VDSUSP"):
        if hasattr(termios, name):
            cc[getattr(termios, name)] = b"\x00"     # _POSIX_VDISABLE
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def take_console():
    """A preexec_fn after setsid: stdin, a tty, becomes the controlling
    terminal, so its Ctrl-C reaches this process as SIGINT."""
    import fcntl
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Noise:
    """Per-byte fault rates for one direction of the line."""

    def __init__(self, flip=0.0, drop=0.0, seed=1):
        self.flip = flip
        self.drop = drop
        self.rng = random.Random(seed)
        self.flipped = 0
        self.dropped = 0

    def apply(self, data):
        if not self.flip and not self.drop:
            return data
        out = bytearray()
        rng = self.rng
        for b in data:
            r = rng.random()
            if r < self.drop:
                self.dropped += 1
                continue
            if r < self.drop + self.flip:
                b ^= 1 << rng.randrange(8)
                self.flipped += 1
            out.append(b)
        return bytes(out)


class Relay(threading.Thread):
    """Copies src_fd -> dst_fd at `rate` bytes/s (None: as fast as it can)."""

    def __init__(self, src_fd, dst_fd, rate=None, noise=None, dead=None):
        super().__init__(daemon=True)
        self.dead = dead        # callable: True while nobody listens at dst
        self.src = src_fd
        self.dst = dst_fd
        self.rate = rate
        self.noise = noise
        self.stopping = False
        self.bytes = 0
        self.paused = False      # while set, bytes are read and dropped
        # Forward no more than this many bytes in all (counted in .bytes),
        # dropping the rest: the sender died right after that byte.
        self.limit = None

    def run(self):
        # Small slices keep latency near a real line's; credit from an idle
        # gap is not saved up beyond a few milliseconds.
        chunk = 256 if self.rate else 65536
        due = time.monotonic()
        while not self.stopping:
            try:
                r, _, _ = select.select([self.src], [], [], 0.05)
                if not r:
                    continue
                data = os.read(self.src, chunk)
            except OSError:
                time.sleep(0.02)     # the board is down (EIO): wait for it
                continue
            if self.paused or (self.dead and self.dead()):
                continue        # a line with no listener loses the bytes
            if self.noise:
                data = self.noise.apply(data)
            if self.limit is not None:
                data = data[:max(0, self.limit - self.bytes)]
            if self.rate:
                now = time.monotonic()
                if due < now - 0.005:
                    due = now
                due += len(data) / self.rate
                if due > now:
                    time.sleep(due - now)
            view = memoryview(data)
            while view and not self.stopping:
                try:
                    n = os.write(self.dst, view)
                except BlockingIOError:
                    if self.dead and self.dead():
                        break
                    time.sleep(0.001)
                    continue
                except OSError:
                    break
                view = view[n:]
                self.bytes += n


class PtyBoard:
    """A simulated board reachable at self.port (a tty path)."""

    def __init__(self, board_json, flash_path, runtime="micropython",
                 mode="agent", baud=None, noise_to_board=None,
                 noise_to_host=None, window=4, max_payload=4096,
                 workdir=None, heap="24M", extra_args=(),
                 die_with_host=False, ctrl_c=False):
        self.board_json = board_json
        self.flash_path = flash_path
        self.runtime = runtime
        self.mode = mode
        self.rate = baud / 10.0 if baud else None
        self.window = window
        self.max_payload = max_payload
        self.workdir = workdir or os.path.dirname(os.path.abspath(flash_path))
        self.heap = heap
        self.extra_args = list(extra_args)
        # The board runs in its own session (a Ctrl-C meant for the host
        # must not reach it); die_with_host makes a SIGKILLed host take the
        # board down at once, as a power cut would, instead of leaving it
        # running with nobody listening.
        self.die_with_host = die_with_host
        # ctrl_c: a Ctrl-C on the line interrupts the board's running code
        # (KeyboardInterrupt), as on a board's UART REPL, where a program
        # printing in a loop stops at one.  The unix port sees it only as
        # SIGINT from its controlling terminal: off by default, as a raw
        # line passes every byte on.
        self.ctrl_c = ctrl_c
        self.proc = None
        self.board_master, self.board_slave = os.openpty()
        self.host_master, self.host_slave = os.openpty()
        tty.setraw(self.board_slave)
        tty.setraw(self.host_slave)
        if ctrl_c:
            interrupt_on_ctrl_c(self.board_slave)
        os.set_blocking(self.board_master, False)
        os.set_blocking(self.host_master, False)
        self.port = os.ttyname(self.host_slave)
        self.to_board = Relay(self.host_master, self.board_master, self.rate,
                              noise_to_board, dead=lambda: not self.alive())
        self.to_host = Relay(self.board_master, self.host_master, self.rate,
                             noise_to_host)
        self.to_board.start()
        self.to_host.start()
        self.log_path = os.path.join(self.workdir, "board-stderr.log")

    def argv(self):
        if self.runtime == "micropython":
            exe = find_micropython()
            if not exe:
                raise RuntimeError("micropython executable not found")
            base = [exe, "-X", "heapsize=%s" % self.heap]
        else:
            base = [sys.executable, "-u"]
        if self.mode == "repl":
            return base + ["-i"] if self.runtime != "micropython" else base
        return base + [RUNNER, self.board_json, self.flash_path,
                       "--window", str(self.window),
                       "--max-payload", str(self.max_payload)] + self.extra_args

    def write_board_module(self):
        """ovl_board.py for the REPL mode: how ovl.agent.start() finds the
        simulated chip once the host has injected the agent.  The board's
        directory gets a copy of ovl_sim (the host never sends it), not of
        ovl: the agent still has to be injected."""
        shutil.copytree(os.path.join(FIRMWARE, "ovl_sim"),
                        os.path.join(self.workdir, "ovl_sim"),
                        ignore=shutil.ignore_patterns("__pycache__"),
                        dirs_exist_ok=True)
        with open(os.path.join(self.workdir, "ovl_board.py"), "w") as f:
            f.write("def open_board():\n"
                    "    from ovl_sim.fileflash import open_sim\n"
                    "    return open_sim(%r, %r)\n"
                    % (self.board_json, self.flash_path))

    def start(self):
        if self.mode == "repl":
            self.write_board_module()
        env = dict(os.environ)
        if self.runtime != "micropython" and self.mode != "repl":
            env["PYTHONPATH"] = FIRMWARE
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(), stdin=self.board_slave, stdout=self.board_slave,
                stderr=log, cwd=self.workdir, env=env, close_fds=True,
                start_new_session=True, preexec_fn=self._preexec())
        return self

    def _preexec(self):
        """What the board's process runs before its program (None: nothing):
        dying with the host, taking its console as controlling terminal."""
        steps = [step for step in (
            parent_death_signal() if self.die_with_host else None,
            take_console if self.ctrl_c else None) if step]
        if not steps:
            return None

        def run():
            for step in steps:
                step()
        return run

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """Power cut: the process dies wherever it is."""
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def freeze(self, seconds):
        """Stop the board's process for `seconds`, then let it run on: a
        boot that takes that long, or a host too busy to run the board."""
        proc = self.proc
        proc.send_signal(signal.SIGSTOP)

        def thaw():
            if self.proc is proc and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
        timer = threading.Timer(seconds, thaw)
        timer.daemon = True
        timer.start()
        return timer

    def cut_after_replies(self, link, n, timeout=0.3, retries=1):
        """Power cut right after the link's n-th reply from now.  Only then
        does the link turn impatient (`timeout`, `retries`), so it notices
        the dead board quickly without giving up on a merely slow one
        before the cut."""
        heard = [0]

        def progress():
            heard[0] += 1
            if heard[0] == n:
                self.kill()
                link.timeout, link.retries = timeout, retries
        link.progress = progress

    def restart(self):
        self.kill()
        # What the dead board had queued never reaches the host.
        self.to_host.paused = True
        time.sleep(0.05)
        self.to_host.paused = False
        # Nor does what it had not read yet: a board powers up with an empty
        # UART buffer, not halfway into a stale frame.
        termios.tcflush(self.board_slave, termios.TCIFLUSH)
        return self.start()

    def stderr_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        self.kill()
        for relay in (self.to_board, self.to_host):
            relay.stopping = True
        for relay in (self.to_board, self.to_host):
            relay.join(1)
        for fd in (self.board_master, self.board_slave, self.host_master,
                   self.host_slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
