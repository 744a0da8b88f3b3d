"""Firmware upgrades: a user's file never mixes with the new firmware's bytes.

A partially copied-up file stores only the bytes the user changed; the rest
still reads from the lower (docs/OVERLAY.md, "Copy-up").  When the lower is
replaced, such a file would silently read a mix.  This module keeps that
from happening, in three steps:

  * base digest: the first change to a copied-up file's data records in its
    BASE meta the SHA-256 of the lower bytes it is based on ([0, lower
    limit) then), so the file's lower can later be recognised as changed
    without the old image;
  * materialize: while the old lower is still there, the copy-up of every
    partial file whose lower bytes differ in the new image is completed
    (the agent does it for `ovl flash` before the first lower block is
    erased; on an A/B board the first mount over the new slot does it from
    the old slot).  Every chunk written holds the bytes the file already
    reads, so the file reads the same after each transaction;
  * rebase: at the first mount over a new lower, files the user only
    chmod/chown-ed take the new firmware's content, and every conflict is
    marked in the CONFLICT meta: "stale" (a partial file whose lower bytes
    changed anyway: reads fail with EIO, never mixed bytes), "modified"
    (the user's file is kept; the firmware changed its version too),
    "created" (a name the user made that the firmware now ships),
    "dropped" (a directory showing a lower one the new lower lacks).

A renamed firmware file (moved off the lower path it reads) records its
base at the rename, so it is kept or marked like a changed file, and a
moved directory is materialized (its lower entries copied up) when the
new image drops its lower path.

The hard-link index is keyed by the old image's inode numbers: the
rebase moves each entry whose file the new lower holds under a new
number and drops each entry the new lower does not back (_unbacked_links), so
no name of the new firmware finds the user's copy of another file, and a
chmod-only copy whose origin path is no longer one of its names (the user
removed it) is marked stale rather than follow whatever that path holds.

A file the user put in place of a firmware file (written beside it and
renamed over it, as `ovl remote put` and editors do, or made again after
removing it) has no origin: its REPLACES meta, recorded when the name came
to hide the lower file, lets the rebase treat it like a modified file
rather than a created one.
"""

from ovl import compat
from ovl.compat import oserror
from ovl.overlay.meta import Origin, META_ORIGIN, META_BASE, META_CONFLICT, \
    META_REPLACES, META_LOWER_ID, INDEX_PREFIX
from ovl.paths import is_reg, is_dir, is_lnk, join
from ovl.store import WHITEOUT
from ovl.overlay import writing

# META_BASE: "<n> <sha256 hex>" of the lower's bytes [0, n)
# META_CONFLICT: b"stale" | b"modified" | b"created" | b"dropped"
# META_REPLACES: "<kind> <n> <sha256 hex> <lower path>" of the lower object
#   an upper-only object's name hides (kind f: its n bytes, l: a symlink's
#   n-byte target, d: a directory's n names and their types)

STALE = "stale"
MODIFIED = "modified"
CREATED = "created"
DROPPED = "dropped"
DIRECTORY = "directory"     # scan's digest of a moved directory

HASH_CHUNK = 4096
KEEP_CHUNK = 16384          # bytes of lower data per materializing txn


# ----- digests ----------------------------------------------------------------

def lower_digest(lower, entry, n):
    """SHA-256 hex of the lower file's bytes [0, n); None if it is shorter
    than n (or missing, or not a regular file)."""
    if entry is None or not is_reg(entry.mode) or entry.size < n:
        return None
    h = compat.sha256()
    pos = 0
    while pos < n:
        k = min(HASH_CHUNK, n - pos)
        h.update(lower.read(entry, pos, k))
        pos += k
    return compat.hexdigest(h)


def get_base(store, uino):
    """(n, sha256 hex) recorded for uino, or None."""
    raw = store.get_meta(uino, META_BASE)
    if raw is None:
        return None
    try:
        n, digest = bytes(raw).decode().split(" ")
        return int(n), digest
    except (ValueError, UnicodeError):
        raise ValueError("bad base meta %r" % (raw,))


