"""`ovl mount`'s transport: the FUSE kernel protocol's wire format, the server
that answers it from an overlay, and attaching it to a mountpoint
(docs/MOUNT.md)."""
