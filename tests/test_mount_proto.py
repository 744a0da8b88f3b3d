"""The FUSE protocol layer of `ovl mount` against a fake kernel: a
SOCK_SEQPACKET socketpair carries the same bytes /dev/fuse would (one
request per read, one reply per write), so every opcode ovl serves is
checked without a mount."""

import errno
import os
import socket
import struct
import threading

import pytest

from ovl.dirlower import DirLower
from ovl.store import LogStore
from ovl.overlay import mount
from ovl.paths import S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG
from ovl_sim.simflash import SimFlash
from host_tools.fuse import wire as w
from host_tools.fuse.server import FuseServer, serve, MAX_WRITE

O_RDONLY, O_WRONLY, O_RDWR, O_TRUNC = 0, 1, 2, 0o1000


class FakeKernel:
    """The kernel's side of the connection."""

    def __init__(self, server):
        self.server = server
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX,
                                                   socket.SOCK_SEQPACKET)
        self.ours.settimeout(10)
        self.thread = threading.Thread(
            target=serve, args=(server, self.theirs.fileno()), daemon=True)
        self.thread.start()
        self.unique = 0

    def send(self, opcode, nodeid=1, body=b"", uid=0, gid=0, reply=True):
        self.unique += 2
        msg = w.IN_HEADER.pack(w.IN_HEADER.size + len(body), opcode,
                               self.unique, nodeid, uid, gid, 4242, 0, 0)
        self.ours.send(msg + body)
        if not reply:
            return None
        raw = self.ours.recv(1 << 20)
        length, error, unique = w.OUT_HEADER.unpack_from(raw)
        assert length == len(raw) and unique == self.unique
        if error:
            assert length == w.OUT_HEADER.size     # errors carry no payload
            raise OSError(-error, os.strerror(-error))
        return raw[w.OUT_HEADER.size:]

    def init(self, minor=45, flags=0x73fffffb):
        body = struct.pack("=IIII", 7, minor, 131072, flags) + bytes(48)
        return self.send(w.INIT, body=body)

    def lookup(self, parent, name):
        out = self.send(w.LOOKUP, parent, name.encode() + b"\0")
        nodeid = struct.unpack_from("=Q", out)[0]
        return nodeid, w.unpack_attr(out[w.ENTRY_OUT.size:])

    def getattr(self, nodeid):
        out = self.send(w.GETATTR, nodeid, w.GETATTR_IN.pack(0, 0, 0))
        return w.unpack_attr(out[w.ATTR_OUT.size:])

    def open(self, nodeid, flags=O_RDONLY, op=w.OPEN):
        out = self.send(op, nodeid, w.OPEN_IN.pack(flags, 0))
        fh, open_flags, _ = w.OPEN_OUT.unpack(out)
        return fh, open_flags

    def read(self, nodeid, fh, offset, size, op=w.READ):
        return self.send(op, nodeid, w.READ_IN.pack(fh, offset, size, 0, 0,
                                                     0, 0))

    def write(self, nodeid, fh, offset, data):
        out = self.send(w.WRITE, nodeid,
                        w.WRITE_IN.pack(fh, offset, len(data), 0, 0, 0, 0)
                        + data)
        return w.WRITE_OUT.unpack(out)[0]

    def fh_op(self, op, nodeid, fh):
        fmt = {w.FLUSH: w.FLUSH_IN, w.RELEASE: w.RELEASE_IN,
               w.RELEASEDIR: w.RELEASE_IN}.get(op)
        body = fmt.pack(fh, 0, 0, 0) if fmt else w.FSYNC_IN.pack(fh, 0)
        return self.send(op, nodeid, body)

    def create(self, parent, name, mode=0o644, flags=O_RDWR):
        out = self.send(w.CREATE, parent,
                        w.CREATE_IN.pack(flags | 0o100, mode, 0o022, 0)
                        + name.encode() + b"\0", uid=1000, gid=100)
        nodeid = struct.unpack_from("=Q", out)[0]
        attr = w.unpack_attr(out[w.ENTRY_OUT.size:])
        fh = w.OPEN_OUT.unpack_from(out, w.ENTRY_OUT.size + w.ATTR.size)[0]
        return nodeid, attr, fh

    def readdir_all(self, nodeid, fh, size=4096, offset=0):
        """[(name, ino, type, next offset)] read in replies of `size`."""
        out = []
        while True:
            raw = self.read(nodeid, fh, offset, size, op=w.READDIR)
            if not raw:
                return out
            pos = 0
            while pos < len(raw):
                ino, off, namelen, kind = w.DIRENT.unpack_from(raw, pos)
                name = raw[pos + 24:pos + 24 + namelen].decode()
                out.append((name, ino, kind, off))
                pos += (24 + namelen + 7) & ~7
                offset = off

    def close(self):
        self.ours.close()
        self.thread.join(10)
        assert not self.thread.is_alive()
        self.theirs.close()