def base_of(ovl, uino, origin, lower=None):
    """(n, digest) of the lower bytes uino is based on: the recorded base,
    or (an upper from before bases were recorded) computed now from
    `lower` (default: the mounted one)."""
    base = get_base(ovl.store, uino)
    if base is not None:
        return base
    lower = lower or ovl.lower
    entry = ovl._lower_lookup(origin.path) if lower is ovl.lower else \
        _lookup(lower, origin.path)
    n = min(origin.lowlim, entry.size) if entry is not None else 0
    return n, lower_digest(lower, entry, n)


def _lookup(lower, path):
    try:
        return lower.lookup(path)
    except OSError as e:
        if compat.error_code(e) in (compat.ENOENT, compat.ENOTDIR):
            return None
        raise


def note_change(ovl, txn, uino, origin):
    """Called by the overlay in the transaction that first changes a
    copied-up file's data or size (one with an origin, a lower limit above
    0 and no base yet): record the base digest."""
    entry = ovl._lower_lookup(origin.path)
    if entry is None or not is_reg(entry.mode):
        return
    n = min(origin.lowlim, entry.size)
    digest = lower_digest(ovl.lower, entry, n)
    txn.set_meta(uino, META_BASE, ("%d %s" % (n, digest)).encode())


def note_lowlim(ovl, txn, uino, lowlim):
    """The file's lower limit dropped to lowlim: once it reads nothing from
    the lower, a stale file is whole again (the user's own bytes)."""
    if lowlim == 0 and conflict_of(ovl.store, uino) == STALE:
        txn.set_meta(uino, META_CONFLICT, MODIFIED.encode())


def conflict_of(store, uino):
    raw = store.get_meta(uino, META_CONFLICT)
    return None if raw is None else bytes(raw).decode()


def _marks(ovl):
    """Conflict marks kept in RAM by a read-only mount over a new lower."""
    return getattr(ovl, "_upgrade_marks", None)


def is_stale(ovl, uino):
    marks = _marks(ovl)
    if marks is not None and uino in marks:
        return marks[uino] == STALE
    return conflict_of(ovl.store, uino) == STALE


def check_read(ovl, uino, origin, entry):
    """Overlay.read_upper's EIO for copied-up file uino (origin: its
    Origin; entry: the lower file it reads, or None) when its unchanged
    bytes came from a lower that is gone, or when the lower bytes a partly
    changed file still reads no longer hash as they did when it was first
    changed.  The second is checked once a mount per file, so a firmware
    replaced behind ovl's back (dd, esptool) whose identity reads the same
    (two reproducible builds differing inside a fragment) still gives EIO,
    never the user's bytes over the new firmware's."""
    if is_stale(ovl, uino):
        raise oserror(compat.EIO, "its unchanged bytes came from the old"
                      " firmware's %s, which is gone; revert it or rewrite"
                      " it" % origin.path)
    if entry is None or not origin.lowlim or uino in ovl._bases_checked:
        return
    base = get_base(ovl.store, uino)
    if base is None:
        return
    if lower_digest(ovl.lower, entry, base[0]) != base[1]:
        raise oserror(compat.EIO, "%s: the firmware's bytes under this"
                      " changed file changed; revert it or rewrite it"
                      % origin.path)
    ovl._bases_checked[uino] = True


def _origin_matches(origin, entry):
    """Does the lower entry still hold the object origin was copied from
    (its fingerprint: ino, size, mtime)?"""
    return (entry is not None and entry.ino == origin.ino
            and entry.size == origin.size and entry.mtime == origin.mtime)


def read_lower(lower, path, offset, n):
    """Bytes [offset, offset+n) of the lower's own regular file at path,
    whatever the upper holds there (`cat --layer lower`: the firmware's
    version beside the user's).  Symlinks are followed within the lower,
    as `cat` follows them (the overlay's walk over the lower alone:
    relative and absolute targets, ELOOP past Linux's limit)."""
    from ovl.overlay import Overlay
    entry = Overlay(lower, None)._walk(path).lentry
    if not is_reg(entry.mode):
        raise oserror(compat.EINVAL, "%s is not a regular file in the lower"
                      % path)
    return _read_entry(lower, entry, offset, n)


