"""What an overlay's mount runs once: the lower identity check over a
store (and a first mount's root: Overlay.__init__'s init), the reset
asked for this boot, and mount()'s part after the store's own mount.

ovl.overlay imports this module for the call (Overlay.__init__ over a
store, and mount()) and, on MicroPython, drops it after
(ovl.compat.call_released), so its code leaves a board's heap once the
overlay is mounted (as the store's mount code does: docs/STORE.md,
"Code layout").  Nothing here runs after the mount, and nothing on an
error path imports it: an Overlay without a store (ovl.boot's read-only
view after a mount that ran out of heap) does not call it.
"""

from ovl.store import ROOT_INO
from ovl.overlay import meta


def identity_bytes(lower):
    """lower.identity() as the bytes the upper records (also the
    reset's and ovl.upgrade's)."""
    ident = lower.identity()
    return ident if isinstance(ident, bytes) else str(ident).encode()


def init(ovl):
    """Overlay.__init__'s part over a store: checks the lower the upper
    was last mounted over (a new one: ovl.upgrade rebases the upper), and
    a first mount records it and gives the upper root the lower root's
    attributes."""
    ovl._root_ino = ROOT_INO
    store = ovl.store
    lower = ovl.lower
    # the lower the upper was last mounted over
    ident = identity_bytes(lower)
    stored = store.get_meta(ROOT_INO, meta.META_LOWER_ID)
    if stored is not None:
        if bytes(stored) != ident:
            # a new firmware: ovl.upgrade rebases the upper over it and
            # then records its identity
            from ovl import upgrade
            upgrade.new_lower(ovl, ident)
    elif not ovl.readonly:
        # first mount over this store: its root takes the lower root's
        # attributes, as a reset gives it (verbs.lower_root_attrs; the Txn
        # keeps the attributes not named)
        txn = store.begin()
        txn.set_meta(ROOT_INO, meta.META_LOWER_ID, ident)
        r = lower.lookup("/")
        txn.put_inode(ROOT_INO, mode=r.mode, uid=r.uid, gid=r.gid,
                      mtime=r.mtime, ctime=r.mtime)
        txn.commit()


def mount(lower, store, readonly, previous, **options):
    """ovl.overlay.mount over its store, mounted: see there."""
    from ovl.overlay import Overlay
    flag = None if readonly else store.get_meta(ROOT_INO, meta.META_RESET)
    keep = None
    if flag is not None:
        from ovl.overlay import verbs
        keep = verbs.mount(store, lower, flag)
    if previous is not None and not readonly:
        # before any Overlay over the new lower records its identity
        from ovl import upgrade
        upgrade.carry_over_from(previous, lower, store, options)
    fs = Overlay(lower, store, **options)
    if keep:
        fs.reset(keep)
    return fs
