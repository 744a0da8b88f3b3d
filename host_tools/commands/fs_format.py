"""One vocabulary and one output format for `ovl fs`, `ovl shell` and
`ovl remote`: the three front ends build the same records here and print
them the same way, whether the overlay is on image files or on a board.

Records (what `ovl shell --json` prints as "out"):
  ls     [{"name", "type", "mode", "size"} + with -l: "nlink", "uid", "gid",
          "layer" and, for a symlink whose target is known, "target"]
  stat   {"path", "type", "mode", "perm", "ino", "nlink", "uid", "gid",
          "size", "mtime", "layer"}
  diff   [{"change", "path"}]
  layer  {"path", "layer"}
  fsck   {"clean", "problems"}
  conflicts [{"kind", "path"}]: after a firmware upgrade, kind is
          conflict, modified, created or dropped (docs/OVERLAY.md)
"mode" is the full st_mode in octal (str, e.g. "100644", as `ovl fs stat`
has always printed it), "perm" its permission bits in octal ("0644"),
"type" one of TYPE_NAMES.  Names the lower holds that are not
UTF-8 are str decoded with surrogateescape (as os.fsdecode does): text
output prints their original bytes, JSON carries them as \\udcXX escapes.
"""

import json

from ovl import compat
from ovl.overlay.meta import MAX_FILE_SIZE
from ovl.paths import S_IFMT, S_IFDIR, S_IFLNK, S_IFREG, S_IFCHR, S_IFBLK, \
    S_IFIFO, S_IFSOCK

TYPE_NAMES = {S_IFDIR: "dir", S_IFLNK: "symlink", S_IFREG: "file",
              S_IFCHR: "chardev", S_IFBLK: "blockdev", S_IFIFO: "fifo",
              S_IFSOCK: "socket"}
TYPE_CHARS = {"dir": "d", "symlink": "l", "file": "-", "chardev": "c",
              "blockdev": "b", "fifo": "p", "socket": "s"}


def type_name(mode):
    return TYPE_NAMES.get(mode & S_IFMT, "unknown")


def type_char(mode):
    return TYPE_CHARS.get(type_name(mode), "?")


def mode_string(mode):
    """`ls -l`'s ten characters, e.g. -rw-r--r--."""
    bits = "rwxrwxrwx"
    perm = "".join(bits[i] if mode & (0o400 >> i) else "-" for i in range(9))
    return type_char(mode) + perm


def data_bytes(text):
    """The bytes of a write verb's DATA (`ovl shell`, crashtest scripts):
    its characters as UTF-8, and the escapes of a Python bytes literal
    (\\n, \\t, \\x00, \\\\, octal \\0) as the bytes they name; an
    unknown escape (\\q) stays as written.  ValueError for a bad \\x or a
    trailing backslash."""
    import codecs
    import warnings
    with warnings.catch_warnings():
        # CPython 3.12 warns of an unknown escape; it is kept, as documented
        warnings.simplefilter("ignore", DeprecationWarning)
        return codecs.escape_decode(
            text.encode("utf-8", "surrogateescape"))[0]


WRITE_MODES = ("w", "a", "r+", "x")


def write_args(words, limit=MAX_FILE_SIZE):
    """A write verb's PATH MODE OFFSET DATA (`ovl shell`, crashtest
    scripts) -> (path, mode with its b, offset, data bytes); ValueError
    naming the word that is wrong.  MODE is w, a, r+ or x, b optional (a
    appends whatever OFFSET says); the write may end at most at limit."""
    path, mode, offset, text = words
    bare = mode.replace("b", "")
    if bare not in WRITE_MODES or mode.count("b") > 1:
        raise ValueError("write MODE must be one of %s (b optional), not %r"
                         % (", ".join(WRITE_MODES), mode[:20]))
    try:
        offset = int(offset)
    except ValueError:
        raise ValueError("OFFSET must be a number, not %r" % offset[:40])
    try:
        data = data_bytes(text)
    except ValueError as e:
        raise ValueError("DATA is not a valid escaped string: %s" % e)
    if offset < 0 or offset + len(data) > limit:
        raise ValueError("OFFSET must be 0 to %d, not %d"
                         % (limit - len(data), offset))
    return path, bare + "b", offset, data


def write_at(ovl, path, mode, offset, data):
    """What a write verb does: open path with mode, seek to offset, write
    data, close."""
    with ovl.open(path, mode) as f:
        f.seek(offset)
        f.write(data)