def _read_entry(lower, entry, offset, n):
    """Bytes [offset, offset+n) of lower regular file entry (none past its
    end)."""
    if offset >= entry.size or n <= 0:
        return b""
    return lower.read(entry, offset, min(n, entry.size - offset))


# ----- replacements: an upper-only file named over a lower one ----------------

def _hidden_content(lower, entry):
    """(kind, n, sha256 hex) of a lower object an upper name hides: a
    regular file's bytes, a symlink's target; None for anything else."""
    if entry is None:
        return None
    if is_reg(entry.mode):
        return "f", entry.size, lower_digest(lower, entry, entry.size)
    if is_lnk(entry.mode):
        target = lower.readlink(entry).encode("utf-8", "surrogateescape")
        return "l", len(target), compat.hexdigest(compat.sha256(target))
    if is_dir(entry.mode):
        # its names and their types (not what they hold): a firmware that
        # adds, drops or retypes an entry the user's object hides
        h = compat.sha256()
        n = 0
        for name, child in lower.readdir(entry):
            h.update(name.encode("utf-8", "surrogateescape"))
            h.update(b"\0%o\n" % (child.mode >> 12))
            n += 1
        return "d", n, compat.hexdigest(h)
    return None


def _lower_path(parent, name):
    """ovl.overlay.unlink.lower_path, imported at its first use (a diff
    that meets no replacement loads no unlink module)."""
    from ovl.overlay.unlink import lower_path
    return lower_path(parent, name)


def note_replaced(ovl, txn, uino, parent, name, entry):
    """Called by the overlay in the transaction that names upper-only
    uino parent/name (a file, a directory), where the lower has entry (or
    None): record in REPLACES what the name hides (one read of that lower
    file or directory listing to hash it), or drop a record the new name
    makes wrong."""
    content = _hidden_content(ovl.lower, entry)
    record = None
    if content is not None:
        try:
            record = ("%s %d %s %s" % (content[0], content[1], content[2],
                                       _lower_path(parent, name))).encode()
        except UnicodeError:
            pass        # a lower path the upper cannot store: no record
        from ovl.store.format import META_VALUE_MAX
        if record is not None and len(record) > META_VALUE_MAX:
            record = None   # nor one longer than a meta value holds
    if record is not None or \
            ovl.store.get_meta(uino, META_REPLACES) is not None:
        txn.set_meta(uino, META_REPLACES, record)


def get_replaced(store, uino):
    """(kind, n, sha256 hex, lower path) recorded for uino, or None."""
    raw = store.get_meta(uino, META_REPLACES)
    if raw is None:
        return None
    try:
        kind, n, digest, path = bytes(raw).decode().split(" ", 3)
        return kind, int(n), digest, path
    except (ValueError, UnicodeError):
        raise ValueError("bad replaces meta %r" % (raw,))


def replaced_here(ovl, node):
    """The REPLACES record of upper-only node when it names the lower
    object node's own name hides (a hard link elsewhere, or a name the
    record went stale for, has none), else None."""
    if node.origin is not None or node.uino is None:
        return None
    try:
        record = get_replaced(ovl.store, node.uino)
    except ValueError:
        return None         # fsck names it; judged as a created file
    if record is None or record[3] != _lower_path(node.parent, node.name):
        return None
    return record


def replacement_kept(ovl, record):
    """Does the lower still hold, at the record's path, the object the
    user's file replaced (same kind, same bytes)?"""
    entry = _lookup(ovl.lower, record[3])
    return _hidden_content(ovl.lower, entry) == tuple(record[:3])


# ----- the upper's copied-up files ----------------------------------------------

