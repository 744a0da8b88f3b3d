"""Factory reset of the log store: one RESET transaction makes every older
node dead, then the blocks holding them are erased.  Imported at first
use, through LogStore.__getattr__ (a reset, or a mount or GC that finds
a RESET still needed), so a board's mount path does not carry it.  Each
function takes the LogStore first and is its method of the same name
with a leading underscore (store.reset(**root_attrs) ...)."""

from ovl import compat
from ovl.store import ROOT_INO
from ovl.store.write import Txn
from ovl.store.blocks import FULL, OPEN, BAD
from ovl.store.index import InodeTable, BlockSets, EntryTable


def reset(store, **root_attrs):
    """Atomically empty the store: one RESET transaction obsoletes every
    older node, then every other block is erased.  The new root gets
    root_attrs (e.g. the lower root's mode, owner and times) over the
    defaults a format gives it."""
    if store.readonly:
        raise compat.oserror(compat.EROFS, "log store mounted read-only")
    attrs = {"mode": 0o40755, "nlink": 2}
    attrs.update(root_attrs)
    txn = Txn(store)
    txn._reset = True
    txn.put_inode(ROOT_INO, **attrs)
    txn.commit()
    for b in range(store.nblocks):
        if store.blocks.state[b] == FULL and b != store.wblock:
            store._erase(b)
    store._drop_reset_if_done()


def apply_reset(store, nd):
    """Everything older than nd is gone, in RAM and for GC."""
    if store.reset_rec is not None:
        store._kill(store.reset_rec[1], store.reset_rec[2])
    store.reset_rec = (nd.ver, nd.addr, nd.size())
    store.inodes = InodeTable()
    store.entries = EntryTable(store._dirent_at)
    store.meta = {}
    store.links = {}
    store.extents = {}
    store.truncs = {}
    store.roles = {}
    store.stamps = {}
    store.loaded = []
    store.data_blocks = BlockSets(store.inodes)
    store.streams = {}
    store.reset_ver = nd.ver
    if store.void_recs:
        store._drop_voids()
    home = nd.addr // store.es
    for b in range(store.nblocks):
        if b == home:
            store.blocks.dead[b] = nd.addr - b * store.es - store.data_start
        elif store.blocks.state[b] == FULL:
            store.blocks.dead[b] = store.es - store.data_start
        elif store.blocks.state[b] == BAD:
            store.blocks.dead[b] = store.blocks.used[b] - store.data_start
    # next_ino is left as it is: numbers stay unique within the mount, so
    # a handle opened before the reset finds its inode gone (ESTALE)
    # rather than a new file's under the same number
