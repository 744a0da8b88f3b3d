"""Power cut during each kind of overlay operation: after power returns and
the overlay is mounted again, the merged tree is the one from before the
operation or the one from after it, and fsck is clean.  A small sampled set
(every cut point of each operation, two torn modes); the crash-test
campaigns are exhaustive."""

import pytest

from ovl.dirlower import DirLower
from ovl_sim.simflash import PowerCut
from ovl.overlay import mount

from test_overlay import Rig, build_lower, snapshot


def op_write(o):
    with o.open("/etc/config", "r+b") as f:
        f.seek(3)
        f.write(b"XYZ")


def op_create(o):
    with o.open("/etc/new", "w") as f:
        f.write("fresh file\n")


def op_rewrite(o):
    with o.open("/etc/upper_only", "wb") as f:
        f.write(b"new contents " * 20)


def op_rewrite_lower(o):
    with o.open("/etc/passwd", "w") as f:
        f.write("root:x:0:0:rewritten\n")


OPS = {
    "write": op_write,
    "create": op_create,
    "rewrite": op_rewrite,
    "rewrite_lower": op_rewrite_lower,
    "mkdir": lambda o: o.mkdir("/share/a/nd"),
    "remove": lambda o: o.remove("/etc/init.d/net"),
    "rmdir": lambda o: o.rmdir("/empty"),
    "rename_file": lambda o: o.rename("/etc/passwd", "/pw"),
    "rename_dir": lambda o: o.rename("/share/a", "/etc/a2"),
    "link": lambda o: o.link("/etc/config", "/cfg"),
    "symlink": lambda o: o.symlink("/etc", "/e"),
    "truncate": lambda o: o.truncate("/lib/big.bin", 10),
    "chmod": lambda o: o.chmod("/lib/mod.py", 0o600),
    "revert": lambda o: o.revert("/etc"),
    "reset": lambda o: o.reset(),
}


def prepare(o):
    """Some upper state first, so revert and reset have work to do."""
    o.write_bytes("/etc/upper_only", b"u")
    o.remove("/etc/cfg")
    o.chmod("/etc/config", 0o600)
    o.sync()


def chips_after_each_commit(rig, op):
    """Run op once (and sync); a snapshot of the chip after every
    transaction it committed that wrote something (one with nothing to do
    writes nothing, the store's rule, so it is no state of its own)."""
    flash = rig.flash
    store = rig.ovl.store
    chips = []
    begin = store.begin

    class Recording:
        def __init__(self, txn):
            self.txn = txn

        def __getattr__(self, name):
            return getattr(self.txn, name)

        def commit(self):
            before = flash.counters()["bytes_programmed"]
            self.txn.commit()
            if flash.counters()["bytes_programmed"] != before:
                chips.append(flash.snapshot())

    store.begin = lambda: Recording(begin())
    try:
        op(rig.ovl)
        rig.ovl.sync()
    finally:
        store.begin = begin
    return chips


def committed_states(rig, lower, op):
    """The merged trees the chip mounts to after each transaction op
    commits.  An operation may span several transactions (create at open,
    data at close: the write-back rule), and each must be atomic."""
    trees = []
    for chip in chips_after_each_commit(rig, op):
        rig.flash.restore(chip)
        trees.append(snapshot(mount(DirLower(lower), rig.flash)))
    return trees


def cut_everywhere(lower, flash, base, op, cost):
    """For each flash operation of op (run on a fresh mount of the chip
    base) and both torn modes: cut the power there, power on, and yield
    (cut point, torn mode, the overlay mounted again)."""
    for torn in ("clean", "prefix"):
        for n in range(cost):
            flash.restore(base)
            o = mount(DirLower(lower), flash)
            flash.arm_power_cut(n, torn, seed=n)
            with pytest.raises(PowerCut):
                op(o)
                o.sync()
            flash.power_on()
            yield n, torn, mount(DirLower(lower), flash)


