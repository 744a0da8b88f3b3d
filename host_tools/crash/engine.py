"""The power-cut campaign engine behind `ovl crashtest`.

For each workload (workloads.py) it runs the ops once on a simulated
flash to count the flash program/erase operations, then once per crash
case: restore the fixture's flash snapshot, arm a power cut at operation
`cut` (torn as `variant`, see ovl_sim.simflash.TORN_MODES), mount and run the
ops until the power goes, power on, and check:

  1. the remounted tree equals the model's state before or after the op in
     flight (and every op that completed before it is durable);
  2. fsck is clean;
  3. the workload continues from there and ends in the model's final
     state, with the errno the model predicts for each op;
  4. after a sync and another remount the tree is still that state and
     fsck is still clean.

Depth 2 (sampled) arms a second cut in the recovery that follows (the
mount, or the continued workload if the mount writes nothing).

A case id names everything needed to rerun it:
    WORKLOAD@CUT:VARIANT:SEED[/CUT2:VARIANT2]
e.g. std:write_lower+sync+rename_dir_lower@17:prefix:1.

Everything that touches ovl is in class Rig (mount, apply, dump, fsck);
the model (model.py) knows nothing of ovl.
"""

import collections
import copy
import hashlib
import importlib
import os
import shutil
import signal
import sys
import tempfile
import time

from host_tools.commands.fs_format import write_at
from host_tools.crash import workloads as wl
from host_tools.outputs import ENDING, signals_held
from host_tools.crash.model import (DIR, FILE, SYMLINK, Model, ModelError,
                                    tree_diff, tree_matches)

from ovl import compat
from ovl.store import checkpoint
from ovl_sim.simflash import PowerCut
from ovl.paths import is_dir, is_lnk, join
from ovl_sim.simflash import SimFlash, Xorshift

VARIANTS = ("clean", "prefix", "bits", "unstable")
FIXED_CLOCK = 1700000000

# Flash per fixture: (blocks, erase size, page size).  Small, so a mount
# scans little; the gc fixture is nearly full on purpose.
GEOMETRY = {"std": (16, 4096, 256), "gc": (16, 4096, 256),
            "big": (48, 4096, 256), "edge": (16, 4096, 256),
            "bigdir": (16, 4096, 256)}

# fixture -> a function returning its Lower, for a fixture whose lower is
# an existing image (`ovl crashtest --lower`) rather than a spec to build
LOWERS = {}


class CaseFailure(Exception):
    """The oracle rejected a crash case."""


class CaseTimeout(BaseException):
    """A case ran past CASE_SECONDS (ovl code caught nothing: not an
    Exception subclass)."""


CASE_SECONDS = 30

# Mounted flash states a rig remembers (the least recently used go
# first): the workloads that start with the same op, listed together,
# share the states a cut in that op leaves.  A state is kept as a copy of
# the overlay: about 11 KB for std, 32 KB for bigdir.
RECOVERIES_KEPT = 256


