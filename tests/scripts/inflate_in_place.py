"""Imported by a MicroPython script: ovl.compat and ovl.squashfs_rare then
find no room for a copy of a packed block (looking up io.BytesIO raises
MemoryError, as making its copy would in a heap cut into short pieces,
before anything for it is allocated): squashfs_rare.inflate_into reads a
metadata block where it lies, and compat.inflate_stream reads a data
block from the source as the decoder asks for it."""

from ovl import compat, squashfs_rare


class _NoRoom:
    @property
    def BytesIO(self):
        raise MemoryError


compat.io = squashfs_rare.io = _NoRoom()
