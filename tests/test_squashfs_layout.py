"""The reader's copy of the SquashFS layout agrees with ovl.squashfs_format.

ovl.squashfs keeps the numbers and struct formats it reads as private
consts and inline strings (a board then never imports ovl.squashfs_format:
docs/FIT.md, "Reader code").  Each `_NAME` of the reader must equal the
format module's `NAME`, its tables must match the format's, and every
layout it unpacks must be spelled as the format declares it.  Under
MicroPython the private consts are compiled away, so these checks read the
reader's globals and code under CPython; the last test reads an image under
MicroPython and checks the format module stayed unimported.
"""

import os
import struct

from ovl import squashfs as S
from ovl import squashfs_format as F
from ovl import squashfs_rare as R
from ovl import squashfs_open as O
from host_tools.image import mkimage

# The reader's private consts that mirror a public name of the format
# (its open's, ovl.squashfs_open, included), as (module, name).
MIRRORED = [(module, name[1:]) for module in (S, O) for name in vars(module)
            if name.startswith("_") and name[1:].isupper()
            and hasattr(F, name[1:])]


def test_reader_mirrors_a_dozen_format_constants():
    # fails if the scan below stops finding the consts (a renaming)
    assert len(MIRRORED) >= 20, MIRRORED
    assert (S, "METADATA_SIZE") in MIRRORED and \
        (S, "FRAGMENT_NONE") in MIRRORED and (O, "MAGIC") in MIRRORED


def test_each_mirrored_constant_equals_the_format():
    wrong = [(module.__name__, name, getattr(module, "_" + name),
              getattr(F, name))
             for module, name in MIRRORED
             if getattr(module, "_" + name) != getattr(F, name)]
    assert wrong == []


def test_rare_paths_copy_the_readers_and_formats_constants():
    # squashfs_rare's private consts: the reader's where it has the name,
    # else the format's (but its own bounds)
    names = [name for name in vars(R)
             if name.startswith("_") and name[1:].isupper()
             and name not in ("_MAX_SYMLINK", "_LISTING_WINDOW")]
    assert len(names) >= 8, names
    for name in names:
        want = getattr(S, name) if hasattr(S, name) else getattr(F, name[1:])
        assert getattr(R, name) == want, name


def test_reader_tables_match_the_format():
    assert S._INODE_BODIES == tuple(
        body and body[0] for body in F.INODE_BODY)
    assert S._TYPE_TO_S_IF == F.TYPE_TO_S_IF
    assert list(S._BODY_SIZES) == [
        struct.calcsize(body[0]) if body else 0 for body in F.INODE_BODY]
    assert S._LONGEST_INODE == struct.calcsize(F.INODE_HEADER[0]) + max(
        S._BODY_SIZES)
    assert S._DIR_HEADER_SIZE == F.DIR_HEADER_SIZE
    assert S._DIR_ENTRY_SIZE == F.DIR_ENTRY_SIZE


def code_strings(obj):
    """Every string constant in the functions of a class or module."""
    out = set()
    stack = [v.fget if isinstance(v, property) else v
             for v in vars(obj).values()]
    while stack:
        code = getattr(stack.pop(), "__code__", None)
        if code is None:
            continue
        for c in code.co_consts:
            if isinstance(c, str):
                out.add(c)
            elif hasattr(c, "co_consts"):
                stack.append(type("_", (), {"__code__": c}))
    return out


def test_every_layout_the_reader_unpacks_is_the_formats():
    spelled = code_strings(S.SquashFS) | code_strings(S) | \
        code_strings(R) | code_strings(O)
    for layout in (F.SUPERBLOCK, F.INODE_HEADER, F.DIR_HEADER, F.DIR_ENTRY,
                   F.DIR_INDEX, F.ID_ENTRY, F.FRAGMENT_ENTRY):
        assert layout[0] in spelled, layout
    # ... with the entry sizes the reader passes beside them
    assert struct.calcsize(F.ID_ENTRY[0]) == 4
    assert struct.calcsize(F.FRAGMENT_ENTRY[0]) == 16
    assert struct.calcsize(F.DIR_INDEX[0]) == 12
    # the compressor names, by id (MicroPython's, as bytes), and how many
    # ids there are
    spelled = [c for c in O.open.__code__.co_consts
               if isinstance(c, bytes)]
    assert [n.encode() for n in F.COMPRESSION_NAMES[1:]] in [
        c.split() for c in spelled], spelled
    assert O._COMPRESSION_IDS_END == len(F.COMPRESSION_NAMES)


def test_micropython_reads_without_the_format_module(tmp_path, mpy):
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "f.txt").write_bytes(b"layout\n" * 50)
    image = str(tmp_path / "img.sqfs")
    mkimage.build_image(str(tree), image, block_size=4096, mtime=1700000000,
                        all_root=True)
    out = mpy("import sys\n"
              "from ovl.flash_host import BytesSource\n"
              "from ovl.squashfs import SquashFS\n"
              "fs = SquashFS(BytesSource(open(sys.argv[1], 'rb').read()))\n"
              "e = fs.lookup('/d/f.txt')\n"
              "print(fs.read(e, 0, 7), e.size, fs.compression)\n"
              "print([m for m in sys.modules if 'squashfs_' in m])\n",
              args=[image])
    # (stock metadata is compressed: its path is squashfs_rare's)
    assert out.split("\n")[:2] == ["b'layout\\n' 350 gzip",
                                    "['ovl.squashfs_rare']"], out
    assert os.path.getsize(image) > 96


def test_each_failure_const_indexes_its_row():
    """squashfs_errors.FAILURES names each row's const in a comment above
    it; the reader's `_E_` consts (its open's, ovl.squashfs_open's, with
    them, each named in one module) must number the rows in that order."""
    from ovl import squashfs_errors
    consts = dict((name, value) for module in (S, O)
                  for name, value in vars(module).items()
                  if name.startswith("_E_"))
    assert not [name for name in vars(O) if name.startswith("_E_")
                and hasattr(S, name)]
    with open(squashfs_errors.__file__) as f:
        source = f.read()
    table = source[source.index("FAILURES = ("):]
    named = [line.strip()[2:] for line in table.split("\n")
             if line.strip().startswith("# _E_")]
    assert len(named) == len(squashfs_errors.FAILURES) >= 40
    assert sorted(consts) == sorted(named)
    assert [consts[name] for name in named] == list(
        range(len(squashfs_errors.FAILURES)))
    for cls, message in squashfs_errors.FAILURES:
        assert issubclass(cls, ValueError) and message, cls


def test_a_failure_raises_its_class_with_its_message():
    raised = S._error(S._E_INODE_TYPE, 0x1234, 77)
    assert isinstance(raised, S.BadInodeError)
    assert isinstance(raised, S.CorruptImageError)
    assert str(raised) == "inode 0x1234 has unknown type 77"
    raised = S._error(S._E_ILLEGAL_NAME, b"a/b")
    assert type(raised) is S.BadDirectoryError
    assert str(raised) == "illegal name b'a/b'"
    assert str(S._error(O._E_NO_IDS)) == "id table is empty"
