"""Hostile upper images (an outside format review's edits, CRCs fixed):
a store over a lower directory with /etc/hostname in the upper, and the
edits a reader of docs/FORMAT.md can make: a directory loop, an entry
name that breaks the name rule, a node of a type this code does not
know.  Shared by the scripts that check each is refused or reported.
Runs on both runtimes."""
import struct

from ovl.compat import crc32
from ovl_sim.simflash import SimFlash
from ovl.dirlower import DirLower
from ovl.overlay import Overlay
from ovl.store import LogStore, ROOT_INO
from ovl.store import format as fmt
from ovl.store.write import pack_node

from checklib import create_file

ES = 4096


def build(lower):
    """(flash, overlay): /etc made in the upper with /etc/hostname and
    /etc/Q7 (a name the edits below change on flash)."""
    f = SimFlash(64 * 1024, ES, 256)
    ovl = Overlay(DirLower(lower), LogStore.format(f))
    ovl.mkdir("/etc")
    for name in ("hostname", "Q7"):
        with ovl.open("/etc/" + name, "w") as fh:
            fh.write("hello " + name)
    return f, ovl


def etc(store):
    return store.lookup(ROOT_INO, "etc")


def fix_crcs(f, addr):
    """Both CRCs of the node at addr made right again for its bytes."""
    mem = f.mem
    ntype, flags, blen = mem[addr + 2], mem[addr + 3], \
        struct.unpack_from("<I", mem, addr + 4)[0]
    hl = fmt.hdr_size(flags)
    body = bytes(mem[addr + hl:addr + hl + blen])
    struct.pack_into("<I", mem, addr + hl - 8, crc32(body))
    k = fmt.protected_len(ntype, flags, blen)
    struct.pack_into("<I", mem, addr + hl - 4,
                     crc32(body[:k], crc32(bytes(mem[addr:addr + hl - 4]))))


def rename_on_flash(f, old, new):
    """The dirent node naming old (in the open block: no summary copy)
    renamed new (of the same length), its CRCs fixed."""
    mem = bytes(f.mem)
    i = mem.find(b"\x00" + old)     # (after its inode number)
    # (the first such bytes a dirent's name: a time stamp may hold them)
    while i > 0 and mem[i + 1 - fmt.DIRENT_PREFIX - fmt.NODE_HDR_SIZE + 2] \
            != fmt.NODE_DIRENT:
        i = mem.find(b"\x00" + old, i + 1)
    assert i > 0 and len(new) == len(old)
    addr = i + 1 - fmt.DIRENT_PREFIX - fmt.NODE_HDR_SIZE
    f.mem[i + 1:i + 1 + len(new)] = new
    fix_crcs(f, addr)


def link_unchecked(txn, parent, raw, ino):
    """An entry naming ino by raw (bytes), which the writer's name rule
    would refuse (Txn._dirent): put among txn's ops as _dirent puts
    one, so the commit writes the node as any other, CRCs right."""
    txn.ops.append((fmt.NODE_DIRENT, parent, bytes(raw), ino))


def nodes(f, block):
    """Addresses of the nodes of block, in log order."""
    mem = f.mem
    off = block * ES + fmt.BLOCK_HDR_SIZE
    out = []
    while mem[off:off + 2] == b"oN":
        out.append(off)
        hl = fmt.hdr_size(mem[off + 3])
        off += (hl + struct.unpack_from("<I", mem, off + 4)[0] + 3) & ~3
    return out, off


def unknown_type(f, store, where):
    """A node of type 0x0D (no type this code knows), CRCs right, where:
    "end" appended to the open block's log; "middle" the open block's
    first node retyped; "summary" a closed block's first node retyped
    and its summary entry with it.  Its address."""
    block = store.wblock
    n = 0
    while where == "summary" and store.wblock == block:
        # files until the block is full and closed: its summary written
        create_file(store, "fill%d" % n, b"x" * 300)
        n += 1
    found, end = nodes(f, block)
    if where == "end":
        node = pack_node(0x0D, 0, 1 << 20, 1 << 20, b"newer writer")
        f.mem[end:end + len(node)] = node
        return end
    addr = found[0]
    f.mem[addr + 2] = 0x0D
    fix_crcs(f, addr)
    if where == "summary":
        base = block * ES
        at = struct.unpack_from("<I", f.mem, base + ES - 8)[0] + base
        f.mem[at + fmt.NODE_HDR_SIZE + 4] = 0x0D     # the first entry's
        fix_crcs(f, at)
    return addr
