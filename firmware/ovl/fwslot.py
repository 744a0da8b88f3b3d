"""Firmware slots: the image record written after a verified flash.

Every partition of type "squashfs" is a firmware slot.  Its last erase block
holds a record saying which image the slot holds (size and SHA-256) and a
generation number.  The agent erases the record before it changes a slot
and writes it only after hashing the whole image on the device, so:

  * a slot whose record is missing, torn (bad CRC) or whose image does not
    hash to the record was interrupted or damaged: it is not booted;
  * with two slots, the valid record with the higher generation wins, so
    writing the new slot's record is the atomic switch, and a power cut
    before it leaves the old slot in charge.

Record layout (little-endian), at offset 0 of the slot's last erase block:

    magic b"OVLR" | version u8 | flags u8 | reserved u16 | generation u32 |
    image_size u32 | sha256 32 bytes | crc32 u32 (of the 48 bytes before)
"""

import struct
from binascii import crc32, hexlify

from ovl import compat

MAGIC = b"OVLR"
VERSION = 1
RECORD_FMT = "<4sBBHII32s"
RECORD_LEN = struct.calcsize(RECORD_FMT) + 4       # 52
HASH_CHUNK = 4096


class Slot:
    """One firmware partition and what its record says."""

    def __init__(self, partition, flash):
        self.partition = partition
        self.name = partition.name
        self.erase_size = flash.erase_size
        self.offset = partition.offset
        # The image may use everything but the record block.
        self.capacity = partition.size - flash.erase_size
        self.record_addr = partition.offset + self.capacity
        self.state = "missing"
        self.generation = 0
        self.image_size = 0
        self.sha256 = None

    def as_dict(self):
        return {"name": self.name, "state": self.state,
                "generation": self.generation, "image_size": self.image_size,
                "capacity": self.capacity, "offset": self.offset,
                "sha256": hexlify(self.sha256).decode()
                if self.sha256 else None}


def slots(board, flash):
    return [Slot(p, flash) for p in board.partitions if p.type == "squashfs"]


def pack_record(generation, image_size, digest):
    head = struct.pack(RECORD_FMT, MAGIC, VERSION, 0, 0, generation,
                       image_size, digest)
    return head + struct.pack("<I", crc32(head) & 0xFFFFFFFF)


def hash_range(flash, addr, n):
    h = compat.sha256()
    end = addr + n
    while addr < end:
        k = min(HASH_CHUNK, end - addr)
        h.update(flash.read(addr, k))
        addr += k
    return h.digest()


def read_record(flash, slot, verify=True):
    """Fill slot.state: "ok", "missing" (erased record: never flashed or a
    flash in progress), "torn" (bad record) or "corrupt" (image differs)."""
    raw = flash.read(slot.record_addr, RECORD_LEN)
    slot.state = "missing"
    slot.generation = 0
    slot.image_size = 0
    slot.sha256 = None
    if raw == b"\xff" * RECORD_LEN:
        return slot
    head = raw[:-4]
    (crc,) = struct.unpack("<I", raw[-4:])
    magic, version, _, _, gen, size, digest = struct.unpack(RECORD_FMT, head)
    if magic != MAGIC or version != VERSION or \
            crc32(head) & 0xFFFFFFFF != crc or size > slot.capacity:
        slot.state = "torn"
        return slot
    slot.generation = gen
    slot.image_size = size
    slot.sha256 = digest
    if verify and hash_range(flash, slot.offset, size) != digest:
        slot.state = "corrupt"
    else:
        slot.state = "ok"
    return slot


def scan(board, flash, verify=True, known=()):
    """All slots of the board with their records read.  Without verify, a
    slot that `known` (an earlier scan's slots) found corrupt stays so
    while its record is the same: nothing rewrites a recorded image."""
    found = [read_record(flash, s, verify) for s in slots(board, flash)]
    if not verify:
        for k in known:
            for s in found:
                if k.state == "corrupt" and s.state == "ok" and \
                        (s.name, s.generation, s.sha256) == \
                        (k.name, k.generation, k.sha256):
                    s.state = "corrupt"
    return found


def boot_order(found):
    """The slots whose records are valid, newest generation first: boot
    code tries them in this order and boots the first whose image also
    mounts, so a newest image that is not a SquashFS falls back to the
    previous one."""
    ok = [s for s in found if s.state == "ok"]
    ok.sort(key=lambda s: -s.generation)
    return ok


def boot_slot(found):
    """The slot the records say boots: the valid one with the highest
    generation (or None)."""
    order = boot_order(found)
    return order[0] if order else None


def target_slot(found, name=None):
    """The slot a new image goes to: the named one, the only one, or (A/B)
    the one not booted."""
    if name is not None:
        for s in found:
            if s.name == name:
                return s
        return None
    if len(found) == 1:
        return found[0]
    booted = boot_slot(found)
    for s in found:
        if s is not booted:
            return s
    return None


def invalidate(flash, slot):
    """Erase the slot's record: from here on the slot does not boot."""
    flash.erase(slot.record_addr // flash.erase_size)
    flash.sync()
    slot.state = "missing"


def commit(flash, slot, image_size, digest, found):
    """Write the record after checking the image on flash hashes to digest.

    Returns the generation written.  Raises OSError(EIO) if the image on
    flash is not the one the host says it sent.
    """
    if image_size > slot.capacity:
        raise compat.oserror(compat.EFBIG, "image of %d bytes exceeds slot %s"
                             " capacity %d" % (image_size, slot.name,
                                               slot.capacity))
    if hash_range(flash, slot.offset, image_size) != digest:
        raise compat.oserror(compat.EIO, "image in slot %s does not match its"
                             " hash; flash it again" % slot.name)
    gen = 1
    for s in found:
        if s is not slot and s.state == "ok" and s.generation >= gen:
            gen = s.generation + 1
    if flash.read(slot.record_addr, RECORD_LEN) != b"\xff" * RECORD_LEN:
        invalidate(flash, slot)
    flash.program(slot.record_addr, pack_record(gen, image_size, digest))
    flash.sync()
    read_record(flash, slot, verify=False)
    if slot.state != "ok" or slot.generation != gen:
        raise compat.oserror(compat.EIO, "record of slot %s did not verify"
                             % slot.name)
    slot.state = "ok"
    return gen
