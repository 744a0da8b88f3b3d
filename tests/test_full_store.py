"""A full store never wedges and never loses committed work (issue: "ENOSPC
never wedges"): fill to ENOSPC in every way, check everything committed
reads back, delete it all on the full store, refill; many cycles on one
mount, through the Python API and MicroPython's VFS, on both runtimes."""

import os
import pathlib

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts",
                      "full_store_cycles.py")


@pytest.fixture
def lower(tmp_path):
    root = tmp_path / "lower"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "config").write_bytes(b"option=1\n")
    return str(root)


def source():
    with open(SCRIPT) as f:
        return f.read()


@pytest.mark.slow
def test_fill_empty_cycles_api(runtime, lower):
    # 100 cycles as the issue asks; MicroPython is ~4x slower: 24 there
    cycles = "100" if runtime.name == "cpython" else "24"
    # The heap is not what this test checks (tests/test_store_ram.py and
    # tests/test_fit.py do): 64 MB because the cycles churn 10-30 MB of
    # garbage each, and with the packed index one layout (pytest's longer
    # paths) could not find 140 KB in one piece at 32 MB, although about
    # 0.5 MB stays live (docs/STORE.md, "Not done").
    out = runtime(source(), args=[lower, cycles], timeout=900, heap="64M")
    assert out.split()[-3:] == ["ok", cycles, "4"], out


@pytest.mark.slow
def test_fill_empty_cycles_vfs(mpy, lower):
    out = mpy(source(), args=[lower, "8", "vfs"], timeout=600, heap="32M")
    assert out.split()[-3:] == ["ok", "8", "4"], out


def test_lost_flush_is_reported_by_its_own_handle(lower):
    """Another operation flushes a file's buffer onto a full store: that
    operation works, the file keeps its committed content, and the error
    reaches the file's own handle once (as Linux reports writeback errors
    at fsync/close)."""
    from ovl import compat
    from ovl.dirlower import DirLower
    from ovl.store import LogStore
    from ovl.overlay import mount
    from ovl_sim.simflash import SimFlash

    flash = SimFlash(64 * 1024, 4096, 256)
    LogStore.format(flash)
    fs = mount(DirLower(lower), flash, write_buffer=1 << 20)
    fs.write_bytes("/keep", b"committed")
    handle = fs.open("/keep", "r+b")
    handle.write(b"Z" * 60000)           # buffered: more than the store holds
    assert fs.listdir("/etc") == ["config"]      # only looks: commits nothing
    fs.write_bytes("/other", b"works")           # flushes /keep, which fails
    assert fs.read_bytes("/keep") == b"committed"
    with pytest.raises(OSError) as info:
        handle.close()
    assert compat.error_code(info.value) == compat.ENOSPC
    assert fs.read_bytes("/keep") == b"committed"
    assert fs.read_bytes("/other") == b"works"
    fs.sync()                                    # the error was taken once
    assert fs.fsck() == []


def test_sync_reports_a_lost_flush(lower):
    from ovl import compat
    from ovl.dirlower import DirLower
    from ovl.store import LogStore
    from ovl.overlay import mount
    from ovl_sim.simflash import SimFlash

    flash = SimFlash(64 * 1024, 4096, 256)
    LogStore.format(flash)
    fs = mount(DirLower(lower), flash, write_buffer=1 << 20)
    handle = fs.open("/new", "wb")
    handle.write(b"Z" * 60000)
    with pytest.raises(OSError) as info:
        fs.sync()
    assert compat.error_code(info.value) == compat.ENOSPC
    fs.sync()                                    # nothing pending any more
    fs.write_bytes("/after", b"ok")
    assert fs.read_bytes("/after") == b"ok"


def test_failed_write_keeps_old_content_and_raises_once(runtime, lower):
    """A write that fails for space aborts its handle's transaction: the
    file keeps its old content (a new one stays absent), also remounted;
    ENOSPC is raised once, the handle's later writes get EIO (they would
    land on the old content), its close succeeds
    (tests/scripts/full_store_failed_write.py)."""
    (pathlib.Path(lower) / "etc" / "lines").write_bytes(
        b"line1\nline2\nline3")
    old = "OLD-CONTENT-OLD-CONTENT\n"
    expected = {}
    for label, outcomes, final in (
            ("rewrite", ["ok", "ENOSPC", "EIO", "EIO"], old),
            ("firmware rewrite", ["ENOSPC", "EIO"], "line1\nline2\nline3"),
            ("create", ["ok", "ENOSPC", "EIO"], None),
            ("create, first write fails", ["ENOSPC", "EIO"], None),
            ("r+, the failed write alone", ["ENOSPC", "ok"],
             "Z" + old[1:]),
            ("r+ after a write", ["ok", "ENOSPC", "EIO"], old),
            ("shared, the other handle", ["ENOSPC", "EIO"], old),
            ("commit point elsewhere", ["ENOSPC", "EIO"], old),
            ("own flush", ["EIO"], old)):
        for i, outcome in enumerate(outcomes):
            expected["%s: write %d" % (label, i + 1)] = outcome
        expected[label + ": close"] = "ok"
        label = label.split(",")[0] if label.startswith("shared") \
            else label
        expected[label + ": content"] = final
        expected[label + ": content remounted"] = final
        expected[label + ": fsck"] = []
    expected.update({
        "firmware rewrite: layer": "copied-up",
        "shared: the failed write": "ENOSPC",
        "shared, closed: close": "ENOSPC",
        "shared, closed: content": old,
        "commit point elsewhere: listdir": ["cfg", "etc", "fill", "link"],
        "own flush: flush": "ENOSPC",
        "rewrite after it all": "ok",
        "content after it all": "fresh",
    })
    runtime.run_checks("full_store_failed_write.py", expected, args=[lower])


def test_what_works_on_a_full_store(runtime, tmp_path):
    """On a full store removing, and renaming, truncating and chmod of
    upper files work (README); an operation that copies a firmware file
    or directory up first adds names, and gets ENOSPC with nothing left
    behind (tests/scripts/full_store_ops.py)."""
    root = tmp_path / "lower"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "config").write_bytes(b"option=1\n")
    (root / "fw").mkdir()
    (root / "fw" / "keep").write_bytes(b"firmware\n")
    runtime.run_checks("full_store_ops.py", {
        "full: a new empty file": "ENOSPC",
        "chmod of a firmware file": "ENOSPC",
        "truncate of a firmware file": "ENOSPC",
        "open 'w' of a firmware file": "ENOSPC",
        "rename of a firmware file": "ENOSPC",
        "rename into a firmware directory": "ENOSPC",
        "[layer config, layer etc, layer fw, config same, perm, fw] "
        "after the refusals": ["lower", "lower", "lower", True, "644",
                               ["keep"]],
        "fsck after the refusals": [],
        "truncate of an upper file": "ok",
        "rename of an upper file": "ok",
        "rename into an upper directory": "ok",
        "remove of an upper file": "ok",
        "chmod of an upper file": "ok",
        "remove of a firmware file": "ok",
        "remove of the big file": "ok",
        "[u2, ud, fw] after them": ["upper", ["u1"], []],
        "chmod of a firmware file, after the removals": "ok",
        "fsck at the end": [],
        "[layer config, perm] remounted": ["copied-up", "600"],
        "fsck remounted": [],
    }, args=[str(root)])