def data_changed(ovl, node):
    """Does the copied-up regular file node differ in data or size from
    the lower object it came from?"""
    origin, i = node.origin, node.inode
    if i.size != origin.size or origin.lowlim < i.size:
        return True
    for _, pieces in _windows(ovl.store, node.uino, i.size):
        for _, _, piece in pieces:
            if piece is not None:
                return True
    return False


def _has_base(ovl, node):
    """Is copied-up file node judged by its base at an upgrade: changed,
    or moved off the firmware name it reads (a rename, or that name of a
    hard link removed, records a base too)?"""
    return ovl.store.get_meta(node.uino, META_BASE) is not None or \
        data_changed(ovl, node)


def _windows(store, uino, end, size=KEEP_CHUNK):
    """(offset, store pieces) over [0, end) a window at a time, so a big
    file's stored data is never all in RAM at once."""
    off = 0
    while off < end:
        n = min(size, end - off)
        yield off, store.read(uino, off, n)
        off += n


def _upper_entries(ovl):
    """(path, 'whiteout'|'object', node) over the whole upper tree."""
    from ovl.overlay.verbs import walk_upper
    return walk_upper(ovl, ovl._walk("/"))


def _files(ovl, dirs=False):
    """(path, node) of every upper regular file (and with dirs, every
    directory but the root) with an origin, each inode once (hard
    links)."""
    seen = {}
    for path, kind, node in _upper_entries(ovl):
        if kind == "whiteout" or node.origin is None or node.uino in seen \
                or not (is_reg(node.inode.mode) or dirs and path != "/" and
                        is_dir(node.inode.mode)):
            continue
        seen[node.uino] = True
        yield path, node


def partial_files(ovl):
    """(path, node) of each changed (or moved) file that still reads
    bytes from the lower, and of each moved directory (it shows the
    lower directory it came from): what an upgrade must not leave
    behind."""
    if ovl.store is None:
        return
    ovl.flush_all()
    for path, node in _files(ovl, True):
        if is_dir(node.inode.mode):
            if _lower_path(node.parent, node.name) != node.origin.path:
                yield path, node
        elif node.origin.lowlim > 0 and _has_base(ovl, node):
            yield path, node


def scan(ovl, start=0):
    """Yield [path, lower path, n, sha256 hex] for the partial files from
    index start on: the new image's bytes [0, n) at the lower path (where
    the file came from; it may have been renamed since) are compared with
    the digest.  A moved directory's is [path, lower path, 0,
    DIRECTORY]: it differs when the new image has no directory there."""
    i = 0
    for path, node in partial_files(ovl):
        if i >= start:
            if is_dir(node.inode.mode):
                yield [path, node.origin.path, 0, DIRECTORY]
            else:
                n, digest = base_of(ovl, node.uino, node.origin)
                yield [path, node.origin.path, n, digest]
        i += 1


def differs(new_lower, lower_path, n, digest):
    """Do the new lower's bytes [0, n) at lower_path differ from digest
    (or, for DIRECTORY, has it no directory there)?"""
    entry = _lookup(new_lower, lower_path)
    if digest == DIRECTORY:
        return entry is None or not is_dir(entry.mode)
    return digest is None or lower_digest(new_lower, entry, n) != digest


# ----- materialize ---------------------------------------------------------------

