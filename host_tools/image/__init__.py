"""Images: the SquashFS builder and its pseudo-file definitions, the
unpacker, the check of a lower with the device's reader, and the device
package as .mpy files and a ROMFS image."""
