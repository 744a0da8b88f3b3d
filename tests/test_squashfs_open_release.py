"""The SquashFS reader's open (ovl.squashfs_open) is imported for the call
and released after it on MicroPython (ovl.compat.call_released; CPython
keeps the module), on success and on a refused image alike; the open
still checks the superblock with the same errors.  identity() stays in
ovl.squashfs: it loads no module, and is the same digest on both
runtimes."""

import json

import pytest

from ovl import squashfs as S
from ovl import squashfs_open as O
from host_tools.image import mkimage

SCRIPT = """\
import sys, gc, json
import ovl
from ovl.flash_host import BytesSource
from ovl.squashfs import SquashFS
MICROPYTHON = sys.implementation.name == "micropython"
data = open(sys.argv[1], "rb").read()

def loaded():
    return ["ovl.squashfs_open" in sys.modules,
            hasattr(ovl, "squashfs_open")]

def refused(image, **opt):
    try:
        SquashFS(BytesSource(image), **opt)
    except ValueError as e:
        return [type(e).__name__, str(e)] + loaded()
    return None

out = {}
fs = SquashFS(BytesSource(data))
out["after open"] = loaded()
out["identity"] = fs.identity()
out["after identity"] = loaded()
out["identity kept"] = fs.identity() is fs.identity()
e = fs.lookup("/d/f.txt")
out["read"] = str(fs.read(e, 0, 7), "utf-8")
out["fields"] = [fs.block_size, fs.block_log, fs.bytes_used > 96,
                 fs.compression, fs.root.ino > 0]
out["bad magic"] = refused(b"x" + data[1:])
out["short"] = refused(data[:50])
out["blocks over the limit"] = refused(data, max_block_size=2048)
if MICROPYTHON:
    # the kept heap: the open's code is garbage once released (the least
    # of three: a stale pointer to a dropped reader's 8 KiB metadata
    # block can keep it through one collection)
    def kept():
        gc.collect()
        before = gc.mem_alloc()
        SquashFS(BytesSource(data))
        gc.collect()
        return gc.mem_alloc() - before
    released = min(kept(), kept(), kept())
    gc.collect()
    before = gc.mem_alloc()
    import ovl.squashfs_open       # held: a test (or an outer call) keeps it
    SquashFS(BytesSource(data))
    gc.collect()
    out["held stays"] = loaded()
    # the heap the release saves: the module's code and functions
    out["released frees"] = gc.mem_alloc() - before - released
else:
    out["held stays"] = [True, True]
    out["released frees"] = None
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("open")
    tree = tmp / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "f.txt").write_bytes(b"release\n" * 60)
    path = str(tmp / "img.sqfs")
    mkimage.build_image(str(tree), path, block_size=4096, mtime=1700000000,
                        all_root=True)
    return path


def run(runtime, image):
    return json.loads(runtime(SCRIPT, args=[image]).strip().splitlines()[-1])


def test_open_is_released_after_the_call(runtime, image):
    out = run(runtime, image)
    kept = runtime.name == "cpython"
    assert out["after open"] == [kept, kept]
    assert out["after identity"] == [kept, kept]
    assert out["identity kept"] is True
    assert out["read"] == "release"
    assert out["fields"] == [4096, 12, True, "gzip", True]
    # a module a caller imported stays
    assert out["held stays"] == [True, True]
    if not kept:
        # (its code and function objects: about 1.2 KB here)
        assert out["released frees"] > 1000, out["released frees"]


def test_open_refuses_with_the_same_errors_and_releases(runtime, image):
    out = run(runtime, image)
    kept = runtime.name == "cpython"
    assert out["bad magic"] == [
        "BadMagicError", "bad magic 0x73717378 (not a SquashFS image)",
        kept, kept]
    assert out["short"] == [
        "TruncatedImageError",
        "image of 50 bytes is shorter than a superblock", kept, kept]
    assert out["blocks over the limit"][0] == "BlockSizeLimitError"
    assert out["blocks over the limit"][1] == str(
        S._error(O._E_BLOCKS_OVER_LIMIT, 4, 2, 2))
    assert out["blocks over the limit"][2:] == [kept, kept]


def test_identity_is_the_same_on_both_runtimes(mpy, cpy, image):
    a, b = run(mpy, image), run(cpy, image)
    assert a["identity"] == b["identity"]
    assert a["identity"].startswith("sqfs:") and len(a["identity"]) == 21


@pytest.mark.slow
def test_the_board_job_keeps_no_open_code(tmp_path):
    """The board job (mounts, remounts, reads and writes on pico's .mpy
    files) ends with ovl.squashfs loaded and ovl.squashfs_open gone."""
    from host_tools.bench.fit import Setup, run_job
    res = run_job(Setup("pico", str(tmp_path)), 4 << 20)
    assert res["ok"], res
    assert "ovl.squashfs" in res["modules"], res["modules"]
    assert "ovl.squashfs_open" not in res["modules"], res["modules"]