def materialize(ovl, path, chunk=KEEP_CHUNK):
    """Complete the copy-up of the partial file at path from the mounted
    lower; returns the flash bytes programmed.  Each transaction stores
    bytes the file already reads, so a power cut leaves it whole, and
    calling this again carries on.  The last one sets the lower limit to 0."""
    ovl._writable(path)
    ovl.flush_all()
    try:
        node = ovl._walk(path, follow=False)
    except OSError as e:
        if compat.error_code(e) == compat.ENOENT:
            return 0        # removed since it was listed: nothing to keep
        raise
    store = ovl.store
    if node.uino is not None and node.origin is not None and \
            is_dir(node.inode.mode) and path != "/":
        return _materialize_dir(ovl, path)
    if node.uino is None or node.origin is None or \
            not is_reg(node.inode.mode) or node.origin.lowlim <= 0:
        return 0
    before = store.stats["bytes_programmed"]
    uino, origin = node.uino, node.origin
    entry = ovl._lower_lookup(origin.path)
    lowlim = min(origin.lowlim, node.inode.size)
    base = None
    if store.get_meta(uino, META_BASE) is None:
        base = base_of(ovl, uino, origin)
    if entry is not None and is_reg(entry.mode):
        for _, pieces in _windows(store, uino, lowlim, chunk):
            gaps = [(off, n) for off, n, data in pieces if data is None]
            pieces = None
            if not gaps:
                continue
            txn = store.begin()
            for off, n in gaps:
                data = _read_entry(ovl.lower, entry, off, n)
                txn.write(uino, off, data + bytes(n - len(data)))
            txn.commit()
    txn = store.begin()
    if base is not None and base[1] is not None:
        txn.set_meta(uino, META_BASE, ("%d %s" % base).encode())
    origin.lowlim = 0
    txn.set_meta(uino, META_ORIGIN, writing.origin_bytes(origin))
    if conflict_of(store, uino) == STALE:
        txn.set_meta(uino, META_CONFLICT, MODIFIED.encode())
    txn.commit()
    ovl._origins.pop(uino, None)
    return store.stats["bytes_programmed"] - before


def _materialize_dir(ovl, path):
    """Copy into the upper every entry that directory path (and each
    directory below it that shows the lower's) shows from the lower,
    then make it opaque: it shows the same, and no longer needs its
    lower directory.  One transaction a file (absent or whole after a
    power cut: the lower shows through until then) and one for each
    directory made opaque, after all below it; calling it again carries
    on.  Lower hard links become separate copies.  Returns the flash
    bytes programmed."""
    store = ovl.store
    before = store.stats["bytes_programmed"]
    stack = [(path, None)]      # (directory path, its lower entries left)
    while stack:
        dpath, entries = stack[-1]
        node = ovl._walk(dpath, follow=False)
        if entries is None:
            entries = iter(()) if node.lentry is None else \
                ovl.lower.readdir(node.lentry)
            stack[-1] = (dpath, entries)
        item = next(entries, None)
        if item is None:
            stack.pop()
            _make_opaque(ovl, node)
            continue
        name, entry = item
        found = store.lookup(node.uino, name)
        child = join(dpath, name)
        if found is None:
            if is_dir(entry.mode):
                txn = writing.begin(ovl)
                # a redirect
                writing._copy_up(ovl, txn, ovl._child(node, name))
                txn.commit()
                stack.append((child, None))
            else:
                _copy_whole(ovl, node.uino, name, entry)
            continue
        if found == WHITEOUT:
            continue
        origin = ovl._get_origin(found)
        if origin is None or origin.path != join(node.lpath, name):
            continue        # the user's own, or moved here from elsewhere
        if is_dir(store.get(found).mode):
            stack.append((child, None))
        else:
            materialize(ovl, child)
    ovl._origins.clear()
    return store.stats["bytes_programmed"] - before


def _copy_whole(ovl, dir_uino, name, entry):
    """Lower entry as an upper-only object dir_uino/name holding all its
    bytes (or target), in one transaction (it streams a big file)."""
    txn = writing.begin(ovl)
    uino, _ = writing._new_inode(
        ovl, txn, entry.mode, size=entry.size if is_reg(entry.mode) else 0,
        uid=entry.uid, gid=entry.gid, mtime=entry.mtime, rdev=entry.rdev)
    if is_reg(entry.mode):
        off = 0
        while off < entry.size:
            data = _read_entry(ovl.lower, entry, off, KEEP_CHUNK)
            txn.write(uino, off, data)
            off += len(data)
    elif is_lnk(entry.mode):
        txn.set_symlink(uino, ovl.lower.readlink(entry))
    txn.link(dir_uino, name, uino)
    txn.commit()


