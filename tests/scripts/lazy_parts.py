"""The parts of the device package a board's mount never imports, named
through the module that a board does import (a module __getattr__), as
labelled results (tests/test_fit.py checks each label on both runtimes).
"""
import sys

from checklib import outcome, report
from ovl import flash
from ovl import squashfs_format as F

LAZY = ("ovl.flash_host", "ovl.flash_rare", "ovl.squashfs_writer_format")
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
out["unknown private flash name"] = outcome(getattr, flash, "_nothing")
# the checks' messages and the firmware writer, through ovl.flash
out["Region outside its flash"] = outcome(flash.Region, flash.Flash(64, 16, 4),
                                          16, 64)
out["a bad flash kind"] = outcome(flash.Flash, 64, 16, 4, "nvm")
region = flash.Region(flash.Flash(64, 16, 4), 16, 32)
try:
    region.erase(2)
except Exception as e:
    out["erase outside the region"] = [type(e).__name__, str(e)]
out["a rule error is a flash error"] = [
    issubclass(flash.FlashRuleError, flash.FlashError),
    outcome(region.check_range, 30, 4)]
out["write_blocks is the agent's"] = callable(flash.write_blocks)
out["lazy modules after use"] = sorted(m for m in LAZY if m in sys.modules)
report(out)
