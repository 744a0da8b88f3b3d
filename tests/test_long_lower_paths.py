"""Lower paths longer than an ORIGIN record holds (meta_rare.ORIGIN_PATH_MAX
bytes): nothing under one can be copied up, so the overlay refuses it
with ENAMETOOLONG naming the path and the limit (before: E2BIG,
"metadata value", from the store), and `ovl mkimage` and `ovl flash`
say so before a board boots such an image."""

import os

from test_image_cli import assert_one_line_error, ovl

# a directory whose path is exactly the limit (960 bytes), and one below
# it over the limit, holding a file (the reviewer's case: about 1015)
EDGE = "/" + "/".join(("a" * 250, "b" * 250, "c" * 250, "d" * 206))
DEEP = EDGE + "/" + "e" * 54
# a file under the limit whose REPLACES record (its kind, size and digest
# before the path) would not fit a meta value
NEAR = EDGE[:EDGE.rindex("/")] + "/" + "g" * 206


def long_path_tree(tmp_path):
    src = os.path.join(str(tmp_path), "src")
    os.makedirs(src + DEEP)
    for path in (DEEP + "/f", NEAR):
        with open(src + path, "w") as f:
            f.write("lower\n")
    return src


def long_path_image(tmp_path):
    from host_tools.image.mkimage import build_image
    out = os.path.join(str(tmp_path), "lp.sqfs")
    build_image(long_path_tree(tmp_path), out, block_size="4K", mtime=0)
    return out


def test_copy_up_of_a_path_over_the_origin_limit_is_enametoolong(
        tmp_path, runtime):
    expect = {"limit": 960, "edge bytes": 960, "deep bytes": 1015,
              "mkdir under deep": "ENAMETOOLONG",
              "chmod deep file": "ENAMETOOLONG",
              "write_bytes under deep": "ENAMETOOLONG",
              "append deep file": "ENAMETOOLONG",
              "message names the path": True,
              "message names the limit": True,
              "programmed by the refusals": 0,
              "deep file reads": "lower\n",
              "mkdir under edge": "ok",
              "edge lists": sorted(["e" * 54, "newdir"]),
              "near bytes": 960,
              "near made again": "ok",
              "near reads": "again",
              "near replaces record": None,
              "fsck": []}
    paths = tmp_path / "paths"
    paths.write_text(EDGE + "\n" + DEEP + "\n" + NEAR + "\n")
    runtime.run_checks("long_lower_paths.py", expect,
                       args=[long_path_image(tmp_path), str(paths)])


def test_the_limit_is_what_the_widest_origin_record_leaves():
    # a SquashFS lower's widest numbers (u32 ino and mtime, u64 size and
    # lower limit) with a path of the limit fill a meta value exactly
    from ovl.overlay import meta, meta_rare, writing
    from ovl.store import format as store_format
    widest = meta.Origin(2**32 - 1, 2**64 - 1, 2**32 - 1, 2**64 - 1,
                         "/" + "x" * (meta_rare.ORIGIN_PATH_MAX - 1))
    assert len(writing.origin_bytes(widest)) == store_format.META_VALUE_MAX == 1024


def test_the_cli_names_the_path_and_the_limit(tmp_path, capfd):
    """The reviewer's commands: `ovl fs mkdir` and `ovl fs chmod` under a
    firmware path over the limit exit 1 with one line saying the path is
    too long (before: "[Errno 7] E2BIG: metadata value"); the upper is
    unchanged, and a change at the limit goes through."""
    image = long_path_image(tmp_path)
    upper = str(tmp_path / "u.img")
    assert ovl(capfd, "format", "--board", "sim", upper)[0] == 0
    with open(upper, "rb") as f:
        before = f.read()
    layers = ["--lower", image, "--upper", upper]
    for args in (["mkdir"] + layers + [DEEP + "/newdir"],
                 ["chmod"] + layers + ["600", DEEP + "/f"]):
        status, out, err = ovl(capfd, "fs", *args)
        assert_one_line_error(
            status, err, "ENAMETOOLONG: lower path of 1015 bytes, longer than"
            " the 960 a copy-up records: " + DEEP[:60])
    with open(upper, "rb") as f:
        assert f.read() == before
    status, out, err = ovl(capfd, "fs", "mkdir", *layers + [EDGE + "/new"])
    assert (status, err) == (0, "")


TOO_LONG = ("is a path of 1015 bytes: ovl copies up lower paths of at most"
            " 960 bytes, so a device cannot change, chmod or create anything"
            " at or below it")


def test_mkimage_warns_of_a_path_too_long_and_refuses_it_for_a_board(
        tmp_path, capfd):
    src = long_path_tree(tmp_path)
    image = tmp_path / "img.sqfs"
    status, out, err = ovl(capfd, "mkimage", "-q", src, image)
    assert (status, out, err) == (
        0, "", "ovl mkimage: warning: %s %s\n" % (DEEP, TOO_LONG))
    os.remove(image)
    for board in ("sim", "router-16mb", "pico"):
        status, out, err = ovl(capfd, "mkimage", "-q", "--board", board, src,
                               image)
        assert_one_line_error(status, err, DEEP + " " + TOO_LONG)
        assert not image.exists(), board


def test_flash_refuses_an_image_holding_a_path_too_long(tmp_path):
    import pytest
    from host_tools.cli import CliError
    from host_tools.commands.serial import check_paths, check_squashfs
    with open(long_path_image(tmp_path), "rb") as f:
        lower = check_squashfs(f.read(), "lp.sqfs")
    with pytest.raises(CliError) as info:
        check_paths(lower)
    assert str(info.value) == ("image holds %s %s: rebuild it with shorter"
                               " paths, or --force" % (DEEP, TOO_LONG))
