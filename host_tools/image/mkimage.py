"""Build SquashFS 4.0 images from a directory tree (`ovl mkimage`).

The byte layouts come from ovl.squashfs_format; this module decides what
goes where.  Building has three steps, each usable on its own (tests craft
images from the middle one):

1. scan_tree() (host_tools/image/tree.py): the source directory becomes a
   tree of Node objects (hard links share one Node; excludes are applied here);
2. parse_pseudo() / apply_pseudo() (host_tools/image/pseudo.py): a
   mksquashfs-style pseudo file adds
   device nodes, directories, symlinks and hard links, and changes owners
   and modes, so an unprivileged user can describe a root filesystem;
3. ImageWriter.write(): data blocks and fragments first (streamed, one
   block in memory at a time), then the inode, directory, fragment and id
   tables, then the superblock.

Output is a pure function of the input tree and the options: entries are
sorted by the bytes of their names, ids are sorted, and no clock is read
(the image's mkfs_time is --mtime, SOURCE_DATE_EPOCH, or the newest mtime
in the tree).
"""

import errno
import hashlib
import lzma
import os
import struct
import sys
import time
import zlib

from ovl import squashfs_format as fmt

from host_tools.image.pseudo import apply_pseudo, parse_pseudo
from host_tools.outputs import replacing
from host_tools.image.tree import MAX_U32, MkimageError, \
    micropython_unreadable, scan_tree, too_long_to_change, walk

DEFAULT_BLOCK_SIZE = 128 * 1024
COMPRESSORS = ("gzip", "xz", "none")
COMPRESSOR_IDS = {"gzip": fmt.COMP_ZLIB, "xz": fmt.COMP_XZ,
                  "none": fmt.COMP_ZLIB}
MAX_IDS = 65536              # no_ids is a u16... and 0 means none, so 65535
ZLIB_LEVEL = 9               # mksquashfs's default, so sizes compare fairly
XZ_PRESET = 6                # liblzma's default, which mksquashfs uses too
METADATA_WBITS = 9           # 512 B window: docs/MKIMAGE.md, "Metadata"
DATA_WINDOW_SHIFT = 2        # zlib window of a data block: block size / 4


# --- options ---------------------------------------------------------------

def parse_block_size(text):
    """'4K', '128k', '1M' or a byte count -> int; a power of 2 in 4K..1M."""
    t = str(text).strip().upper()
    scale = 1
    if t.endswith("K"):
        scale, t = 1024, t[:-1]
    elif t.endswith("M"):
        scale, t = 1024 * 1024, t[:-1]
    if not t.isdigit():
        raise MkimageError("bad block size %r (use e.g. 4K, 128K, 1M)" % text)
    size = int(t) * scale
    lo, hi = 1 << fmt.MIN_BLOCK_LOG, 1 << fmt.MAX_BLOCK_LOG
    if size < lo or size > hi or size & (size - 1):
        raise MkimageError("bad block size %r: must be a power of 2 from 4K to 1M"
                           % text)
    return size

# --- compression and metadata ----------------------------------------------

