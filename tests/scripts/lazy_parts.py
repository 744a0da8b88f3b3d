"""The parts of the device package a board's mount never imports, named
through the module that a board does import (a module __getattr__), as
labelled results (tests/test_fit.py checks each label on both runtimes).
"""
import sys

from checklib import outcome, report
from ovl import flash
from ovl import squashfs_format as F

LAZY = ("ovl.flash_host", "ovl.squashfs_writer_format")
out = {}
out["lazy modules after import"] = sorted(m for m in LAZY
                                          if m in sys.modules)
out["reader's names"] = [F.MAGIC, F.SUPERBLOCK_SIZE, F.METADATA_SIZE]
# the writer's names, through squashfs_format
out["FLAG_NOI, INODE_HEADER_SIZE"] = [F.FLAG_NOI, F.INODE_HEADER_SIZE]
raw = F.encode(F.INODE_HEADER, {"inode_type": 2, "mode": 0o644, "uid": 0,
                                "guid": 1, "mtime": 7, "inode_number": 9})
out["encode then decode"] = sorted(F.decode(F.INODE_HEADER, raw).items())
out["block_word split"] = list(F.split_block_word(F.block_word(100, False)))
out["unknown format name"] = outcome(getattr, F, "NO_SUCH_LAYOUT")
# the host's flash parts, through ovl.flash
source = flash.BytesSource(b"abcdef")
out["BytesSource read"] = [source.size, source.read(1, 3).decode()]
out["BytesSource out of range"] = outcome(source.read, 4, 3)
out["unknown flash name"] = outcome(getattr, flash, "NoSuchFlash")
out["lazy modules after use"] = sorted(m for m in LAZY if m in sys.modules)
report(out)
