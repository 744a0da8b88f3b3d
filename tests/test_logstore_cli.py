"""`ovl format`, `ovl fsck`, `ovl info` on upper images."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ovl(*args):
    return subprocess.run([sys.executable, "-m", "host_tools"] + list(args),
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.slow
def test_format_info_fsck_roundtrip(tmp_path):
    img = str(tmp_path / "u.img")
    p = ovl("format", img, "--size", "256k", "--erase-size", "4k")
    assert p.returncode == 0, p.stderr
    assert os.path.getsize(img) == 256 * 1024
    # write through the store API, as the overlay does, then inspect
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    from host_tools.commands.store import open_upper_image
    from ovl.store import LogStore, ROOT_INO
    flash = open_upper_image(img)
    s = LogStore.mount(flash)
    for i in range(30):
        t = s.begin()
        ino = t.new_ino()
        t.put_inode(ino, mode=0o100644)
        t.link(ROOT_INO, "f%d" % i, ino)
        t.write(ino, 0, b"x" * 3000)
        t.commit()
    flash.save()
    p = ovl("info", img, "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    c = info["counters"]
    assert c["inodes"] == 31 and c["summaries_used"] >= 20
    assert c["mount_bytes_read"] < c["bytes_in_use"] / 2
    assert info["geometry"]["erase_size"] == 4096
    p = ovl("fsck", img)
    assert p.returncode == 0 and "0 errors" in p.stdout, p.stdout + p.stderr
    # damage a node in a closed block: fsck fails with a one-line reason
    with open(img, "r+b") as f:
        f.seek(4096 + 100)
        f.write(b"\x00\x00\x00")
    p = ovl("fsck", img)
    assert p.returncode == 4 and "error: block 1" in p.stdout
    # the damaged node's file is named; info counts what mount found
    assert "fails its body CRC: inode" in p.stdout, p.stdout
    info = json.loads(ovl("info", img, "--json").stdout)
    assert info["counters"]["torn_tails"] == 0 and \
        "corrupt_nodes" in info["counters"]


@pytest.mark.slow
def test_board_geometry_partition_and_bad_input(tmp_path):
    img = str(tmp_path / "n.img")
    p = ovl("format", img, "--size", "1M", "--erase-size", "128k", "--nand")
    assert p.returncode == 0, p.stderr
    p = ovl("info", img)
    assert p.returncode == 0 and "NAND upper, 8 blocks" in p.stdout
    chip = str(tmp_path / "chip.img")
    p = ovl("format", chip, "--board", "sim", "--partition", "upper")
    assert p.returncode == 0, p.stderr
    p = ovl("fsck", chip, "--board", "sim", "--partition", "upper")
    assert p.returncode == 0, p.stdout + p.stderr
    with open(chip, "r+b") as f:
        f.write(b"hsqs")                    # a firmware image before it
    for args in (("fsck", str(tmp_path / "missing.img")),
                 ("info", chip)):           # whole chip, no --partition
        p = ovl(*args)
        # fsck's convention: 8 when it could not check at all
        assert p.returncode == (8 if args[0] == "fsck" else 1), args
        assert p.stderr.startswith("ovl: error:") and \
            len(p.stderr.strip().splitlines()) == 1, p.stderr
    # argument errors: argparse's usage and one error line, exit 2
    for args in (("format", img + "2", "--size", "1M", "--erase-size", "3000"),
                 ("format", img + "3")):
        p = ovl(*args)
        assert p.returncode == 2, args
        assert p.stderr.strip().splitlines()[-1].startswith(
            "ovl format: error:"), p.stderr


def one_line_error(p, status=1):
    assert p.returncode == status, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    if status == 2:     # an argument error: argparse's usage, then the line
        assert lines[0].startswith("usage: ") and \
            lines[-1].startswith("ovl %s: error:" % p.args[3]), p.stderr
        return lines[-1]
    assert len(lines) == 1 and lines[0].startswith("ovl: error:"), p.stderr
    return lines[0]


@pytest.mark.slow
def test_truncated_upper_is_refused_with_its_block_counts(tmp_path):
    img = str(tmp_path / "u.img")
    assert ovl("format", img, "--size", "64k", "--erase-size", "4k"
               ).returncode == 0
    with open(img, "rb") as f:
        data = f.read()
    half = str(tmp_path / "half.img")
    with open(half, "wb") as f:
        f.write(data[:len(data) // 2])
    expect = "upper image has 8 blocks but its store was formatted with 16"
    for args in (("fsck", half), ("info", half),
                 ("fsck", half, "--size", "32k", "--erase-size", "4k")):
        status = 8 if args[0] == "fsck" else 1
        assert expect in one_line_error(ovl(*args), status), args
    # a tail cut mid-block: the count is not whole
    odd = str(tmp_path / "odd.img")
    with open(odd, "wb") as f:
        f.write(data[:30000])
    assert "formatted with 16: truncated" in one_line_error(ovl("info", odd))
    from host_tools.cli import CliError
    from host_tools.commands.store import open_upper_image
    try:
        open_upper_image(half)
        assert False, "a truncated upper image opened"
    except CliError as e:
        assert expect in str(e)


@pytest.mark.slow
def test_directories_and_huge_sizes_are_refused_before_allocating(tmp_path):
    d = str(tmp_path)
    for cmd, status in (("fsck", 8), ("info", 1)):
        assert "is a directory" in one_line_error(ovl(cmd, d), status)
    assert "is a directory" in one_line_error(
        ovl("format", d, "--size", "64k", "--erase-size", "4k"))
    line = one_line_error(ovl("format", str(tmp_path / "u"), "--size",
                              "4096g", "--erase-size", "4k"))
    assert "more than the 1073741824" in line
    assert not os.path.exists(str(tmp_path / "u"))
    sparse = str(tmp_path / "sparse.img")
    with open(sparse, "wb") as f:
        f.truncate(2 << 30)                 # a 2 GiB hole: nothing stored
    line = one_line_error(ovl("fsck", sparse, "--size", "2g", "--erase-size",
                              "4k"), 8)
    assert "more than the 1073741824" in line


def sha(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def add_file(img, name=b"kept", data=b"user data"):
    """One file in the upper image's root, through the store API."""
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    from host_tools.commands.store import open_upper_image
    from ovl.store import LogStore, ROOT_INO
    flash = open_upper_image(img)
    s = LogStore.mount(flash)
    t = s.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644)
    t.link(ROOT_INO, name.decode(), ino)
    t.write(ino, 0, data)
    t.commit()
    flash.save()


