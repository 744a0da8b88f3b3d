"""The crash campaign engine's own logic: case ids, plans, windows,
sampling, summaries and the CLI's argument handling."""

import pytest

from host_tools.crash import workloads as wl
from host_tools.crash import engine as ct
from host_tools.cli import main
from ovl import compat


def test_case_ids_round_trip_and_reject_garbage():
    for text in ("std:write_lower+sync+rename_lower@17:prefix:3",
                 "std:reset@0:clean:1/4:bits",
                 "gc:gc_rewrite_head@250:unstable:9"):
        assert ct.Case.parse(text).id() == text
    c = ct.Case.parse("std:reset@0:clean:1/4:bits")
    assert (c.cut, c.cut2, c.variant2) == (0, 4, "bits")
    for bad in ("std:reset", "std:reset@x:clean:1", "std:reset@1:melted:1",
                "nope:reset@1:clean:1", "std:reset@1:clean"):
        with pytest.raises(ValueError):
            ct.Case.parse(bad)


def test_plan_predicts_states_and_errnos():
    plan = ct.Plan("std:write_lower+sync+unlink_whiteout+rename_lower")
    assert len(plan.states) == 5 and plan.syncs == [2]
    assert plan.errnos == [None, None, compat.ENOENT, None]
    assert plan.states[1] != plan.states[0]
    assert plan.states[3] == plan.states[2]     # a failed op changes nothing
    assert "/lf2" in plan.states[4] and "/lf" not in plan.states[4]
    assert plan.label(-1) == "mount" and plan.label(3) == "rename_lower"


def test_windows_allow_before_or_after_the_op_in_flight():
    plan = ct.Plan("std:write_lower+sync+rename_lower+unlink_upper")
    assert ct._window(plan, -1, True) == (0, 0)     # cut while mounting
    assert ct._window(plan, 2, True) == (2, 3)
    assert ct._window(plan, 4, True) == (4, 4)      # after the workload
    # lenient: anything since the last completed sync
    assert ct._window(plan, 3, False) == (2, 4)
    assert ct._window(plan, 0, False) == (0, 1)


def test_depth2_sampling_is_deterministic_and_bounded():
    out = ct.Outcome()
    out.mount_ops, out.recovery_ops = 3, 40
    picked = 0
    for cut in range(400):
        case = ct.Case("std:reset", cut, "clean", 1)
        a = ct.depth2_cases(case, out, 0.25)
        assert a == [] or a[0].id() == ct.depth2_cases(case, out, 0.25)[0].id()
        for c in a:
            assert 0 <= c.cut2 < 3 and c.variant2 in ct.VARIANTS
            picked += 1
    assert 50 < picked < 150
    assert ct.depth2_cases(ct.Case("std:reset", 1), out, 0) == []
    out.mount_ops = 0       # a mount that writes nothing: cut the rest
    cuts = {c.cut2 for cut in range(400)
            for c in ct.depth2_cases(ct.Case("std:reset", cut), out, 1.0)}
    assert max(cuts) >= 3 and max(cuts) < 40


def test_stats_merge_and_summary():
    a, b = ct.Stats(), ct.Stats()
    a.add("rename_lower", 10, 3, 0, 0.5)
    b.add("rename_lower", 5, 2, 1, 0.5)
    b.add("mount", 1, 1, 0, 0.01)
    b.failures.append(("std:rename_lower@1:clean:1", "rename_lower", "x"))
    a.merge(b)
    assert a.rows["rename_lower"] == [15, 5, 1, 1.0]
    assert a.total()[:3] == [16, 6, 1]
    text = ct.format_summary(a, 2.0)
    assert "rename_lower" in text and "16 crash cases" in text
    assert " 8 cases/s" in text


