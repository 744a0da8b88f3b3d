"""A simulated NOR/NAND flash chip with counters and fault injection.

It enforces the rules of the medium so that code which works here works on
real parts: erase sets a whole block to 0xFF; program can only clear bits
(the cell keeps old AND new); a program must stay inside one page where the
geometry says so (always on NAND); a NAND page takes at most `nop` partial
programs between erases.  Breaking a rule raises FlashRuleError.

Faults, all seeded and reproducible on every runtime:
  * power cut at the Nth program/erase, the operation in flight torn in one
    of several ways (see TORN_MODES); every later operation raises PowerCut
    until power_on();
  * bit flips at rest, bad blocks, wear-out after N erases.

The chip lives in RAM (a bytearray) and can be persisted to a file that holds
exactly the chip's bytes, so a flash file is also a raw dump.
"""

from ovl.flash import Flash, FlashRuleError, BadBlockError


class PowerCut(Exception):
    """Raised by the fault-injecting simulator: the power is gone.

    Not an OSError on purpose: no code in ovl may catch it and carry on.
    Defined here, with the simulator, so that a simulated board whose ovl
    modules were injected over its REPL (ovl.flash only, not the host's
    parts) can still import it.
    """

# How the operation in flight behaves when the power is cut:
#   "clean"    it did not happen at all
#   "prefix"   a program wrote a prefix of its bytes; an erase reset a
#              prefix of its block (the rest keeps old data)
#   "bits"     a random subset of the program's 1->0 transitions took; an
#              erase left random bits at 0
#   "unstable" the bytes took their new value but read unstably: each read
#              may return old or new bits until the next erase; an erase
#              reads 0xFF now, but some bits may read 0 on later reads (weak)
#   "done"     it completed, and the cut came right after it
TORN_MODES = ("clean", "prefix", "bits", "unstable", "done")


