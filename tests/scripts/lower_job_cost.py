"""What the board job (host_tools/bench/fit.py run_job) asks of its lower,
in source reads, bytes read and bytes allocated, on either runtime:

    python|micropython lower_job_cost.py IMAGE

Prints one JSON line {op: [reads, bytes read, bytes allocated]} (bytes
allocated: micropython.mem_total's growth, 0 on CPython) for "open" (the
superblock and root inode), "list" (/d00 and /d17 as the overlay lists
them: each name with its inode), "read" (/d17/f1217.txt looked up and
read whole in 512-byte reads, as the job's read_file does) and
"miss" (/d05/new.txt looked up: ENOENT, before the job's write), and
"total".
"""

import json
import sys

from image_file_source import FileSource
from ovl.squashfs import SquashFS

try:
    from micropython import mem_total
except ImportError:
    def mem_total():
        return 0


class CountingSource(FileSource):
    reads = 0
    bytes_read = 0

    def readinto(self, addr, buf):
        self.reads += 1
        self.bytes_read += len(buf)
        FileSource.readinto(self, addr, buf)

    def read(self, addr, n):
        self.reads += 1
        self.bytes_read += n
        return FileSource.read(self, addr, n)


src = CountingSource(sys.argv[1])
out = {}
fs = None


def measure(name, op):
    r0, b0, a0 = src.reads, src.bytes_read, mem_total()
    op()
    out[name] = [src.reads - r0, src.bytes_read - b0, mem_total() - a0]


def do_open():
    global fs
    fs = SquashFS(src)


def do_list():
    for d in ("/d00", "/d17"):
        for _name, _entry in fs.readdir(fs.lookup(d)):
            pass


def do_read():
    e = fs.lookup("/d17/f1217.txt")
    off = 0
    while off < e.size:
        off += len(fs.read(e, off, 512))


def do_miss():
    fs.lookup("/d05")
    try:
        fs.lookup("/d05/new.txt")
    except OSError:
        pass


for name, op in (("open", do_open), ("list", do_list), ("read", do_read),
                 ("miss", do_miss)):
    measure(name, op)
out["total"] = [sum(v[i] for v in out.values()) for i in range(3)]
print(json.dumps(out))
