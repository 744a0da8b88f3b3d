"""`ovl mkimage` against the reference tools: unsquashfs extracts and lists
our images exactly like the source tree, Linux mounts them, mksquashfs
agrees on pseudo-file semantics, and builds are reproducible."""

import hashlib
import os
import random
import shutil
import stat
import subprocess

import pytest

from conftest import ROOT  # noqa: F401  (puts firmware/ on sys.path)
from ovl import squashfs_format as fmt
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
from ovl import squashfs_walk
from host_tools.image import mkimage
from host_tools.image.extract import extract
from host_tools.image.tree import Node

IS_ROOT = os.geteuid() == 0
MTIME = 1700000000
CHUNK_BYTES = 256 * 1024    # extract writes (or skips) this much at a time


def need_tool(name):
    if not shutil.which(name):
        pytest.skip("%s is not installed (apt install squashfs-tools)" % name)


def write(path, data, mode=0o644, mtime=MTIME):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.utime(path, (mtime, mtime))


def make_source(top):
    """A tree with every case the builder must get right."""
    rng = random.Random(7)
    os.makedirs(top)
    write(top + "/hello", b"hello world\n")
    write(top + "/empty", b"")
    noise = rng.randbytes(1300 * 1024)          # incompressible: > 1 MiB block
    write(top + "/noise", noise)
    write(top + "/noise-copy", noise, 0o600)    # duplicate content
    text = b"".join(b"line %d of some compressible text\n" % i
                    for i in range(9000))
    write(top + "/text", text, 0o4755, mtime=0)  # setuid, mtime 0
    write(top + "/exact", rng.randbytes(256 * 1024))   # block-size multiple
    with open(top + "/sparse", "wb") as f:      # holes, data, hole at end
        f.seek(2 * 1024 * 1024 + 5)
        f.write(b"data in the middle")
        f.truncate(3 * 1024 * 1024 + 77)
    os.utime(top + "/sparse", (MTIME, MTIME))
    write(top + "/zeros-small", bytes(5000))
    os.makedirs(top + "/d/sub")
    write(top + "/d/hl", b"hard linked\n", 0o640)
    os.link(top + "/d/hl", top + "/hl2")
    os.link(top + "/d/hl", top + "/d/sub/hl3")
    os.symlink("../hello", top + "/d/rel-link")
    os.symlink("/etc/passwd", top + "/abs-link")
    os.symlink("does/not/exist", top + "/dangling")
    os.symlink("x" * 1000, top + "/long-link")
    os.mkdir(top + "/emptydir", 0o700)
    os.mkdir(top + "/sticky")
    os.chmod(top + "/sticky", 0o1777)
    os.mkfifo(top + "/fifo", 0o644)
    os.makedirs(top + "/big300")
    for i in range(300):
        write(top + "/big300/f%03d" % i, b"%d" % i)
    os.makedirs(top + "/big2100")
    for i in range(2100):
        # Longish names so the listing spans several metadata blocks.
        write(top + "/big2100/entry-with-a-longer-name-%05d" % i, b"")
    long_name = "n" * 255
    write(top + "/" + long_name, b"long name")
    os.makedirs(top + "/" + "D" * 255)
    deep = top + "/deep"
    for i in range(40):
        deep += "/l%d" % i
    os.makedirs(deep)
    write(deep + "/bottom", b"bottom")
    if IS_ROOT:
        os.chown(top + "/hello", 1000, 1001)
        os.chown(top + "/d", 65534, 65534)
        os.lchown(top + "/abs-link", 7, 8)
    for dirpath, dirnames, filenames in os.walk(top, topdown=False):
        for name in filenames:     # symlinks and the fifo were made "now"
            path = os.path.join(dirpath, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                os.utime(path, (MTIME, MTIME), follow_symlinks=False)
        for d in dirnames:
            os.utime(os.path.join(dirpath, d), (MTIME + 5, MTIME + 5),
                     follow_symlinks=False)
    os.utime(top, (MTIME + 9, MTIME + 9))


def snapshot(top):
    """Everything a faithful copy must keep, path -> attributes, plus the
    hard-link groups (paths sharing an inode)."""
    out = {}
    groups = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [""] + dirnames + filenames:
            path = os.path.join(dirpath, name) if name else dirpath
            if not name and dirpath != top:
                continue
            rel = os.path.relpath(path, top)
            st = os.lstat(path)
            kind = stat.S_IFMT(st.st_mode)
            extra = None
            if kind == stat.S_IFREG:
                with open(path, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
                if st.st_nlink > 1:
                    groups.setdefault(st.st_ino, set()).add(rel)
            elif kind == stat.S_IFLNK:
                extra = os.readlink(path)
            elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                extra = (os.major(st.st_rdev), os.minor(st.st_rdev))
            size = st.st_size if kind != stat.S_IFDIR else None
            nlink = st.st_nlink if kind != stat.S_IFDIR else None
            out[rel] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                        int(st.st_mtime), size, nlink, extra)
    return out, sorted(sorted(g) for g in groups.values())


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    top = str(tmp_path_factory.mktemp("mkimage") / "src")
    make_source(top)
    return top


def build(source, out, **kw):
    return mkimage.build_image(source, out, **kw)


def open_fs(path):
    return SquashFS(BytesSource(open(path, "rb")))


# "gzip-raw": gzip data, metadata stored raw (a board's "lower_metadata":
# "raw", docs/MKIMAGE.md "Raw metadata")
VARIANTS = [("4K", "gzip"), ("128K", "gzip"), ("1M", "gzip"),
            ("128K", "none"), ("4K", "none"), ("4K", "gzip-raw")]
OVL_EXTRACT_VARIANTS = [("4K", "gzip"), ("1M", "gzip"), ("128K", "none"),
                        ("4K", "gzip-raw")]


@pytest.mark.slow
@pytest.mark.parametrize("block_size,comp", VARIANTS)
def test_unsquashfs_and_ovl_extract_equal_source(source, tmp_path, block_size,
                                                 comp):
    need_tool("unsquashfs")
    image = str(tmp_path / "img.sqfs")
    raw = comp.endswith("-raw")
    summary = build(source, image, block_size=block_size,
                    comp=comp[:-4] if raw else comp, raw_metadata=raw)
    assert summary.duplicates == 1
    want = snapshot(source)
    out = str(tmp_path / "unsquashfs")
    proc = subprocess.run(["unsquashfs", "-no-progress", "-d", out, image],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert snapshot(out) == want
    if (block_size, comp) not in OVL_EXTRACT_VARIANTS:
        return                   # the pure-Python reader is the slow part
    mine = str(tmp_path / "ovl")
    extract(open_fs(image), mine, warn=lambda msg: None)
    assert snapshot(mine) == want
    # Holes stay holes on the way out.
    assert os.stat(mine + "/sparse").st_blocks * 512 <= CHUNK_BYTES


def listing(image):
    proc = subprocess.run(["unsquashfs", "-lln", "-d", "R", image],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = []
    for line in proc.stdout.splitlines():
        if not line.startswith(("d", "-", "l", "c", "b", "p", "s")):
            continue
        words = line.split(None, 5)
        if words[0].startswith("d"):
            words[2] = "DIRSIZE"     # listing encodings may differ in size
        lines.append(" ".join(words))
    return lines


def test_listing_matches_mksquashfs_with_pseudo_file(source, tmp_path):
    need_tool("mksquashfs")
    pseudo = tmp_path / "pseudo"
    pseudo.write_text(
        "# a router's /dev, made without root\n"
        "dev d 755 0 0\n"
        "dev/console c 600 0 0 5 1\n"
        "dev/sda b 660 0 6 8 0\n"
        "dev/initctl i 600 0 0 f\n"
        "dev/log i 666 0 0 s\n"
        '"dev/with space" s 777 0 0 ../hello\n'
        "dev/console-link L dev/console\n"
        "hello m 700 10 20\n"
        "d M 12345 750 1 2\n")
    ours = str(tmp_path / "ours.sqfs")
    ref = str(tmp_path / "ref.sqfs")
    build(source, ours, mtime=MTIME, pseudo=[("pseudo", pseudo.read_text())])
    proc = subprocess.run(["mksquashfs", source, ref, "-noappend", "-quiet",
                           "-no-progress", "-all-time", str(MTIME),
                           "-pf", str(pseudo)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mine = listing(ours)
    assert mine == listing(ref)
    assert any(line.startswith("crw------- 0/0 5, 1") for line in mine), mine
    assert any("dev/with space -> ../hello" in line for line in mine)


@pytest.mark.parametrize("raw_metadata", [False, True])
def test_linux_mount_equals_source(source, tmp_path, raw_metadata):
    if not IS_ROOT:
        pytest.skip("mounting a loop device needs root")
    image = str(tmp_path / "img.sqfs")
    build(source, image, block_size="4K", raw_metadata=raw_metadata,
          pseudo=[("p", "dev d 755 0 0\ndev/null c 666 0 0 1 3\n")])
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    proc = subprocess.run(["mount", "-t", "squashfs", "-o", "loop,ro", image,
                           mnt], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip("cannot loop-mount squashfs here: %s" % proc.stderr.strip())
    try:
        got, groups = snapshot(mnt)
        dev = got.pop("dev/null")
        got.pop("dev")
        assert dev[0] == stat.S_IFCHR and dev[-1] == (1, 3)
        assert (got, groups) == snapshot(source)
        # Lookups in the indexed 2100-entry directory go through the index.
        for i in (0, 777, 2099):
            assert os.path.exists(mnt + "/big2100/entry-with-a-longer-name-%05d"
                                  % i)
    finally:
        subprocess.run(["umount", mnt], check=True)


def dir_inode_info(fs, path):
    """(inode type, i_count) of the directory inode at `path`."""
    with open(fs, "rb") as f:
        data = f.read()
    sb = fmt.decode(fmt.SUPERBLOCK, data)
    reader = SquashFS(BytesSource(data))
    ref = reader.lookup(path).loc.ref
    # The image is uncompressed (--comp none): skip each 2-byte header.
    table = bytearray()
    pos = sb["inode_table_start"]
    starts = {}
    while pos < sb["directory_table_start"]:
        word = int.from_bytes(data[pos:pos + 2], "little")
        size, compressed = fmt.split_metadata_header(word)
        assert not compressed
        starts[pos - sb["inode_table_start"]] = len(table)
        table += data[pos + 2:pos + 2 + size]
        pos += 2 + size
    at = starts[ref >> 16] + (ref & 0xFFFF)
    head = fmt.decode(fmt.INODE_HEADER, table, at)
    if head["inode_type"] == fmt.LDIR_TYPE:
        body = fmt.decode(fmt.EXT_DIR, table, at + fmt.INODE_HEADER_SIZE)
        return head["inode_type"], body["i_count"]
    return head["inode_type"], 0


def test_large_directory_gets_index_and_reader_finds_every_name(source,
                                                                tmp_path):
    image = str(tmp_path / "img.sqfs")
    build(source, image, comp="none")
    kind, count = dir_inode_info(image, "/big2100")
    assert kind == fmt.LDIR_TYPE and count >= 5
    assert dir_inode_info(image, "/emptydir") == (fmt.DIR_TYPE, 0)
    fs = open_fs(image)
    names = os.listdir(source + "/big2100")
    for name in names[::97] + ["entry-with-a-longer-name-02099"]:
        assert fs.lookup("/big2100/" + name).name == name
    with pytest.raises(OSError):
        fs.lookup("/big2100/entry-with-a-longer-name-99999")
    assert [n for n, _ in fs.readdir(fs.lookup("/big2100"))] == sorted(names)
    subdirs = [n for n in os.listdir(source) if os.path.isdir(source + "/" + n)
               and not os.path.islink(source + "/" + n)]
    assert fs.lookup("/big300").nlink == 2
    assert fs.lookup("/").nlink == 2 + len(subdirs)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_reproducible_and_independent_of_source_location(source, tmp_path):
    a, b, c = (str(tmp_path / n) for n in ("a.sqfs", "b.sqfs", "c.sqfs"))
    build(source, a, block_size="4K", mtime=MTIME)
    build(source, b, block_size="4K", mtime=MTIME)
    copy = str(tmp_path / "copy")
    subprocess.run(["cp", "-a", source, copy], check=True)
    build(copy, c, block_size="4K", mtime=MTIME)
    assert sha256_file(a) == sha256_file(b) == sha256_file(c)
    fs = open_fs(a)
    assert fs.lookup("/text").mtime == MTIME
    assert fs.lookup("/hello").mtime == MTIME


def test_source_date_epoch_sets_image_time_and_clamps(source, tmp_path):
    image = str(tmp_path / "img.sqfs")
    sde = MTIME + 3
    build(source, image, source_date_epoch=sde)
    with open(image, "rb") as f:
        sb = fmt.decode(fmt.SUPERBLOCK, f.read(fmt.SUPERBLOCK_SIZE))
    assert sb["mkfs_time"] == sde
    fs = open_fs(image)
    assert fs.lookup("/text").mtime == 0          # older: kept
    assert fs.lookup("/hello").mtime == MTIME     # older: kept
    assert fs.lookup("/d").mtime == sde           # newer (MTIME+5): clamped
    assert fs.lookup("/").mtime == sde
    # Without either option the image time comes from the tree, not the clock.
    build(source, image)
    with open(image, "rb") as f:
        sb = fmt.decode(fmt.SUPERBLOCK, f.read(fmt.SUPERBLOCK_SIZE))
    assert sb["mkfs_time"] == MTIME + 9


def test_excludes_all_root_and_hard_link_nlink(source, tmp_path):
    image = str(tmp_path / "img.sqfs")
    build(source, image, all_root=True,
          excludes=["big2100", "d/sub/*", "noise*"])
    fs = open_fs(image)
    names = [n for n, _ in fs.readdir(fs.lookup("/"))]
    assert "big2100" not in names and "noise" not in names
    assert "noise-copy" not in names and "big300" in names
    assert [n for n, _ in fs.readdir(fs.lookup("/d/sub"))] == []
    hl = fs.lookup("/d/hl")
    assert hl.nlink == 2 and fs.lookup("/hl2").ino == hl.ino   # hl3 excluded
    assert all(e.uid == 0 and e.gid == 0 for _, e in squashfs_walk.walk(fs, "/"))


def test_size_is_close_to_mksquashfs(source, tmp_path):
    need_tool("mksquashfs")
    for bs in ("4K", "128K"):
        ours = str(tmp_path / "ours.sqfs")
        ref = str(tmp_path / "ref.sqfs")
        build(source, ours, block_size=bs)
        subprocess.run(["mksquashfs", source, ref, "-noappend", "-quiet",
                        "-no-progress", "-b", bs, "-no-xattrs"], check=True,
                       capture_output=True)
        ratio = os.path.getsize(ours) / os.path.getsize(ref)
        assert ratio < 1.05, (bs, ratio)


def test_file_over_4_gib_uses_extended_inode(tmp_path):
    """A sparse 5 GiB file: 64-bit size in an extended inode, holes skipped
    without reading them, data at the far end where the reader and Linux
    expect it."""
    src = tmp_path / "src"
    src.mkdir()
    big = str(src / "big")
    far = 5 * 1024 ** 3 + 123
    with open(big, "wb") as f:
        f.seek(far - 11)
        f.write(b"end of file")
    if os.stat(big).st_blocks * 512 > 1024 * 1024:
        pytest.skip("%s does not keep sparse files sparse" % tmp_path)
    image = str(tmp_path / "img.sqfs")
    summary = build(str(src), image)
    assert summary.bytes_out < 64 * 1024
    fs = open_fs(image)
    e = fs.lookup("/big")
    assert e.size == far
    assert fs.read(e, far - 20, 100) == bytes(9) + b"end of file"
    assert fs.read(e, 4 * 1024 ** 3, 16) == bytes(16)
    need_tool("unsquashfs")
    out = subprocess.run(["unsquashfs", "-lln", image], capture_output=True,
                         text=True).stdout
    assert " %d " % far in out
    if IS_ROOT:
        mnt = str(tmp_path / "mnt")
        os.mkdir(mnt)
        if subprocess.run(["mount", "-t", "squashfs", "-o", "loop,ro", image,
                           mnt]).returncode == 0:
            try:
                with open(mnt + "/big", "rb") as f:
                    f.seek(far - 11)
                    assert f.read() == b"end of file"
            finally:
                subprocess.run(["umount", mnt], check=True)


def test_directory_runs_obey_count_block_and_delta_limits():
    """Run cutting on synthetic children: inode numbers far apart (an
    s16 delta cannot reach), an inode metadata block change, and more than
    256 entries each start a new run header."""
    writer = mkimage.ImageWriter(None, "4K")
    entries = []
    for i in range(700):
        child = Node(fmt.REG_TYPE, 0o644)
        child.number = i + (40000 if i >= 300 else 0)
        child.ref = (0 if i < 100 else 8000, i % 50)
        entries.append((b"name%04d" % i, child))
    runs, end = writer._plan_runs(entries, 8000)
    firsts = [int(r[3][0][0][4:]) for r in runs]   # index of each run's head
    # 11 entries fill block 0; then a run per block, cut at 100 (inode
    # block), 300 (delta) and every 256 entries.
    assert firsts[:2] == [0, 11] and 100 in firsts and 300 in firsts
    assert len(runs) < 20
    for pos, block, base, items, home in runs:
        assert 1 <= len(items) <= fmt.DIR_RUN_MAX
        for name, child, offset in items:
            assert child.ref[0] == block
            assert -32768 <= child.number - base <= 32767
        # Every entry after the first ends in the block the first starts in.
        end = pos + fmt.DIR_HEADER_SIZE
        for i, (name, _, _) in enumerate(items):
            end += fmt.DIR_ENTRY_SIZE + len(name)
            if i == 0:
                assert (pos + fmt.DIR_HEADER_SIZE) // fmt.METADATA_SIZE == home
            else:
                assert (end - 1) // fmt.METADATA_SIZE == home
    starts = [r[0] for r in runs]
    assert starts == sorted(starts) and end > starts[-1]
    assert sum(len(r[3]) for r in runs) == 700