@pytest.mark.parametrize("name", sorted(OPS))
def test_power_cut_leaves_before_or_after(name, tmp_path):
    lower = build_lower(str(tmp_path / "lower"))
    rig = Rig(lower)
    prepare(rig.ovl)
    flash = rig.flash
    base = flash.snapshot()
    before = snapshot(rig.ovl)
    start = flash.ops
    states = committed_states(rig, lower, OPS[name])
    cost = flash.ops - start
    assert states, "%s committed no transaction" % name
    assert states[-1] != before, "%s changed nothing" % name
    allowed = [before] + states
    store_problems = []
    cuts = 0
    for n, torn, o in cut_everywhere(lower, flash, base, OPS[name], cost):
        got = snapshot(o)
        assert got in allowed, \
            "%s cut at op %d (%s): not a committed state" % (name, n, torn)
        problems = o.fsck()
        mine = [p for p in problems if not p.startswith("store:")]
        assert mine == [], "%s cut at op %d (%s)" % (name, n, torn)
        store_problems.extend("cut %d %s: %s" % (n, torn, p)
                              for p in problems if p not in mine)
        cuts += 1
    assert cuts == 2 * cost, "every cut point in both torn modes"
    if store_problems:
        # the store's own accounting, reported to its owner (requests.md);
        # the overlay's tree and invariants were checked above
        pytest.xfail("log store fsck after a cut: %s" % store_problems[0])


def test_a_rewrite_commits_once_so_a_cut_leaves_old_or_new_content(tmp_path):
    """open('w') defers its truncation into the write buffer: an upper file
    rewritten by open-write-close is one transaction (never empty after a
    cut); a lower file gets its copy-up first, which still reads the old
    bytes."""
    lower = build_lower(str(tmp_path / "lower"))
    rig = Rig(lower)
    prepare(rig.ovl)
    old = rig.ovl.read_bytes("/etc/passwd")
    assert len(committed_states(rig, lower, op_rewrite)) == 1, \
        "rewriting an upper file commits once"
    rig = Rig(lower)
    prepare(rig.ovl)
    seen = []
    for chip in chips_after_each_commit(rig, op_rewrite_lower):
        rig.flash.restore(chip)
        seen.append(mount(DirLower(lower), rig.flash).read_bytes(
            "/etc/passwd"))
    assert seen == [old, b"root:x:0:0:rewritten\n"], \
        "a lower file: its copy-up (old bytes), then the new content"


REPLACE_OPS = {
    # the agent's put: an upper file renamed over a hard-linked lower one
    "rename_over": lambda o: o.rename("/etc/upper_only", "/etc/passwd"),
    # ln -sf: a symlink made again over the whiteout of the lower one
    "recreate": lambda o: o.symlink("passwd", "/etc/cfg"),
    # a file made by open-write-close there: its write transaction
    "create_over": lambda o: o.write_bytes("/etc/cfg", b"mine\n" * 60),
}


@pytest.mark.parametrize("name", sorted(REPLACE_OPS))
def test_a_replacement_records_what_it_hides_in_its_transaction(name,
                                                                 tmp_path):
    """The name and its REPLACES record (ovl.upgrade: diff says
    'modified', an upgrade keeping the firmware's file marks nothing)
    land in one transaction: a cut leaves the tree and the diff of before
    or of after, never the new name without its record."""
    lower = build_lower(str(tmp_path / "lower"))
    rig = Rig(lower)
    prepare(rig.ovl)
    flash = rig.flash
    base = flash.snapshot()
    before = (snapshot(rig.ovl), rig.ovl.diff())
    start = flash.ops
    REPLACE_OPS[name](rig.ovl)
    rig.ovl.sync()
    cost = flash.ops - start
    o = mount(DirLower(lower), flash)       # the record is on the chip
    after = (snapshot(o), o.diff())
    path = "/etc/passwd" if name == "rename_over" else "/etc/cfg"
    assert ("modified", path) in after[1] and before != after
    assert cost > 0
    for n, torn, o in cut_everywhere(lower, flash, base, REPLACE_OPS[name],
                                     cost):
        got = (snapshot(o), o.diff())
        assert got in (before, after), \
            "%s cut at op %d (%s): not a committed state" % (name, n, torn)
        assert [p for p in o.fsck() if not p.startswith("store:")] == []