@pytest.mark.slow
def test_format_refuses_a_non_ovl_partition_and_a_store_in_use(tmp_path):
    chip = str(tmp_path / "chip.img")
    assert ovl("format", chip, "--board", "sim", "--partition", "upper"
               ).returncode == 0
    before = sha(chip)
    line = one_line_error(ovl("format", chip, "--board", "sim",
                              "--partition", "firmware"))
    assert "type squashfs, not ovl" in line and "--force" in line, line
    assert sha(chip) == before
    img = str(tmp_path / "u.img")
    geom = ("--size", "256k", "--erase-size", "4k")
    assert ovl("format", img, *geom).returncode == 0
    # An empty store may be formatted again; one holding files may not.
    assert ovl("format", img, *geom).returncode == 0
    add_file(img)
    before = sha(img)
    line = one_line_error(ovl("format", img, *geom))
    assert "holds a log store with files" in line and "--force" in line, line
    assert sha(img) == before
    p = ovl("format", img, *geom, "--force")
    assert p.returncode == 0, p.stderr
    p = ovl("info", img, "--json")
    assert json.loads(p.stdout)["counters"]["inodes"] == 1    # the root
    # --force also formats a partition of another type, if the user says so.
    p = ovl("format", chip, "--board", "sim", "--partition", "firmware",
            "--force")
    assert p.returncode == 0, p.stderr
    assert ovl("fsck", chip, "--board", "sim", "--partition", "firmware"
               ).returncode == 0