class _time_limit:
    """Raise CaseTimeout after `seconds` (SIGALRM; a no-op where there is
    none, or off the main thread)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.armed = False

    def __enter__(self):
        import signal
        import threading
        if hasattr(signal, "SIGALRM") and \
                threading.current_thread() is threading.main_thread():
            def fire(signum, frame):
                raise CaseTimeout()
            self.old = signal.signal(signal.SIGALRM, fire)
            signal.alarm(self.seconds)
            self.armed = True
        return self

    def __exit__(self, *exc):
        if self.armed:
            import signal
            signal.alarm(0)
            signal.signal(signal.SIGALRM, self.old)
        return False


# ----- case ids ----------------------------------------------------------------

class Case:
    __slots__ = ("workload", "cut", "variant", "seed", "cut2", "variant2")

    def __init__(self, workload, cut, variant="clean", seed=1, cut2=None,
                 variant2="clean"):
        self.workload = workload
        self.cut = cut
        self.variant = variant
        self.seed = seed
        self.cut2 = cut2
        self.variant2 = variant2

    def id(self):
        text = "%s@%d:%s:%d" % (self.workload, self.cut, self.variant, self.seed)
        if self.cut2 is not None:
            text += "/%d:%s" % (self.cut2, self.variant2)
        return text

    __str__ = id

    @classmethod
    def parse(cls, text):
        workload, sep, rest = text.rpartition("@")
        try:
            if not sep:
                raise ValueError
            first, _, second = rest.partition("/")
            cut, variant, seed = first.split(":")
            case = cls(workload, int(cut), variant, int(seed))
            if second:
                cut2, variant2 = second.split(":")
                case.cut2, case.variant2 = int(cut2), variant2
        except ValueError:
            raise ValueError("case id %r: want WORKLOAD@CUT:VARIANT:SEED"
                             "[/CUT2:VARIANT2]" % text)
        for v in (case.variant, case.variant2):
            if v not in VARIANTS + ("done",):
                raise ValueError("case id %r: variant %r is not one of %s"
                                 % (text, v, ", ".join(VARIANTS)))
        wl.parse_workload(workload)
        return case


# ----- the expected states -------------------------------------------------------

class Plan:
    """A workload with the model's prediction: states[i] is the tree after
    i ops, errnos[i] what op i fails with (None: succeeds)."""

    def __init__(self, key):
        self.key = key
        self.fixture, self.names, self.ops = wl.parse_workload(key)
        lower, setup = wl.FIXTURES[self.fixture]
        model = Model(lower)
        for op in setup:
            model.apply(op)
        self.states = [model.snapshot()]
        self.errnos = []
        self.mids = []
        for op in self.ops:
            self.mids.append(self._midway(model, op))
            try:
                model.apply(op)
                self.errnos.append(None)
            except ModelError as e:
                self.errnos.append(e.errno)
            self.states.append(model.snapshot())
        self.syncs = [i + 1 for i, op in enumerate(self.ops)
                      if op[0] in ("sync", "checkpoint")]
        # the names to look up where a tree does not list them
        self.probe = sorted(set().union(*self.states))
        # once: a script's op is parsed again to be labelled (its data too)
        self.labels = [wl.op_label(name) for name in self.names]

    @staticmethod
    def _midway(model, op, atomic_writes=True):
        """States an op passes through that a crash may expose.  POSIX lets
        a write that creates or truncates (open(O_CREAT|O_TRUNC), then
        write()) show the new empty file alone; ovl does better: what a
        handle writes up to close commits with the open, so none is
        allowed (atomic_writes False gives the POSIX allowance)."""
        if atomic_writes or op[0] != "write" or op[2] == "r+b":
            return []
        try:
            if op[2] == "ab" and model.resolve(op[1], True) in model.paths:
                return []       # opening an existing file to append: no-op
        except ModelError:
            return []
        trial = Model.__new__(Model)
        trial.__dict__.update(model.__dict__)
        trial.paths = dict(model.paths)
        trial.nodes = {i: n.copy() for i, n in model.nodes.items()}
        try:
            trial.apply(("write", op[1], op[2], 0, b""))
        except ModelError:
            return []
        snap = trial.snapshot()
        return [] if snap == model.snapshot() else [snap]

    def candidates(self, lo, hi, k):
        """(index to continue from, state) pairs a recovered tree may equal
        after a cut in op k, latest first."""
        out = [(i, self.states[i]) for i in range(hi, lo - 1, -1)]
        if 0 <= k < len(self.ops) and lo <= k < hi:
            out[1:1] = [(k, mid) for mid in self.mids[k]]
        return out

    def label(self, k):
        if k < 0:
            return "mount"
        if k >= len(self.names):
            return "after-workload"
        return self.labels[k]


# ----- the rig: everything that touches ovl -------------------------------------------

def load_store_class(spec):
    """None -> ovl.store.LogStore; a class; or 'module:Class'."""
    if spec is None:
        from ovl.store import LogStore
        return LogStore
    if isinstance(spec, str):
        module, _, name = spec.partition(":")
        return getattr(importlib.import_module(module), name)
    return spec


def build_lower_dir(spec, root):
    """Write a lower spec (workloads.py) as a host directory tree."""
    for path in sorted(spec):
        d = spec[path]
        host = root + path if path != "/" else root
        if "link" in d:
            os.link(root + d["link"], host)
            continue
        kind = d["kind"]
        if kind == DIR:
            if path != "/":
                os.mkdir(host)
        elif kind == FILE:
            with open(host, "wb") as f:
                f.write(d.get("data", b""))
        else:
            os.symlink(d["target"], host)
        if kind != SYMLINK:
            os.chmod(host, d.get("perm", 0o644))
    for path in sorted(spec, reverse=True):     # children first: dir mtimes
        d = spec[path]
        host = root + path if path != "/" else root
        if "link" in d or d.get("mtime") is None:
            continue
        follow = d["kind"] != SYMLINK
        if d.get("uid") is not None and hasattr(os, "lchown"):
            os.lchown(host, d["uid"], d.get("gid", 0))
        os.utime(host, (d["mtime"], d["mtime"]), follow_symlinks=follow)


def cached_lower(root):
    """A DirLower that remembers its answers: the fixture's lower never
    changes during a campaign, and every case mounts and walks it again."""
    from ovl.dirlower import DirLower

    class CachedDirLower(DirLower):
        def __init__(self, root):
            DirLower.__init__(self, root)
            self._memo = {}

        def _cached(self, key, compute):
            try:
                hit = self._memo[key]
            except KeyError:
                try:
                    hit = (True, compute())
                except OSError as e:
                    # keep the errno, not the exception: re-raising one
                    # object grows its traceback (and keeps frames) forever
                    hit = (False, e.args)
                self._memo[key] = hit
            if not hit[0]:
                raise OSError(*hit[1])
            return hit[1]

        def lookup(self, path):
            return self._cached(("lookup", path),
                                lambda: DirLower.lookup(self, path))

        def readdir(self, entry):
            return iter(self._cached(("readdir", entry.path), lambda: list(
                DirLower.readdir(self, entry))))

        def read(self, entry, offset, n):
            return self._cached(("read", entry.path, offset, n),
                                lambda: DirLower.read(self, entry, offset, n))

        def readlink(self, entry):
            return self._cached(("readlink", entry.path),
                                lambda: DirLower.readlink(self, entry))

        def identity(self):
            return self._cached(("identity",),
                                lambda: DirLower.identity(self))

    return CachedDirLower(root)


class Rig:
    """One fixture on a simulated flash, snapshotted after setup."""

    def __init__(self, fixture, store=None):
        self.fixture = fixture
        self.store_class = load_store_class(store)
        lower_spec, setup = wl.FIXTURES[fixture]
        self.tmp = tempfile.mkdtemp(prefix="ovl-crash-")
        if fixture in LOWERS:
            self.lower = LOWERS[fixture]()
        else:
            build_lower_dir(lower_spec, self.tmp)
            self.lower = cached_lower(self.tmp)
        blocks, erase, page = GEOMETRY[fixture]
        self.flash = SimFlash(blocks * erase, erase, page, kind="nor")
        self.store_class.format(self.flash)
        ov = self.mount()
        for op in setup:
            err = self.apply(ov, op)
            if err is not None:
                raise RuntimeError("fixture %s setup %s failed: %s"
                                   % (fixture, wl.short_op(op),
                                      compat.errno_name(err)))
        self.snap = self.flash.snapshot()
        self.mounted = self._mount_snapshot()
        # flash state -> what the recovery mount, listing and fsck gave
        # (see _recover)
        self.recoveries = collections.OrderedDict()
        self.reused = 0

    def _mount_snapshot(self):
        """(overlay, deepcopy memo) of the snapshot mounted, for start();
        None where a copy would not be the same as a mount: the mount
        programs or erases, the snapshot holds unstable bytes (reads that
        differ), or the overlay cannot be copied."""
        flash = self.flash
        ops = flash.ops
        ov = self.mount()
        same = flash.ops == ops and not self.snap[3]
        flash.restore(self.snap)
        if not same:
            return None
        # shared, never copied: the chip, the lower, modules
        keep = {id(m): m for m in list(sys.modules.values())}
        keep[id(flash)] = flash
        keep[id(self.lower)] = self.lower
        try:
            copy.deepcopy(ov, dict(keep))
        except (TypeError, copy.Error):
            return None
        return ov, keep

    def copy(self, ov):
        """A deep copy of an overlay mounted on this rig's flash (sharing
        the flash and the lower)."""
        return copy.deepcopy(ov, dict(self.mounted[1]))

    def flash_key(self):
        """A key for the flash's whole state, or None when reading it is
        not a function of that state (bytes that read back at random)."""
        mem, counts, pages, unstable, bad = self.flash.snapshot()
        if unstable or self.mounted is None:
            return None
        return (hashlib.sha1(mem).digest(), tuple(counts),
                tuple(sorted(pages.items())), tuple(sorted(bad.items())))

    def recovered(self, key):
        """(overlay, tree, fsck problems) the recovery found on this flash
        state before (a copy of the overlay), or None."""
        hit = self.recoveries.get(key) if key is not None else None
        if hit is None:
            return None
        self.recoveries.move_to_end(key)
        self.reused += 1
        return (self.copy(hit[0]),) + hit[1:]

    def remember(self, key, ov, tree, problems):
        if key is None:
            return
        self.recoveries[key] = (self.copy(ov), tree, problems)
        if len(self.recoveries) > RECOVERIES_KEPT:
            self.recoveries.popitem(last=False)

    def start(self):
        """The overlay every case starts from, on the flash restored to the
        snapshot (and maybe armed).  The mount of the snapshot reads the
        same bytes into the same tables every time and programs nothing,
        so it is done once and each case gets a deep copy of it: about
        0.16 ms against 1.4 ms for the std fixture's mount, which reads
        the open block twice since checkpoints (mount_from looks for one
        ending the log, then the scan)."""
        if self.mounted is None:
            return self.mount()
        return self.copy(self.mounted[0])

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def mount(self):
        from ovl.overlay import Overlay
        store = self.store_class.mount(self.flash)
        return Overlay(self.lower, store, clock=lambda: FIXED_CLOCK)

    @staticmethod
    def apply(ov, op):
        """Run op on the overlay; return None or the errno it failed with."""
        verb, args = op[0], op[1:]
        if verb == "full":      # the model expects ENOSPC: run the op
            return Rig.apply(ov, args[0])
        try:
            if verb == "write":
                write_at(ov, *args)     # as `ovl shell` writes
            elif verb == "truncate":
                ov.truncate(*args)
            elif verb == "chmod":
                ov.chmod(*args)
            elif verb == "chown":
                ov.chown(*args)
            elif verb == "utime":
                ov.utime(args[0], (args[1], args[1]))
            elif verb == "mkdir":
                ov.mkdir(*args)
            elif verb == "symlink":
                ov.symlink(*args)
            elif verb == "link":
                ov.link(*args)
            elif verb == "unlink":
                ov.remove(*args)
            elif verb == "rmdir":
                ov.rmdir(*args)
            elif verb == "rename":
                ov.rename(*args)
            elif verb == "revert":
                ov.revert(*args)
            elif verb == "reset":
                ov.reset()
            elif verb == "sync":
                ov.sync()
            elif verb == "checkpoint":
                # a sync, then a checkpoint however small the log: every
                # cut during its write must mount as before
                ov.sync()
                checkpoint.write(ov.store, True)
            else:
                raise ValueError("unknown op %r" % verb)
        except OSError as e:
            code = compat.error_code(e)
            if not isinstance(code, int):
                # not an errno: a flash rule broken, a bad block...: the
                # oracle must see it as a failure, not as a wrong errno
                raise CaseFailure("`%s` raised %s: %s" % (
                    wl.short_op(op), e.__class__.__name__, e))
            return code
        return None

    @staticmethod
    def dump(ov, probe=()):
        """The merged tree in the model's comparable form (see
        model.Model.snapshot).  A listing that names an entry twice, or a
        path of `probe` that the listing of its directory leaves out but
        lstat finds, is a CaseFailure: the dict would hide the first, the
        comparison never looks up the second (a removed name still in the
        directory's index)."""
        out = {}
        inos = {}
        stack = ["/"]
        while stack:
            path = stack.pop()
            st = ov.lstat(path)
            mode = st[0]
            if is_dir(mode):
                out[path] = (DIR, mode & 0o7777, st[4], st[5], st[8])
                names = ov.listdir(path)
                if len(set(names)) != len(names):
                    raise CaseFailure("listdir(%s) names %s more than once" % (
                        path, sorted(n for n in set(names)
                                     if names.count(n) > 1)[:5]))
                for name in names:
                    stack.append(join(path, name))
                continue
            inos.setdefault(st[1], []).append(path)
            if is_lnk(mode):
                out[path] = (SYMLINK, ov.readlink(path), st[1])
            else:
                out[path] = (FILE, mode & 0o7777, st[4], st[5],
                             ov.read_bytes(path), st[3], st[1], st[8])
        # identity: the smallest path naming the same st_ino
        for path, e in out.items():
            if e[0] == FILE:
                out[path] = e[:6] + (min(inos[e[6]]), e[7])
            elif e[0] == SYMLINK:
                out[path] = e[:2] + (min(inos[e[2]]),)
        Rig.probe(ov, out, probe)
        return out

    @staticmethod
    def probe(ov, out, probe):
        """CaseFailure if a path of probe that the listing out leaves out
        of its (listed) directory is found by lstat."""
        for path in probe:
            parent = path.rsplit("/", 1)[0] or "/"
            if path in out or out.get(parent, "-")[0] != DIR:
                continue
            try:
                ov.lstat(path)
            except OSError as e:
                if compat.error_code(e) == compat.ENOENT:
                    continue
                raise CaseFailure("lstat(%s), a name listdir(%s) does not "
                                  "show, fails with %s, not ENOENT" % (
                                      path, parent, compat.errno_name(
                                          compat.error_code(e))))
            raise CaseFailure("lstat(%s) finds a name listdir(%s) does not "
                              "show" % (path, parent))

    @staticmethod
    def fsck(ov):
        """Problems fsck finds (empty list = clean): the store's errors
        (as "store: ...") and the overlay's invariants, as Overlay.fsck
        gives them."""
        try:
            problems = ov.fsck()
        except (ValueError, OSError) as e:
            return ["fsck: %s: %s" % (e.__class__.__name__, e)]
        return [str(p) for p in problems]


_RIGS = {}


def get_rig(fixture, store=None):
    key = (fixture, store if isinstance(store, (str, type(None)))
           else id(store))
    rig = _RIGS.get(key)
    if rig is None:
        rig = _RIGS[key] = Rig(fixture, store)
    return rig


def drop_rigs():
    for rig in _RIGS.values():
        rig.close()
    _RIGS.clear()


# ----- one case ---------------------------------------------------------------------

class Outcome:
    __slots__ = ("in_flight", "failure", "recovery_ops", "mount_ops")

    def __init__(self):
        self.in_flight = None
        self.failure = None
        self.recovery_ops = 0
        self.mount_ops = 0


def measure(rig, plan):
    """Run the workload without a cut: check it against the model op by op
    and return marks, marks[k] = flash ops done before op k starts."""
    flash = rig.flash
    flash.restore(rig.snap)
    start = flash.ops
    ov = rig.mount()
    marks = []
    for k, op in enumerate(plan.ops):
        marks.append(flash.ops - start)
        err = rig.apply(ov, op)
        if err != plan.errnos[k]:
            raise CaseFailure("without a cut, op %d `%s` %s, the model says %s"
                              % (k, wl.short_op(op), _errtext(err),
                                 _errtext(plan.errnos[k])))
        tree = rig.dump(ov, plan.probe)
        if not tree_matches(tree, plan.states[k + 1]):
            raise CaseFailure("without a cut, after op %d `%s` the tree is "
                              "wrong:\n%s" % (k, wl.short_op(op),
                                              tree_diff(tree,
                                                        plan.states[k + 1])))
    marks.append(flash.ops - start)
    return marks


def reference_errors(key, store=None):
    """[(op index, errno)] of the ops that fail in the uncut run."""
    plan = Plan(key)
    rig = get_rig(plan.fixture, store)
    rig.flash.restore(rig.snap)
    ov = rig.mount()
    failed = []
    for k, op in enumerate(plan.ops):
        err = rig.apply(ov, op)
        if err is not None:
            failed.append((k, err))
    return failed


def _errtext(code):
    return "succeeds" if code is None else "fails with %s" % \
        compat.errno_name(code)


def run_case(rig, plan, case, strict=True, log=None):
    """Run one crash case; Outcome.failure says what the oracle rejected."""
    out = Outcome()
    flash = rig.flash
    flash.restore(rig.snap)
    flash.arm_power_cut(case.cut, case.variant, case.seed)
    k = -1
    try:
        ov = rig.start()
        for k, op in enumerate(plan.ops):
            rig.apply(ov, op)
        k = len(plan.ops)
    except PowerCut:
        pass
    flash.disarm()
    out.in_flight = k
    if log:
        log("power cut during %s (op %d of %d)" % (plan.label(k), k,
                                                   len(plan.ops)))
    flash.power_on()
    if case.cut2 is not None:
        flash.arm_power_cut(case.cut2, case.variant2, case.seed + 1)
    try:
        _recover(rig, plan, k, strict, out, log, case.cut2 is not None)
    except CaseFailure as e:
        out.failure = str(e)
    flash.disarm()
    return out


def _window(plan, k, strict):
    """Allowed states after a cut in op k: [lo, hi]."""
    if k < 0:
        return 0, 0
    hi = min(k + 1, len(plan.ops))
    if strict:
        return min(k, len(plan.ops)), hi
    done = [s for s in plan.syncs if s <= k]
    return (done[-1] if done else 0), hi


def _mount_checked(rig, armed):
    """(overlay, tree, fsck problems) of the flash as it is: mounted,
    listed (Rig.dump without probes) and checked.  The three give the same
    every time on the same flash state, and many cases reach the same
    state (the workloads that start with the same op, cut in it), so what
    they gave is kept by state and the overlay copied; not with a second
    cut armed (the mount may be where it lands), nor where they programmed
    or erased."""
    key = None if armed else rig.flash_key()
    got = rig.recovered(key)
    if got is not None:
        return got
    before = rig.flash.ops
    ov = rig.mount()
    tree = rig.dump(ov)
    problems = rig.fsck(ov)
    if rig.flash.ops == before:
        rig.remember(key, ov, tree, problems)
    return ov, tree, problems


def _recover(rig, plan, k, strict, out, log, armed=False):
    flash = rig.flash
    lo, hi = _window(plan, k, strict)
    while True:
        before = flash.ops
        cursor = None       # the op being continued (for a second cut)
        try:
            ov, tree, problems = _mount_checked(rig, armed)
            out.mount_ops = flash.ops - before
            rig.probe(ov, tree, plan.probe)
            matched = None
            for i, state in plan.candidates(lo, hi, k):
                if tree_matches(tree, state):
                    matched = i
                    break
            if matched is None:
                raise CaseFailure(_mismatch(plan, tree, lo, hi))
            if log:
                log("remounted: the tree is the state after %d op(s)" % matched)
            if problems:
                raise CaseFailure("fsck after the cut: " + "; ".join(problems[:5]))
            for cursor in range(matched, len(plan.ops)):
                op = plan.ops[cursor]
                err = rig.apply(ov, op)
                if err != plan.errnos[cursor]:
                    raise CaseFailure(
                        "continuing after the cut, op %d `%s` %s, the model "
                        "says %s" % (cursor, wl.short_op(op), _errtext(err),
                                     _errtext(plan.errnos[cursor])))
            cursor = len(plan.ops)
            final = plan.states[-1]
            tree = rig.dump(ov, plan.probe)
            if not tree_matches(tree, final):
                raise CaseFailure("after continuing the workload the tree is "
                                  "wrong:\n" + tree_diff(tree, final))
            ov.sync()
            out.recovery_ops = flash.ops - before
            ov, tree, problems = _mount_checked(rig, armed)
            rig.probe(ov, tree, plan.probe)
            if not tree_matches(tree, final):
                raise CaseFailure("a second remount changed the tree:\n" +
                                  tree_diff(tree, final))
            if problems:
                raise CaseFailure("fsck at the end: " + "; ".join(problems[:5]))
            return
        except PowerCut:
            # the second cut: recover once more, with no cut armed
            armed = False
            flash.disarm()
            flash.power_on()
            if log:
                log("second power cut, during %s" % (
                    "the recovery mount" if cursor is None
                    else plan.label(cursor)))
            if cursor is not None:
                k = cursor
                lo2, hi = _window(plan, cursor, strict)
                lo = lo2 if strict else max(lo, lo2)


def _mismatch(plan, tree, lo, hi):
    lines = ["after the cut the tree is neither state %s" %
             " nor ".join(str(i) for i in range(lo, hi + 1))]
    best = min(range(lo, hi + 1),
               key=lambda i: len(tree_diff(tree, plan.states[i], 100)))
    lines.append("closest, state %d (after %d op(s)):" % (best, best))
    lines.append(tree_diff(tree, plan.states[best]))
    return "\n".join(lines)


# ----- one workload ----------------------------------------------------------------------

def workload_cases(plan, marks, variants, seeds, depth2, measured=None):
    """First-cut cases of a workload (the depth-2 ones come from results)."""
    total = marks[-1]
    cases = []
    for cut in range(total):
        for v in variants:
            for seed in seeds:
                cases.append(Case(plan.key, cut, v, seed))
                if v == "clean":
                    break
    cases.append(Case(plan.key, total, "clean", seeds[0]))
    return cases


def depth2_cases(case, outcome, rate):
    """Sampled second cuts for a first-cut case that passed."""
    if rate <= 0:
        return []
    h = int(hashlib.sha256(case.id().encode()).hexdigest()[:8], 16)
    if (h % 1000) >= rate * 1000:
        return []
    span = outcome.mount_ops or outcome.recovery_ops
    if span <= 0:
        return []
    rng = Xorshift(h)
    cut2 = rng.below(span)
    variant2 = VARIANTS[rng.below(len(VARIANTS))]
    return [Case(case.workload, case.cut, case.variant, case.seed, cut2,
                 variant2)]


class Stats:
    """Per op-label counters, mergeable across workers."""

    def __init__(self):
        self.rows = {}      # label -> [cases, cut points, failures, seconds]
        self.failures = []  # (case id, label, message)
        self.workloads = 0
        self.errors = []    # (workload, message): the no-cut run failed

    def add(self, label, cases=0, cuts=0, failures=0, seconds=0.0):
        row = self.rows.setdefault(label, [0, 0, 0, 0.0])
        row[0] += cases
        row[1] += cuts
        row[2] += failures
        row[3] += seconds

    def merge(self, other):
        for label, row in other.rows.items():
            self.add(label, *row)
        self.failures += other.failures
        self.workloads += other.workloads
        self.errors += other.errors

    def total(self):
        t = [0, 0, 0, 0.0]
        for row in self.rows.values():
            for i in range(4):
                t[i] += row[i]
        return t


def run_workload(key, variants=VARIANTS, seeds=(1,), depth2=0.05,
                 strict=True, store=None, max_failures=3):
    """All crash cases of one workload -> Stats."""
    stats = Stats()
    stats.workloads = 1
    plan = Plan(key)
    rig = get_rig(plan.fixture, store)
    try:
        marks = measure(rig, plan)
    except CaseFailure as e:
        stats.errors.append((key, str(e)))
        return stats
    failed = 0
    labels_cut = set()
    pending = workload_cases(plan, marks, variants, seeds, depth2)
    while pending:
        case = pending.pop(0)
        t = time.process_time()     # CPU time: fair on a busy machine
        with _time_limit(CASE_SECONDS):
            try:
                outcome = run_case(rig, plan, case, strict)
            except CaseTimeout:
                outcome = Outcome()
                outcome.failure = "no result after %d s (a hang?)" % \
                    CASE_SECONDS
        dt = time.process_time() - t
        label = plan.label(outcome.in_flight)
        new_cut = (case.cut, case.cut2) not in labels_cut
        labels_cut.add((case.cut, case.cut2))
        stats.add(label, 1, 1 if new_cut else 0, 0, dt)
        if outcome.failure:
            stats.add(label, failures=1)
            stats.failures.append((case.id(), label, outcome.failure))
            failed += 1
            if failed >= max_failures:
                break
        elif case.cut2 is None:
            pending[:0] = depth2_cases(case, outcome, depth2)
    return stats


# ----- shrinking ---------------------------------------------------------------------------

def first_failure(key, variant, seed, store=None, strict=True, limit=400):
    """The first failing first-cut case of a workload with this variant and
    seed, or None (at most `limit` cases are tried)."""
    try:
        plan = Plan(key)
    except ValueError:
        return None
    rig = get_rig(plan.fixture, store)
    try:
        marks = measure(rig, plan)
    except CaseFailure:
        return Case(key, 0, "clean", seed), "fails without a cut"
    for cut in range(min(marks[-1] + 1, limit)):
        case = Case(key, cut, variant, seed)
        outcome = run_case(rig, plan, case, strict)
        if outcome.failure:
            return case, outcome.failure
    return None


def shrink(case_id, store=None, strict=True):
    """Drop ops from a failing case's workload while it still fails.
    Returns (smallest failing case id, its failure message)."""
    case = Case.parse(case_id)
    fixture, names, _ = wl.parse_workload(case.workload)
    best = None
    changed = True
    while changed and len(names) > 1:
        changed = False
        for i in range(len(names)):
            trial = names[:i] + names[i + 1:]
            found = first_failure(wl.workload_key(fixture, trial),
                                  case.variant, case.seed, store, strict)
            if found is not None:
                names = trial
                best = found
                changed = True
                break
    if best is None:
        return None
    return best[0].id(), best[1]


# ----- replay ----------------------------------------------------------------------------

def replay(case_id, store=None, strict=True, out=print):
    """Run one case, narrating; returns the failure message or None."""
    case = Case.parse(case_id)
    plan = Plan(case.workload)
    out("workload %s:" % wl.short_text(plan.key))
    for k, op in enumerate(plan.ops):
        out("  %d. %-40s -> %s" % (k, wl.short_op(op),
                                   "ok" if plan.errnos[k] is None else
                                   compat.errno_name(plan.errnos[k])))
    rig = get_rig(plan.fixture, store)
    marks = measure(rig, plan)
    out("flash operations: %d (op k starts at %s)" % (marks[-1], marks[:-1]))
    # the campaign's cuts: each operation, and one after the last (no
    # cut fires: the clean remount); past that a case is never run
    if not 0 <= case.cut <= marks[-1]:
        raise ValueError("cut %d: want 0 to %d (the workload's %d flash "
                         "operations, and %d: no cut before the remount)"
                         % (case.cut, marks[-1], marks[-1], marks[-1]))
    if case.cut2 is not None and case.cut2 < 0:
        raise ValueError("second cut %d: want 0 or more" % case.cut2)
    out("cut at flash operation %d, torn %s, seed %d%s" % (
        case.cut, case.variant, case.seed,
        "" if case.cut2 is None else "; second cut at %d of the recovery, "
        "torn %s" % (case.cut2, case.variant2)))
    outcome = run_case(rig, plan, case, strict, log=lambda m: out("  " + m))
    if outcome.failure:
        out("FAIL: " + outcome.failure)
    else:
        out("ok: the oracle accepts this case")
    return outcome.failure


# ----- campaigns -------------------------------------------------------------------------

_WORKER_OPTIONS = {}


def _init_worker(options):
    _WORKER_OPTIONS.clear()
    _WORKER_OPTIONS.update(options)


def _init_pool_worker(options):
    """A pool worker's start.  Ctrl-C reaches the whole process group and
    the parent alone answers it (it terminates the pool): a worker
    ignores SIGINT, and SIGTERM and SIGHUP kill it as by default rather
    than through the parent's handlers, which fork copied (they would
    raise a traceback in it).  The parent held the signals across the
    fork (signals_held), so none arrives before this."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, ENDING)
    _init_worker(options)


def _worker(key):
    try:
        return run_workload(key, **_WORKER_OPTIONS)
    except Exception as e:     # a crash of the engine or ovl: report it
        stats = Stats()
        stats.workloads = 1
        stats.errors.append((key, "%s: %s" % (e.__class__.__name__, e)))
        return stats


# CPU seconds a workload of each fixture takes, roughly (CI campaign, 2026-12):
# a bigdir one 25-40, a big one 0.1-45, edge 1-10, gc 5-15, std 0.3.
_HEAVY = ("bigdir", "big", "gc", "edge")


def heavy_first(keys):
    """keys with the long workloads first, for a pool that hands them out
    one at a time: the workers then end within a short std workload of
    each other (the list's order put the six bigdir workloads last, and
    one worker ran the last of them alone for a minute or two)."""
    def rank(key):
        fixture = key.split(":", 1)[0]
        return _HEAVY.index(fixture) if fixture in _HEAVY else len(_HEAVY)
    return sorted(keys, key=rank)


def campaign(keys, jobs=1, progress=None, **options):
    """Run every workload in keys; returns (Stats, wall seconds)."""
    stats = Stats()
    t0 = time.perf_counter()
    if jobs <= 1:
        _init_worker(options)
        results = (_worker(k) for k in keys)
        pool = None
    else:
        import multiprocessing
        ctx = multiprocessing.get_context("fork" if sys.platform != "win32"
                                          else "spawn")
        # the pool's threads, which fork the workers it replaces, are
        # made here too and keep this mask: signals go to the main thread
        with signals_held():
            pool = ctx.Pool(jobs, initializer=_init_pool_worker,
                            initargs=(options,))
        results = pool.imap_unordered(_worker, heavy_first(keys))
    try:
        for n, s in enumerate(results, 1):
            stats.merge(s)
            if progress:
                progress(n, len(keys), stats)
    except BaseException:
        # Ctrl-C, a signal (outputs.Terminated), a failure: stop the
        # workers now rather than wait for the rest of the queue
        if pool is not None:
            pool.terminate()
            pool.join()
        raise
    if pool is not None:
        pool.close()
        pool.join()
    return stats, time.perf_counter() - t0


def format_summary(stats, wall):
    lines = ["%-26s %8s %8s %8s %9s" % ("operation in flight", "cases",
                                          "cuts", "failures", "cases/s*")]
    for label in sorted(stats.rows):
        cases, cuts, fails, secs = stats.rows[label]
        lines.append("%-26s %8d %8d %8d %9.0f" % (
            label, cases, cuts, fails, cases / secs if secs else 0))
    cases, cuts, fails, secs = stats.total()
    lines.append("%-26s %8d %8d %8d %9.0f" % (
        "total (per CPU second)", cases, cuts, fails, cases / secs if secs else 0))
    lines.append("%d workloads, %d crash cases in %.1f s wall clock: %.0f "
                 "cases/s  (* per CPU second of one worker)"
                 % (stats.workloads, cases, wall, cases / wall if wall else 0))
    return "\n".join(lines)