class Xorshift:
    """Tiny PRNG giving the same sequence on CPython and MicroPython."""

    def __init__(self, seed):
        self.state = (seed * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def below(self, n):
        return self.next() % n if n > 0 else 0


class SimFlash(Flash):
    def __init__(self, size, erase_size, page_size, kind="nor", path=None,
                 nop=None, strict_pages=None, wear_limit=None):
        Flash.__init__(self, size, erase_size, page_size, kind)
        self.path = path
        # NAND allows few partial programs per page (NOP); NOR has no limit.
        self.nop = nop if nop is not None else (4 if kind == "nand" else None)
        self.strict_pages = kind == "nand" if strict_pages is None else strict_pages
        self.wear_limit = wear_limit
        # one allocation of the chip's size (b"\xff" * size would be a
        # second, and a host tool's peak RSS twice its image)
        try:
            self.mem = bytearray(b"\xff") * size
        except TypeError:       # MicroPython has no bytearray repeat
            self.mem = bytearray(b"\xff" * size)
        self._page_programs = {}          # page index -> programs since erase
        self._unstable = {}               # addr -> (old, new) read unstably
        self.bad_blocks = {}              # block -> "program" | "erase" | "both"
        self.reset_counters()
        self.erase_counts = [0] * self.block_count
        self._cut_at = None
        self._torn = "clean"
        self._rng = Xorshift(0)
        self.powered = True
        if path is not None:
            self._load(path)

    # ----- persistence -----------------------------------------------------

    def _load(self, path):
        try:
            f = open(path, "rb")
        except OSError:
            return  # a new chip: erased
        with f:
            # read into mem: no copy of the image beside it
            n = f.seek(0, 2)
            if n != self.size:
                raise ValueError("flash file %s is %d bytes, geometry needs"
                                 " %d" % (path, n, self.size))
            f.seek(0)
            got = f.readinto(self.mem)
        if got != self.size:
            raise ValueError("flash file %s ended after %d bytes, geometry"
                             " needs %d" % (path, got, self.size))

    def save(self, path=None):
        path = path or self.path
        if path is None:
            return
        # write beside, then rename: a host tool killed mid-save leaves the
        # old file whole rather than a truncated chip
        import os
        tmp = path + ".saving"
        with open(tmp, "wb") as f:
            f.write(self.mem)
        os.rename(tmp, path)

    def sync(self):
        self._check_power()
        self.save()

    # ----- counters ----------------------------------------------------------

    def reset_counters(self):
        self.reads = 0
        self.bytes_read = 0
        self.programs = 0
        self.bytes_programmed = 0
        self.erases = 0
        self.ops = 0   # programs + erases: the index power cuts count

    def counters(self):
        counts = self.erase_counts
        return {"reads": self.reads, "bytes_read": self.bytes_read,
                "programs": self.programs,
                "bytes_programmed": self.bytes_programmed,
                "erases": self.erases, "ops": self.ops,
                "max_erase_count": max(counts) if counts else 0,
                "erase_counts": list(counts)}

    # ----- faults ------------------------------------------------------------

    def arm_power_cut(self, op_index, torn="clean", seed=0):
        """Cut the power during program/erase number op_index (0-based,
        counted from now); earlier ones complete, that one is torn."""
        if torn not in TORN_MODES:
            raise ValueError("torn mode must be one of %s" % (TORN_MODES,))
        self._cut_at = self.ops + op_index
        self._torn = torn
        self._rng = Xorshift(seed)

    def disarm(self):
        self._cut_at = None

    def power_on(self):
        """Power returns: operations work again (the chip keeps its state)."""
        self.powered = True
        self._cut_at = None

    def mark_bad(self, block, on="both"):
        if on not in ("program", "erase", "both"):
            raise ValueError("bad block mode must be program, erase or both")
        self.bad_blocks[block] = on

    def flip_bits(self, count, seed=0, region=None):
        """Flip `count` random bits at rest (within region=(start, end))."""
        rng = Xorshift(seed)
        start, end = region or (0, self.size)
        flipped = []
        for _ in range(count):
            addr = start + rng.below(end - start)
            bit = 1 << rng.below(8)
            self.mem[addr] ^= bit
            flipped.append((addr, bit))
        return flipped

    def _check_power(self):
        if not self.powered:
            raise PowerCut("power is off")

    def _cut_now(self):
        """True if the operation about to run is the one the cut lands in."""
        return self._cut_at is not None and self.ops == self._cut_at

    def _power_off(self):
        self.powered = False
        self._cut_at = None
        raise PowerCut("power cut at flash operation %d" % (self.ops - 1))

    def _failing(self, block, what):
        mode = self.bad_blocks.get(block)
        return mode == "both" or mode == what

    # ----- the medium --------------------------------------------------------

    def readinto(self, addr, buf):
        self._check_power()
        n = len(buf)
        self.check_range(addr, n)
        buf[:] = self.mem[addr:addr + n]
        if self._unstable:
            for a in range(addr, addr + n):
                pair = self._unstable.get(a)
                if pair is not None:
                    old, new = pair
                    # each differing bit reads as old or new at random
                    mask = self._rng.next() & (old ^ new)
                    buf[a - addr] = (new & ~mask | old & mask) & 0xFF
        self.reads += 1
        self.bytes_read += n

    def read(self, addr, n):
        buf = bytearray(n)
        self.readinto(addr, buf)
        return bytes(buf)

    def program(self, addr, data):
        self._check_power()
        n = len(data)
        self.check_range(addr, n)
        if n == 0:
            return
        ps = self.page_size
        first_page = addr // ps
        last_page = (addr + n - 1) // ps
        if self.strict_pages and first_page != last_page:
            raise FlashRuleError("program 0x%x+%d crosses a %d-byte page"
                                 % (addr, n, ps))
        block = addr // self.erase_size
        if block != (addr + n - 1) // self.erase_size:
            raise FlashRuleError("program 0x%x+%d crosses an erase block"
                                 % (addr, n))
        if self.nop is not None:
            for page in range(first_page, last_page + 1):
                count = self._page_programs.get(page, 0) + 1
                if count > self.nop:
                    raise FlashRuleError("page %d programmed more than %d times"
                                         " since erase" % (page, self.nop))
        mem = self.mem
        for i in range(n):
            if data[i] & ~mem[addr + i] & 0xFF:
                raise FlashRuleError("program at 0x%x sets bits 0->1 (0x%02x over"
                                     " 0x%02x); erase first"
                                     % (addr + i, data[i], mem[addr + i]))
        if self._failing(block, "program"):
            self.ops += 1
            raise BadBlockError(block, "program")
        if self.nop is not None:
            for page in range(first_page, last_page + 1):
                self._page_programs[page] = self._page_programs.get(page, 0) + 1
        self.ops += 1
        self.programs += 1
        self.bytes_programmed += n
        if self._cut_at is not None and self.ops - 1 == self._cut_at:
            self._torn_program(addr, data)
            self._power_off()
        if self._unstable:
            for a in range(addr, addr + n):
                self._unstable.pop(a, None)
        mem[addr:addr + n] = data

    def _torn_program(self, addr, data):
        mode = self._torn
        mem = self.mem
        rng = self._rng
        n = len(data)
        if mode == "done":
            mem[addr:addr + n] = data
        elif mode == "prefix":
            k = rng.below(n + 1)
            mem[addr:addr + k] = data[:k]
        elif mode == "bits":
            for i in range(n):
                old = mem[addr + i]
                clear = old & ~data[i] & 0xFF   # bits this program would clear
                mem[addr + i] = old & ~(clear & rng.next()) & 0xFF
        elif mode == "unstable":
            for i in range(n):
                old = mem[addr + i]
                if old != data[i]:
                    self._unstable[addr + i] = (old, data[i])
                mem[addr + i] = data[i]

    def erase(self, block):
        self._check_power()
        if block < 0 or block >= self.block_count:
            raise FlashRuleError("erase of block %d outside %d blocks"
                                 % (block, self.block_count))
        worn = self.wear_limit is not None and \
            self.erase_counts[block] >= self.wear_limit
        if worn:
            self.bad_blocks[block] = "both"
        if self._failing(block, "erase"):
            self.ops += 1
            raise BadBlockError(block, "erase")
        self.ops += 1
        self.erases += 1
        self.erase_counts[block] += 1
        start = block * self.erase_size
        end = start + self.erase_size
        pages = self.erase_size // self.page_size
        first_page = start // self.page_size
        for page in range(first_page, first_page + pages):
            self._page_programs.pop(page, None)
        if self._unstable:
            for a in list(self._unstable):
                if start <= a < end:
                    del self._unstable[a]
        if self._cut_at is not None and self.ops - 1 == self._cut_at:
            self._torn_erase(start, end)
            self._power_off()
        self.mem[start:end] = b"\xff" * self.erase_size

    def _torn_erase(self, start, end):
        mode = self._torn
        mem = self.mem
        rng = self._rng
        if mode == "done":
            mem[start:end] = b"\xff" * (end - start)
        elif mode == "prefix":
            k = rng.below(end - start + 1)
            mem[start:start + k] = b"\xff" * k
        elif mode == "bits":
            # an interrupted erase: most cells erased, some bits still 0
            mem[start:end] = b"\xff" * (end - start)
            for _ in range(1 + rng.below(16)):
                a = start + rng.below(end - start)
                mem[a] &= ~(1 << rng.below(8)) & 0xFF
        elif mode == "unstable":
            # a weak erase: reads 0xFF now, some bits may read 0 later
            mem[start:end] = b"\xff" * (end - start)
            for _ in range(1 + rng.below(16)):
                a = start + rng.below(end - start)
                self._unstable[a] = (0xFF & ~(1 << rng.below(8)), 0xFF)

    # ----- snapshots -----------------------------------------------------------

    def snapshot(self):
        """The chip's whole state, cheap enough to take thousands per second."""
        return (bytes(self.mem), list(self.erase_counts),
                dict(self._page_programs), dict(self._unstable),
                dict(self.bad_blocks))

    def restore(self, snap):
        mem, counts, pages, unstable, bad = snap
        self.mem[:] = mem
        self.erase_counts[:] = counts
        self._page_programs = dict(pages)
        self._unstable = dict(unstable)
        self.bad_blocks = dict(bad)
        self.powered = True
        self._cut_at = None
