"""The block table of the log store: per erase block its state, erase
count, end of log, dead bytes and oldest node version, one column each,
and the counted flash access that keeps them true: read, program, erase
(a block gone bad is retired by ovl.store.damage.retire).  (The writer picks the free block erased least: ovl.store's
_open_block.)"""

from array import array

from ovl.compat import const
from ovl.flash import BadBlockError
from ovl.store import format as fmt

# A block's state (its byte in Blocks.state): FREE, OPEN, FULL, UNKNOWN,
# BAD are 0-4, named through __getattr__ below, private consts here (no
# global each: the fewer globals, the smaller this module's dict; BAD is
# set by ovl.store.damage.retire).
_FREE = const(0)
_UNKNOWN = const(3)
# above every version: "no node yet" (fmt.COUNTER_MAX + 1, spelled out: a
# board would intern the name of a number it need not ask the format for;
# tests/test_store_block_columns.py checks the two agree)
NO_VER = 1 << 48
# read_kept's buffer: the largest dirent node (292 B), a small file's data
# node (files up to 476 B)
_KEPT_SIZE = const(512)
# the summary buffer a mount lends (read_kept's body): the summaries of a
# 4 KiB block of small files (the board job's: 627 to 887 bytes)
_BODY_SIZE = const(1024)


def __getattr__(name):
    """FREE, OPEN, FULL, UNKNOWN, BAD: a state's number, its place in the
    list; STATE_NAMES: ("free", ... "bad"), for reports."""
    states = "FREE OPEN FULL UNKNOWN BAD"
    if name == "STATE_NAMES":
        return tuple(states.lower().split())
    names = states.split()
    if name in names:
        return names.index(name)
    raise AttributeError(name)


class Blocks:
    def __init__(self, flash, prog_unit, data_start, stats):
        self.flash = flash
        self.es = flash.erase_size
        self.nblocks = n = flash.block_count
        self.prog_unit = prog_unit
        self.data_start = data_start
        self.stats = stats           # the store's counters, shared
        self.state = bytearray(n)    # FREE .. BAD
        for b in range(n):
            self.state[b] = _UNKNOWN
        # The state packs to a byte a block, the end of its log to 16 bits
        # (32 from 64 KiB blocks up), its dead bytes to 16 signed bits (32
        # from 32 KiB up: mount counts them down from the log's end, never
        # past the block's start, as a summary's nodes may not overlap),
        # its erase count to 32.  The oldest versions stay a list: 48 bits,
        # which any array holds in 8 bytes, where a list slot takes 4 on a
        # 32-bit port (a version below 2**30 is a small int there, NO_VER
        # one shared object) and 8 on a 64-bit one, as the array would.
        zero = bytes(2 * n)
        self.used = array("H", zero) if self.es < 0x10000 else \
            array("I", zero + zero)              # end of the log in it
        # bytes of it that GC may reclaim
        self.dead = array("h", zero) if self.es < 0x8000 else \
            array("i", zero + zero)
        self.ec = array("I", zero + zero)        # erase count (header)
        self.minver = [NO_VER] * n   # oldest node version in it
        self.verified = set()        # blocks erased by this session
        self.kept = None             # read_kept's buffer, made at first use
        self.body = None             # its summary buffer, while mounting

    def count(self, state):
        """How many blocks are in that state."""
        return self.state.count(bytes((state,)))

    def read(self, addr, n):
        self.stats["bytes_read"] += n
        return self.flash.read(addr, n)

    def read_kept(self, addr, n, body=False):
        """n bytes at addr read into a buffer kept for it (more than
        _KEPT_SIZE: a plain read): a memoryview valid until the next call,
        for callers that copy what they keep.  The reads of one inode or
        dirent node (a lookup, a stat, a listing) then allocate a view,
        not two copies of it.  body: into self.body instead, the buffer
        a mount lends for the summaries' bodies (format.read_summary's:
        its visitors read_kept meanwhile, and must not read a summary
        this way), _BODY_SIZE bytes made at the first such read while it
        is an empty bytearray (lent); a plain read when it is None (not
        lent) or too short."""
        if body:
            buf = self.body
            if buf is None or n > _BODY_SIZE:
                return self.read(addr, n)
            if not buf:     # lent, not yet made: made at the first read
                buf = self.body = bytearray(_BODY_SIZE)
        else:
            if n > _KEPT_SIZE:
                return self.read(addr, n)
            buf = self.kept
            if buf is None:
                buf = self.kept = bytearray(_KEPT_SIZE)
        self.stats["bytes_read"] += n
        mv = memoryview(buf)[:n]
        self.flash.readinto(addr, mv)
        return mv

    def program(self, addr, data):
        self.stats["bytes_programmed"] += len(data)
        self.stats["programs"] += 1
        self.flash.program(addr, data)

    def erase(self, b, txn):
        """Erase block b and write its header (its seq: txn, the next txn
        id); False if it went bad (then the store retires it: a bad block
        is rare, its code ovl.store.damage's)."""
        ec = self.ec[b] + 1
        try:
            self.stats["erases"] += 1
            self.flash.erase(b)
            self.ec[b] = ec
            self.program(b * self.es,
                         fmt.pack_block_header(self.prog_unit, ec, txn,
                                               self.es, self.nblocks))
        except BadBlockError:
            return False    # the store retires it (ovl.store.damage.retire)
        except BaseException:
            # any other error (a driver's, an interrupt): erased or not,
            # its header unwritten, the block is one to erase again before
            # use, as a mount finds one with no header (UNKNOWN), not one
            # still counted FULL with the nodes it no longer holds
            self.state[b] = _UNKNOWN
            self.verified.discard(b)
            raise
        self.state[b] = _FREE
        self.used[b] = self.data_start
        self.dead[b] = 0
        self.minver[b] = NO_VER
        self.verified.add(b)
        return True
