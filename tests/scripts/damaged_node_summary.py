"""A damaged node's summary entry (docs/FORMAT.md, NODE_SUMMARY: bit 6
`SUM_DAMAGED`, its keep the node's protected prefix): a node of the open
block whose body fails its CRC, the block then closed by more writes;
its summary parses (with format.read_summary and with a reader written
from docs/FORMAT.md alone), two mounts read the block from it rather
than node by node, and the damage is still reported.  An image whose
summary the old writer made (the same entry without the bit: keep
bytes its rule does not say) still mounts, the block walked instead.
Runs on both runtimes.

Labels, per case (the damaged node's type: "dirent", "inode", "data"):
"<case> summary parses": [format.read_summary, the docs' reader];
"<case> mount N": [summaries_used, blocks_scanned, the damage records at
the node's address as [type, what]] for the two mounts;
"<case> old summary": the same three after the bit is cleared, plus
whether format.read_summary parsed it."""
import struct

from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.store import format as fmt

from checklib import create_file, report
from hostile_upper import ES, fix_crcs, nodes

SUM_AT = 0x80
SUM_DAMAGED = 0x40
TYPES = {"dirent": fmt.NODE_DIRENT, "inode": fmt.NODE_INODE,
         "data": fmt.NODE_DATA}


def docs_entries(f, block):
    """[(position in flash of the entry's flags byte, flags)] of block's
    summary, read as docs/FORMAT.md says, or None if its entries do not
    fill its body exactly."""
    base = block * ES
    off = struct.unpack_from("<I", f.mem, base + ES - 8)[0]
    blen = struct.unpack_from("<I", f.mem, base + off + 4)[0]
    body = bytes(f.mem[base + off + 24:base + off + 24 + blen])
    count = struct.unpack_from("<I", body)[0]
    pos = 4
    out = []
    for _ in range(count):
        if pos + 14 > len(body):
            return None
        ntype, flags, nlen = struct.unpack_from("<BBI", body, pos)
        out.append((base + off + 24 + pos + 1, flags))
        pos += 14 + (4 if flags & SUM_AT else 0) + \
            (4 if flags & 0x20 else 0)
        if flags & SUM_DAMAGED:
            keep = fmt.protected_len(ntype, flags, nlen)
        elif ntype == fmt.NODE_DATA:
            keep = 12
        elif ntype == fmt.NODE_INODE:
            keep = 4
        else:
            keep = nlen if nlen <= 300 else min(nlen, 12)
        pos += keep
    return out if pos == len(body) else None


def victim(f, block, kind, ino):
    """Address of the node of type kind the victim's file made."""
    for addr in nodes(f, block)[0]:
        if f.mem[addr + 2] != TYPES[kind]:
            continue
        hl = fmt.hdr_size(f.mem[addr + 3])
        # an inode's or data node's ino first, a dirent's after its parent
        at = addr + hl + (4 if kind == "dirent" else 0)
        if struct.unpack_from("<I", f.mem, at)[0] == ino:
            return addr
    raise AssertionError("no %s node of inode %d" % (kind, ino))


def damage_body(f, addr):
    """The first body byte past the node's protected prefix flipped: its
    body CRC fails, its header CRC still checks out."""
    flags = f.mem[addr + 3]
    blen = struct.unpack_from("<I", f.mem, addr + 4)[0]
    at = addr + fmt.hdr_size(flags) + \
        fmt.protected_len(f.mem[addr + 2], flags, blen)
    f.mem[at] ^= 0x01


def mounted(f, addr):
    m = LogStore.mount(f, checkpoints=False)
    return m, [m.stats["summaries_used"], m.stats["blocks_scanned"],
               [[rec[1], rec[3]] for rec in m.damage if rec[0] == addr]]


results = {}
for case in ("dirent", "inode", "data"):
    f = SimFlash(64 * 1024, ES, 256)
    s = LogStore.format(f)
    s.checkpoints = False
    create_file(s, "before", b"b" * 100)
    ino = create_file(s, "victim-%s" % case, b"v" * 40)
    # (a newer inode: new_ino's numbers stay clear of the damaged one)
    create_file(s, "after", b"a" * 100)
    block = s.wblock
    addr = victim(f, block, case, ino)
    damage_body(f, addr)
    # the open block's summary entries rebuilt from its nodes, the
    # damaged one with them, then the block closed by more files
    m = LogStore.mount(f, checkpoints=False)
    m.checkpoints = False
    n = 0
    while m.wblock == block:
        create_file(m, "fill%d" % n, b"x" * 300)
        n += 1
    results[case + " summary parses"] = [
        fmt.read_summary(f.read, block * ES, ES, m.data_start) is not None,
        docs_entries(f, block) is not None]
    for i in (1, 2):
        results["%s mount %d" % (case, i)] = mounted(f, addr)[1]
    # the old writer's summary: the same entry without the bit
    for at, flags in docs_entries(f, block) or ():
        if flags & SUM_DAMAGED:
            f.mem[at] = flags & ~SUM_DAMAGED
    base = block * ES
    fix_crcs(f, base + struct.unpack_from("<I", f.mem, base + ES - 8)[0])
    results[case + " old summary"] = [
        fmt.read_summary(f.read, base, ES, m.data_start) is not None] + \
        mounted(f, addr)[1]

report(results)