def split_command(line, comments=False):
    """The words of one `ovl shell` line (crashtest scripts too), as
    shlex.split gives them, except a write's DATA: the rest of the line
    after OFFSET, its backslashes untouched for data_bytes, so an escape
    means the same quoted or not.  DATA that is one quoted string ('...'
    or "...", the same quote inside escaped as \\' or \\") loses its
    quotes; any other DATA is taken as written, spaces and # included.
    ValueError for unbalanced quotes or text after DATA's closing quote."""
    import io
    import shlex
    lexer = shlex.shlex(io.StringIO(line), posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#" if comments else ""
    words = []
    while len(words) < 4:
        word = lexer.get_token()
        if word is None:        # the line ended before any DATA
            return words
        if not words and word != "write":
            return shlex.split(line, comments=comments)
        words.append(word)
    data = lexer.instream.read().strip()
    if data:
        words.append(unquoted_data(data))
    return words


def unquoted_data(text):
    """DATA without the quotes around it when it is one quoted string."""
    quote = text[0]
    if quote not in "'\"":
        return text
    i = 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" else 1
    if i >= len(text):
        raise ValueError("DATA has no closing quotation")
    if i != len(text) - 1:
        raise ValueError("DATA has text after its closing quote (escape "
                         "a quote inside as \\%s)" % quote)
    return text[1:i]


# ----- records -------------------------------------------------------------------

def ls_entry(name, mode, size, nlink=None, uid=None, gid=None, layer=None,
             target=None):
    """One directory entry; the long fields only when all are known."""
    entry = {"name": name, "type": type_name(mode), "mode": "%o" % mode,
             "size": size}
    if nlink is not None:
        entry.update(nlink=nlink, uid=uid, gid=gid, layer=layer)
        if target is not None:
            entry["target"] = target
    return entry


def stat_record(path, mode, ino, nlink, uid, gid, size, mtime, layer):
    return {"path": path, "type": type_name(mode), "mode": "%o" % mode,
            "perm": "%04o" % (mode & 0o7777), "ino": ino, "nlink": nlink,
            "uid": uid, "gid": gid, "size": size, "mtime": mtime,
            "layer": layer}


def diff_records(changes):
    return [{"change": kind, "path": path} for kind, path in changes]


def layer_record(path, layer):
    return {"path": path, "layer": layer}


def fsck_record(problems):
    return {"clean": not problems, "problems": list(problems)}


def conflict_records(pairs):
    return [{"kind": kind, "path": path} for kind, path in pairs]


def rm_kind_error(path, is_dir):
    """rm takes files, rmdir directories: the same answer everywhere."""
    if is_dir:
        return OSError(compat.EISDIR, "EISDIR: %s is a directory (use rmdir)"
                       % path)
    return OSError(compat.ENOTDIR, "ENOTDIR: %s is not a directory (use rm)"
                   % path)


# ----- text --------------------------------------------------------------------

def ls_line(entry):
    if "nlink" not in entry:
        return entry["name"]
    extra = " -> " + entry["target"] if "target" in entry else ""
    return "%s %3d %5d %5d %9d %-9s %s%s" % (
        mode_string(int(entry["mode"], 8)), entry["nlink"], entry["uid"],
        entry["gid"], entry["size"], entry["layer"], entry["name"], extra)


def diff_line(record):
    return "%-8s %s" % (record["change"], record["path"])


def fsck_lines(record):
    problems = record["problems"]
    return list(problems) + ["fsck: %s" % ("clean" if not problems else
                                           "%d problem(s)" % len(problems))]


def as_text(kind, out):
    """Text of a verb's result: None (nothing to print), bytes (printed
    raw) or str (printed as lines; "" prints nothing, not a blank line)."""
    if out is None or isinstance(out, bytes):
        return out
    if kind == "ls":
        return "\n".join(ls_line(e) for e in out)
    if kind == "diff":
        return "\n".join(diff_line(r) for r in out)
    if kind == "conflicts":
        return "\n".join("%-9s %s" % (r["kind"], r["path"]) for r in out)
    if kind == "layer":
        return out["layer"]
    if kind == "fsck":
        return "\n".join(fsck_lines(out))
    if isinstance(out, (dict, list)):
        return json.dumps(out, sort_keys=True)
    return str(out)


def names_as_bytes(*streams):
    """Text streams (sys.stdout, sys.stdin) that print and read a name
    that is not UTF-8 as its original bytes: the str os.fsdecode gives for
    them (surrogateescape), so what ls prints can be typed back."""
    for stream in streams:
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")


def print_text(stream, text):
    """Print a verb's text result the one way all three front ends do."""
    if text is None or text == "":
        return
    if isinstance(text, bytes):
        stream.flush()
        stream.buffer.write(text)
        stream.buffer.flush()
        return
    print(text, file=stream)


def reset_line(what, keep):
    """What `ovl reset` and `ovl remote reset` print: what was done
    ("done", or when it will be) and the paths kept."""
    return "reset: %s%s" % (what, ", keeping " + " ".join(keep) if keep
                            else "")
