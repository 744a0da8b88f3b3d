"""The code an overlay's mount runs once (ovl.overlay.mounting: the lower
identity check, a first mount's root, the reset asked for at boot) is
imported for the mount and, on MicroPython, released after it
(ovl.compat.call_released): no mount, remount, new lower, reset at mount
or Overlay made directly leaves it in sys.modules or the package, and
each still does what it did; an Overlay without a store imports nothing
(docs/OVERLAY.md; docs/FIT.md, "One release helper").  CPython keeps
the module."""

from host_tools.image.mkimage import build_image


def lower_image(tmp_path, name, config):
    tree = tmp_path / name
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "config").write_bytes(config)
    image = tmp_path / (name + ".sqfs")
    build_image(str(tree), str(image), block_size=4096, mtime=1700000000,
                all_root=True)
    return str(image)


def test_mount_code_released_after_each_mount(runtime, tmp_path):
    kept = ["sys.modules", "ovl.overlay"] if runtime.name == "cpython" \
        else []
    runtime.run_checks("overlay_mount_release.py", {
        "before a mount": [],
        "read-only, no store, first": [True, []],
        "after the first mount": kept,
        "identity recorded": True,
        "root mode": "0o40755",
        "remount": ["option=1\nmine=1\n", False, 1024],
        "after a remount": kept,
        "new lower": [True, ["/etc/config"], "EIO"],
        "after a new lower": kept,
        "reset at mount": [False, "option=2\n"],
        "after a reset at mount": kept,
        "direct": [True, True, 5],
        "after a direct Overlay": kept,
        "read-only, no store": True,
        "reset": [True, ["config"], True, "option=1\n"],
        "after a reset": kept,
    }, args=[lower_image(tmp_path, "a", b"option=1\n"),
             lower_image(tmp_path, "b", b"option=2\n")])
