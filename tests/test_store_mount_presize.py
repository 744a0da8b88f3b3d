"""The mount lays the index out before its second pass (ovl.store.mount
_presize, docs/STORE.md "Mount"): the entry rows for the dirent nodes
the first pass counted, the entry index at the size they take, the inode
pages for the inode and delete nodes, allocated one after another before
pass 2's transients come and go, so the index is not left scattered
between the holes they leave; what stays unused is given back at the
end (of _settle_mount)."""

import json

from ovl.store import LogStore, ROOT_INO
from ovl.store import mount as mount_module
from ovl.store.index import ROWS, PAGE
from ovl_sim.simflash import SimFlash


def test_a_remount_leaves_the_index_in_one_piece(mpy, tmp_path):
    # MicroPython's id() is the address: with the layout, each table's
    # chunks are one run; grown insert by insert (as before) they were
    # 12 runs of 13 chunks each
    got = {}
    for presize in ("1", "0"):
        chip = tmp_path / ("chip%s.bin" % presize)
        chip.write_bytes(b"\xff" * (1 << 20))
        out = mpy.run_file("store_mount_layout.py",
                           args=[str(chip), presize], heap="1M", timeout=300)
        got[presize] = json.loads(out.strip().splitlines()[-1])
    print(got)
    laid, grown = got["1"], got["0"]
    assert laid["rows"] == grown["rows"] == 403, got
    assert laid["entry_chunks"] == -(-403 // ROWS), got
    assert laid["inode_pages"] == grown["inode_pages"] == -(-404 // PAGE)
    assert laid["entry_runs"] == 1 and laid["inode_runs"] == 1, got
    assert grown["entry_runs"] > 4 and grown["inode_runs"] > 4, got


def churned_store():
    """A store whose log holds far more dirent and inode nodes than live
    rows: 300 files made, 280 of them unlinked and deleted (the first
    pass counts them all)."""
    f = SimFlash(512 * 1024, 4096, 256)
    s = LogStore.format(f)
    s.checkpoints = False
    names = []
    for i in range(300):
        t = s.begin()
        ino = t.new_ino()
        t.put_inode(ino, mode=0o100644, mtime=i, ctime=i)
        t.link(ROOT_INO, "f%d" % i, ino)
        t.commit()
        names.append((ino, "f%d" % i))
    for ino, name in names[:280]:
        t = s.begin()
        t.unlink(ROOT_INO, name)
        t.delete_inode(ino)
        t.commit()
    s.sync()
    return f, names


def tree(s):
    return sorted(s.listdir(ROOT_INO)), sorted(ino for ino in s.inodes)


def test_what_the_layout_did_not_use_is_given_back():
    f, names = churned_store()
    s = LogStore.mount(f, checkpoints=False)
    ents, inodes = s.entries, s.inodes
    assert len(ents.chunks) == -(-ents.n // ROWS)
    # the index sized for the live rows, not the 600 dirent nodes counted
    assert ents.mask + 1 <= max(32, 4 * ents.n), (ents.mask, ents.n)
    assert 4 * ents.count <= 3 * (ents.mask + 1)
    for p, slot in inodes.pages.items():
        page = inodes.chunks[slot]
        assert any(page[2 * j + 1] for j in range(PAGE)), p
    assert inodes.chunks[-1] is not None
    assert inodes.holes == sum(c is None for c in inodes.chunks)
    assert inodes.n == len(inodes.chunks) * PAGE
    for ino, name in names[280:]:
        assert s.lookup(ROOT_INO, name) == ino
    assert s.lookup(ROOT_INO, names[0][1]) is None
    assert not s.fsck()["errors"]
    # and the same index as a mount that grows it insert by insert
    saved = mount_module._presize
    try:
        mount_module._presize = lambda *args: None
        plain = LogStore.mount(f, checkpoints=False)
    finally:
        mount_module._presize = saved
    assert tree(plain) == tree(s)
    assert plain.entries.count == ents.count


def test_a_layout_short_of_memory_leaves_the_tables_as_they_were():
    # a MemoryError at each of the layout's allocations in turn: the
    # tables are untouched, and the mount goes on growing them as before
    f, names = churned_store()
    want = tree(LogStore.mount(f, checkpoints=False))
    real = mount_module.array
    calls = [0, -1]         # arrays made, the one that fails

    def short(code, init):
        calls[0] += 1
        if calls[0] == calls[1]:
            raise MemoryError("test")
        return real(code, init)

    saved = mount_module._presize
    seen = []

    def presize(s, *counts):
        before = (s.entries.chunks, s.entries.slots, s.entries.mask,
                  s.inodes.chunks, s.inodes.pages, s.inodes.n)
        state = [list(x) if isinstance(x, list) else x for x in before]
        calls[0] = 0
        mount_module.array = short
        try:
            saved(s, *counts)
        finally:
            mount_module.array = real
        seen.append(calls[0])
        if calls[0] < calls[1]:
            return              # no MemoryError: laid out
        after = (s.entries.chunks, s.entries.slots, s.entries.mask,
                 s.inodes.chunks, s.inodes.pages, s.inodes.n)
        assert all(a is b for a, b in zip(after, before))
        assert [list(x) if isinstance(x, list) else x
                for x in after] == state

    mount_module._presize = presize
    try:
        fail = 1
        while True:
            calls[1] = fail
            s = LogStore.mount(f, checkpoints=False)
            assert tree(s) == want, fail
            if seen[-1] < fail:     # the layout made every array
                break
            fail += 1
    finally:
        mount_module._presize = saved
    assert fail > 10, seen


def renamed_store(files=150, renames=3000):
    """A store whose one file was renamed back and forth: thousands of
    dirent nodes on flash, most dead, for files + 1 names."""
    f = SimFlash(1024 * 1024, 4096, 256)
    s = LogStore.format(f)
    s.checkpoints = False
    for i in range(files):
        t = s.begin()
        ino = t.new_ino()
        t.put_inode(ino, mode=0o100644, mtime=i, ctime=i)
        t.link(ROOT_INO, "f%d" % i, ino)
        t.commit()
    for i in range(renames):
        t = s.begin()
        t.unlink(ROOT_INO, "a" if i % 2 else "f0")
        t.link(ROOT_INO, "f0" if i % 2 else "a", ino)
        t.commit()
    s.sync()
    return f


def test_the_layout_follows_the_inodes_not_the_dead_names():
    # a file renamed 3,000 times: the first pass counts ~6,000 dirent
    # nodes; rows were laid out for 4,096 of them (and an index of 8,192
    # slots: 64 KB), which left pass 2 short of heap on a board; now
    # for about two names an inode
    f = renamed_store()
    saved = mount_module._presize
    laid = []

    def spy(s, n, count, ino):
        saved(s, n, count, ino)
        laid.append((n, ino, len(s.entries.chunks), s.entries.mask + 1))

    mount_module._presize = spy
    try:
        s = LogStore.mount(f, checkpoints=False)
    finally:
        mount_module._presize = saved
    (n, ino, chunks, slots), = laid
    assert n > 3000, laid
    assert chunks * ROWS <= 2 * ino + 32 + ROWS, laid
    assert slots <= 1024, laid
    assert len(list(s.listdir(ROOT_INO))) == 150
    plain = LogStore.mount(f, checkpoints=False)
    assert tree(plain) == tree(s)


def test_no_layout_without_room_left_for_pass_2():
    # (MicroPython's gc.mem_free; CPython has none and always lays out)
    f, names = churned_store()

    class TightHeap:
        @staticmethod
        def mem_free():
            return 8192     # under _PASS2_ROOM + what the layout takes

    saved = (mount_module.gc, mount_module._presize)
    laid = []

    def spy(s, *counts):
        saved[1](s, *counts)
        laid.append(len(s.entries.chunks))

    mount_module._presize = spy
    try:
        roomy = LogStore.mount(f, checkpoints=False)
        mount_module.gc = TightHeap
        tight = LogStore.mount(f, checkpoints=False)
    finally:
        mount_module.gc, mount_module._presize = saved
    assert laid[0] > 0 and laid[1] == 0, laid
    assert tree(tight) == tree(roomy)
