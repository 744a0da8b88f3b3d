"""Which module holds each of the store's rare methods: what a healthy
store's mount, reads and writes never run.

LogStore.__getattr__ (Txn's too) imports this module at the first name
the class lacks, so the table below is not on the heap of a board that
never asks for one (docs/STORE.md, "Code layout").  The modules: damage
handling, garbage collection with the space and wear figures, factory
reset, rewrites, truncations, stamps and deletions, transactions too big
for RAM, fsck, the writer's inner steps; and a transaction's rare calls
(txn_rare: Txn's, the other modules the store's).  Each function there
takes the object first and is named as the method, without a leading
"_".
"""

from ovl import compat
from ovl.compat import const

# Each line: a module, then its methods.  A module marked "-" runs at
# moments (reset, fsck): it is imported for each call and released after
# it (compat.call_released), so its code leaves the heap again.
_TABLE = const(
    "damage _mend_header _resync _note_damage _mount_damage _damage_name _retire "
    "_rescan_torn _settle_damage _check_damage _drop_voids "
    "_void_items _summary_ver _note_junk _damaged_inode _damaged_dirent "
    "_damaged_data\n"
    "collect gc _gc_one _pick_victim _collect _data_liveness _is_live "
    "_reclaimable _need _worth _usable free_bytes statvfs counters "
    "_gc_until_fits _writable _restore_reserve _reset_needed "
    "_drop_reset_if_done\n"
    "-reset reset _apply_reset\n"
    "supersede _role_dead _stamp_add _stamp_end _cut _trunc_add "
    "_end_hidden_truncs _shown _forget_ino\n"
    "stream _spill _index_stream _end_stream\n"
    "-check fsck meta_keys\n"
    "read_rare readlink stored_bytes\n"
    "write _wide _nsize _esize _room _open_block _flush _write_nodes _fits "
    "_items _make_room _commit\n"
    "txn_rare truncate set_symlink delete_inode size unlink whiteout "
    "get_meta read")


def method(obj, name, txn):
    """The rare method name of obj (a LogStore, or a Txn when txn), found
    in its module, imported by a name made here (a board that never needs
    one interns no name for it).  The function found is set on the class,
    a method from then on: appends to an existing file stamp through
    _stamp_add each time, and a lookup here allocates ~3 KB (on the class,
    not the object: a copy of a store must not call into the original).
    AttributeError if there is no such method."""
    for group in _TABLE.split("\n"):
        names = group.split()
        if name in names[1:] and (names[0][:3] == "txn") == txn:
            if names[0][0] == "-":
                # run at moments: imported for each call, then released
                # (compat.call_released); a call, not a method kept
                mod = "ovl.store." + names[0][1:]
                fn = name.lstrip("_")
                return lambda *args, **opt: compat.call_released(
                    mod, fn, (obj,) + args, opt)
            where = __import__("ovl.store." + names[0], None, None, names)
            setattr(type(obj), name, getattr(where, name.lstrip("_")))
            return getattr(obj, name)
    raise AttributeError(name)