class Compressor:
    """Packs one block: zlib-wrapped deflate ("gzip" in SquashFS), a whole
    .xz stream ("xz", as the kernel's squashfs xz decompressor reads it:
    one LZMA2 filter, CRC32 check), or raw.  A block is stored raw whenever
    compressing does not make it smaller."""

    def __init__(self, name, block_log):
        if name not in COMPRESSORS:
            raise MkimageError("unknown compressor %r (known: %s)"
                               % (name, ", ".join(COMPRESSORS)))
        self.name = name
        self.id = COMPRESSOR_IDS[name]
        # zlib: a quarter of the block (at most 32 KiB, zlib's largest): a
        # board inflates each block with a window of that size, allocated
        # at the read, late in a heap its upper index has cut up, and
        # references further back gain little (docs/MKIMAGE.md, "Data
        # blocks").  xz: the whole block as dictionary.
        self.data_wbits = block_log if name == "xz" else min(
            15, block_log - DATA_WINDOW_SHIFT)
        # Metadata: zlib with METADATA_WBITS; xz with the 8 KiB block (or
        # the block size, if smaller) as its dictionary.
        self.meta_wbits = 13 if name == "xz" else METADATA_WBITS
        self.block_size = 1 << block_log

    def options(self):
        """The compressor options block's bytes, or None for no block.
        xz records its dictionary size (the block size), so a reader can
        size its decoder from the image; mksquashfs writes the same block
        when its dictionary differs from the block size."""
        if self.name == "xz":
            return fmt.encode(fmt.XZ_OPTIONS, {
                "dictionary_size": self.block_size, "executable_filters": 0})
        return None

    def pack(self, data, wbits):
        """(stored bytes, compressed?); the window (or dictionary) is
        2**wbits bytes."""
        if self.name == "gzip":
            c = zlib.compressobj(ZLIB_LEVEL, zlib.DEFLATED, wbits)
            packed = c.compress(data) + c.flush()
        elif self.name == "xz":
            # No stream may need more than the options block's dictionary
            # (the block size): Linux sizes its decoder by it, so an 8 KiB
            # metadata block of a 4 KiB-block image gets a 4 KiB one.
            # liblzma's smallest dictionary is 4 KiB.
            dict_size = min(1 << max(12, wbits), self.block_size)
            packed = lzma.compress(data, lzma.FORMAT_XZ, lzma.CHECK_CRC32,
                                   filters=[{"id": lzma.FILTER_LZMA2,
                                             "preset": XZ_PRESET,
                                             "dict_size": dict_size}])
        else:
            return bytes(data), False
        if len(packed) < len(data):
            return packed, True
        return bytes(data), False