@pytest.fixture
def lower_dir(tmp_path):
    root = tmp_path / "lower"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "config").write_bytes(b"option=1\n")
    (root / "big").write_bytes(bytes(range(256)) * 1024)
    os.link(root / "big", root / "big2")
    os.symlink("etc/config", root / "cfg")
    for i in range(40):
        (root / "etc" / ("f%02d" % i)).write_bytes(b"x" * i)
    return str(root)


@pytest.fixture
def kernel(lower_dir):
    flash = SimFlash(1 << 20, 4096, 256)
    LogStore.format(flash)
    ovl = mount(DirLower(lower_dir), flash)
    k = FakeKernel(FuseServer(ovl))
    k.flash = flash
    k.lower = lower_dir
    k.init()
    yield k
    k.close()


def committed(k):
    """The overlay as a power cut now would leave it (the chip's bytes)."""
    chip = SimFlash(1 << 20, 4096, 256)
    chip.mem[:] = k.flash.mem
    return mount(DirLower(k.lower), chip)


def test_init_negotiates_only_what_ovl_implements(lower_dir):
    flash = SimFlash(1 << 20, 4096, 256)
    LogStore.format(flash)
    k = FakeKernel(FuseServer(mount(DirLower(lower_dir), flash)))
    try:
        with pytest.raises(OSError) as e:       # nothing before INIT
            k.send(w.GETATTR, 1, w.GETATTR_IN.pack(0, 0, 0))
        assert e.value.errno == errno.EIO
        out = k.init(flags=w.INIT_BIG_WRITES | w.INIT_DO_READDIRPLUS |
                     (1 << 16))                      # + WRITEBACK_CACHE
        major, minor, readahead, flags = struct.unpack_from("=IIII", out)
        max_write, = struct.unpack_from("=I", out, 20)
        time_gran, = struct.unpack_from("=I", out, 24)
        assert len(out) == 64
        assert (major, minor, readahead) == (7, w.KERNEL_MINOR, 131072)
        # what ovl implements, and never more than the kernel offered
        assert flags == w.INIT_BIG_WRITES | w.INIT_DO_READDIRPLUS
        assert max_write == MAX_WRITE and time_gran == 10 ** 9
    finally:
        k.close()


def test_a_newer_major_gets_our_version_only(lower_dir):
    k = FakeKernel(FuseServer(mount(DirLower(lower_dir), _formatted())))
    try:
        out = k.send(w.INIT, body=struct.pack("=IIII", 8, 0, 0, 0))
        assert struct.unpack("=II", out) == (7, w.KERNEL_MINOR)
    finally:
        k.close()


def _formatted():
    flash = SimFlash(1 << 20, 4096, 256)
    LogStore.format(flash)
    return flash


def test_lookup_getattr_read_and_errors(kernel):
    etc, attr = kernel.lookup(1, "etc")
    assert attr["mode"] & S_IFMT == S_IFDIR
    cfg, attr = kernel.lookup(etc, "config")
    assert attr["size"] == 9 and attr["ino"] == os.lstat(
        kernel.lower + "/etc/config").st_ino
    fh, flags = kernel.open(cfg)
    assert flags & w.FOPEN_KEEP_CACHE
    assert kernel.read(cfg, fh, 0, 4096) == b"option=1\n"
    assert kernel.read(cfg, fh, 7, 4096) == b"1\n"
    kernel.fh_op(w.RELEASE, cfg, fh)
    nodeid, _ = kernel.lookup(etc, "nope")      # a miss the kernel caches
    assert nodeid == 0
    link, attr = kernel.lookup(1, "cfg")
    assert attr["mode"] & S_IFMT == S_IFLNK and attr["size"] == 10
    assert kernel.send(w.READLINK, link) == b"etc/config"
    with pytest.raises(OSError) as e:
        kernel.send(99, 1)
    assert e.value.errno == errno.ENOSYS