def _make_opaque(ovl, node):
    """Directory node, all of whose lower entries the upper now holds:
    drop its origin and its whiteouts (over nothing once it is opaque)."""
    store = ovl.store
    if store.get_meta(node.uino, META_ORIGIN) is None:
        return
    gone = [name for name, value in store.listdir(node.uino)
            if value == WHITEOUT]
    txn = writing.begin(ovl)
    for name in gone:
        txn.unlink(node.uino, name)
    txn.set_meta(node.uino, META_ORIGIN, None)
    txn.commit()


def carry_over(ovl_old, new_lower):
    """Before the first mount over new_lower (A/B: the old slot is still
    intact): materialize every partial file whose lower bytes differ there.
    Returns (files, bytes programmed)."""
    todo = [p for p, lp, n, d in scan(ovl_old)
            if differs(new_lower, lp, n, d)]
    total = 0
    for path in todo:
        try:
            total += materialize(ovl_old, path)
        except OSError as e:
            if compat.error_code(e) != compat.ENOSPC:
                raise
            # no room: the board must still come up; the file reads EIO
            # over the new lower (a conflict) rather than mixed bytes
    return len(todo), total


def carry_over_from(previous, new_lower, store, options):
    """At a mount over new_lower: if the upper was last mounted over
    previous (its recorded identity), carry over from it first."""
    from ovl.overlay import Overlay
    from ovl.overlay.meta import identity_bytes
    from ovl.store import ROOT_INO
    recorded = store.get_meta(ROOT_INO, META_LOWER_ID)
    if recorded is None:
        return None
    recorded = bytes(recorded)
    if recorded != identity_bytes(previous) or \
            recorded == identity_bytes(new_lower):
        return None
    return carry_over(Overlay(previous, store, **options), new_lower)


# ----- rebase: the first mount over a new lower ---------------------------------

def new_lower(ovl, ident):
    """Mounting over a lower whose identity (ident) differs from the one
    the upper recorded (Overlay.__init__): rebase, then record
    ident (after it, so a power cut makes the next mount rebase again).
    Sets ovl.lower_changed and lists the conflicts in ovl.conflicts."""
    ovl.lower_changed = True
    for _, p in rebase(ovl):
        ovl.conflicts.append(p)
    if not ovl.readonly:
        txn = ovl.store.begin()
        # the link index entries the new lower does not back go with the
        # old identity: until then a mount judges their files again as
        # the hard links they were
        _unlink_index(ovl, txn)
        txn.set_meta(ovl._root_ino, META_LOWER_ID, ident)
        try:
            txn.commit()
            # (new entries of their keys count)
            ovl._unbacked_links = ovl._moved_links = ovl._link_keys = None
            ovl._origins.clear()
        except OSError as e:
            # a full upper over a new firmware still mounts (its conflicts
            # marked in RAM); the next mount rebases again
            if compat.error_code(e) != compat.ENOSPC:
                raise


def rebase(ovl):
    """Called when the mounted lower's identity differs from the recorded
    one.  Metadata-only copies take the new firmware's content; conflicts
    are (re)marked.  One transaction per file (a power cut before the new
    identity is recorded makes the next mount do it again).  Returns the
    conflicts as sorted (kind, path)."""
    writable = not ovl.readonly
    marks = {}
    fixes = []      # (uino, new origin or None, inode attrs or None)
    links, moved = _unbacked_links(ovl)
    if links or moved:
        # the index as the new lower backs it from now on
        # (ovl.overlay.hostops.lookup), written with the new identity
        # (new_lower)
        ovl._unbacked_links, ovl._moved_links = links, moved
        ovl._link_keys = _link_keys(links, moved)
    linked = {}     # upper ino -> its (upper ino, upper names)
    for key in links:
        linked[links[key][0]] = links[key]
    for path, kind, node in _upper_entries(ovl):
        # an upper-only file is judged at each of its names until one
        # marks it (its REPLACES record applies at one name only)
        if kind == "whiteout" or node.uino in marks and (
                marks[node.uino] is not None or node.origin is not None):
            continue
        mark, fix = _classify(ovl, path, node, linked.get(node.uino))
        marks[node.uino] = mark
        if fix is not None:
            fixes.append(fix)
    try:
        if not writable:
            raise oserror(compat.EROFS, "upper")
        _persist(ovl, marks, fixes)
    except OSError as e:
        if compat.error_code(e) not in (compat.EROFS, compat.ENOSPC):
            raise
        # nothing (more) can be written: the marks live in RAM for this
        # mount, and a chmod-only file that would need its new size
        # recorded fails its reads rather than show a mix
        for uino, origin, attrs in fixes:
            marks[uino] = STALE
        ovl._upgrade_marks = marks
    return conflicts(ovl)


