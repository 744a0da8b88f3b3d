"""The power-cut rig: cut a board's power at random instants while a
workload writes through the agent, then check what survived.

Pieces:
  * PowerSwitch and its kinds (a DTR/RTS line driving a relay, command
    strings to a relay board or bench supply, the simulated board);
    parse_power(SPEC) builds one.
  * A workload: `ovl shell` verbs the agent serves (put, rm, rmdir,
    mkdir, mv), run in a loop.  `put @SIZE PATH` sends SIZE fresh seeded
    bytes each time, so every put changes the file.
  * The oracle: the host's model of every path the workload names.  A step
    the board answered is durable; the step in flight at the cut is before
    or after, never anything else; fsck must be clean.
  * Rig.run(): the cycles and a report dict.
"""

import hashlib
import os
import random
import shlex
import threading
import time

from host_tools.serial import link as serial_link
from host_tools.commands.serial import remote_get, remote_put
from host_tools.serial.link import LinkError, RemoteError
from ovl import agent, compat
from ovl.paths import S_IFMT, S_IFREG, S_IFDIR, S_IFLNK

MAX_GENERATED = 1 << 20     # @SIZE bound: bigger than any sim upper
ANY = "?"                   # model value: the oracle cannot know this path


class RigError(ValueError):
    """Bad rig input (SPEC, workload); one line for the CLI."""


# ----- power switches --------------------------------------------------------

class PowerSwitch:
    """off() cuts the board's supply, on() restores it."""

    kind = "none"

    def off(self):
        raise NotImplementedError

    def on(self):
        raise NotImplementedError

    def flash_digest(self):
        """A digest of the board's flash, where the rig can see it (only the
        simulated board); None elsewhere."""
        return None

    def close(self):
        pass


class LinePower(PowerSwitch):
    """A relay on the DTR or RTS line of a second serial adapter.  The line
    asserted means power off (`invert`: released means off)."""

    def __init__(self, port, line, invert=False, opener=None):
        self.kind = ("!" if invert else "") + line
        self.line = line
        self.invert = invert
        self.ser = (opener or serial_link.open_port)(port)
        if not self._drive(False):          # start powered
            self.ser.close()
            raise RigError("cannot drive %s on %s, so no power cut would"
                           " happen; the relay needs a real serial adapter"
                           % (line.upper(), port))

    def _drive(self, cut):
        return serial_link.set_line(self.ser, self.line, cut != self.invert)

    def off(self):
        self._drive(True)

    def on(self):
        self._drive(False)

    def close(self):
        self.ser.close()


class CommandPower(PowerSwitch):
    """A relay board or bench supply that takes text commands."""

    kind = "cmd"

    def __init__(self, port, off_cmd, on_cmd, opener=None):
        self.off_cmd = off_cmd.encode() + b"\r\n"
        self.on_cmd = on_cmd.encode() + b"\r\n"
        self.ser = (opener or serial_link.open_port)(port)

    def off(self):
        self.ser.write(self.off_cmd)
        self.ser.flush()

    def on(self):
        self.ser.write(self.on_cmd)
        self.ser.flush()

    def close(self):
        self.ser.close()


class SimPower(PowerSwitch):
    """The simulated board (host_tools.serial.sim.PtyBoard): off() kills its process
    wherever it is, on() boots it again from its flash file."""

    kind = "sim"

    def __init__(self, board, owned=False):
        self.board = board
        self.owned = owned

    def off(self):
        self.board.kill()

    def on(self):
        self.board.restart()

    def flash_digest(self):
        with open(self.board.flash_path, "rb") as f:
            return hashlib.sha256(f.read()).digest()

    def close(self):
        if self.owned:
            self.board.close()


def check_sim_flash(spec, board_path, flash_path):
    """RigError unless the flash file fits the board: a board that cannot
    boot would keep the rig waiting for the whole boot timeout."""
    from ovl.board import BoardError
    from host_tools.boards import load_board, open_sim_flash
    try:
        open_sim_flash(load_board(board_path), flash_path, create=False)
    except (BoardError, ValueError) as e:
        raise RigError("power SPEC %r: %s" % (spec, e))