def test_xattrs_answer_enosys_so_the_kernel_says_eopnotsupp(kernel):
    for op in (w.GETXATTR, w.LISTXATTR, w.SETXATTR, w.REMOVEXATTR):
        with pytest.raises(OSError) as e:
            kernel.send(op, 1, struct.pack("=II", 0, 0) + b"user.x\0")
        assert e.value.errno == errno.ENOSYS


def test_forget_gets_no_reply(kernel):
    etc, _ = kernel.lookup(1, "etc")
    kernel.send(w.FORGET, etc, w.FORGET_IN.pack(1), reply=False)
    kernel.send(w.BATCH_FORGET, 0, w.BATCH_FORGET_IN.pack(1, 0) +
                w.FORGET_ONE.pack(etc, 5), reply=False)
    # the next reply answers the next request, not the forgets
    etc2, _ = kernel.lookup(1, "etc")
    assert etc2 != etc          # forgotten: a new node id
    assert kernel.getattr(etc2)["mode"] & S_IFMT == S_IFDIR


def test_readdir_cookies_survive_changes_to_the_directory(kernel):
    etc, _ = kernel.lookup(1, "etc")
    fh, _ = kernel.open(etc, op=w.OPENDIR)
    first = kernel.read(etc, fh, 0, 200, op=w.READDIR)
    assert first
    # change the directory between two reads of one listing
    nodeid, _, cfh = kernel.create(etc, "aaa-new")
    kernel.fh_op(w.RELEASE, nodeid, cfh)
    kernel.send(w.UNLINK, etc, b"f00\0")
    names = [e[0] for e in kernel.readdir_all(etc, fh, size=200)]
    assert names == [".", ".."] + ["config"] + ["f%02d" % i
                                                for i in range(40)]
    assert all(e[3] > 0 for e in kernel.readdir_all(etc, fh))
    kernel.fh_op(w.RELEASEDIR, etc, fh)
    fh, _ = kernel.open(etc, op=w.OPENDIR)
    names = [e[0] for e in kernel.readdir_all(etc, fh, size=100)]
    assert "aaa-new" in names and "f00" not in names


def test_writes_commit_at_flush_whole_and_in_order(kernel):
    nodeid, attr, fh = kernel.create(1, "new", mode=0o640)
    assert (attr["uid"], attr["gid"], attr["mode"]) == (1000, 100,
                                                         S_IFREG | 0o640)
    assert kernel.write(nodeid, fh, 0, b"hello ") == 6
    assert kernel.write(nodeid, fh, 6, b"world") == 5
    # written, not committed: a power cut now keeps the empty file
    assert committed(kernel).read_bytes("/new") == b""
    kernel.fh_op(w.FLUSH, nodeid, fh)
    assert committed(kernel).read_bytes("/new") == b"hello world"
    kernel.fh_op(w.RELEASE, nodeid, fh)
    # O_TRUNC rewrite: old or new content, never nothing
    fh, _ = kernel.open(nodeid, O_WRONLY | O_TRUNC)
    kernel.write(nodeid, fh, 0, b"v2")
    assert committed(kernel).read_bytes("/new") == b"hello world"
    kernel.fh_op(w.FSYNC, nodeid, fh)
    assert committed(kernel).read_bytes("/new") == b"v2"
    kernel.fh_op(w.RELEASE, nodeid, fh)


