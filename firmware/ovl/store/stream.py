"""Transactions bigger than RAM: past store.txn_ram bytes of data, an open
Txn's data and truncations go to flash as provisional nodes of its
stream, which count only once its NODE_COMMIT does (docs/STORE.md).
A board's small writes never get there: this is imported at the first
spill, through LogStore.__getattr__ (store._spill(txn),
store._index_stream(txn, commit_node)), so the mount path does not
carry it (docs/FIT.md, "Code size and import heap").  Reading back
what an open Txn holds (Txn.read: an open file read before it is
committed) lives here too, loaded at its first use."""

import struct

from ovl import compat
from ovl.store import NoSpace, RESERVED_BLOCKS
from ovl.store.format import (NODE_INODE, NODE_DATA, NODE_TRUNCATE,
                              DATA_BODY, TRUNCATE_BODY, F_TRUNC, hdr_size,
                              data_prefix)


def spill(store, txn):
    """Write the data and truncations held so far to flash as
    provisional nodes (they count only if this txn commits) and drop
    them from RAM.  Txn.write calls it past store.txn_ram bytes."""
    txn._check()
    moved = []
    kept = []
    for op in txn.ops:
        if op[0] == NODE_DATA or op[0] == NODE_TRUNCATE:
            moved.append(op)
        else:
            kept.append(op)
    if not moved:
        return
    descs = []
    for op in moved:
        if op[0] == NODE_DATA:
            descs.append((NODE_DATA, struct.pack(DATA_BODY, op[1], op[2]),
                          (op[3], len(op) > 4, None)))
        else:
            descs.append((NODE_TRUNCATE,
                          struct.pack(TRUNCATE_BODY, op[1], op[2]), None))
    if not txn.spilled:     # the class's empty tuple: a list of its own
        txn.spilled = []
    txn.spilled.extend(place(store, txn, descs))
    txn.ops = kept
    txn.puts = {}
    for i, op in enumerate(kept):
        if op[0] == NODE_INODE:
            txn.puts[op[1]] = i
    txn.appends = {}
    txn.cuts = {}
    txn.held = 0


def place(store, txn_obj, ops):
    """Write an open txn's data and truncations (ops, node
    descriptions) as provisional nodes of its stream, to count only if
    its commit does.  Returns the placed Nodes; their blocks are pinned
    (GC leaves them alone) until the txn ends."""
    store._make_room(store._items(ops), RESERVED_BLOCKS)
    if txn_obj.stream is None:
        txn_obj.stream = store.next_txn
        store.next_txn += 1
    try:
        placed = store._write_nodes(ops, txn_obj.stream, RESERVED_BLOCKS,
                                    True)
    except NoSpace:
        raise compat.oserror(compat.ENOSPC, "log store full")
    for nd in placed:
        b = nd.addr // store.es
        store.pins[b] = store.pins.get(b, 0) + 1
    return placed


def index_stream(store, txn_obj, cnode):
    """The NODE_COMMIT of txn_obj's stream is on flash: its provisional
    nodes count, in their order, where the commit stands."""
    blocks = []
    for nd in txn_obj.spilled:
        nd.eff = cnode.ver
        b = nd.addr // store.es
        if b not in blocks:
            blocks.append(b)
        if not store.inodes.live(nd.fields[0]):
            store._kill(nd.addr, nd.size())  # deleted in this txn
            continue
        store._index(nd)
    store.streams[txn_obj.stream] = [cnode.ver, cnode.addr, cnode.size(),
                                    blocks]


def read(txn, ino, offset, n):
    """Pieces (offset, length, bytes or None) of [offset, offset+n) of
    ino as this open txn sees it: the committed content with the txn's
    own truncations and writes (held or spilled) applied in order,
    clipped to its size; None = not stored here."""
    txn._check()
    if offset < 0:
        raise compat.oserror(compat.EINVAL, "negative offset")
    st = txn.store
    end = min(offset + n, txn.size(ino))
    if end <= offset:
        return []
    view = []           # [start, end, source, source start]
    if ino not in txn.deleted and st.get(ino) is not None:
        for off, ln, data in st.read(ino, offset, end - offset):
            if data is not None:
                view.append([off, off + ln, data, off])
    for nd in txn.spilled:
        f = nd.fields
        if f[0] != ino:
            continue
        if nd.type == NODE_TRUNCATE:
            view = _view_put(view, f[1], 1 << 64, None, 0)
            continue
        src = nd.addr + hdr_size(nd.flags) + data_prefix(nd.flags)
        view = _view_put(view, f[1], f[1] + f[2], src, f[1])
        if nd.flags & F_TRUNC:
            view = _view_put(view, f[1] + f[2], 1 << 64, None, 0)
    for op in txn.ops:
        if op[0] == NODE_TRUNCATE and op[1] == ino:
            view = _view_put(view, op[2], 1 << 64, None, 0)
        elif op[0] == NODE_DATA and op[1] == ino:
            e = op[2] + len(op[3])
            view = _view_put(view, op[2], e, op[3], op[2])
            if len(op) > 4:
                view = _view_put(view, e, 1 << 64, None, 0)
    out = []
    pos = offset
    for ps, pe, src, s0 in view:
        ps = max(ps, offset)
        pe = min(pe, end)
        if src is None or pe <= ps:
            continue
        if ps > pos:
            out.append((pos, ps - pos, None))
        if isinstance(src, int):
            data = st.blocks.read(src + ps - s0, pe - ps)
        else:
            data = bytes(src[ps - s0:pe - s0])
        out.append((ps, pe - ps, data))
        pos = pe
    if pos < end:
        out.append((pos, end - pos, None))
    return out


def _view_put(view, start, end, src, s0):
    """view (sorted [start, end, source, source start] pieces) with
    [start, end) replaced by source src (None: cut)."""
    out = []
    for p in view:
        if p[1] <= start or p[0] >= end:
            out.append(p)
            continue
        if p[0] < start:
            out.append([p[0], start, p[2], p[3]])
        if p[1] > end:
            out.append([end, p[1], p[2], p[3]])
    if src is not None:
        out.append([start, end, src, s0])
    out.sort(key=lambda p: p[0])
    return out


def end_stream(store, txn_obj, committed):
    """The txn owning provisional nodes ended: unpin their blocks; if
    it did not commit they are dead space (the store calls this only
    for a txn that spilled)."""
    for nd in txn_obj.spilled:
        b = nd.addr // store.es
        n = store.pins.get(b, 0) - 1
        if n > 0:
            store.pins[b] = n
        else:
            store.pins.pop(b, None)
        if not committed:
            store._kill(nd.addr, nd.size())
    txn_obj.spilled = ()