def parse_power(spec, opener=None):
    """A PowerSwitch for SPEC: dtr:PORT, rts:PORT (prefix ! to invert),
    cmd:PORT:OFF:ON, sim:BOARD:FLASH."""
    kind, _, rest = spec.partition(":")
    invert = kind.startswith("!")
    line = kind.lstrip("!").lower()
    if line in ("dtr", "rts") and rest:
        return LinePower(rest, line, invert, opener)
    if kind == "cmd":
        # The port may be a URL with colons: the commands are the last two.
        parts = rest.rsplit(":", 2)
        if len(parts) == 3 and all(parts):
            return CommandPower(parts[0], parts[1], parts[2], opener)
    if kind == "sim":
        parts = rest.split(":")
        if len(parts) == 2 and all(parts):
            from host_tools.boards import BOARDS_DIR
            from host_tools.serial.sim import PtyBoard
            board = parts[0]
            if not board.endswith(".json") and os.sep not in board:
                board = os.path.join(BOARDS_DIR, board + ".json")
            if not os.path.exists(board):
                raise RigError("power SPEC %r: no board file %s"
                               % (spec, board))
            if not os.path.exists(parts[1]):
                raise RigError("power SPEC %r: no flash file %s (flash a"
                               " firmware image onto it first)"
                               % (spec, parts[1]))
            check_sim_flash(spec, board, parts[1])
            return SimPower(PtyBoard(board, parts[1]).start(), owned=True)
    raise RigError("bad power SPEC %r: use dtr:PORT, rts:PORT (prefix ! to"
                   " invert), cmd:PORT:OFF_CMD:ON_CMD or sim:BOARD:FLASH"
                   % spec)


# ----- workload ---------------------------------------------------------------

class Step:
    """One workload line: verb, board paths, and what a put sends."""

    def __init__(self, line_no, text, verb, paths, size=None, data=None):
        self.line_no = line_no
        self.text = text
        self.verb = verb
        self.paths = paths
        self.size = size        # put @SIZE: fresh bytes each time
        self.data = data        # put HOSTFILE: these bytes

    def payload(self, seed, k):
        """The bytes the k-th step of the run sends (put only)."""
        if self.data is not None:
            return self.data
        return random.Random("%d:%d" % (seed, k)).randbytes(self.size)


ARITY = {"put": 2, "rm": 1, "rmdir": 1, "mkdir": 1, "mv": 2}


def parse_workload(text, base_dir="."):
    steps = []
    for no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise RigError("workload line %d: %s" % (no, e))
        verb, args = words[0], words[1:]
        if verb not in ARITY:
            raise RigError("workload line %d: %r is not a verb the agent"
                           " serves; use put, rm, rmdir, mkdir or mv"
                           % (no, verb))
        if len(args) != ARITY[verb]:
            raise RigError("workload line %d: %s takes %d arguments"
                           % (no, verb, ARITY[verb]))
        size = data = None
        if verb == "put":
            src, args = args[0], args[1:]
            if src.startswith("@"):
                size = parse_size(src[1:], no)
            else:
                path = os.path.join(base_dir, src)
                try:
                    with open(path, "rb") as f:
                        data = f.read(MAX_GENERATED + 1)
                except OSError as e:
                    raise RigError("workload line %d: cannot read %s: %s"
                                   % (no, path, e.strerror))
                if len(data) > MAX_GENERATED:
                    raise RigError("workload line %d: %s is larger than %d"
                                   " bytes" % (no, path, MAX_GENERATED))
        for p in args:
            if not p.startswith("/") or p == "/":
                raise RigError("workload line %d: %r is not an absolute path"
                               " below /" % (no, p))
        steps.append(Step(no, line, verb, [p.rstrip("/") for p in args],
                          size, data))
    if not steps:
        raise RigError("workload has no steps")
    return steps


def parse_size(text, no):
    try:
        n = int(text, 0)
    except ValueError:
        raise RigError("workload line %d: bad size %r" % (no, text))
    if not 0 <= n <= MAX_GENERATED:
        raise RigError("workload line %d: size %d outside 0..%d"
                       % (no, n, MAX_GENERATED))
    return n


