"""mksquashfs-style pseudo files for `ovl mkimage`: lines that add device
nodes, directories, symlinks and hard links to the image tree, or change
owners and modes, so an unprivileged user can describe a root filesystem
(docs/SQUASHFS.md, "Builder")."""

import os
import shlex

from ovl import squashfs_format as fmt

from host_tools.image.tree import (MAX_U32, SYMLINK_MAX, MkimageError, Node,
                                   parse_time)

PSEUDO_FIELDS = {            # type letter -> argument names after the path
    "d": ("mode", "uid", "gid"),
    "m": ("mode", "uid", "gid"),
    "b": ("mode", "uid", "gid", "major", "minor"),
    "c": ("mode", "uid", "gid", "major", "minor"),
    "s": ("mode", "uid", "gid", "target"),
    "i": ("mode", "uid", "gid", "ipc"),
    "p": ("mode", "uid", "gid"),
    "l": ("link",),          # written 'L' (mksquashfs's letter for it)
}
PSEUDO_KINDS = {"d": fmt.DIR_TYPE, "b": fmt.BLKDEV_TYPE, "c": fmt.CHRDEV_TYPE,
                "s": fmt.SYMLINK_TYPE, "p": fmt.FIFO_TYPE}


class PseudoOp:
    """One parsed pseudo-file line."""

    def __init__(self, where, path, letter, args, mtime):
        self.where = where        # "FILE line N", for error messages
        self.path = path          # list of name components (bytes)
        self.letter = letter      # lower case type letter
        self.args = args          # dict of PSEUDO_FIELDS values
        self.mtime = mtime        # from an upper-case type, else None


def _pseudo_path(text):
    parts = []
    for comp in text.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            raise MkimageError("path %r contains '..'" % text)
        name = os.fsencode(comp)
        if len(name) > fmt.NAME_MAX:
            raise MkimageError("name %r is longer than %d bytes"
                               % (comp, fmt.NAME_MAX))
        parts.append(name)
    return parts


def _pseudo_id(text, db):
    if text.isdigit():
        value = int(text)
        if value > MAX_U32:
            raise MkimageError("id %s out of range" % text)
        return value
    try:
        import grp
        import pwd
        return pwd.getpwnam(text).pw_uid if db == "user" \
            else grp.getgrnam(text).gr_gid
    except (ImportError, KeyError):
        raise MkimageError("unknown %s %r" % (db, text))


def parse_pseudo(text, source="pseudo file"):
    """PseudoOps from pseudo-file text (see docs/SQUASHFS.md, "Builder").

    Each line: PATH TYPE [TIME] MODE UID GID [ARGS]; shell-style quoting for
    names with spaces; '#' starts a comment line.  Errors name the line."""
    ops = []
    for lineno, line in enumerate(text.splitlines(), 1):
        where = "%s line %d" % (source, lineno)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            ops.append(_parse_pseudo_line(line, where))
        except MkimageError as e:
            raise MkimageError("%s: %s" % (where, e))
        except ValueError as e:      # shlex: unbalanced quotes
            raise MkimageError("%s: %s" % (where, e))
    return ops


