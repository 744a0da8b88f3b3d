"""What the scripts about a directory with a damaged entry share
(fsck_damaged_dirs.py, fsck_repair_dirent.py): a store holding /d with
30 files and an orphan, a bit of a name flipped on flash, a file read by
name.  Runs on both runtimes."""
import struct

from ovl_sim.simflash import SimFlash
from ovl.dirlower import DirLower
from ovl.overlay import Overlay
from ovl.store import LogStore, ROOT_INO

# (case, the victim's name, first or last, the byte of its name flipped:
# in the header's CRC (its first 4 name bytes) or past it, in the body's)
CASES = (("closed-header", "victim-a", True, 0),
         ("closed-body", "victim-b", True, 7),
         ("open-header", "victim-c", False, 0),
         ("open-body", "victim-d", False, 7))


def build(lower, victim, victim_first, parent="/d"):
    """A store holding parent (/d, or the root "/") with 30 files (the
    victim first or last: in a closed block with a summary, or in the open
    one) and an orphan (an inode no name reaches)."""
    f = SimFlash(64 * 1024, 4096, 256)
    ovl = Overlay(DirLower(lower), LogStore.format(f))
    if parent != "/":
        ovl.mkdir(parent)
    names = ["f%d" % i for i in range(2, 31)]
    names = [victim] + names if victim_first else names + [victim]
    for name in names:
        with ovl.open(parent.rstrip("/") + "/" + name, "w") as fh:
            fh.write("hello " + name)
    s = ovl.store
    t = s.begin()
    orphan = t.new_ino()
    t.put_inode(orphan, mode=0o100644, nlink=1)
    t.write(orphan, 0, b"no name")
    t.commit()
    d = dir_ino(s, parent)
    ino = s.lookup(d, victim)
    labels = {orphan: "orphan", ino: "victim", s.lookup(d, "f2"): "f2",
              s.lookup(d, "f30"): "f30"}
    if victim_first:
        s.sync()        # (a sync closes the open block: last stays open)
    closed = _node_block(f, victim) != s.wblock
    return f, ino, labels, closed


def dir_ino(s, parent):
    return ROOT_INO if parent == "/" else s.lookup(ROOT_INO, parent[1:])


def _node_block(f, name):
    return bytes(f.mem).find(name.encode()) // 4096


def newest_inode_node(f, ino):
    """Where the last inode node of ino is, the blocks' nodes walked in
    order (magic "oN", type 1 an inode node, body length; its body starts
    with the inode number)."""
    found = None
    mem = bytes(f.mem)
    for base in range(0, len(mem), 4096):
        off = base + 32
        while mem[off:off + 2] == b"oN":
            n = struct.unpack_from("<I", mem, off + 4)[0]
            if mem[off + 2] == 1 and \
                    struct.unpack_from("<I", mem, off + 24)[0] == ino:
                found = off
            off += (24 + n + 3) & ~3
    return found


def damage(f, name, at):
    """Flip a bit of the name in the victim's dirent node (its first
    occurrence: the node, not the summary's copy at the block's end)."""
    i = bytes(f.mem).find(name.encode())
    f.mem[i + at] ^= 8


def read(s, name, parent="/d"):
    """parent/name's content, "lost" or the errno of its lookup."""
    try:
        ino = s.lookup(dir_ino(s, parent), name)
    except OSError as e:
        from ovl import compat
        return compat.errno_name(compat.error_code(e))
    if ino is None or s.get(ino) is None:
        return "lost"
    return b"".join(p[2] for p in s.read(ino, 0, 100)).decode()
