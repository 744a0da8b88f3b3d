"""ovl.compat's errno numbers are Linux's, and errno_name names them back,
on both runtimes (the host's errno module is the reference: the tests run
on Linux)."""
import errno

import pytest

from ovl import compat


def test_errno_numbers_match_linux(runtime):
    # the numbers of compat's one table, found by name (compat.ENOENT:
    # __getattr__ on a board, globals on CPython) and named back
    names = sorted(compat._ERRNOS.split()[::2])
    assert len(names) >= 28 and "ENOENT" in names and "ESTALE" in names
    assert "ENOTEMPTY" in names
    if errno.ENOTEMPTY != 39:
        pytest.skip("the host is not Linux: no reference for the numbers")
    expected = {n: [getattr(errno, n), n] for n in names}
    expected["unknown"] = ["E1000", "E3", "AttributeError"]
    expected["not names"] = ["AttributeError", "AttributeError", "Ex"]
    expected["an oserror"] = [errno.ENOTEMPTY, "ENOTEMPTY: /d"]
    expected["str of an oserror"] = ["[Errno 2] ENOENT: /p",
                                     "[Errno 2] ENOENT", 1]
    # a board keeps none of them as a module global (0.8 KB of heap);
    # CPython keeps all, for `from ovl.compat import ENOENT` without a
    # call per use
    expected["numbers kept as globals"] = \
        len(names) if runtime.name == "cpython" else 0
    runtime.run_checks("compat_errno.py", expected, args=names)


def test_injected_agent_modules_answer_their_names(mpy):
    """The agent's bootstrap (host_tools/serial/link.py) installs ovl.compat
    and ovl.flash as plain objects holding their globals, whose class hands
    a name the object lacks to the module's own __getattr__: compat's errno
    numbers (all in its table) and flash's write_blocks (ovl.flash_rare's,
    which the bootstrap installs too) answer through it."""
    from host_tools.serial.link import bootstrap_script
    names = ("EINVAL", "ESTALE", "ENOSYS", "ENOMEM", "EIO", "EACCES", "EBUSY",
             "E2BIG", "ENODEV", "ENOENT", "EFBIG")
    check = ("import ovl.compat as c, ovl.flash as f\n"
             "print([getattr(c, n) for n in %r], c.errno_name(c.EBUSY),"
             " c.hexdigest(c.sha256(b'abc'))[:8], c.crc32(b'abc'),"
             " callable(f.write_blocks), type(sys.modules['ovl.compat'])"
             ".__name__)" % (names,))
    out = mpy(bootstrap_script(start=check)).strip().splitlines()[-1]
    assert out == "%r EBUSY ba7816bf 891568578 True _OvlMod" % (
        [getattr(errno, n) for n in names],)


def test_injected_agent_missing_module_is_an_import_error(mpy):
    """A module the bootstrap did not send is an ImportError on the board,
    as for any missing module (what `except ImportError` sites expect),
    not an AttributeError out of the installed package object."""
    from host_tools.serial.link import bootstrap_script
    check = ("for n in ('ovl.paths', 'ovl.store'):\n"
             "    try:\n"
             "        __import__(n)\n"
             "        print('imported', n)\n"
             "    except ImportError:\n"
             "        print('ImportError', n)\n"
             "    except Exception as e:\n"
             "        print(type(e).__name__, n)\n")
    script = bootstrap_script(start=check)
    # (the real package on the path would mask a missing module)
    out = mpy(script).strip().splitlines()[-2:]
    assert out == ["ImportError ovl.paths", "ImportError ovl.store"], out


