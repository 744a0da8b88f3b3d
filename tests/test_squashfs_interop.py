"""Images made by mksquashfs read back identical to the tree they came from.

One source tree holds every kind of thing a real image contains (hard
links, symlinks, devices, fifos, sockets, sparse files, empty files and
dirs, directories of >256 and >2000 entries, 255-byte names, a deep chain,
odd modes, several owners, distinct mtimes); each option set of mksquashfs
is applied to it and the reader's view is compared field by field with
os.lstat of the source.  Other squashfs test modules import the helpers.
"""

import hashlib
import os
import random
import socket
import stat
import subprocess

import pytest

from ovl.flash import BytesSource
from ovl import squashfs
from ovl import squashfs_format as F
from ovl.squashfs import SquashFS
from ovl import squashfs_walk

MTIME_BASE = 1_600_000_000


def mksquashfs(src, out, *options):
    cmd = ["mksquashfs", src, out, "-noappend", "-quiet", "-no-progress",
           "-processors", "1"] + list(options)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    with open(out, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def build_small_tree(root, seed=1):
    """A small tree with one of everything (fast to image and to fuzz)."""
    rnd = random.Random(seed)
    os.makedirs(os.path.join(root, "dir", "sub"))
    os.makedirs(os.path.join(root, "empty_dir"))
    write(os.path.join(root, "hello"), b"hello world\n")
    write(os.path.join(root, "empty"), b"")
    write(os.path.join(root, "random"), rnd.randbytes(9000))
    write(os.path.join(root, "dir", "text"),
          b"".join(b"line %d of text\n" % i for i in range(700)))
    write(os.path.join(root, "dir", "sub", "tiny"), b"x")
    os.link(os.path.join(root, "hello"), os.path.join(root, "dir", "hello2"))
    os.symlink("../hello", os.path.join(root, "dir", "link"))
    os.symlink("/etc/absolute/target", os.path.join(root, "abs_link"))
    with open(os.path.join(root, "sparse"), "wb") as f:
        f.truncate(9000)
    os.mkfifo(os.path.join(root, "fifo"))
    os.mknod(os.path.join(root, "dir", "null"), 0o666 | stat.S_IFCHR,
             os.makedev(1, 3))
    for i in range(40):
        write(os.path.join(root, "dir", "f%02d" % i), b"%d" % i * (i * 7))
    settle_times(root)


def build_full_tree(root, seed=2):
    """Everything in the issue's list, with owners, modes and mtimes."""
    rnd = random.Random(seed)
    build_small_tree(root, seed)
    j = os.path.join
    # Sizes around block boundaries, multi-block files, compressible data.
    for size in (4095, 4096, 4097, 131072, 131073):
        write(j(root, "size_%d" % size), rnd.randbytes(size))
    write(j(root, "big_random"), rnd.randbytes(300_000))
    write(j(root, "big_text"), b"".join(b"%08d lorem ipsum dolor\n" % i
                                        for i in range(60_000)))
    # Sparse: hole in the middle, data then a sparse tail, all holes.
    with open(j(root, "sparse_middle"), "wb") as f:
        f.write(rnd.randbytes(5000))
        f.seek(300_000)
        f.write(b"end")
    with open(j(root, "sparse_tail"), "wb") as f:
        f.write(rnd.randbytes(10_000))
        f.truncate(1_200_000)
    with open(j(root, "sparse_big"), "wb") as f:
        f.truncate(2_100_000)
    # Hard links: three names, one inode.
    write(j(root, "hl_a"), b"shared by three names\n")
    os.link(j(root, "hl_a"), j(root, "hl_b"))
    os.link(j(root, "hl_a"), j(root, "dir", "hl_c"))
    # Symlinks, including a long target.
    os.symlink("t" * 3000, j(root, "long_link"))
    os.symlink("dir/sub/tiny", j(root, "rel_link"))
    # Devices, a socket.
    os.mknod(j(root, "blockdev"), 0o660 | stat.S_IFBLK, os.makedev(8, 1))
    os.mknod(j(root, "bigdev"), 0o600 | stat.S_IFCHR, os.makedev(259, 300000))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(j(root, "sock"))
    sock.close()
    # Large directories (>256 entries: extended dir; >2000: several index
    # entries), 255-byte names, non-ASCII names.
    os.makedirs(j(root, "d300"))
    for i in range(300):
        write(j(root, "d300", "entry_%04d" % i), b"%d" % i)
    os.makedirs(j(root, "d2100"))
    for i in range(2100):
        name = "n%05d_%s" % (i, "x" * (i % 37))
        open(j(root, "d2100", name), "w").close()
    write(j(root, "n" * 255), b"long name")
    write(j(root, "\u00e9t\u00e9"), b"summer")
    write(j(root, "\u65e5\u672c"), b"japan")
    # A deep chain.
    deep = root
    for i in range(40):
        deep = j(deep, "level%02d" % i)
    os.makedirs(deep)
    write(j(deep, "bottom"), b"deep")
    # Modes and owners.
    os.chmod(j(root, "hello"), 0o4755)
    os.chmod(j(root, "random"), 0o2711)
    os.chmod(j(root, "empty_dir"), 0o1777)
    os.chmod(j(root, "empty"), 0o600)
    os.chown(j(root, "random"), 1000, 1000)
    os.chown(j(root, "dir", "text"), 65534, 100)
    os.chown(j(root, "big_text"), 123456, 7)
    os.lchown(j(root, "rel_link"), 42, 43)
    settle_times(root)


def settle_times(root):
    """Give every node a distinct mtime, directories last (bottom-up)."""
    n = 0
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in sorted(filenames + dirnames):
            n += 1
            os.utime(os.path.join(dirpath, name), (MTIME_BASE, MTIME_BASE + n),
                     follow_symlinks=False)
        n += 1
        os.utime(dirpath, (MTIME_BASE, MTIME_BASE + n))


def source_view(root):
    """{path: (mode, uid, gid, mtime, size_or_None, nlink, rdev, payload)}
    where payload is the content hash, the link target, or None."""
    view = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [""] + dirnames + filenames:
            full = os.path.join(dirpath, name) if name else dirpath
            rel = "/" + os.path.relpath(full, root) if full != root else "/"
            st = os.lstat(full)
            size = st.st_size
            payload = None
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    payload = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                payload = os.readlink(full)
            elif stat.S_ISDIR(st.st_mode):
                size = None
            else:
                size = 0
            rdev = st.st_rdev if (stat.S_ISCHR(st.st_mode)
                                  or stat.S_ISBLK(st.st_mode)) else 0
            view[rel] = (st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime),
                         size, st.st_nlink, rdev, payload)
    return view


