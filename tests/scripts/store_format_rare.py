"""ovl.store.format's rarely used names (ovl.store.format_rare: a blank or
wrong chip's errors, GC's restamp, fsck's node names, damage handling's
sizes) answer through ovl.store.format, and a healthy store's format,
mount, writes, reads and sync never import the module that holds them
(tests/test_store_format_rare.py checks the labels on both runtimes)."""
import struct
import sys

from checklib import outcome, report
from ovl.store import LogStore, ROOT_INO
from ovl.store import format as fmt
from ovl.store.write import pack_node
from ovl_sim.simflash import SimFlash

RARE = "ovl.store.format_rare"
out = {}

f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
t = s.begin()
ino = t.new_ino()
t.put_inode(ino, mode=0o100644)
t.link(ROOT_INO, "f", ino)
t.write(ino, 0, b"data" * 50)
t.commit()
s.sync()
s = LogStore.mount(f)
out["a healthy format, write, sync, mount, read"] = [
    b"".join(p[2] for p in s.read(ino, 0, 400)) == b"data" * 50,
    RARE in sys.modules]

# the four sizes answered from the private consts: what the layouts say
from ovl.store.format import NODE_MAGIC, KEY_PREFIX, DIRENT_PREFIX, \
    META_PREFIX
out["sizes by their public names, from the layouts"] = [
    KEY_PREFIX == struct.calcsize(fmt.DATA_BODY) == fmt.DATA_PREFIX,
    DIRENT_PREFIX == struct.calcsize(fmt.DIRENT_BODY),
    META_PREFIX == struct.calcsize(fmt.META_BODY),
    pack_node(fmt.NODE_RESET, 0, 1, 1, b"")[:2] ==
    struct.pack("<H", NODE_MAGIC),
    RARE in sys.modules]

from ovl.store.format import NODE_NAMES, VOID_BODY_SIZE, F_KEPT, restamp
out["the rest from format_rare, imported at the first such name"] = [
    RARE in sys.modules,
    sorted(NODE_NAMES.values()) == sorted(
        n for n in dir(fmt) if n.startswith("NODE_") and
        n not in ("NODE_HDR_SIZE", "NODE_HDR_WIDE", "NODE_NAMES",
                  "NODE_MAGIC")),
    all(getattr(fmt, n) == t for t, n in NODE_NAMES.items()),
    VOID_BODY_SIZE == struct.calcsize(fmt.VOID_BODY),
    F_KEPT == fmt.F_TRUNC | fmt.F_STAMP | fmt.F_PROV | fmt.F_ONETIME]

raw = pack_node(fmt.NODE_DATA, fmt.F_COMMIT, 5, 7,
                    struct.pack(fmt.DATA_BODY, 9, 0) + b"abc")
copy = restamp(raw, (1 << 40) + 3, fmt.F_TRUNC)
h0, h1 = fmt.header_fields(raw), fmt.checked_header(copy)
out["restamp: new txn and flags, version and body CRC kept"] = [
    h1 is not None, h1[:5] == (fmt.NODE_DATA, fmt.F_TRUNC | fmt.F_WIDE, 15, 5,
                               (1 << 40) + 3),
    h1[5] == h0[5], bytes(copy[h1[7]:h1[7] + 15]) == bytes(raw[24:39])]

blank = SimFlash(64 * 1024, 4096, 256)
out["a blank chip: NotFormattedError, a CorruptError"] = [
    outcome(LogStore.mount, blank),
    issubclass(fmt.NotFormattedError, fmt.CorruptError),
    fmt.NotFormattedError is sys.modules[RARE].NotFormattedError]
e = fmt.BlockCountError(8, 16)
out["BlockCountError"] = [isinstance(e, fmt.CorruptError), e.have,
                          e.formatted]
out["an unknown name"] = [outcome(getattr, fmt, "NO_SUCH_NAME"),
                          outcome(getattr, fmt, "_private"),
                          hasattr(fmt, "__path__"), outcome(getattr, fmt, ""),
                          outcome(getattr, fmt, "damaged_node")]
rare = sys.modules[RARE]
out["each exported name is format_rare's"] = [
    getattr(fmt, n) is getattr(rare, n) for n in (
        "F_KEPT", "VOID_BODY_SIZE", "NODE_NAMES", "NotFormattedError",
        "BlockCountError", "restamp")]

# a block header of another format version: an error naming both versions
# when its CRC checks out where that version kept it, else not a header
from ovl.compat import crc32
head = bytearray(fmt.pack_block_header(1, 0, 1, 4096, 16))
head[4] = 3                               # format 3 kept its CRC at 24
head[24:28] = struct.pack("<I", crc32(bytes(head[:24])))
try:
    got = fmt.unpack_block_header(bytes(head))
except fmt.CorruptError as e:
    got = str(e)
head[24] ^= 1
out["a header of format 3"] = [got, fmt.unpack_block_header(bytes(head))]

# a node whose body fails its CRC: damaged, a data node keeps its fields
raw = bytearray(pack_node(fmt.NODE_DATA, fmt.F_STAMP, 5, 7,
                              struct.pack(fmt.DATA_BODY, 9, 64) +
                              struct.pack(fmt.STAMP_BODY, 11, 12) + b"xyz"))
raw[-2] ^= 0xFF                           # a data byte (before the padding)
nd = fmt.node_from(100, raw[:24], raw[24:24 + 31])
dirent = bytearray(pack_node(fmt.NODE_DIRENT, 0, 6, 7,
                                 struct.pack(fmt.DIRENT_BODY, 1, 9) +
                                 b"a longer name"))
dirent[24 + 15] ^= 0xFF                   # past the 12 bytes of its key
nd2 = fmt.node_from(200, dirent[:24], dirent[24:24 + 21])
out["a body failing its CRC"] = [
    nd.damage, list(nd.fields[:3]), list(nd.fields[3]), nd.ver, nd.addr,
    nd2.damage, nd2.fields, bytes(nd2.keep) == bytes(dirent[24:36]),
    fmt.node_from(0, dirent[:24], dirent[24:24 + 20])]

# the block table's states, named through ovl.store.blocks' __getattr__
from ovl.store import blocks
from ovl.store.blocks import FREE, OPEN, FULL, UNKNOWN, BAD, STATE_NAMES
out["block states by name"] = [
    [FREE, OPEN, FULL, UNKNOWN, BAD], list(STATE_NAMES),
    [STATE_NAMES[st] for st in s.blocks.state[:3]],
    s.blocks.count(FREE) + s.blocks.count(FULL) + s.blocks.count(OPEN) ==
    s.nblocks, outcome(getattr, blocks, "FREEISH"),
    hasattr(blocks, "__path__")]
report(out)