def tracked_paths(steps):
    return sorted({p for s in steps for p in s.paths})


def under(path, top):
    return path == top or path.startswith(top + "/")


def apply_step(model, step, digest):
    """The model after `step` succeeds (a refused step changes nothing)."""
    new = dict(model)
    if step.verb == "put":
        new[step.paths[0]] = digest
    elif step.verb == "mkdir":
        new[step.paths[0]] = "dir"
    elif step.verb in ("rm", "rmdir"):
        for p in model:
            if under(p, step.paths[0]):
                new[p] = None
    elif step.verb == "mv":
        src, dst = step.paths
        for p in model:
            if under(p, dst):
                origin = src + p[len(dst):]
                new[p] = model.get(origin, ANY)
        for p in model:
            if under(p, src) and not under(p, dst):
                new[p] = None
    return new


def matches(model, seen):
    return all(model[p] == ANY or model[p] == seen.get(p) for p in model)


# ----- talking to the board -----------------------------------------------------

class CutSerial:
    """The workload's port: reads fail at once after the cut, so the
    workload thread stops without waiting out the link's timeouts."""

    def __init__(self, ser, cut):
        self._ser = ser
        self._cut = cut

    def read(self, n=1):
        if self._cut.is_set():
            raise LinkError("power cut")
        return self._ser.read(n)

    def __getattr__(self, name):
        return getattr(self._ser, name)


def run_step(link, step, data):
    if step.verb == "put":
        remote_put(link, step.paths[0], data)
    elif step.verb in ("rm", "rmdir"):
        link.call_json(agent.FS_RM, {"path": step.paths[0]})
    elif step.verb == "mkdir":
        link.call_json(agent.FS_MKDIR, {"path": step.paths[0]})
    else:
        link.call_json(agent.FS_MV, {"src": step.paths[0],
                                     "dst": step.paths[1]})


def observe(link, paths):
    """What the board holds at each path: None, "dir", "link", a file's
    sha256 hex, or "mode:OCTAL"."""
    seen = {}
    for p in paths:
        try:
            mode = link.call_json(agent.FS_STAT, {"path": p})["mode"]
        except RemoteError as e:
            if e.errno in (compat.ENOENT, compat.ENOTDIR):
                seen[p] = None
                continue
            raise
        kind = mode & S_IFMT
        if kind == S_IFREG:
            h = Hasher()
            remote_get(link, p, h)
            seen[p] = h.hexdigest()
        else:
            seen[p] = {S_IFDIR: "dir", S_IFLNK: "link"}.get(
                kind, "mode:%o" % kind)
    return seen


class Hasher:
    def __init__(self):
        self.h = hashlib.sha256()

    def write(self, data):
        self.h.update(data)

    def hexdigest(self):
        return self.h.hexdigest()


# ----- the rig -----------------------------------------------------------------

class Workload(threading.Thread):
    """Runs steps until the cut.  Everything it records about the board is
    under `lock`, and nothing after the cut, so the rig's view at the cut
    is exact: a step is acknowledged only if its reply arrived before."""

    def __init__(self, rig, link):
        super().__init__(daemon=True)
        self.rig = rig
        self.link = link
        self.error = None

    def run(self):
        rig = self.rig
        while True:
            with rig.lock:
                if rig.cut.is_set():
                    return
                k = rig.k
                step = rig.steps[k % len(rig.steps)]
                data = step.payload(rig.seed, k) if step.verb == "put" \
                    else None
                digest = hashlib.sha256(data).hexdigest() if data is not None \
                    else None
                rig.inflight = {"k": k, "step": step,
                                "after": apply_step(rig.model, step, digest),
                                "flash": rig.power.flash_digest()}
            refused = None
            try:
                run_step(self.link, step, data)
            except RemoteError as e:
                refused = str(e)
            except (LinkError, OSError, ValueError) as e:
                with rig.lock:
                    if not rig.cut.is_set():
                        self.error = "board stopped answering before the" \
                            " cut: %s" % e
                return
            with rig.lock:
                if rig.cut.is_set():
                    return      # answered, but the rig already cut: in flight
                if refused:
                    rig.refused[refused] = rig.refused.get(refused, 0) + 1
                else:
                    rig.model = rig.inflight["after"]
                    rig.acked += 1
                rig.inflight = None
                rig.k = k + 1


