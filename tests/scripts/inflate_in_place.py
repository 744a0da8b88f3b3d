"""Imported by a MicroPython script: ovl.compat then finds no room for a
copy of a packed block (looking up io.BytesIO raises MemoryError, as
making its copy would in a heap cut into short pieces, before anything
for it is allocated): compat.inflate_into reads a metadata block where
it lies, and compat.inflate_stream reads a data block from the source as
the decoder asks for it."""

from ovl import compat


class _NoRoom:
    @property
    def BytesIO(self):
        raise MemoryError


compat.io = _NoRoom()