def test_inflate_into_reads_the_packed_block_in_place(mpy):
    """MicroPython's inflate_into inflates the stream lying in the last
    bytes of the buffer into its start.  Where the heap has no room for a
    copy of the packed bytes (io.BytesIO raising MemoryError here), it
    reads them where they are: the output never overwrites packed bytes
    not read yet, including streams whose output runs ahead of its input
    (a compressible start, then bytes that do not compress), streams of
    stored blocks and small windows, and it allocates the decoder only.
    Either way an overlong output and a cut or damaged stream are
    ValueErrors."""
    import os
    import zlib
    noise = os.urandom(4000)
    cases = [
        (b"abc" * 2730, 9, 8193),
        (bytes(4096) + noise[:4096], 15, 8193),  # output catches the input
        (noise[:3000] + bytes(5000), 12, 8193),
        (bytes(range(256)) * 32, 10, 8193),
        (b"x" * 4096, 12, 4097),
        (b"a" * 4096, 12, 4096),                 # one byte too many
    ]
    args = []
    for data, wbits, size in cases:
        c = zlib.compressobj(9, zlib.DEFLATED, wbits)
        args.append((c.compress(data) + c.flush(), size))
    stored = zlib.compressobj(0, zlib.DEFLATED, 12)
    args.append((stored.compress(noise) + stored.flush(), 8193))
    cases.append((noise, 12, 8193))
    good = args[0][0]
    args.append((good[:len(good) // 2], 8193))                       # cut
    args.append((good[:20] + bytes(len(good) - 20), 8193))      # damaged
    script = (
        "import binascii, gc, micropython\n"
        "sys.path.insert(0, %r)\n"
        "from ovl import squashfs_rare\n"
        "for in_place in (0, 1):\n"
        "    if in_place:\n"
        "        import inflate_in_place\n"
        "    for packed, size in %r:\n"
        "        buf = bytearray(size)\n"
        "        buf[size - len(packed):] = packed\n"
        "        gc.collect()\n"
        "        a0 = micropython.mem_total()\n"
        "        try:\n"
        "            n = squashfs_rare.inflate_into(buf, len(packed))\n"
        "            used = micropython.mem_total() - a0\n"
        "            print(n, binascii.crc32(buf[:n]), used)\n"
        "        except ValueError as e:\n"
        "            print('ValueError', str(e).split(':')[0])\n"
        % (os.path.join(os.path.dirname(__file__), "scripts"), args))
    lines = mpy(script).strip().splitlines()
    want = ["%d %d" % (len(d), zlib.crc32(d)) for d, _, _ in cases[:5]]
    want.append("ValueError inflated data exceeds 4095 bytes")
    want.append("%d %d" % (len(noise), zlib.crc32(noise)))
    want.append("ValueError bad zlib stream")
    assert len(lines) == 2 * len(args), lines
    for got, in_place in ((lines[:len(args)], False),
                          (lines[len(args):], True)):
        assert [" ".join(line.split()[:2]) if line[0].isdigit() else line
                for line in got[:-1]] == want, in_place
        assert got[-1].startswith("ValueError")   # damaged: either message
        # allocated: the decoder (its state, its window, small objects),
        # the copy unless in place, and where the output caught up with
        # the input, the packed bytes left then
        for line, (data, wbits, _), (packed, _) in zip(got, cases, args):
            if line[0].isdigit():
                used = int(line.split()[2])
                extra = len(packed) if not in_place or \
                    data[:4096] == bytes(4096) else 0
                assert used < 3072 + (1 << wbits) + extra, (line, in_place)


STREAMS = r"""
import binascii, sys
sys.path.insert(0, %(scripts)r)
from ovl import compat
if %(in_place)r:
    import inflate_in_place     # no room for a copy of the packed bytes
source = bytearray(1000) + %(packed)r + bytearray(1000)
reads = []
def read(pos, n, buf=None):
    reads.append(n)
    if buf is None:
        return bytes(source[pos:pos + n])
    buf[:] = source[pos:pos + n]
# n bytes at each offset, each from a new stream (skipping to the offset)
# and continued on one stream
for offset, n in %(steps)r:
    stream = compat.inflate_stream(read, 1000, %(size)d, 12)
    try:
        got = compat.stream_read(stream, offset, n)
        print(len(got), binascii.crc32(got))
    except ValueError as e:
        print("ValueError", str(e).split(":")[0])
stream = compat.inflate_stream(read, 1000, %(size)d, 12)
at = 0
whole = 0
try:
    for offset, n in %(steps)r:
        if offset >= at:
            got = compat.stream_read(stream, offset - at, n)
            whole = binascii.crc32(got, whole)
            at = offset + len(got)
    print("continued", whole)
except ValueError as e:
    print("continued ValueError")
print("reads", len(reads), max(reads))
"""


@pytest.mark.parametrize("in_place", [False, True], ids=["copy", "source"])
def test_inflate_stream_reads_what_is_asked_on_micropython(mpy, in_place):
    """compat.inflate_stream and stream_read: n bytes at an offset, from
    a copy of the packed bytes or (no room for one) from the source 128
    bytes a read; short at the stream's end; a stream cut short or
    damaged is a ValueError."""
    import os
    import zlib
    data = b"".join(b"%05d lines of text\n" % i for i in range(210))
    c = zlib.compressobj(9, zlib.DEFLATED, 10)
    packed = c.compress(data[:4000]) + c.flush()
    steps = [(0, 100), (100, 900), (3500, 400), (3990, 100), (0, 4000),
             (4000, 10)]
    scripts = os.path.join(os.path.dirname(__file__), "scripts")
    out = mpy(STREAMS % {"scripts": scripts, "in_place": in_place,
                         "packed": packed, "size": len(packed),
                         "steps": steps}).strip().splitlines()
    want = []
    for offset, n in steps:
        piece = data[:4000][offset:offset + n]
        want.append("%d %d" % (len(piece), zlib.crc32(piece)))
    assert out[:-2] == want, out
    # continued on one stream: the pieces at or after where it stood
    assert out[-2] == "continued %d" % zlib.crc32(
        data[:1000] + data[3500:3900] + data[3990:4000]), out
    count, largest = map(int, out[-1].split()[1:])
    if in_place:        # 128 bytes a read
        assert largest == 128 and count >= len(steps) * 2, out
    else:               # one read of the packed bytes a stream
        assert largest == len(packed) and count == len(steps) + 1, out
    bad = mpy(STREAMS % {"scripts": scripts, "in_place": in_place,
                         "packed": packed[:len(packed) // 2],
                         "size": len(packed) // 2,
                         "steps": [(0, 4000)]}).strip().splitlines()
    assert bad[:2] == ["ValueError bad zlib stream",
                       "continued ValueError"], bad