class Rig:
    def __init__(self, port, power, steps, cycles, seed=1, min_delay=0.0,
                 max_delay=1.0, off_time=0.0, baud=115200, timeout=2.0,
                 boot_timeout=30.0, bootstrap=False, log=None):
        if cycles < 1:
            raise RigError("--cycles must be at least 1")
        if not 0 <= min_delay <= max_delay:
            raise RigError("need 0 <= --min-delay <= --max-delay")
        self.port = port
        self.power = power
        self.steps = steps
        self.cycles = cycles
        self.seed = seed
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.off_time = off_time
        self.baud = baud
        self.timeout = timeout
        self.boot_timeout = boot_timeout
        self.bootstrap = bootstrap
        self.log = log or (lambda m: None)
        self.paths = tracked_paths(steps)
        self.lock = threading.Lock()
        self.cut = threading.Event()
        self.model = None
        self.inflight = None
        self.k = 0
        self.acked = 0
        self.refused = {}

    def connect(self):
        """A session with the board, waiting for it to boot."""
        deadline = time.monotonic() + self.boot_timeout
        last = None
        while time.monotonic() < deadline:
            try:
                ser = serial_link.open_port(self.port, self.baud)
            except LinkError as e:      # a USB console may still be absent
                last = e
                time.sleep(0.2)
                continue
            ser = CutSerial(ser, self.cut)
            # Without bootstrap there is nothing to do but wait for the
            # boot code's agent; with it, the board boots to a REPL.
            wait = 2.0 if self.bootstrap else \
                max(0.5, deadline - time.monotonic())
            try:
                return serial_link.connect(ser, bootstrap=self.bootstrap,
                                           timeout=self.timeout,
                                           boot_wait=wait)
            except (LinkError, OSError) as e:
                last = e
                ser.close()
        raise LinkError("board did not come back within %.0f s (%s)"
                        % (self.boot_timeout, last))

    def fs_link(self):
        link = self.connect()
        if not link.info.get("fs"):
            link.ser.close()
            raise LinkError("board came up without its overlay: %s"
                            % "; ".join(link.info.get("notes") or
                                        [str(link.info.get("fs_error"))]))
        return link

    def run(self):
        rng = random.Random(self.seed)
        report = {"seed": self.seed, "cycles": self.cycles,
                  "cycles_done": 0, "steps_acknowledged": 0,
                  "steps_refused": 0, "refusals": {},
                  "cuts_with_step_in_flight": 0,
                  "in_flight_landed_after": 0, "in_flight_landed_before": 0,
                  "cuts_during_flash_write": None, "failures": []}
        if self.power.flash_digest() is not None:
            report["cuts_during_flash_write"] = 0
        link = self.fs_link()
        try:
            self.model = observe(link, self.paths)
            problems = link.call_json(agent.FS_FSCK)["problems"]
        finally:
            link.ser.close()
        if problems:
            raise RigError("fsck is not clean before the first cut: %s"
                           % problems[0])
        for cycle in range(1, self.cycles + 1):
            delay = rng.uniform(self.min_delay, self.max_delay)
            failure = self.cycle(cycle, delay, report)
            report["cycles_done"] = cycle
            if failure:
                report["failures"].append(failure)
                if failure.get("fatal"):
                    break
        report["steps_acknowledged"] = self.acked
        report["refusals"] = dict(self.refused)
        report["steps_refused"] = sum(self.refused.values())
        report["ok"] = not report["failures"]
        return report

    def cycle(self, cycle, delay, report):
        """One cut; a failure dict or None."""
        self.cut.clear()
        link = self.fs_link()
        acked_before = self.acked
        worker = Workload(self, link)
        worker.start()
        self.wait_to_cut(delay, acked_before)
        with self.lock:
            self.cut.set()
            self.power.off()
            inflight = self.inflight
            if inflight is not None:
                landed_flash = self.power.flash_digest()
        worker.join(self.timeout * 10)
        link.ser.close()
        time.sleep(self.off_time)
        self.power.on()
        self.cut.clear()
        replay = {"seed": self.seed, "cycle": cycle, "delay": round(delay, 4),
                  "steps_acknowledged_this_cycle": self.acked - acked_before,
                  "in_flight": None}
        if inflight is not None:
            step = inflight["step"]
            replay["in_flight"] = {"k": inflight["k"], "line": step.line_no,
                                   "step": step.text}
            report["cuts_with_step_in_flight"] += 1
            if inflight["flash"] is not None and \
                    landed_flash != inflight["flash"]:
                report["cuts_during_flash_write"] += 1
        self.log("cycle %d: cut after %.3f s, %s in flight" % (
            cycle, delay, replay["in_flight"]["step"] if inflight else
            "nothing"))
        try:
            link = self.fs_link()
        except (LinkError, OSError) as e:
            return dict(replay, problem=str(e), fatal=True)
        try:
            seen = observe(link, self.paths)
            problems = link.call_json(agent.FS_FSCK)["problems"]
        except (LinkError, OSError) as e:
            return dict(replay, problem="checking after the cut: %s" % e,
                        fatal=True)
        finally:
            link.ser.close()
        failure = self.judge(replay, inflight, seen, problems, report)
        if worker.error:
            # The state is judged all the same, so the next cycle starts
            # from what the board holds.
            failure = dict(failure or replay, problem=worker.error)
        return failure

    def wait_to_cut(self, delay, acked_before):
        """Let the workload run `delay` seconds (acked_before: the count of
        acknowledged steps when this cycle's workload started)."""
        time.sleep(delay)

    def judge(self, replay, inflight, seen, problems, report):
        before = self.model
        after = inflight["after"] if inflight else before
        if matches(before, seen):
            if inflight:
                report["in_flight_landed_before"] += 1
            outcome = "before"
        elif matches(after, seen):
            report["in_flight_landed_after"] += 1
            self.k = inflight["k"] + 1
            outcome = "after"
        else:
            outcome = None
        # Go on from what the board holds, so one loss is reported once.
        self.model = dict(seen)
        self.inflight = None
        if outcome and not problems:
            return None
        failure = dict(replay, problem="fsck found problems" if outcome else
                       "the board holds neither the acknowledged state nor"
                       " that plus the step in flight")
        if problems:
            failure["fsck"] = problems[:20]
        if not outcome:
            failure["mismatches"] = [
                {"path": p, "acknowledged": before[p],
                 "with_in_flight": after[p], "found": seen.get(p)}
                for p in self.paths if before[p] not in (ANY, seen.get(p))]
        return failure


