"""Bytes the log store allocates per call on the paths a board runs, under
MicroPython (tests/test_store_churn.py, docs/STORE.md "Churn").

    micropython store_call_alloc.py CHIP_FILE

The chip is store_chip.py's (1 MiB NOR in a file, off the heap).  50
files of 100-300 bytes go into 10 directories through the store's API,
one transaction each, then each call is measured with micropython.mem_total() (bytes allocated, kept or
not) around it.  Prints one JSON line with the most one call allocated:
{"lookup", "get", "listdir", "read", "commit", "commits"}, and with
"left_" before each name the most one call left on the heap (kept or
garbage: what mem_total counts less what was freed at once, such as the
frames of functions with many locals).
"""
import gc
import json
import sys

import micropython

from ovl.store import LogStore
from store_chip import FileFlash, data_for, make_dirs

DIRS = 10
FILES = 50


def new_file(store, parent, name, i):
    t = store.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644, mtime=i, ctime=i)
    t.link(parent, name, ino)
    t.write(ino, 0, data_for(i))
    t.commit()
    return ino


worst = {"lookup": 0, "get": 0, "listdir": 0, "read": 0, "commit": 0}
garbage = {}
A0 = [0, 0]


def start():
    gc.collect()
    gc.disable()
    A0[0] = micropython.mem_total()
    A0[1] = gc.mem_alloc()


def stop(what):
    used = micropython.mem_total() - A0[0]
    # left on the heap, kept or garbage (a frame freed on return is not)
    left = gc.mem_alloc() - A0[1]
    gc.enable()
    if used > worst[what]:
        worst[what] = used
    if left > garbage.get(what, 0):
        garbage[what] = left


store = LogStore.format(FileFlash(sys.argv[-1]))
store.checkpoints = False
dirs = make_dirs(store, DIRS)
names = []
for i in range(FILES):
    name = "n%04d" % i
    ino = new_file(store, dirs[i % DIRS], name, i)
    names.append((dirs[i % DIRS], name, ino))
# the buffer small reads go through, made at the first (kept, not churn)
store.lookup(names[0][0], names[0][1])
# every call's arguments are made before the count starts
commits = 0
for i in range(FILES, FILES + 20):
    name = "n%04d" % i
    parent = dirs[i % DIRS]
    start()
    ino = new_file(store, parent, name, i)
    stop("commit")
    commits += 1
    names.append((parent, name, ino))
for parent, name, ino in names[:FILES:3]:
    start()
    got = store.lookup(parent, name)
    stop("lookup")
    assert got == ino, (name, got, ino)
# 25 inodes in turn, twice: each get of the second round misses the cache
# of the last 16 and reads its inode from flash
for rnd in range(2):
    for parent, name, ino in names[:FILES:2]:
        if rnd:
            start()
        inode = store.get(ino)
        if rnd:
            stop("get")
        assert inode.ino == ino
for parent in dirs[:3]:
    start()
    n = 0
    for name, ino in store.listdir(parent):
        n += 1
    stop("listdir")
    assert n == 7, n
# in blocks closed with a summary, and the newest in the open block
assert store.wblock is not None and store.data_blocks.blocks(
    names[-1][2]) == (store.wblock,)
for parent, name, ino in names[:FILES:5] + names[-1:]:
    start()
    pieces = store.read(ino, 0, 4096)
    stop("read")
    assert pieces[0][2] == data_for(int(name[1:])), name
worst["commits"] = commits
for what in garbage:
    worst["left_" + what] = garbage[what]
print(json.dumps(worst))
