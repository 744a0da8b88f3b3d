"""The campaign catches broken stores: deliberately wrong doubles of the
real LogStore (subclasses that split one transaction into two) must fail
the oracle with a replayable, shrinkable case id, while the real store
passes the same workloads."""

import pytest

from host_tools.crash import engine as ct
from ovl.store import LogStore


class _SplitTxn:
    """Records a transaction and commits it as two real ones, split before
    the first call `split_at(calls)` names (None: commit it whole)."""

    def __init__(self, store, split_at):
        self._store = store
        self._split_at = split_at
        self._real = LogStore.begin(store)
        self._calls = []

    def new_ino(self):
        return self._real.new_ino()

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args, **kwargs):
            self._calls.append((name, args, kwargs))
        return record

    def abort(self):
        self._real.abort()

    def commit(self):
        at = self._split_at(self._store, self._calls)
        parts = [self._calls] if at is None else \
            [self._calls[:at], self._calls[at:]]
        txn = self._real
        for n, part in enumerate(parts):
            if n:
                txn = LogStore.begin(self._store)
            for name, args, kwargs in part:
                getattr(txn, name)(*args, **kwargs)
            txn.commit()


def rename_split(store, calls):
    """A rename: link(d, n, ino) plus unlink(d2, n2) of that same ino.
    Splitting before the unlink shows the file under both names."""
    linked = {args[2] for name, args, _ in calls if name == "link"}
    for i, (name, args, _) in enumerate(calls):
        if name == "unlink" and store.lookup(args[0], args[1]) in linked:
            return i
    return None


def data_split(store, calls):
    """Commit an inode's new size (put_inode) before the data it covers."""
    writes = [i for i, c in enumerate(calls) if c[0] == "write"]
    if not writes:
        return None
    rest = [c for c in calls if c[0] != "write"]
    data = [c for c in calls if c[0] == "write"]
    calls[:] = rest + data
    return len(rest)


class SplitRenameStore(LogStore):
    """Commits a rename as two transactions (link, then unlink)."""

    def begin(self):
        return _SplitTxn(self, rename_split)


class SizeBeforeDataStore(LogStore):
    """Commits a file's new size before the data written with it."""

    def begin(self):
        return _SplitTxn(self, data_split)


@pytest.mark.parametrize("double, workloads", [
    (SplitRenameStore, ["std:rename_lower", "std:rename_across",
                        "std:write_upper+rename_over_lower"]),
    (SizeBeforeDataStore, ["std:append_lower", "std:write_past_end",
                           "std:unlink_upper+append_upper"]),
])
def test_broken_store_is_caught_with_a_replayable_shrinkable_id(double,
                                                                workloads):
    try:
        stats, _ = ct.campaign(workloads, jobs=1, store=double,
                               variants=("clean",), depth2=0)
        assert not stats.errors, stats.errors   # without cuts it works
        assert stats.failures, "the oracle missed a broken store"
        case_id, label, message = stats.failures[0]
        assert "neither state" in message
        # the id alone reproduces it
        lines = []
        assert ct.replay(case_id, store=double, out=lines.append)
        assert any(line.startswith("FAIL") for line in lines)
        # and shrinking drops ops that do not matter
        longest = [k for k in workloads if "+" in k][0]
        failing = [f for f in stats.failures if f[0].startswith(longest + "@")]
        assert failing
        small_id, _ = ct.shrink(failing[0][0], store=double)
        assert small_id.split("@")[0].count("+") == 0
        # the real store passes the very same cases
        stats, _ = ct.campaign(workloads, jobs=1, variants=("clean",),
                               depth2=0)
        assert not stats.failures and not stats.errors, \
            (stats.failures + stats.errors)[:1]
    finally:
        ct.drop_rigs()


class HashOnlyLookupStore(LogStore):
    """Trusts a name's hash: lookup returns the first entry of the
    directory whose name has the same CRC-32, without comparing names
    (the bug a (parent, name hash) index that skips reading the name back
    from flash would have)."""

    def lookup(self, dir_ino, name):
        from binascii import crc32
        want = crc32(name.encode() if isinstance(name, str) else name)
        for other, value in LogStore.listdir(self, dir_ino):
            if crc32(other.encode()) == want:
                return value
        return None


def test_a_lookup_that_trusts_the_hash_fails_the_twin_workloads():
    """The bigdir twins (names of one CRC-32) catch it before any cut
    (the fixture's setup already makes one twin into the other), naming
    a twin; the real store passes the same workloads."""
    from host_tools.crash import workloads as wl
    twins = ["bigdir:hc_create_twin", "bigdir:hc_rename_to_twin",
             "bigdir:hc_create_twin_of_whiteout", "bigdir:hc_mkdir_twin"]
    try:
        stats, _ = ct.campaign(twins, jobs=1, store=HashOnlyLookupStore,
                               variants=("clean",), depth2=0)
        assert len(stats.errors) == len(twins), stats.errors
        names = [n for pair in wl.COLLIDING_NAMES for n in pair]
        for key, message in stats.errors:
            assert any(n in message for n in names), message
        # a twin absent from the listing is looked up, and found
        rig = ct.get_rig("bigdir", HashOnlyLookupStore)
        rig.flash.restore(rig.snap)
        a, b = wl.COLLIDING_NAMES[0]
        with pytest.raises(ct.CaseFailure,
                           match=r"lstat\(/D/%s\) finds a name" % b):
            rig.dump(rig.mount(), ["/D/" + b])
        stats, _ = ct.campaign(twins, jobs=1, variants=("clean",), depth2=0)
        assert not stats.failures and not stats.errors, \
            (stats.failures + stats.errors)[:1]
    finally:
        ct.drop_rigs()