def report_text(r):
    lines = ["rig: %d of %d cycles, seed %d: %d steps acknowledged, %d"
             " refused" % (r["cycles_done"], r["cycles"], r["seed"],
                           r["steps_acknowledged"], r["steps_refused"]),
             "cuts with a step in flight: %d (landed after: %d, before: %d)"
             % (r["cuts_with_step_in_flight"], r["in_flight_landed_after"],
                r["in_flight_landed_before"])]
    if r["cuts_during_flash_write"] is not None:
        lines.append("cuts during a flash write: %d"
                     % r["cuts_during_flash_write"])
    for msg, n in sorted(r["refusals"].items()):
        lines.append("refused %dx: %s" % (n, msg))
    for f in r["failures"]:
        fl = f["in_flight"]
        lines.append("FAIL cycle %d (seed %d, delay %.4f s, in flight: %s):"
                     " %s" % (f["cycle"], f["seed"], f["delay"],
                              "line %d `%s` (step #%d)" % (
                                  fl["line"], fl["step"], fl["k"])
                              if fl else "nothing", f["problem"]))
        for m in f.get("mismatches", []):
            lines.append("  %s: acknowledged %s, with in-flight %s, found %s"
                         % (m["path"], m["acknowledged"], m["with_in_flight"],
                            m["found"]))
        for p in f.get("fsck", []):
            lines.append("  fsck: %s" % p)
    lines.append("rig: %s" % ("PASS" if r["ok"] else "%d failure(s)"
                               % len(r["failures"])))
    return "\n".join(lines)
