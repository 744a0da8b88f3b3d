"""`ovl fsck --lower L UPPER`: the union's own problems, found when the
upper is checked against a firmware it no longer fits (whiteouts over
names gone below, origins gone, redirects gone) and in a damaged
hard-link index; the checks run on both runtimes (the agent's fsck)."""

import json
import os
import shutil

from host_tools.commands.store import open_upper_image
from ovl.store import LogStore, ROOT_INO

from test_backup import ovl


def make_lower(root, extra=True):
    files = {"etc/config": b"cfg\n", "lib/big": bytes(range(256)) * 64}
    if extra:
        files.update({"etc/gone": b"g\n", "lib/gone-big": b"z" * 20000,
                      "www/index.html": b"i\n"})
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    if extra:
        os.link(os.path.join(root, "lib/big"), os.path.join(root, "lib/hl"))
    return root


def test_union_checks_against_a_changed_firmware(tmp_path):
    old = make_lower(str(tmp_path / "old"))
    new = make_lower(str(tmp_path / "new"), extra=False)
    upper = tmp_path / "up.img"
    ovl("format", "--size", "256k", "--erase-size", "4k", upper)
    status, out, err = ovl("shell", "--lower", old, "--upper", upper,
                           stdin="rm /etc/gone\n"
                                 "write /lib/gone-big r+ 5 X\n"
                                 "write /lib/hl r+ 0 Y\n"
                                 "mv /www /w2\n")
    assert status == 0 and "error" not in out, out
    status, out, err = ovl("fsck", "--lower", old, upper)
    assert status == 0 and "0 overlay problems" in out, out + err
    status, out, err = ovl("fsck", "--lower", new, upper, "--json")
    assert status == 4, err
    problems = json.loads(out)["overlay"]
    assert "/etc/gone: whiteout over nothing" in problems
    assert [p for p in problems if p.startswith("/lib/gone-big: origin")
            and "zeros" in p]
    assert "/w2: redirect to missing lower dir /www" in problems
    assert "/www: whiteout over nothing" in problems
    # the new firmware has no /lib/hl: the copy's unwritten bytes are gone
    assert [p for p in problems if p.startswith("/lib/hl: origin")]
    assert len(problems) == 5, problems
    # without --lower, only the store is checked
    status, out, err = ovl("fsck", upper)
    assert status == 0 and "overlay" not in out


def test_a_damaged_link_index_is_found(tmp_path, runtime):
    lower = make_lower(str(tmp_path / "lower"))
    upper = tmp_path / "up.img"
    ovl("format", "--size", "256k", "--erase-size", "4k", upper)
    ovl("shell", "--lower", lower, "--upper", upper,
        stdin="write /lib/hl r+ 0 Y\nwrite /etc/config w 0 new\n")
    good = tmp_path / "good.img"
    shutil.copy(upper, good)
    # one entry naming a missing inode, one naming an unrelated file
    flash = open_upper_image(str(upper))
    store = LogStore.mount(flash)
    txn = store.begin()
    txn.set_meta(ROOT_INO, "link:999999", b"4242")
    index = [k for k in store.meta_keys(ROOT_INO) if k.startswith("link:")]
    assert len(index) == 1
    config = store.lookup(store.lookup(ROOT_INO, "etc"), "config")
    hl = store.lookup(store.lookup(ROOT_INO, "lib"), "hl")
    txn.set_meta(ROOT_INO, "link:888888", str(config).encode())
    txn.commit()
    flash.save()
    status, out, err = ovl("fsck", "--lower", lower, upper)
    assert status == 4
    lines = [line for line in out.splitlines() if line.startswith("overlay:")]
    assert len(lines) == 2, out
    assert "link:999999: upper inode b'4242' is missing" in lines[1]
    assert "link:888888: upper inode %d was not copied up" % config \
        in lines[0]
    status, out, err = ovl("fsck", "--lower", lower, good)
    assert status == 0, out
    # the same checks in the device code, as the agent's FS_FSCK runs them
    script = """
from ovl.dirlower import DirLower
from ovl.store import LogStore
from ovl.overlay import Overlay
from ovl_sim.simflash import SimFlash
data = open(%r, "rb").read()
flash = SimFlash(len(data), 4096, 256)
flash.mem[:] = data
fs = Overlay(DirLower(%r), LogStore.mount(flash, readonly=True))
for p in fs.fsck():
    print(p)
print(sorted(fs.linked_inodes()))
""" % (str(upper), lower)
    got = runtime(script, heap="4M").splitlines()
    assert [p.split(":")[1] for p in got[:-1]] == ["888888", "999999"], got
    # what the index names, a bad entry's too (`ovl fsck --lower` drops
    # the store's nlink warning of each)
    assert got[-1] == str(sorted([hl, config, 4242])), got


