"""`fsck --repair` of a directory with a damaged entry (docs/STORE.md, "A
directory with a damaged entry"): the directory reads again, the damaged
entry's inode is back under its name or in /lost+found, a second fsck is
clean, and a power cut during the repair leaves the store before or
after it."""

from test_backup import ovl
from test_fsck_damaged_dirs import damaged_upper


def expected(case, victim, named, listed=30, blind=None):
    """A case's labels: named, the damaged entry's name was known (the
    victim is back under it); else its inode is in /lost+found/#<ino>.
    blind: nothing of the entry survived (fsck's line for the bytes that
    are no node, left as an error: what they held is lost), so no
    unreached inode was an orphan: the orphan is in /lost+found too."""
    content = "hello " + victim
    at = content if named else "lost+found: " + content
    return {
        case + " repaired": True,
        case + " in RAM": [listed, at],
        case + " listed": listed,
        case + " victim": at,
        case + " others": ["hello f2", "hello f30"],
        case + " orphan": "lost+found: no name" if blind else "deleted",
        case + " fsck after": [[blind] if blind else [], [], []],
        case + " second repair": [],
    }


def test_repair_makes_a_damaged_directory_read_again(tmp_path, runtime):
    lower = tmp_path / "lower"
    lower.mkdir()
    want = {}
    want.update(expected("closed-header", "victim-a", True))
    want.update(expected("closed-body", "victim-b", True))
    # no key survived: the victim and the orphan both in /lost+found
    want.update(expected("open-header", "victim-c", False, 29,
                         "block 2 offset 1928: 40 damaged bytes (no node"
                         " header)"))
    want.update(expected("open-body", "victim-d", False, 29))
    want.update(expected("root-closed", "victim-r", True))
    # the root lists /lost+found in the victim's place
    want.update(expected("root-open", "victim-s", False))
    # before: the directory answers EIO (fsck: the damaged node, the
    # entry, its inode, the directory); after: 30 names, the victim read
    # by name, no fsck error
    want["cut before"] = ["EIO", "EIO", 4]
    want["cut after"] = [30, "hello victim-p", 0]
    want["cut states"] = ["after", "before"]
    runtime.run_checks("fsck_repair_dirent.py", want, args=[str(lower)],
                       heap="4M", timeout=600)


def test_the_cli_repairs_a_damaged_entry(tmp_path):
    lower, upper = damaged_upper(tmp_path)
    layers = ("--lower", lower, "--upper", upper)
    status, out, err = ovl("fs", "ls", "/d", *layers)
    assert status != 0 and "EIO" in err, out + err
    # repaired: exit 1, the entry named as restored
    status, out, err = ovl("fsck", "--repair", upper)
    assert status == 1, out + err
    assert [line for line in out.splitlines() if line.startswith(
        "repaired: ") and "/d/f1" in line], out
    # a second check is clean, and the directory lists with f1 in it
    status, out, err = ovl("fsck", upper)
    assert status == 0, out + err
    status, out, err = ovl("fs", "ls", "/d", *layers)
    assert status == 0 and "f1" in out.split(), out + err
    copy = tmp_path / "f1"
    status, out, err = ovl("fs", "get", "/d/f1", copy, *layers)
    assert status == 0 and copy.read_bytes() == b"hello1", err