def _unbacked_links(ovl):
    """{link index key: (upper ino, its upper names)} of the copied-up
    hard-linked files the new lower no longer backs, and {key: (upper
    ino, new lower ino)} of those it backs under another inode number.
    The index is keyed by the old image's inode numbers, which a new
    image gives anew (any file it adds shifts those after it), and the
    origin path is only the name the file was copied up through (maybe
    one the user removed since): unless the new lower holds that very
    file there, still hard-linked (_still_linked), its entry goes and the
    file keeps only its upper names; if it does, the entry moves to the
    file's new inode number."""
    out = {}
    moved = {}
    store = ovl.store
    for key in store.meta_keys(ovl._root_ino):
        if not key.startswith(INDEX_PREFIX):
            continue
        try:
            uino = int(store.get_meta(ovl._root_ino, key))
            origin = None if store.get(uino) is None else \
                ovl._get_origin(uino)
            if origin is None:
                continue
            entry = ovl._lower_lookup(origin.path)
            backed = _still_linked(ovl, uino, origin, entry)
        except ValueError:
            continue        # fsck names a broken entry
        if not backed:
            out[key] = (uino, [])
        elif INDEX_PREFIX + str(entry.ino) != key:
            moved[key] = (uino, entry.ino)
    if out:
        names = {}
        for key in out:
            names[out[key][0]] = out[key][1]
        for path, kind, node in _upper_entries(ovl):
            if kind != "whiteout" and node.uino in names:
                names[node.uino].append(path)
    return out, moved


def _still_linked(ovl, uino, origin, entry):
    """Does lower entry (at uino's origin path) hold the hard-linked file
    uino was copied up from?  Its inode number cannot tell (any file a
    new image adds before it shifts it): a regular file with other
    names, of the origin's size and mtime, whose bytes [0, n) hash to
    uino's base when it has one (a file the user only chmod-ed follows
    the new bytes anyway)."""
    if entry is None or not is_reg(entry.mode) or entry.nlink < 2 or \
            entry.size != origin.size or entry.mtime != origin.mtime:
        return False
    base = get_base(ovl.store, uino)
    return base is None or lower_digest(ovl.lower, entry, base[0]) == base[1]


def _link_keys(links, moved):
    """What the link index answers over the new lower until the entries
    are rewritten (ovl.overlay.hostops.lookup): key -> upper ino as bytes,
    or None for an entry that no longer counts."""
    out = {}
    for key in links:
        out[key] = None
    for key in moved:
        out[key] = None
    for key in moved:
        uino, ino = moved[key]
        out[INDEX_PREFIX + str(ino)] = str(uino).encode()
    return out


def _unlink_index(ovl, txn):
    """In txn: drop the link index entries the new lower does not back
    (rebase found them): each file counts only its upper names, and one
    with none goes (the user had only removed names of it).  Move those
    it backs under a new inode number (the origin's too: st_ino, and
    the key fsck checks, follow the new image)."""
    links = getattr(ovl, "_unbacked_links", None) or {}
    moved = getattr(ovl, "_moved_links", None) or {}
    for key in links:
        uino, names = links[key]
        txn.set_meta(ovl._root_ino, key, None)
        if names:
            txn.put_inode(uino, nlink=len(names))
        else:
            txn.delete_inode(uino)
    for key in moved:
        txn.set_meta(ovl._root_ino, key, None)
    for key in moved:
        uino, ino = moved[key]
        txn.set_meta(ovl._root_ino, INDEX_PREFIX + str(ino),
                     str(uino).encode())
        origin = ovl._get_origin(uino)
        origin.ino = ino
        txn.set_meta(uino, META_ORIGIN, writing.origin_bytes(origin))