def _parse_pseudo_line(line, where):
    words = shlex.split(line)
    if len(words) < 2:
        raise MkimageError("expected 'PATH TYPE ...', got %r" % line.strip())
    path, letter = words[0], words[1]
    rest = words[2:]
    if letter in ("f", "F", "R"):
        raise MkimageError("type '%s' is not supported (file contents come "
                           "from the source directory)" % letter)
    if letter == "l":
        raise MkimageError("type 'l' (hard link to a host file) is not "
                           "supported; 'L' links to a path in the image")
    if len(letter) != 1 or letter.lower() not in PSEUDO_FIELDS:
        raise MkimageError("unknown type %r (known: %s)"
                           % (letter, " ".join(sorted(PSEUDO_FIELDS))))
    mtime = None
    if letter == "L":
        letter = "l"          # internally: the hard-link type, no time field
    elif letter.isupper():
        if not rest:
            raise MkimageError("type %s needs a time" % letter)
        mtime = parse_time(rest.pop(0), "time")
        letter = letter.lower()
    fields = PSEUDO_FIELDS[letter]
    if len(rest) != len(fields):
        raise MkimageError("type %s needs %d fields after the type (%s), got %d"
                           % (letter, len(fields), " ".join(fields), len(rest)))
    args = dict(zip(fields, rest))
    if "mode" in args:
        m = args["mode"]
        if not m or any(ch not in "01234567" for ch in m) or int(m, 8) > 0o7777:
            raise MkimageError("bad mode %r (octal, at most 7777)" % m)
        args["mode"] = int(m, 8)
        args["uid"] = _pseudo_id(args["uid"], "user")
        args["gid"] = _pseudo_id(args["gid"], "group")
    for key in ("major", "minor"):
        if key in args:
            if not args[key].isdigit():
                raise MkimageError("bad %s %r" % (key, args[key]))
            args[key] = int(args[key])
    if "major" in args and (args["major"] > 0xFFF or args["minor"] > 0xFFFFF):
        raise MkimageError("device number out of range (major <= 4095, "
                           "minor <= 1048575)")
    if letter == "i":
        if args["ipc"] not in ("s", "f"):
            raise MkimageError("type i needs 's' (socket) or 'f' (fifo)")
    if letter == "s":
        target = os.fsencode(args["target"])
        if not target or len(target) > SYMLINK_MAX or b"\0" in target:
            raise MkimageError("bad symlink target")
        args["target"] = target
    if letter == "l":
        args["link"] = _pseudo_path(args["link"])
    parts = _pseudo_path(path)
    if not parts and letter not in ("d", "m"):
        raise MkimageError("the root directory can only be changed (d or m)")
    return PseudoOp(where, parts, letter, args, mtime)


def _find(root, parts):
    node = root
    for name in parts:
        if node.kind != fmt.DIR_TYPE or name not in node.children:
            return None
        node = node.children[name]
    return node


def apply_pseudo(root, ops, default_mtime):
    """Apply parsed pseudo ops to the tree; new entries without a time of
    their own get default_mtime."""
    for op in ops:
        try:
            _apply_one(root, op, default_mtime)
        except MkimageError as e:
            raise MkimageError("%s: %s" % (op.where, e))


def _apply_one(root, op, default_mtime):
    shown = "/" + b"/".join(op.path).decode("utf-8", "replace")
    existing = _find(root, op.path)
    a = op.args
    if op.letter == "m" or (op.letter == "d" and existing is not None
                            and existing.kind == fmt.DIR_TYPE):
        if existing is None:
            raise MkimageError("%s does not exist (m changes an existing entry)"
                               % shown)
        existing.mode, existing.uid, existing.gid = a["mode"], a["uid"], a["gid"]
        if op.mtime is not None:
            existing.mtime = op.mtime
        return
    parent = _find(root, op.path[:-1])
    if parent is None or parent.kind != fmt.DIR_TYPE:
        raise MkimageError("parent directory of %s does not exist" % shown)
    if existing is not None:
        raise MkimageError("%s already exists" % shown)
    if op.letter == "l":
        target = _find(root, a["link"])
        if target is None:
            raise MkimageError("hard link target of %s does not exist" % shown)
        if target.kind == fmt.DIR_TYPE:
            raise MkimageError("cannot hard link a directory (%s)" % shown)
        parent.children[op.path[-1]] = target
        return
    kind = PSEUDO_KINDS.get(op.letter)
    if op.letter == "i":
        kind = fmt.SOCKET_TYPE if a["ipc"] == "s" else fmt.FIFO_TYPE
    mtime = default_mtime if op.mtime is None else op.mtime
    node = Node(kind, a["mode"], a["uid"], a["gid"], mtime)
    if kind in (fmt.BLKDEV_TYPE, fmt.CHRDEV_TYPE):
        node.major, node.minor = a["major"], a["minor"]
    if kind == fmt.SYMLINK_TYPE:
        node.target = a["target"]
    parent.children[op.path[-1]] = node