def test_writes_past_the_write_buffer_stay_one_transaction(lower_dir):
    # README: what a handle writes between two commit points commits as
    # one transaction whatever its size; past write_buffer the overlay
    # streams it as provisional nodes (before, the server committed at
    # the overflow, and a cut mid-copy kept a 4 MiB prefix of a new file)
    flash = _formatted()
    ovl = mount(DirLower(lower_dir), flash)
    k = FakeKernel(FuseServer(ovl, write_buffer=MAX_WRITE))
    k.flash, k.lower = flash, lower_dir
    try:
        k.init()
        nodeid, _, fh = k.create(1, "f")
        chunk = b"a" * (MAX_WRITE * 3 // 4)
        for i in range(4):
            k.write(nodeid, fh, i * len(chunk), chunk)
        assert committed(k).read_bytes("/f") == b""    # the name alone
        k.fh_op(w.RELEASE, nodeid, fh)
        assert committed(k).read_bytes("/f") == chunk * 4
    finally:
        k.close()


def test_st_ino_and_node_stay_through_copy_up_and_links(kernel):
    big, attr = kernel.lookup(1, "big")
    big2, attr2 = kernel.lookup(1, "big2")
    assert big == big2 and attr["ino"] == attr2["ino"] and attr["nlink"] == 2
    fh, _ = kernel.open(big, O_RDWR)
    kernel.write(big, fh, 0, b"XY")
    kernel.fh_op(w.RELEASE, big, fh)
    again, attr3 = kernel.lookup(1, "big2")
    assert again == big and attr3["ino"] == attr["ino"]
    fh, _ = kernel.open(big2, O_RDONLY)
    assert kernel.read(big2, fh, 0, 4) == b"XY\x02\x03"
    out = kernel.send(w.LINK, 1, w.LINK_IN.pack(big) + b"big3\0")
    assert struct.unpack_from("=Q", out)[0] == big
    assert w.unpack_attr(out[w.ENTRY_OUT.size:])["nlink"] == 3
    kernel.send(w.UNLINK, 1, b"big\0")
    assert kernel.getattr(big)["nlink"] == 2     # other names still work


def test_a_reader_of_the_lower_sees_a_later_copy_up(kernel):
    cfg, _ = kernel.lookup(1, "cfg")
    etc, _ = kernel.lookup(1, "etc")
    node, _ = kernel.lookup(etc, "config")
    rfh, _ = kernel.open(node, O_RDONLY)
    wfh, _ = kernel.open(node, O_RDWR)
    kernel.write(node, wfh, 0, b"OPTION")
    kernel.fh_op(w.FLUSH, node, wfh)
    assert kernel.read(node, rfh, 0, 100) == b"OPTION=1\n"


def test_rename_flags(kernel):
    etc, _ = kernel.lookup(1, "etc")
    body = w.RENAME2_IN.pack(1, w.RENAME_NOREPLACE, 0) + b"config\0big\0"
    with pytest.raises(OSError) as e:
        kernel.send(w.RENAME2, etc, body)
    assert e.value.errno == errno.EEXIST
    body = w.RENAME2_IN.pack(1, w.RENAME_EXCHANGE, 0) + b"config\0big\0"
    with pytest.raises(OSError) as e:
        kernel.send(w.RENAME2, etc, body)
    assert e.value.errno == errno.EINVAL
    body = w.RENAME2_IN.pack(1, w.RENAME_NOREPLACE, 0) + b"config\0moved\0"
    kernel.send(w.RENAME2, etc, body)
    node, attr = kernel.lookup(1, "moved")
    assert attr["size"] == 9
    # a renamed directory moves the paths of nodes below it
    f05, _ = kernel.lookup(etc, "f05")
    kernel.send(w.RENAME, 1, w.RENAME_IN.pack(1) + b"etc\0etc2\0")
    assert kernel.getattr(f05)["size"] == 5
    fh, _ = kernel.open(f05)
    assert kernel.read(f05, fh, 0, 10) == b"xxxxx"


def test_setattr_mknod_mkdir_symlink_statfs(kernel):
    big, _ = kernel.lookup(1, "big")
    valid = w.FATTR_MODE | w.FATTR_SIZE | w.FATTR_MTIME
    body = w.SETATTR_IN.pack(valid, 0, 0, 100, 0, 0, 1234567890, 0, 0, 0, 0,
                             0o600, 0, 0, 0, 0)
    out = kernel.send(w.SETATTR, big, body)
    attr = w.unpack_attr(out[w.ATTR_OUT.size:])
    assert (attr["mode"], attr["size"], attr["mtime"]) == (
        S_IFREG | 0o600, 100, 1234567890)
    out = kernel.send(w.MKNOD, 1, w.MKNOD_IN.pack(S_IFCHR | 0o644,
                                                  (1 << 8) | 3, 0, 0)
                      + b"null\0")
    attr = w.unpack_attr(out[w.ENTRY_OUT.size:])
    assert attr["mode"] == S_IFCHR | 0o644 and attr["rdev"] == 259
    out = kernel.send(w.MKDIR, 1, w.MKDIR_IN.pack(0o750, 0) + b"d\0",
                      uid=7, gid=8)
    attr = w.unpack_attr(out[w.ENTRY_OUT.size:])
    assert (attr["mode"], attr["uid"], attr["gid"]) == (S_IFDIR | 0o750, 7, 8)
    out = kernel.send(w.SYMLINK, 1, b"sl\0/etc/config\0")
    attr = w.unpack_attr(out[w.ENTRY_OUT.size:])
    assert attr["mode"] & S_IFMT == S_IFLNK and attr["size"] == 11
    blocks, bfree, bavail, files, ffree, bsize, namelen, frsize = \
        w.STATFS_OUT.unpack(kernel.send(w.STATFS, 1))
    st = kernel.server.ovl.statvfs("/")
    assert (bsize, frsize, blocks, bfree, bavail, namelen) == (
        st[0], st[1], st[2], st[3], st[4], st[9])
    assert 0 < bfree < blocks


def test_unmount_commits_what_is_pending(lower_dir):
    flash = _formatted()
    k = FakeKernel(FuseServer(mount(DirLower(lower_dir), flash)))
    k.flash, k.lower = flash, lower_dir
    k.init()
    nodeid, _, fh = k.create(1, "pending")
    k.write(nodeid, fh, 0, b"data")
    assert committed(k).read_bytes("/pending") == b""
    k.close()                   # the kernel side hangs up: ENODEV's twin
    assert committed(k).read_bytes("/pending") == b"data"


def test_a_file_removed_while_open_lives_until_its_last_close(kernel):
    nodeid, _, fh = kernel.create(1, "tmp")
    kernel.write(nodeid, fh, 0, b"scratch")
    kernel.fh_op(w.FLUSH, nodeid, fh)
    kernel.send(w.UNLINK, 1, b"tmp\0")
    assert kernel.lookup(1, "tmp")[0] == 0
    # still readable, writable and stat-able through the open handle
    kernel.write(nodeid, fh, 7, b"!")
    assert kernel.read(nodeid, fh, 0, 100) == b"scratch!"
    assert kernel.getattr(nodeid)["size"] == 8
    # no name left: the hidden one counts no link (the kernel's fstat: 0)
    assert kernel.getattr(nodeid)["nlink"] == 0
    # the hidden name is nobody's business
    root, _ = kernel.open(1, op=w.OPENDIR)
    names = [e[0] for e in kernel.readdir_all(1, root)]
    assert ".ovl-orphans" not in names and "tmp" not in names
    with pytest.raises(OSError) as e:
        kernel.lookup(1, ".ovl-orphans")
    assert e.value.errno == errno.EPERM
    # a power cut now leaves the orphan; the next server removes it
    leftover = committed(kernel)
    assert leftover.listdir("/.ovl-orphans") == ["1"]
    FuseServer(leftover)
    assert not leftover.exists("/.ovl-orphans")
    kernel.fh_op(w.RELEASE, nodeid, fh)
    assert not kernel.server.ovl.exists("/.ovl-orphans")
    # replaced by a rename while open: the same
    a, _, afh = kernel.create(1, "a")
    kernel.write(a, afh, 0, b"old")
    kernel.fh_op(w.FLUSH, a, afh)
    b, _, bfh = kernel.create(1, "b")
    kernel.fh_op(w.RELEASE, b, bfh)
    kernel.send(w.RENAME, 1, w.RENAME_IN.pack(1) + b"b\0a\0")
    assert kernel.read(a, afh, 0, 10) == b"old"
    kernel.fh_op(w.RELEASE, a, afh)
    assert not kernel.server.ovl.exists("/.ovl-orphans")
    assert kernel.server.ovl.listdir("/").count("a") == 1


def test_setattr_to_the_current_owner_and_mode_stores_nothing(kernel):
    nodeid, attr, fh = kernel.create(1, "f", mode=0o644)
    kernel.fh_op(w.RELEASE, nodeid, fh)
    before = bytes(kernel.flash.mem)
    body = w.SETATTR_IN.pack(w.FATTR_MODE | w.FATTR_UID | w.FATTR_GID, 0, 0,
                             0, 0, 0, 0, 0, 0, 0, 0, 0o644, 0, 1000, 100, 0)
    out = kernel.send(w.SETATTR, nodeid, body)
    assert w.unpack_attr(out[w.ATTR_OUT.size:])["uid"] == 1000
    assert bytes(kernel.flash.mem) == before
    body = w.SETATTR_IN.pack(w.FATTR_UID, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                             0, 0, 100, 0)
    out = kernel.send(w.SETATTR, nodeid, body)
    attr = w.unpack_attr(out[w.ATTR_OUT.size:])
    assert (attr["uid"], attr["gid"]) == (0, 100)
    assert bytes(kernel.flash.mem) != before


def test_readdirplus_answers_lookups_and_counts_them(kernel):
    etc, _ = kernel.lookup(1, "etc")
    fh, _ = kernel.open(etc, op=w.OPENDIR)
    raw = kernel.read(etc, fh, 0, 1200, op=w.READDIRPLUS)
    entries, pos = [], 0
    while pos < len(raw):
        nodeid = struct.unpack_from("=Q", raw, pos)[0]
        attr = w.unpack_attr(raw[pos + w.ENTRY_OUT.size:])
        ino, off, namelen, kind = w.DIRENT.unpack_from(raw, pos + 128)
        name = raw[pos + 152:pos + 152 + namelen].decode()
        entries.append((name, nodeid, attr, off))
        pos += (152 + namelen + 7) & ~7
    assert len(raw) <= 1200 and [e[0] for e in entries[:3]] == \
        [".", "..", "config"]
    assert entries[0][1] == entries[1][1] == 0       # . and ..: no lookup
    config = entries[2]
    assert config[1] != 0 and config[2]["size"] == 9
    # the same node a LOOKUP gives, and it counts: two FORGETs to drop it
    node, _ = kernel.lookup(etc, "config")
    assert node == config[1]
    kernel.send(w.FORGET, node, w.FORGET_IN.pack(1), reply=False)
    assert kernel.lookup(etc, "config")[0] == node
    kernel.send(w.FORGET, node, w.FORGET_IN.pack(2), reply=False)
    assert kernel.lookup(etc, "config")[0] != node
    # resuming at the last cookie continues where the reply stopped
    rest = kernel.read(etc, fh, entries[-1][3], 100000, op=w.READDIRPLUS)
    namelen = w.DIRENT.unpack_from(rest, 128)[2]
    assert rest[152:152 + namelen].decode() == "f%02d" % (len(entries) - 3)


def test_read_only_requests_commit_no_other_handles_writes(kernel):
    # README "Power cuts": what a handle writes before a commit point of
    # its own commits whole or not at all.  Before, any process's stat
    # (LOOKUP, GETATTR: Overlay.lstat), ls (OPENDIR: ilistdir) or cat
    # (OPEN: open) committed every open file, and a cut then kept a prefix
    nodeid, _, fh = kernel.create(1, "new.bin")
    kernel.write(nodeid, fh, 0, b"A" * 5000)
    etc, _ = kernel.lookup(1, "etc")
    config, _ = kernel.lookup(etc, "config")
    kernel.getattr(config)
    dfh, _ = kernel.open(1, op=w.OPENDIR)
    kernel.read(1, dfh, 0, 4096, op=w.READDIRPLUS)
    kernel.fh_op(w.RELEASEDIR, 1, dfh)
    rfh, _ = kernel.open(config, O_RDONLY)
    assert kernel.read(config, rfh, 0, 100) == b"option=1\n"
    kernel.fh_op(w.RELEASE, config, rfh)
    # the writing file as its writer sees it: its pending size and a
    # time no older than its last write; and another handle reads the
    # written bytes (through the open transaction: no commit either)
    attr = kernel.getattr(nodeid)
    assert attr["size"] == 5000
    assert kernel.lookup(1, "new.bin")[1]["size"] == 5000
    other, _ = kernel.open(nodeid, O_RDONLY)
    assert kernel.read(nodeid, other, 4990, 100) == b"A" * 10
    kernel.fh_op(w.RELEASE, nodeid, other)
    assert committed(kernel).read_bytes("/new.bin") == b""
    kernel.fh_op(w.FLUSH, nodeid, fh)
    assert committed(kernel).read_bytes("/new.bin") == b"A" * 5000
    kernel.fh_op(w.RELEASE, nodeid, fh)