class MetadataWriter:
    """An inode, directory or lookup-table stream cut into 8 KiB blocks,
    each packed on its own behind a u16 header.  Positions are offsets in
    the uncompressed stream; ref() turns one into (block start, offset).
    raw: store every block uncompressed (bit 15 of its header), for a board
    that reads metadata where it lies (docs/MKIMAGE.md, "Raw metadata")."""

    def __init__(self, compressor, raw=False):
        self.compressor = compressor
        self.raw = raw
        self.out = bytearray()         # headers + packed blocks
        self.pending = bytearray()     # the block being filled
        self.block_starts = [0]        # offset in `out` of uncompressed block k
        self.flushed = 0

    def position(self):
        return self.flushed + len(self.pending)

    def ref(self, pos=None):
        if pos is None:
            pos = self.position()
        return self.block_starts[pos // fmt.METADATA_SIZE], pos % fmt.METADATA_SIZE

    def append(self, data):
        self.pending += data
        while len(self.pending) >= fmt.METADATA_SIZE:
            self._flush(fmt.METADATA_SIZE)

    def _flush(self, n):
        chunk = bytes(self.pending[:n])
        del self.pending[:n]
        if self.raw:
            packed, compressed = chunk, False
        else:
            packed, compressed = self.compressor.pack(
                chunk, self.compressor.meta_wbits)
        self.out += struct.pack("<H", fmt.metadata_header(len(packed), compressed))
        self.out += packed
        self.flushed += n
        self.block_starts.append(len(self.out))

    def finish(self):
        if self.pending:
            self._flush(len(self.pending))
        return bytes(self.out)


# --- the writer ------------------------------------------------------------

class FileData:
    """Where a regular file's bytes went."""

    __slots__ = ("start", "blocks", "fragment", "offset", "size", "sparse")

    def __init__(self):
        self.start = 0
        self.blocks = []          # block size words (0 = sparse block)
        self.fragment = fmt.FRAGMENT_NONE
        self.offset = 0
        self.size = 0
        self.sparse = 0           # bytes held by sparse blocks


class Summary:
    def __init__(self):
        self.counts = {}          # basic inode type -> inodes
        self.bytes_in = 0         # file data read from the source
        self.bytes_out = 0        # image file size, padding included
        self.duplicates = 0       # files stored once for an earlier twin
        self.fragments = 0
        self.micropython_unreadable = None    # why, if MicroPython cannot
        self.too_long_to_change = None  # why, if a device cannot change it
        self.inodes = 0

    def line(self):
        c = self.counts
        ratio = 100.0 * self.bytes_out / self.bytes_in if self.bytes_in else 0.0
        other = sum(c.get(k, 0) for k in (fmt.BLKDEV_TYPE, fmt.CHRDEV_TYPE,
                                          fmt.FIFO_TYPE, fmt.SOCKET_TYPE))
        return ("%d files, %d dirs, %d symlinks, %d special; %d bytes in, "
                "%d bytes out (%.1f%%); %d duplicates, %d fragment blocks"
                % (c.get(fmt.REG_TYPE, 0), c.get(fmt.DIR_TYPE, 0),
                   c.get(fmt.SYMLINK_TYPE, 0), other, self.bytes_in,
                   self.bytes_out, ratio, self.duplicates, self.fragments))


def write_order(root):
    """Nodes in the order their inodes are written (and numbered): each
    directory after everything below it, so its listing can name the
    children's inode references; the root comes last."""
    order = []
    seen = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded:
            stack.append((node, True))
            for _, child in reversed(node.entries()):
                if child.kind == fmt.DIR_TYPE:
                    stack.append((child, False))
            continue
        for _, child in node.entries():
            if child.kind != fmt.DIR_TYPE and id(child) not in seen:
                seen.add(id(child))
                order.append(child)
        order.append(node)
    return order


def next_data(fd, pos, size):
    """Offset of the first data at or after pos (size if only a hole
    follows); pos itself where the system cannot tell."""
    seek_data = getattr(os, "SEEK_DATA", None)
    if seek_data is None:
        return pos
    try:
        return os.lseek(fd, pos, seek_data)
    except OSError as e:
        return size if e.errno == errno.ENXIO else pos


def read_exactly(fd, pos, n, path):
    parts = []
    while n:
        got = os.pread(fd, n, pos)
        if not got:
            raise MkimageError("%s: file shrank while being read" % path)
        parts.append(got)
        pos += len(got)
        n -= len(got)
    return b"".join(parts) if len(parts) != 1 else parts[0]


class ImageWriter:
    """Writes one image of the tree to a seekable binary file."""

    def __init__(self, out, block_size=DEFAULT_BLOCK_SIZE, comp="gzip",
                 progress=None, raw_metadata=False):
        self.out = out
        self.raw_metadata = raw_metadata
        self.block_size = parse_block_size(block_size)
        self.block_log = self.block_size.bit_length() - 1
        self.compressor = Compressor(comp, self.block_log)
        self.progress = progress     # callable(files_done, files_total, bytes)
        self.summary = Summary()
        self.fragment_buf = bytearray()
        self.fragment_table = []     # (start, size word)
        self.by_content = {}         # (size, sha256) -> FileData
        self.zero_block = bytes(self.block_size)

    # -- data ---------------------------------------------------------------

    def _write_block(self, data):
        packed, compressed = self.compressor.pack(data, self.compressor.data_wbits)
        self.out.write(packed)
        return fmt.block_word(len(packed), compressed)

    def _add_fragment(self, tail):
        if len(self.fragment_buf) + len(tail) > self.block_size:
            self._flush_fragment()
        index, offset = len(self.fragment_table), len(self.fragment_buf)
        self.fragment_buf += tail
        return index, offset

    def _flush_fragment(self):
        if self.fragment_buf:
            start = self.out.tell()
            word = self._write_block(bytes(self.fragment_buf))
            self.fragment_table.append((start, word))
            self.fragment_buf = bytearray()

    def _write_file(self, node):
        """Stream one file: full blocks to the image (all-zero blocks become
        sparse, and holes are skipped unread), the tail to a fragment; an
        identical earlier file is reused and this copy's blocks truncated
        away."""
        fd = FileData()
        start = self.out.tell()
        digest = hashlib.sha256()
        tail = None
        bs = self.block_size
        src = os.open(node.source, os.O_RDONLY)
        try:
            fd.size = os.fstat(src).st_size
            data_at = next_data(src, 0, fd.size)
            pos = 0
            while pos < fd.size:
                n = min(bs, fd.size - pos)
                chunk = None              # None: the block lies in a hole
                if data_at < pos + n:
                    chunk = read_exactly(src, pos, n, node.source)
                    data_at = next_data(src, pos + n, fd.size)
                    if chunk.count(0) == n:
                        chunk = None
                # Zero blocks hash as a marker, so content decides twins
                # whether the zeros were a hole or written out.
                digest.update(b"Z" if chunk is None else b"D" + chunk)
                if n < bs:
                    tail = chunk
                elif chunk is None:
                    fd.blocks.append(0)
                    fd.sparse += n
                else:
                    fd.blocks.append(self._write_block(chunk))
                pos += n
        finally:
            os.close(src)
        self.summary.bytes_in += fd.size
        if not fd.size:
            return fd                     # nothing stored, nothing to share
        key = (fd.size, digest.digest())
        twin = self.by_content.get(key)
        if twin is not None:
            self.out.seek(start)
            self.out.truncate()
            self.summary.duplicates += 1
            return twin
        partial = fd.size % bs
        if partial and tail is None:
            fd.blocks.append(0)           # a zero tail costs nothing as sparse
            fd.sparse += partial
        elif partial:
            fd.fragment, fd.offset = self._add_fragment(tail)
        if any(fd.blocks):
            fd.start = start
        self.by_content[key] = fd
        return fd

    # -- inodes and directories ----------------------------------------------

    def _id_index(self, value):
        return self.ids[value]

    def _write_inode(self, node):
        self.summary.counts[node.kind] = self.summary.counts.get(node.kind, 0) + 1
        kind = node.kind
        body = b""
        if kind == fmt.REG_TYPE:
            d = node.data
            extended = (node.links > 1 or d.sparse or d.size > MAX_U32
                        or d.start > MAX_U32)
            words = struct.pack("<%dI" % len(d.blocks), *d.blocks)
            if extended:
                kind = fmt.LREG_TYPE
                body = fmt.encode(fmt.EXT_FILE, {
                    "start_block": d.start, "file_size": d.size,
                    "sparse": d.sparse, "nlink": node.links,
                    "fragment": d.fragment, "offset": d.offset,
                    "xattr": fmt.XATTR_NONE}) + words
            else:
                body = fmt.encode(fmt.BASIC_FILE, {
                    "start_block": d.start, "fragment": d.fragment,
                    "offset": d.offset, "file_size": d.size}) + words
        elif kind == fmt.DIR_TYPE:
            body, kind = self._dir_body(node)
        elif kind == fmt.SYMLINK_TYPE:
            body = fmt.encode(fmt.BASIC_SYMLINK, {
                "nlink": node.links, "symlink_size": len(node.target)}) + node.target
        elif kind in (fmt.BLKDEV_TYPE, fmt.CHRDEV_TYPE):
            body = fmt.encode(fmt.BASIC_DEV, {
                "nlink": node.links,
                "rdev": fmt.encode_rdev(node.major, node.minor)})
        else:
            body = fmt.encode(fmt.BASIC_IPC, {"nlink": node.links})
        header = fmt.encode(fmt.INODE_HEADER, {
            "inode_type": kind, "mode": node.mode,
            "uid": self._id_index(node.uid), "guid": self._id_index(node.gid),
            "mtime": node.mtime, "inode_number": node.number})
        node.ref = self.inodes.ref()
        self.inodes.append(header + body)

    def _plan_runs(self, entries, pos):
        """Cut a listing into runs.  A run ends at 256 entries, when the
        next child's inode sits in another metadata block or too far in
        number for the s16 delta, and when an entry would spill into the
        next directory metadata block (so each block gets a header an index
        entry can point at).  Returns runs [header position, inode block,
        base inode number, entries, block of the first entry] and the
        listing's end position."""
        runs = []
        run = None
        for name, child in entries:
            block, offset = child.ref
            size = fmt.DIR_ENTRY_SIZE + len(name)
            if (run is None or len(run[3]) == fmt.DIR_RUN_MAX
                    or block != run[1]
                    or not -32768 <= child.number - run[2] <= 32767
                    or (pos + size - 1) // fmt.METADATA_SIZE != run[4]):
                home = (pos + fmt.DIR_HEADER_SIZE) // fmt.METADATA_SIZE
                run = [pos, block, child.number, [], home]
                runs.append(run)
                pos += fmt.DIR_HEADER_SIZE
            run[3].append((name, child, offset))
            pos += size
        return runs, pos

    def _dir_body(self, node):
        dirs = self.dirs
        start = dirs.position()
        runs, end = self._plan_runs(node.entries(), start)
        for header_pos, block, base, items, _ in runs:
            assert dirs.position() == header_pos
            dirs.append(fmt.encode(fmt.DIR_HEADER, {
                "count": len(items) - 1, "start_block": block,
                "inode_number": base}))
            for name, child, offset in items:
                dirs.append(fmt.encode(fmt.DIR_ENTRY, {
                    "offset": offset, "inode_number": child.number - base,
                    "type": child.kind, "size": len(name) - 1}) + name)
        # Index: the first run of each further metadata block, so a lookup
        # can skip straight to the block that holds a name.
        index = b""
        count = 0
        last_block = start // fmt.METADATA_SIZE
        for header_pos, _, _, items, _ in runs[1:]:
            if header_pos // fmt.METADATA_SIZE == last_block:
                continue
            last_block = header_pos // fmt.METADATA_SIZE
            first = items[0][0]
            index += fmt.encode(fmt.DIR_INDEX, {
                "index": header_pos - start,
                "start_block": dirs.ref(header_pos)[0],
                "size": len(first) - 1}) + first
            count += 1
        block, offset = dirs.ref(start)
        file_size = end - start + fmt.DIR_SIZE_EXTRA
        parent = node.number_parent
        if count or file_size > 0xFFFF:
            return fmt.encode(fmt.EXT_DIR, {
                "nlink": node.links, "file_size": file_size,
                "start_block": block, "parent_inode": parent,
                "i_count": count, "offset": offset,
                "xattr": fmt.XATTR_NONE}) + index, fmt.LDIR_TYPE
        return fmt.encode(fmt.BASIC_DIR, {
            "start_block": block, "nlink": node.links, "file_size": file_size,
            "offset": offset, "parent_inode": parent}), fmt.DIR_TYPE

    # -- tables ---------------------------------------------------------------

    def _write_lookup_table(self, entries):
        """Metadata blocks of fixed-size entries, then the u64 array of
        their absolute positions; returns the array's position."""
        meta = MetadataWriter(self.compressor, self.raw_metadata)
        meta.append(entries)
        blocks = meta.finish()
        base = self.out.tell()
        self.out.write(blocks)
        pointers = meta.block_starts[:-1] if entries else []
        index_pos = self.out.tell()
        for p in pointers:
            self.out.write(fmt.encode(fmt.TABLE_POINTER, {"block": base + p}))
        return index_pos

    def _crc_since_superblock(self):
        """CRC-32 of the image written so far after the superblock (read
        back 1 MiB at a time); the stream is left at its end."""
        end = self.out.tell()
        self.out.seek(fmt.SUPERBLOCK_SIZE)
        left = end - fmt.SUPERBLOCK_SIZE
        crc = 0
        while left > 0:
            chunk = self.out.read(min(1 << 20, left))
            if not chunk:
                raise MkimageError("the image being written shrank")
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
        self.out.seek(end)
        return crc

    # -- the whole image ----------------------------------------------------

    def write(self, root, mkfs_time):
        order = write_order(root)
        if len(order) > MAX_U32 - 1:
            raise MkimageError("too many inodes")
        for node in order:
            node.links = 0
        for number, node in enumerate(order, 1):
            node.number = number
            if node.kind == fmt.DIR_TYPE:
                node.links = 2
                for _, child in node.entries():
                    if child.kind == fmt.DIR_TYPE:
                        node.links += 1
                        child.number_parent = number
                    else:
                        child.links += 1
        root.number_parent = len(order) + 1   # mksquashfs's convention
        self.out.seek(fmt.SUPERBLOCK_SIZE)
        self.out.truncate()
        options = self.compressor.options()
        if options is not None:
            # a raw metadata block right after the superblock
            self.out.write(struct.pack("<H", fmt.metadata_header(
                len(options), False)) + options)
        files = [n for n in order if n.kind == fmt.REG_TYPE]
        for done, node in enumerate(files, 1):
            node.data = self._write_file(node)
            if self.progress:
                self.progress(done, len(files), self.summary.bytes_in)
        self._flush_fragment()

        ids = sorted(set([n.uid for n in order] + [n.gid for n in order]))
        # one id entry more, the digest (squashfs_format, after ID_ENTRY):
        # what identity() hashes of a metadata block, its size and last 4
        # bytes, is a checksum of its content only for zlib (an xz stream
        # ends in the same footer bytes, a raw block in any 4 of its own)
        if len(ids) + 1 >= MAX_IDS:
            raise MkimageError("too many distinct uids/gids (%d; %d fit with "
                               "the image's digest entry)"
                               % (len(ids), MAX_IDS - 2))
        self.ids = dict((v, i) for i, v in enumerate(ids))
        self.inodes = MetadataWriter(self.compressor, self.raw_metadata)
        self.dirs = MetadataWriter(self.compressor, self.raw_metadata)
        for node in order:
            self._write_inode(node)

        sb = {"s_magic": fmt.MAGIC, "inodes": len(order),
              "mkfs_time": mkfs_time, "block_size": self.block_size,
              "fragments": len(self.fragment_table),
              "compression": self.compressor.id,
              "block_log": self.block_log,
              "no_ids": len(ids), "s_major": fmt.VERSION_MAJOR,
              "s_minor": fmt.VERSION_MINOR,
              "root_inode": fmt.inode_ref(*root.ref),
              "xattr_id_table_start": fmt.TABLE_ABSENT,
              "lookup_table_start": fmt.TABLE_ABSENT}
        sb["inode_table_start"] = self.out.tell()
        self.out.write(self.inodes.finish())
        sb["directory_table_start"] = self.out.tell()
        self.out.write(self.dirs.finish())
        # With no fragments the table is empty but still placed, as
        # mksquashfs does: readers bound the directory table by it.
        sb["fragment_table_start"] = self._write_lookup_table(b"".join(
            fmt.encode(fmt.FRAGMENT_ENTRY, {"start_block": s, "size": w,
                                            "unused": 0})
            for s, w in self.fragment_table))
        ids.append(self._crc_since_superblock())
        sb["no_ids"] = len(ids)
        sb["id_table_start"] = self._write_lookup_table(b"".join(
            fmt.encode(fmt.ID_ENTRY, {"id": v}) for v in ids))
        sb["bytes_used"] = self.out.tell()
        flags = fmt.FLAG_NO_XATTRS | fmt.FLAG_DUPLICATES | fmt.FLAG_ALWAYS_FRAGMENTS
        if self.compressor.name == "none":
            flags |= fmt.FLAG_NOI | fmt.FLAG_NOD | fmt.FLAG_NOF | fmt.FLAG_NOID
        elif self.raw_metadata:
            # as mksquashfs -noI -noId (its flags for metadata stored raw)
            flags |= fmt.FLAG_NOI | fmt.FLAG_NOID
        if options is not None:
            flags |= fmt.FLAG_COMPRESSOR_OPTIONS
        sb["flags"] = flags
        pad = -sb["bytes_used"] % fmt.PAD_MULTIPLE
        self.out.write(bytes(pad))
        self.out.seek(0)
        self.out.write(fmt.encode(fmt.SUPERBLOCK, sb))
        self.out.seek(0, 2)
        self.summary.bytes_out = self.out.tell()
        self.summary.fragments = len(self.fragment_table)
        self.summary.inodes = len(order)
        return self.summary


# --- the whole build -------------------------------------------------------

class Progress:
    """A one-line progress display on stderr, redrawn at most 5 times a
    second (the drawing never reaches the image)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.last = 0.0
        self.drawn = False

    def __call__(self, done, total, nbytes):
        now = time.monotonic()
        if done < total and now - self.last < 0.2:
            return
        self.last = now
        self.stream.write("\rmkimage: %d/%d files, %.1f MiB read "
                          % (done, total, nbytes / 1048576.0))
        self.stream.flush()
        self.drawn = True

    def end(self):
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def newest_mtime(root):
    return max(node.mtime for _, node in walk(root))


def build_image(src, out_path, block_size=DEFAULT_BLOCK_SIZE, comp="gzip",
                all_root=False, mtime=None, source_date_epoch=None,
                pseudo=(), excludes=(), progress=None, raw_metadata=False,
                utf8_names=False, changeable_paths=False):
    """Build OUT from SRC; returns a Summary, whose micropython_unreadable
    says why a board running MicroPython cannot read the image (a path or
    symlink target that is not UTF-8), or None, and too_long_to_change why
    a device cannot change what a path holds (it is longer than the
    overlay copies up), or None.  The image appears atomically
    (written beside OUT, then renamed), so a failed build leaves no half
    image behind.  pseudo: (name for messages, pseudo-file text) pairs.
    raw_metadata: store the metadata blocks uncompressed (a board JSON's
    "lower_metadata": "raw").  utf8_names: refuse a path or symlink
    target that is not UTF-8 (a board running MicroPython cannot list its
    directory, or read the link).  changeable_paths: refuse a path longer
    than the overlay copies up (an image for a board)."""
    block_size = parse_block_size(block_size)
    Compressor(comp, 12)                      # reject a bad name before work
    if os.path.isdir(out_path):
        raise MkimageError("cannot write %s: it is a directory" % out_path)
    ops = []
    for name, text in pseudo:
        ops += parse_pseudo(text, name)
    try:
        out_st = os.stat(out_path)
        old_out = (out_st.st_dev, out_st.st_ino)
    except OSError:
        old_out = None
    # an old OUT inside SRC is not part of the tree (as mksquashfs does)
    root = scan_tree(src, excludes, skip=old_out)
    if all_root:
        for _, node in walk(root):
            node.uid = node.gid = 0
    if mtime is not None:
        default_mtime = mtime
    elif source_date_epoch is not None:
        default_mtime = source_date_epoch
    else:
        default_mtime = root.mtime
    apply_pseudo(root, ops, default_mtime)
    unreadable = micropython_unreadable(root)
    if utf8_names and unreadable is not None:
        raise MkimageError(unreadable)
    too_long = too_long_to_change(root)
    if changeable_paths and too_long is not None:
        raise MkimageError(too_long)
    for _, node in walk(root):
        if mtime is not None:
            node.mtime = mtime
        elif source_date_epoch is not None and node.mtime > source_date_epoch:
            node.mtime = source_date_epoch   # clamp, as reproducible-builds asks
    if mtime is not None:
        mkfs_time = mtime
    elif source_date_epoch is not None:
        mkfs_time = source_date_epoch
    else:
        mkfs_time = newest_mtime(root)
    if os.path.exists(out_path) and not os.path.isfile(out_path) and \
            not os.path.isdir(out_path):
        # the rename below would replace a FIFO or device node itself
        raise MkimageError("cannot write %s: not a regular file (the image "
                           "is written beside it and renamed over it)"
                           % out_path)
    # written beside OUT (the file a symlink there names), renamed over
    # it, removed on a failure, Ctrl-C, SIGTERM or SIGHUP; read back for
    # the CRC (host_tools.outputs)
    with replacing(out_path, mode="w+b") as f:
        writer = ImageWriter(f, block_size, comp, progress, raw_metadata)
        summary = writer.write(root, mkfs_time)
    summary.micropython_unreadable = unreadable
    summary.too_long_to_change = too_long
    return summary
