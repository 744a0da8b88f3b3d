"""The parts of the log store's format (ovl.store.format) that a board's
mount, reads, writes and sync never use: what GC's copies, damage
handling, fsck, a blank or wrong chip (CorruptError and its kin) and
the host tools need.  Imported
at the first such name, which ovl.store.format also answers (its module
__getattr__), so that a board's heap holds none of it until then.
"""

import struct

from ovl.compat import crc32
from ovl.store import format as fmt

F_KEPT = fmt.F_TRUNC | fmt.F_STAMP | fmt.F_PROV | fmt.F_ONETIME
                                  # flags a GC copy keeps
VOID_BODY_SIZE = 20               # fmt.VOID_BODY's bytes

# for reports: 0x03 -> "NODE_DIRENT"
NODE_NAMES = {getattr(fmt, "NODE_" + t): "NODE_" + t for t in (
    "INODE DELETE DIRENT DATA TRUNCATE SYMLINK META VOID RESET SUMMARY "
    "COMMIT CHECKPOINT").split()}


class CorruptError(ValueError):
    """The medium holds something the store cannot make sense of (raised
    where that is found, with this module imported then: a healthy
    board's mount never does)."""


class NotFormattedError(CorruptError):
    """No block of the flash carries a log-store block header."""


class BlockCountError(CorruptError):
    """The flash has another number of erase blocks than the store was
    formatted with: a truncated image or the wrong partition."""

    def __init__(self, have, formatted):
        super().__init__("flash has %d blocks but its log store was formatted"
                         " with %d: truncated or wrong partition"
                         % (have, formatted))
        self.have = have
        self.formatted = formatted


# ovl.store.format's refusals, by its _BAD_ consts: (class, message)
MALFORMED = (
    (ValueError, "version or txn id past 48 bits"),
    (ValueError, "data node shorter than its prefix"),
    (ValueError, "dirent name longer than NAME_MAX"),
    (CorruptError, "unknown node type 0x%02x"),
    (CorruptError, "node at 0x%x has unknown type 0x%02x (written by a"
                   " newer ovl?): refusing the image"),
)


def malformed(kind, *args):
    """The exception for ovl.store.format's refusal `kind` (a _BAD_
    const), its message formatted with args."""
    cls, message = MALFORMED[kind]
    return cls(message % args)


def check_other_version(raw, version, current):
    """unpack_block_header's check of a block header whose version is not
    the current one: CorruptError when its CRC checks out where that
    version kept it (versions 1, 2-3, and this one's place), else nothing
    (not a header)."""
    for at in (20, 24, fmt.BLOCK_HDR_SIZE - 4):
        if struct.unpack("<I", raw[at:at + 4])[0] == crc32(raw[:at]):
            raise CorruptError(
                "log store format version %d (this code reads version"
                " %d): format it again" % (version, current))


def damaged_node(addr, hdr, body):
    """node_from's Node for a node whose body fails its CRC (hdr: its
    checked header fields): a data node keeps its fields (its prefix and
    stamp are under the header CRC), others keep only their key prefix."""
    ntype, flags, blen, ver, txn = hdr[:5]
    fields = None
    if ntype == fmt.NODE_DATA:
        fields = fmt.parse_body(ntype, body[:fmt.data_prefix(flags)], blen,
                                flags)
    return fmt.Node(addr, ntype, flags, blen, ver, txn, fields,
                    bytes(body[:fmt.protected_len(ntype, flags, blen)]),
                    "body CRC")


def data_at(flags):
    """Offset in a data node of its first file byte (GC's and a stream's;
    the store's index computes it in place)."""
    return fmt.hdr_size(flags) + fmt.data_prefix(flags)


def restamp(raw, txn, flags):
    """A copy of node `raw` (header and body) written by txn with flags (GC
    copies keep everything else, the version and body CRC included);
    padded."""
    from ovl.store.write import pack_node    # (GC's: it writes)
    ntype, _, blen, ver, _, bcrc, _, hl = fmt.header_fields(raw)
    return pack_node(ntype, flags, ver, txn,
                         memoryview(raw)[hl:hl + blen], bcrc)