def image_view(fs, chunk=None):
    """The same view as source_view, read through the reader."""
    view = {}
    for path, e in squashfs_walk.walk(fs, "/"):
        size = e.size
        payload = None
        kind = stat.S_IFMT(e.mode)
        if kind == stat.S_IFREG:
            h = hashlib.sha256()
            if chunk:
                for off in range(0, e.size, chunk):
                    h.update(fs.read(e, off, chunk))
            else:
                data = fs.read(e, 0, e.size + 10)
                assert len(data) == e.size
                h.update(data)
            payload = h.hexdigest()
        elif kind == stat.S_IFLNK:
            payload = fs.readlink(e)
        elif kind == stat.S_IFDIR:
            size = None
        view[path] = (e.mode, e.uid, e.gid, e.mtime, size, e.nlink, e.rdev,
                      payload)
    return view


def open_image(data, **kw):
    return SquashFS(BytesSource(data), **kw)


@pytest.fixture(scope="module")
def full_tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("full") / "src")
    os.makedirs(root)
    build_full_tree(root)
    return root, source_view(root)


MATRIX = [
    ("4k", ["-b", "4096"]),
    ("128k", ["-b", "128K"]),
    ("1m", ["-b", "1M"]),
    ("uncompressed", ["-b", "4096", "-noI", "-noD", "-noF", "-noX"]),
    ("no_fragments", ["-b", "4096", "-no-fragments"]),
    ("always_fragments", ["-b", "4096", "-always-use-fragments"]),
    ("window12_noexport", ["-b", "4096", "-Xwindow-size", "12",
                           "-no-exports", "-no-xattrs"]),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,options", MATRIX, ids=[m[0] for m in MATRIX])
def test_image_matches_source(full_tree, tmp_path, name, options):
    root, expected = full_tree
    data = mksquashfs(root, str(tmp_path / "img"), *options)
    fs = open_image(data)
    got = image_view(fs, chunk=3000 if name == "4k" else None)
    assert sorted(got) == sorted(expected)
    for path in expected:
        assert got[path] == expected[path], path


def test_compressor_options_and_hard_link_inode(full_tree, tmp_path):
    root, _ = full_tree
    data = mksquashfs(root, str(tmp_path / "img"), "-b", "4096",
                      "-Xcompression-level", "1")
    fs = open_image(data)
    superblock = F.decode(F.SUPERBLOCK, data[:F.SUPERBLOCK_SIZE])
    assert superblock["flags"] & 0x0400       # options block present
    a, b, c = (fs.lookup(p) for p in ("/hl_a", "/hl_b", "/dir/hl_c"))
    assert a.ino == b.ino == c.ino and a.nlink == 3
    assert fs.read(c, 0, 100) == b"shared by three names\n"


def test_reads_at_every_boundary(full_tree, tmp_path):
    root, _ = full_tree
    data = mksquashfs(root, str(tmp_path / "img"), "-b", "4096")
    fs = open_image(data)
    for name in ("size_4097", "sparse_middle", "sparse_tail", "big_text"):
        with open(os.path.join(root, name), "rb") as f:
            want = f.read()
        e = fs.lookup("/" + name)
        for off, n in ((0, 1), (4095, 2), (4096, 4096), (len(want) - 1, 5),
                       (len(want), 3), (len(want) + 9, 1), (8191, 9000),
                       (5, 0), (300_000 - 7, 20)):
            assert fs.read(e, off, n) == want[off:off + n], (name, off, n)
        # Backwards after forwards: the block-list cursor must rewind.
        assert fs.read(e, 4096 * 2, 10) == want[8192:8202]
        assert fs.read(e, 1, 10) == want[1:11]


def test_lookup_errors_and_no_final_symlink_follow(full_tree, tmp_path):
    root, _ = full_tree
    fs = open_image(mksquashfs(root, str(tmp_path / "img"), "-b", "4096"))
    link = fs.lookup("/rel_link")
    assert stat.S_ISLNK(link.mode)
    for path, code in (("/nope", 2), ("/hello/x", 20), ("/rel_link/x", 20),
                       ("/dir/../hello", 2), ("relative", 2),
                       ("/d2100/zzz", 2), ("/d2100/n00000_x", 2)):
        with pytest.raises(OSError) as info:
            fs.lookup(path)
        assert info.value.errno == code, path
    with pytest.raises(OSError) as info:
        fs.read(fs.lookup("/dir"), 0, 1)
    assert info.value.errno == 21
    assert fs.lookup("//dir///sub/").name == "sub"
    assert fs.lookup("/").ino == fs.root.ino


class CountingSource(BytesSource):
    def __init__(self, data):
        BytesSource.__init__(self, data)
        self.reads = []

    def read(self, addr, n):
        self.reads.append((addr, n))
        return BytesSource.read(self, addr, n)


def test_large_directory_lookup_uses_index(full_tree, tmp_path):
    root, _ = full_tree
    data = mksquashfs(root, str(tmp_path / "img"), "-b", "4096")
    src = CountingSource(data)
    fs = SquashFS(src, cache_blocks=2)
    d = fs.lookup("/d2100")
    names = sorted(os.listdir(os.path.join(root, "d2100")))
    assert d.loc.index_count >= 5
    assert d.loc.listing_size > 6 * 8192     # a scan would read 7+ blocks
    dtab = fs.directory_table_start
    for name in (names[-1], names[1234], names[0]):
        fs._cache[:] = []
        src.reads.clear()
        assert fs.lookup("/d2100/" + name).name == name
        # blocks read whole (their bodies; the index's check reads the
        # 2-byte headers of the listing's blocks up to the one it jumps to)
        dir_blocks = {a for a, n in src.reads if a >= dtab and n > 2
                      and a < fs._dir_end}
        headers = [a for a, n in src.reads if a >= dtab and n == 2
                   and a < fs._dir_end]
        # The root listing, the block the index points into, and the next
        # one when the run crosses into it: never the whole listing.
        assert len(dir_blocks) <= 3, (name, len(dir_blocks))
        assert len(headers) <= d.loc.index_count + 3, (name, len(headers))
    assert list(squashfs_walk.listdir(fs, d)) == names


@pytest.mark.parametrize("comp", ["xz", "lzma"])
def test_xz_and_lzma_images_on_cpython(tmp_path, comp):
    root = str(tmp_path / "src")
    os.makedirs(root)
    build_small_tree(root)
    fs = open_image(mksquashfs(root, str(tmp_path / "img"), "-comp", comp,
                               "-b", "4096"))
    assert fs.compression == comp
    assert image_view(fs) == source_view(root)


@pytest.mark.parametrize("comp", ["lz4", "lzo", "zstd"])
def test_unsupported_compressor_is_named(tmp_path, comp):
    root = str(tmp_path / "src")
    os.makedirs(root)
    write(os.path.join(root, "f"), b"data")
    data = mksquashfs(root, str(tmp_path / "img"), "-comp", comp)
    with pytest.raises(squashfs.UnsupportedCompressorError) as info:
        open_image(data)
    assert comp in str(info.value)
    assert not isinstance(info.value, squashfs.CorruptImageError)


def test_xattrs_are_tolerated(tmp_path):
    root = str(tmp_path / "src")
    os.makedirs(root)
    build_small_tree(root)
    try:
        os.setxattr(os.path.join(root, "hello"), "user.colour", b"blue")
        os.setxattr(os.path.join(root, "dir"), "user.k", b"v" * 300)
    except OSError as e:
        pytest.skip("no user xattrs on this filesystem: %s" % e)
    settle_times(root)
    data = mksquashfs(root, str(tmp_path / "img"), "-b", "4096", "-xattrs")
    fs = open_image(data)
    superblock = F.decode(F.SUPERBLOCK, data[:F.SUPERBLOCK_SIZE])
    assert superblock["xattr_id_table_start"] != 0xFFFFFFFFFFFFFFFF
    with open(os.path.join(root, "hello"), "rb") as f:
        assert fs.read(fs.lookup("/hello"), 0, 1 << 20) == f.read()
    assert image_view(fs) == source_view(root)


def test_identity_tracks_the_image(tmp_path):
    root = str(tmp_path / "src")
    os.makedirs(root)
    build_small_tree(root)
    opts = ("-b", "4096", "-mkfs-time", "0")
    one = open_image(mksquashfs(root, str(tmp_path / "a"), *opts)).identity()
    again = open_image(mksquashfs(root, str(tmp_path / "b"), *opts)).identity()
    assert one == again
    write(os.path.join(root, "dir", "text"), b"different contents")
    settle_times(root)
    other = open_image(mksquashfs(root, str(tmp_path / "c"), *opts))
    assert other.identity() != one
