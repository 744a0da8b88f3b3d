"""A block device for littlefs, the benchmarks' peer, over a SimFlash
whose reads are cheap: imported by the micropython scripts of
bench/store.py and bench/fit.py (a leading _ keeps it out of the list of
benchmarks).

littlefs reads in pieces of its read size (32 bytes by default) and, near
full or at a large mount, walks the whole store: some 12,000 reads for one
near-full write.  Through SimFlash.readinto, which allocates a slice each
time, that took 0.2 s a write; here a read copies from the chip's memory
and counts as SimFlash counts (reads, bytes_read), 7 ms a write.  The
benchmarks arm no power cut and no unstable bits, the rest of readinto.
Programs and erases still go through SimFlash.
"""

from ovl.blockdev import FlashBlockDevice


class CountedReadBlockDevice(FlashBlockDevice):

    def __init__(self, flash):
        FlashBlockDevice.__init__(self, flash)
        self.mem = memoryview(flash.mem)

    def readblocks(self, block_num, buf, offset=0):
        addr = block_num * self.block_size + offset
        n = len(buf)
        buf[:] = self.mem[addr:addr + n]
        self.flash.reads += 1
        self.flash.bytes_read += n