@pytest.mark.slow
def test_impossible_geometry_is_one_line_up_front(tmp_path):
    out = str(tmp_path / "g.img")
    # (arguments, message, status): options that cannot go together are
    # argument errors (2); what the store refuses exits 1
    cases = [
        (("--size", "256k", "--erase-size", "4k", "--page-size", "8k"),
         "page size 8192 is larger than the erase size 4096", 2),
        (("--size", "256k", "--erase-size", "4k", "--nand"),
         "NAND erase block of 4096 bytes holds 2 pages of 2048", 2),
        (("--size", "256k", "--erase-size", "16k", "--page-size", "8k",
          "--nand"), "holds 2 pages of 8192", 2),
        (("--size", "256k", "--erase-size", "4k", "--page-size", "100"),
         "'100' (100 bytes) is not a power of two", 2),
        (("--size", "252k", "--erase-size", "3k"),
         "'3k' (3072 bytes) is not a power of two", 2),
        (("--size", "64k", "--erase-size", "512"),
         "erase block of 512 bytes is too small", 1),
        (("--size", "16k", "--erase-size", "4k"), "at least 5 erase blocks",
         1),
        (("--board", "sim", "--page-size", "4k"), "not both", 2),
        (("--board", "sim", "--nand"), "not both", 2),
    ]
    for args, expect, status in cases:
        line = one_line_error(ovl("format", out, *args), status)
        assert expect in line, (args, line)
        assert not os.path.exists(out), args


@pytest.mark.slow
def test_fsck_exit_status_follows_fsck(tmp_path):
    """0 clean, 1 repaired, 4 errors left, 8 could not check (e2fsck's
    convention)."""
    img = str(tmp_path / "u.img")
    assert ovl("format", img, "--size", "64k", "--erase-size", "4k"
               ).returncode == 0
    add_file(img)
    assert ovl("fsck", img).returncode == 0
    # An orphan: an inode no name reaches (its data can never be read).
    from host_tools.commands.store import open_upper_image
    from ovl.store import LogStore
    flash = open_upper_image(img)
    s = LogStore.mount(flash)
    t = s.begin()
    lost = t.new_ino()
    t.put_inode(lost, mode=0o100644, nlink=1)
    t.write(lost, 0, b"unreachable")
    t.commit()
    flash.save()
    p = ovl("fsck", img)
    assert p.returncode == 4, p.stdout + p.stderr
    assert "orphan" in p.stdout and "--repair" in p.stdout, p.stdout
    p = ovl("fsck", img, "--repair", "--json")
    assert p.returncode == 1, p.stdout + p.stderr
    assert json.loads(p.stdout)["repaired"] == [
        "deleted orphan inode %d (unreachable from the root)" % lost]
    for args in ((), ("--repair",)):
        p = ovl("fsck", img, *args)
        assert p.returncode == 0, p.stdout + p.stderr
    # Damage --repair cannot mend (bytes zeroed inside every block in
    # use, closed ones included): errors left.
    add_file(img, b"big", os.urandom(12000))
    with open(img, "r+b") as f:
        data = f.read()
        for b in range(0, len(data), 4096):
            if data[b:b + 4096] != b"\xff" * 4096:
                f.seek(b + 100)
                f.write(b"\x00\x00\x00")
    for args in ((), ("--repair",)):
        p = ovl("fsck", img, *args)
        assert p.returncode == 4, p.stdout + p.stderr
    # Could not check at all: 8, in one line.
    rand = tmp_path / "rand.img"
    rand.write_bytes(os.urandom(65536))
    for path in (str(rand), str(tmp_path / "missing.img"), str(tmp_path)):
        one_line_error(ovl("fsck", path), 8)
