"""Images: the SquashFS builder and its pseudo-file definitions, the
unpacker, and the device package as .mpy files and a ROMFS image."""