def _persist(ovl, marks, fixes):
    for uino, origin, attrs in fixes:
        txn = ovl.store.begin()
        txn.set_meta(uino, META_ORIGIN, writing.origin_bytes(origin))
        txn.put_inode(uino, **attrs)
        txn.commit()
        ovl._origins.pop(uino, None)
    for uino in marks:
        want = marks[uino]
        if conflict_of(ovl.store, uino) != want:
            txn = ovl.store.begin()
            txn.set_meta(uino, META_CONFLICT,
                         None if want is None else want.encode())
            txn.commit()


def _classify(ovl, path, node, link=None):
    """(conflict mark or None, fix or None) of one upper object over the
    new lower.  link: (upper ino, its upper names) of a hard-linked copy
    the new lower no longer backs (_unbacked_links)."""
    origin = node.origin
    if origin is None:
        if path == "/":
            return None, None
        record = replaced_here(ovl, node)
        if record is not None:
            # the user's file in place of a firmware file: a modified
            # file, marked only when the firmware changed its version
            return (None if replacement_kept(ovl, record) else MODIFIED), None
        if ovl._lower_entry(node.parent, node.name) is not None:
            return CREATED, None
        return None, None
    if is_dir(node.inode.mode):
        # a directory that shows a lower one the new lower no longer has
        # (dropped, or made a file): what it showed from there is gone
        return (DROPPED if node.lentry is None and path != "/" else None), \
            None
    if not is_reg(node.inode.mode):
        return None, None
    entry = ovl._lower_lookup(origin.path)
    if entry is not None and not is_reg(entry.mode):
        entry = None
    if not _has_base(ovl, node):
        # chmod/chown/utime only: the new firmware's content, the user's
        # attributes (the mtime too, if the user set one)
        if entry is None:
            return STALE, None
        if link is not None and origin.path not in link[1]:
            # the name it was copied up through is gone from its names:
            # the new file there is not its successor (another file,
            # maybe), and its old bytes are gone
            return STALE, None
        if node.inode.nlink == 1 and not _origin_matches(origin, entry) and \
                _lower_path(node.parent, node.name) != origin.path:
            # renamed before a rename recorded a base (an older upper):
            # the new file there may be another one
            return STALE, None
        if _origin_matches(origin, entry) and origin.lowlim == entry.size:
            return None, None
        i = node.inode
        attrs = i.attrs()
        attrs["size"] = entry.size
        if i.mtime == origin.mtime:
            attrs["mtime"] = entry.mtime
        fresh = Origin(entry.ino, entry.size, entry.mtime, entry.size,
                       origin.path)
        return None, (node.uino, fresh, attrs)
    base = get_base(ovl.store, node.uino)
    if base is None:        # changed before bases were recorded
        read_same = same = _origin_matches(origin, entry)
    else:
        # the bytes the file reads from the lower, and the rest of it
        read_same = lower_digest(ovl.lower, entry, base[0]) == base[1]
        same = read_same and entry.size == origin.size
    if same:
        return None, None
    if origin.lowlim > 0 and not read_same:
        return STALE, None
    return MODIFIED, None


def conflicts(ovl):
    """Sorted (kind, path) of the marked conflicts: 'conflict' (a stale
    file: reads fail), 'modified', 'created', 'dropped'."""
    out = []
    if ovl.store is None:
        return out
    for path, kind, node in _upper_entries(ovl):
        if kind == "whiteout":
            continue
        marks = _marks(ovl)
        if marks is not None:
            mark = marks.get(node.uino)
        else:
            mark = conflict_of(ovl.store, node.uino)
        if mark is not None:
            out.append(("conflict" if mark == STALE else mark, path))
    out.sort(key=lambda item: item[1])
    return out