def argument_error(capsys, argv):
    """argparse's exit 2 and its "ovl crashtest: error:" line."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.splitlines()[-1]


def test_cli_rejects_bad_arguments_in_one_line(capsys):
    assert "--shard wants I/N" in argument_error(
        capsys, ["crashtest", "--shard", "3"])
    assert main(["crashtest", "--variants", "clean,melted"]) == 1
    assert "unknown variant" in capsys.readouterr().err
    assert main(["crashtest", "--replay", "bogus"]) == 1
    err = capsys.readouterr().err
    assert "case id" in err and "Traceback" not in err
    assert main(["crashtest", "--workload", "std:nope", "--list"]) == 1
    assert "unknown op" in capsys.readouterr().err
    for bad in (["--triples", "-5"], ["--max-failures", "-1"],
                ["--depth2", "2"]):
        assert "argument %s:" % bad[0] in argument_error(
            capsys, ["crashtest"] + bad)


def test_cli_names_a_bad_script(tmp_path, capsys):
    binary = tmp_path / "random.bin"
    binary.write_bytes(b"\x00\xff\xfe garbage")
    assert main(["crashtest", "--script", str(binary)]) == 1
    assert "random.bin is not UTF-8" in capsys.readouterr().err
    script = tmp_path / "bad.ovl"
    script.write_text("sync\nfrobnicate /x\n")
    assert main(["crashtest", "--script", str(script)]) == 2
    err = capsys.readouterr().err
    assert "bad.ovl:2: bad command" in err and err.count("\n") == 1


def test_cli_lists_a_shard(capsys):
    assert main(["crashtest", "--size", "ci", "--shard", "2/50",
                 "--list"]) == 0
    keys = capsys.readouterr().out.split()
    assert keys and all(":" in k for k in keys)
    from host_tools.crash import workloads as wl
    assert keys == wl.shard(wl.generate("ci"), 2, 50)


def test_creating_writes_never_expose_the_empty_file():
    """open-write-close commits as one transaction with the open: a cut
    leaves a new file absent or complete, a rewrite old or new (POSIX
    would allow the empty file in between: ct.Plan._midway's allowance)."""
    plan = ct.Plan("std:create_new+append_lower+write_lower")
    assert plan.mids == [[], [], []]
    assert [i for i, _ in plan.candidates(0, 1, 0)] == [1, 0]
    assert [i for i, _ in plan.candidates(1, 2, 1)] == [2, 1]
    model = ct.Model(*wl.FIXTURES["std"][:1])
    for op in wl.FIXTURES["std"][1]:
        model.apply(op)
    (mid,) = ct.Plan._midway(model, wl.CATALOGUE["create_new"], False)
    assert mid["/new"][4] == b"" and "/new" not in plan.states[0]


def test_edge_workloads_fail_half_way_for_space_and_gc_during_a_write():
    """The edge fixture's ENOSPC writes stream part of their data before
    they fail (flash programs, nothing changed), and a large write there
    runs the garbage collector while it streams (an erase during it)."""
    keys = wl.generate("ci")
    for name in wl.EDGE_CATALOGUE:
        assert "edge:%s" % name in keys
    rig = ct.get_rig("edge")
    plan = ct.Plan("edge:full_new_30000+gc_large_rewrite+gc_large_rewrite")
    assert plan.errnos == [compat.ENOSPC, None, None]
    assert plan.states[1] == plan.states[0] != plan.states[2]
    marks = ct.measure(rig, plan)   # checks each op against the model
    assert marks[1] - marks[0] > 10             # streamed before ENOSPC
    rig.flash.restore(rig.snap)
    ov = rig.mount()
    erases = []
    for op in plan.ops:
        before = rig.flash.counters()["erases"]
        rig.apply(ov, op)
        erases.append(rig.flash.counters()["erases"] - before)
    assert erases[0] == 0 and erases[1] > 0, erases
    ct.drop_rigs()


def test_twins_share_a_crc32_in_any_parent():
    """The bigdir workloads' colliding names (wl.COLLIDING_NAMES) collide
    under CRC-32 whatever start value or prefix a parent gives it, and
    under the store's own name hash where it has one."""
    from binascii import crc32
    from ovl.store import index as store_index
    assert wl.crc32_collisions(2) == wl.COLLIDING_NAMES[:2]
    for a, b in wl.COLLIDING_NAMES:
        a, b = a.encode(), b.encode()
        assert a != b and len(a) == len(b)
        for parent in (0, 1, 2, 1000, 0xFFFFFFFF):
            assert crc32(a, parent) == crc32(b, parent)
            prefix = parent.to_bytes(4, "little")
            assert crc32(prefix + a) == crc32(prefix + b)
            assert crc32(prefix + a) != crc32(prefix + a[::-1])
        table = getattr(store_index, "EntryTable", None)
        if table is not None:   # the hashed entry table of issue 10
            for parent in (1, 2, 1000):
                assert table.hash(None, (parent, a)) == \
                    table.hash(None, (parent, b))


def test_every_bigdir_op_runs_in_the_ci_campaign():
    keys = wl.generate("ci")
    ci = set()
    for key in keys:
        if key.startswith("bigdir:"):
            ci.update(key.split(":", 1)[1].split("+"))
    assert ci == set(wl.BIGDIR_CATALOGUE)
    full = set(wl.generate("full"))
    assert {k for k in keys if k.startswith("bigdir:")} < full
    assert all("bigdir:" + n in full for n in wl.BIGDIR_CATALOGUE)
    # a few hundred entries in /D, a third of /L whited out
    state = ct.Plan("bigdir:bd_create").states[0]
    assert sum(p.startswith("/D/") for p in state) > 240
    assert sum(p.startswith("/L/") for p in state) > 40


@pytest.mark.slow
def test_bigdir_workloads_make_gc_move_dirents_of_the_big_directory():
    """Each CI bigdir workload runs the garbage collector while /D is big,
    and the collection moves dirent nodes of /D the workload never names:
    their names are found at new flash addresses (read from the raw chip,
    so this holds for any store format).  A store change that moves the
    workloads off this edge fails here: retune the fixture."""
    rig = ct.get_rig("bigdir")
    size = rig.flash.size

    def places(names):
        raw = rig.flash.read(0, size)
        out = {}
        for name in names:
            found, at = set(), raw.find(name)
            while at >= 0:
                found.add(at)
                at = raw.find(name, at + 1)
            out[name] = found
        return out

    for names in wl.BIGDIR_WORKLOADS:
        key = wl.workload_key("bigdir", list(names))
        plan = ct.Plan(key)
        ct.measure(rig, plan)       # each op as the model says, no cut
        named = " ".join(wl.format_op(op) for op in plan.ops)
        untouched = [b"f%03d" % i for i in range(wl.BIGDIR_ENTRIES)
                     if "/D/f%03d" % i in plan.states[0]
                     and "f%03d" % i not in named]
        rig.flash.restore(rig.snap)
        before = places(untouched)
        erases = rig.flash.counters()["erases"]
        ov = rig.mount()
        for op in plan.ops:
            rig.apply(ov, op)       # errnos: measure checked them
        assert rig.flash.counters()["erases"] > erases, key
        after = places(untouched)
        moved = [n for n in untouched if after[n] and before[n] - after[n]]
        assert len(moved) >= 10, (key, len(moved))
    ct.drop_rigs()


class _Listing:
    """An overlay stand-in for Rig.dump: / holds the file names given."""

    def __init__(self, names, hidden=()):
        self.names = names
        self.hidden = hidden

    def lstat(self, path):
        if path == "/":
            return (0o40755, 1, 0, 2, 0, 0, 0, 0, T0, 0)
        if path[1:] in self.names or path[1:] in self.hidden:
            return (0o100644, 2 + len(path), 0, 1, 0, 0, 0, 0, T0, 0)
        raise OSError(compat.ENOENT, path)

    def listdir(self, path):
        return list(self.names)

    def read_bytes(self, path):
        return b""


T0 = wl.T0


def test_dump_rejects_a_name_listed_twice_or_found_but_not_listed():
    tree = ct.Rig.dump(_Listing(["a", "b"]), ["/a", "/b", "/c", "/x/y"])
    assert sorted(tree) == ["/", "/a", "/b"]
    with pytest.raises(ct.CaseFailure, match=r"listdir\(/\) names \['b'\] "
                                             "more than once"):
        ct.Rig.dump(_Listing(["a", "b", "b"]))
    with pytest.raises(ct.CaseFailure, match=r"lstat\(/c\) finds a name "
                                             r"listdir\(/\) does not show"):
        ct.Rig.dump(_Listing(["a"], hidden=["c"]), ["/a", "/c"])
    # only names the plan holds somewhere are looked up
    ct.Rig.dump(_Listing(["a"], hidden=["c"]), ["/a"])


def test_a_store_error_is_named_once_among_the_fsck_problems():
    """A case's failure lists what Rig.fsck finds: the store's errors are
    the overlay fsck's "store: ..." lines, each once."""
    ov = ct.get_rig("std").mount()
    ov.store.fsck = lambda: {"errors": ["block 4: made up"], "warnings": []}
    assert ct.Rig.fsck(ov) == ["store: block 4: made up"]
    ct.drop_rigs()


@pytest.mark.parametrize("fixture", sorted(ct.GEOMETRY))
def test_a_case_starts_from_a_copy_that_behaves_as_a_mount(fixture):
    """Rig.start() hands each case a copy of the snapshot's mount: for
    every fixture it must exist (else the campaign mounts every case) and
    give what a mount gives: the tree, the store's counters, and the same
    flash bytes and operations through a workload, a sync and a checkpoint
    (the store's tables as a checkpoint writes them)."""
    rig = ct.get_rig(fixture)
    assert rig.mounted is not None
    key = {"std": "std:write_lower+rename_dir_lower+checkpoint+unlink_upper",
           "bigdir": "bigdir:" + "+".join(wl.BIGDIR_WORKLOADS[0])}.get(
               fixture, "%s:create_new+checkpoint+unlink_upper" % fixture)
    plan = ct.Plan(key)
    runs = []
    for start in (rig.mount, rig.start, rig.start):
        rig.flash.restore(rig.snap)
        ops = rig.flash.counters()["ops"]
        ov = start()
        before = dict(ov.store.stats)
        tree = rig.dump(ov, plan.probe)
        for op in plan.ops:
            rig.apply(ov, op)
        runs.append((before, tree, rig.dump(ov, plan.probe),
                     rig.flash.counters()["ops"] - ops, bytes(rig.flash.mem)))
    assert runs[0] == runs[1] == runs[2]
    assert rig.mounted[0].store.stats == runs[0][0]    # copies, not it
    ct.drop_rigs()


def test_a_recovery_reused_by_flash_state_judges_as_a_fresh_one(monkeypatch):
    """Workloads that start with the same op share the states a cut in it
    leaves; the rig keeps what the recovery mount, listing and fsck gave
    for each state and copies it.  Every case must come out as it does
    with nothing kept (failures too: the double commits a rename as two
    transactions, so a cut between them fails in both workloads)."""
    keys = ["std:write_upper+rename_over_lower" + more
            for more in ("", "+sync", "+unlink_upper")]
    double = "tests.test_crash_doubles:SplitRenameStore"

    def outcomes(store):
        got = []
        for key in keys:
            plan = ct.Plan(key)
            rig = ct.get_rig(plan.fixture, store)
            marks = ct.measure(rig, plan)
            for case in ct.workload_cases(plan, marks, ct.VARIANTS, (1,), 0):
                o = ct.run_case(rig, plan, case)
                got.append((case.id(), o.in_flight, o.failure, o.mount_ops,
                            o.recovery_ops))
        reused = rig.reused
        ct.drop_rigs()
        return got, reused

    for store in (None, double):
        kept, reused = outcomes(store)
        assert reused > 10
        monkeypatch.setattr(ct, "RECOVERIES_KEPT", 0)
        fresh, none = outcomes(store)
        monkeypatch.undo()
        assert none == 0 and kept == fresh
        assert (store is None) == (not any(o[2] for o in kept))


# Cases the CI campaign failed once (a checkpoint mount took a torn
# summary at the end of the open block for a closed log when it read
# that block's nodes by their headers): replayed here, seconds each.
CAMPAIGN_REGRESSIONS = (
    "std:write_hardlink+sync+rename_across@3:clean:1/14:clean",
    "std:rename_dir_upper+sync+rename_hardlink@2:bits:1/17:prefix",
    "std:write_hardlink+sync+create_in_opaque@3:bits:1/16:unstable",
)


@pytest.mark.parametrize("case_id", CAMPAIGN_REGRESSIONS)
def test_campaign_regressions_replay_clean(case_id):
    lines = []
    assert ct.replay(case_id, out=lines.append) is None, "\n".join(lines)


def test_crashtest_doc_counts_match_the_campaigns():
    # docs/CRASHTEST.md "Workloads" gives the catalogue's and the campaigns'
    # sizes: a new op or workload must update them
    import os
    import re
    from conftest import ROOT
    with open(os.path.join(ROOT, "docs", "CRASHTEST.md")) as f:
        doc = re.sub(r"\s+", " ", f.read())
    n = len(wl.OPS)
    kinds = {}
    for key in wl.generate("full"):
        kinds[key.split(":")[0]] = kinds.get(key.split(":")[0], 0) + 1
    full, ci = len(wl.generate("full")), len(wl.generate("ci"))
    bigdir_ci = len(wl.BIGDIR_WORKLOADS)
    for phrase in [
            "names %d operations" % len(wl.CATALOGUE),
            "(`OPS`, %d ops)" % n,
            "(%d x %d = %s)" % (n, n, format(n * n, ",")),
            "the %d GC, %d large-write, %d edge and %d big-directory"
            % (kinds["gc"], kinds["big"], kinds["edge"], bigdir_ci),
            "%d more `bigdir:` workloads (%s workloads)"
            % (kinds["bigdir"] - bigdir_ci, format(full, ",")),
            "500 triples (%s workloads)" % format(ci, ","),
            "to %s and %s today" % (format(ci, ","), format(full, ","))]:
        assert phrase in doc, phrase


def test_replay_refuses_a_cut_no_run_reaches(capsys):
    """A cut past the workload's flash operations never fires, and a
    negative one is no operation: the replay said "ok" of a case that
    does not exist."""
    plan = ct.Plan("std:write_lower")
    total = ct.measure(ct.get_rig("std"), plan)[-1]
    for cut in (99999, total + 1, -1):
        assert main(["crashtest", "--replay",
                     "std:write_lower@%d:clean:1" % cut]) == 1
        out, err = capsys.readouterr()
        assert "ok: the oracle" not in out, out
        assert err.count("\n") == 1 and "0 to %d" % total in err, err
    assert main(["crashtest", "--replay",
                 "std:write_lower@%d:clean:1" % total]) == 0
    assert "ok: the oracle accepts" in capsys.readouterr().out


def test_replay_of_a_key_with_a_blank_inline_op_is_one_line(capsys):
    for case_id in ("std:=!!!@1:clean:1", "std:=@0:clean:1",
                    "std:write_lower+=bHMgLw@0:clean:1"):
        assert main(["crashtest", "--replay", case_id]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "inline op" in err, err
        assert "internal error" not in err, err
