"""Bytes the index tables of a store take as checkpoint pieces (and its
whole state, tables included, as ovl.store.checkpoint.snapshot gives it), against
what its mount reads (docs/STORE.md, "Checkpoint").  Arguments: files
(default 2000), written one a transaction, 200 bytes each, 100 to a
directory, and the NOR's size in MiB (default 16, with 64 KiB blocks:
the Linux row's chip).
Runs on both runtimes; prints one line of figures."""
import sys

from ovl_sim.simflash import SimFlash
from ovl.store import LogStore, ROOT_INO
from ovl.store.checkpoint import SEC_INODES, SEC_ENTRIES, SEC_SMALL
from ovl.store.checkpoint_write import PieceWriter, save_table, snapshot

files = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
mib = int(sys.argv[2]) if len(sys.argv) > 2 else 16
flash = SimFlash(mib * 1024 * 1024, 65536, 256)
store = LogStore.format(flash)
dirs = [ROOT_INO]
for k in range(files):
    t = store.begin()
    ino = t.new_ino()
    isdir = k % 100 == 0
    t.put_inode(ino, mode=0o40755 if isdir else 0o100644, size=0, mtime=k)
    t.link(dirs[k % len(dirs)], "file%05d" % k, ino)
    if not isdir:
        t.write(ino, 0, b"x" * 200)
    t.commit()
    if isdir:
        dirs.append(ino)
store.sync()
mounted = LogStore.mount(flash)
sizes = [0, 0]          # bytes of the pieces, pieces


def count(body):
    sizes[0] += len(body)
    sizes[1] += 1


for table, section in ((mounted.inodes, SEC_INODES),
                       (mounted.entries, SEC_ENTRIES)):
    writer = PieceWriter(1, count)
    save_table(table, lambda b: writer.section(section, b))
    writer.finish()
tables = sizes[0]
writer = PieceWriter(2, count)
snapshot(mounted, lambda b: writer.section(SEC_SMALL, b))
writer.finish()
print("files", files, "table_pieces_bytes", tables,
      "state_pieces_bytes", sizes[0] - tables, "pieces", sizes[1],
      "mount_bytes_read", mounted.stats["mount_bytes_read"],
      "multi_block_files", len(mounted.data_blocks.sets))
