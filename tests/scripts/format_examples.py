"""The byte examples of docs/FORMAT.md, made by the real store: a tiny NOR
store is formatted, two transactions commit, and the bytes each step
programmed are printed as a hex dump, one section per example
("== NAME" lines), node by node with its decoded header.
tests/test_format_examples.py checks that FORMAT.md shows exactly these
bytes; to regenerate them: PYTHONPATH=firmware python3 tests/scripts/format_examples.py
"""
import binascii

from ovl.store import format as F
from ovl.store import LogStore, ROOT_INO
from ovl_sim.simflash import SimFlash

ERASE = 1024                    # the smallest block FORMAT.md allows
BLOCKS = 8
T0 = 1700000000                 # the example's clock (seconds)

FLAG_NAMES = ((F.F_COMMIT, "F_COMMIT"), (F.F_TRUNC, "F_TRUNC"),
              (F.F_STAMP, "F_STAMP"), (F.F_PROV, "F_PROV"),
              (F.F_ONETIME, "F_ONETIME"), (F.F_WIDE, "F_WIDE"))


def hexdump(addr, data):
    """Lines of 16 bytes: the partition offset, then the bytes in hex."""
    out = []
    for i in range(0, len(data), 16):
        row = binascii.hexlify(bytes(data[i:i + 16])).decode()
        pairs = " ".join(row[j:j + 2] for j in range(0, len(row), 2))
        out.append("%06x  %s" % (addr + i, pairs))
    return out


def flag_text(flags):
    names = [name for bit, name in FLAG_NAMES if flags & bit]
    return "|".join(names) if names else "0"


def nodes(mem, start, end):
    """A dump of the nodes in mem[start:end], each after a line naming it."""
    out = []
    pos = start
    while pos < end:
        h = F.header_fields(mem[pos:pos + F.NODE_HDR_WIDE])
        ntype, flags, blen, ver, txn, _, _, hl = h
        size = F.node_size(blen, flags)
        out.append("# %s at 0x%x: flags %s, body_len %d, version %d, txn %d"
                   % (F.NODE_NAMES[ntype], pos, flag_text(flags), blen, ver,
                      txn))
        out += hexdump(pos, mem[pos:pos + size])
        pos += size
    return out


def log_block(mem):
    """The one block holding nodes (found as a reader would: by its log)."""
    used = [b for b in range(BLOCKS) if mem[b * ERASE + F.BLOCK_HDR_SIZE:
                                              b * ERASE + F.BLOCK_HDR_SIZE + 4]
            != b"\xff" * 4]
    assert len(used) == 1, "the examples expect one block in use"
    return used[0] * ERASE


def log_end(mem, block):
    """Where the block's log ends: the first erased word between nodes."""
    pos = block + F.BLOCK_HDR_SIZE
    while mem[pos:pos + 4] != b"\xff" * 4:
        h = F.header_fields(mem[pos:pos + F.NODE_HDR_WIDE])
        pos += F.node_size(h[2], h[1])
    return pos


def section(name, lines):
    print("== " + name)
    for line in lines:
        print(line)


def main():
    flash = SimFlash(ERASE * BLOCKS, ERASE, 4)
    store = LogStore.format(flash)
    mem = flash.read(0, ERASE * BLOCKS)
    block = log_block(mem)
    end = log_end(mem, block)
    section("format", ["# block %d header" % (block // ERASE)] +
            hexdump(block, mem[block:block + F.BLOCK_HDR_SIZE]) +
            nodes(mem, block + F.BLOCK_HDR_SIZE, end))

    # a multi-node transaction: a new file "hi" holding b"hello"
    txn = store.begin()
    ino = txn.new_ino()
    txn.put_inode(ino, mode=0o100644, nlink=1, size=5, mtime=T0, ctime=T0)
    txn.link(ROOT_INO, "hi", ino)
    txn.write(ino, 0, b"hello")
    txn.put_inode(ROOT_INO, mode=0o40755, nlink=2, mtime=T0, ctime=T0)
    txn.commit()
    mem = flash.read(0, ERASE * BLOCKS)
    start, end = end, log_end(mem, block)
    section("create", nodes(mem, start, end))

    # a stamped transaction: an append that changes only size and times
    txn = store.begin()
    txn.write(ino, 5, b"!")
    txn.put_inode(ino, mode=0o100644, nlink=1, size=6, mtime=T0 + 60,
                  ctime=T0 + 60)
    txn.commit()
    mem = flash.read(0, ERASE * BLOCKS)
    start, end = end, log_end(mem, block)
    section("append", nodes(mem, start, end))

    # a checkpoint of the index (written however small the log) of a store
    # holding the same file on 4 KiB blocks (a piece is up to 1,032 bytes:
    # blocks must hold two); the end piece closes it
    from ovl.store import checkpoint
    flash = SimFlash(4096 * 8, 4096, 4)
    store = LogStore.format(flash)
    txn = store.begin()
    ino = txn.new_ino()
    txn.put_inode(ino, mode=0o100644, nlink=1, size=5, mtime=T0, ctime=T0)
    txn.link(ROOT_INO, "hi", ino)
    txn.write(ino, 0, b"hello")
    txn.commit()
    assert checkpoint.write(store, True)
    mem = flash.read(0, 4096 * 8)
    b = store.wblock * 4096
    pos = b + F.BLOCK_HDR_SIZE
    last = pos
    while mem[pos:pos + 4] != b"\xff" * 4:
        h = F.header_fields(mem[pos:pos + F.NODE_HDR_WIDE])
        last = pos
        pos += F.node_size(h[2], h[1])
    section("checkpoint", nodes(mem, last, pos))


main()