def test_a_replaced_firmware_file_is_clean_and_a_bad_record_is_found(
        tmp_path):
    """A file put in place of a firmware file by rename (the board's put)
    leaves fsck clean, also over a firmware that changed that file (it is
    a modified file there, kept, not a problem).  A REPLACES record that
    does not parse is named; the mount, conflicts and revert still work
    (the file is judged as created, the cautious reading)."""
    lower = make_lower(str(tmp_path / "lower"))
    new = make_lower(str(tmp_path / "new"))
    with open(os.path.join(new, "etc", "config"), "wb") as f:
        f.write(b"cfg 2\n")
    mine = tmp_path / "mine"
    mine.write_bytes(b"mine\n")
    upper = tmp_path / "up.img"
    ovl("format", "--size", "256k", "--erase-size", "4k", upper)
    status, out, err = ovl("shell", "--lower", lower, "--upper", upper,
                           stdin="put %s /etc/.tmp\nmv /etc/.tmp /etc/config\n"
                           % mine)
    assert status == 0, out + err
    for firmware in (lower, new):
        status, out, err = ovl("fsck", "--lower", firmware, upper)
        assert status == 0 and "0 overlay problems" in out, out + err
    flash = open_upper_image(str(upper))
    store = LogStore.mount(flash)
    config = store.lookup(store.lookup(ROOT_INO, "etc"), "config")
    assert bytes(store.get_meta(config, "replaces")).startswith(b"f 4 ")
    txn = store.begin()
    txn.set_meta(config, "replaces", b"junk")
    txn.commit()
    flash.save()
    status, out, err = ovl("fsck", "--lower", lower, upper)
    assert status == 4
    lines = [line for line in out.splitlines() if line.startswith("overlay:")]
    assert len(lines) == 1 and "/etc/config: bad replaces meta" in lines[0]
    status, out, err = ovl("fs", "conflicts", "--lower", new,
                           "--upper", upper)
    assert status == 0 and out.split() == ["created", "/etc/config"], err
    status, out, err = ovl("fs", "revert", "--lower", new, "--upper", upper,
                           "/etc/config")
    assert status == 0, err
    status, out, err = ovl("fs", "diff", "--lower", new, "--upper", upper)
    assert status == 0 and "/etc/config" not in out, out
    status, out, err = ovl("fsck", "--lower", new, upper)
    assert status == 0 and "0 overlay problems" in out, out + err


def test_a_damaged_lower_directory_index_is_a_union_problem(tmp_path):
    """The lower's lookups jump by a directory's index, which a walk never
    reads: the union's check looks each index entry up as `ovl flash`
    does, so a damaged one is named (before: clean, exit 0, while lookups
    of names listed in /big answered an error)."""
    from test_serial_flash import damaged_index_image, tree_image
    lower = tmp_path / "idx.sqfs"
    lower.write_bytes(damaged_index_image(tmp_path))
    sound = tmp_path / "sound.sqfs"
    sound.write_bytes(tree_image(tmp_path, "sound.sqfs",
                                 [b"big/f%05d" % i for i in range(3000)],
                                 raw_metadata=True))
    upper = tmp_path / "up.img"
    ovl("format", "--size", "256k", "--erase-size", "4k", upper)
    status, out, err = ovl("fsck", "--lower", sound, upper)
    assert status == 0 and "0 overlay problems" in out, out + err
    status, out, err = ovl("fsck", "--lower", lower, upper)
    assert status == 4 and err == "", err
    lines = [line for line in out.splitlines() if line.startswith("overlay:")]
    assert len(lines) == 1 and lines[0].startswith(
        "overlay: /big: lower directory index: directory index not sorted"
        " at b'a"), out
    assert "1 overlay problems" in out, out
    status, out, err = ovl("fs", "fsck", "--lower", lower, "--upper", upper)
    assert status == 4 and err == "", err
    assert "/big: lower directory index: directory index not sorted" in out


def test_a_lower_hard_link_linked_and_appended_is_clean(tmp_path):
    """A lower pair a/b, then `ln a c` and an append to a: three names,
    nlink 3 everywhere.  The store alone sees two upper names (a, c); the
    union's check counts b, the lower's, so `fsck --lower` warns of
    nothing (it said "nlink 3, 2 names")."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "a").write_bytes(b"hard\n")
    os.link(root / "a", root / "b")
    lower, upper = tmp_path / "L.sqfs", tmp_path / "U.img"
    assert ovl("mkimage", "-q", root, lower)[0] == 0
    ovl("format", "--board", "sim", upper)
    status, out, err = ovl("shell", "--lower", lower, "--upper", upper,
                           stdin="ln /a /c\nwrite /a a 0 more\n")
    assert status == 0 and "error" not in out, out + err
    for name in "abc":
        status, out, err = ovl("fs", "stat", "--lower", lower, "--upper",
                               upper, "/" + name)
        assert (json.loads(out)["nlink"], json.loads(out)["size"]) == \
            (3, 9), out + err
    status, out, err = ovl("fsck", "--lower", lower, upper)
    assert status == 0, out + err
    assert "0 errors, 0 warnings, 0 overlay problems" in out, out
