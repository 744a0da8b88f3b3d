"""What ovl.store's import leaves out of a board's mount path (the
errors' messages, a transaction's and a store's rare calls, the format's
refusals, the damage its reads find, a bad block's retirement), and that
each still answers as before once reached: labelled results
(tests/test_store_import_heap.py checks each label on both runtimes)."""
import sys

from checklib import create_file, report
from ovl import compat
from ovl.store import LogStore, ROOT_INO
from ovl.store import format as fmt
from ovl_sim.simflash import SimFlash

RARE = ("ovl.store.errors", "ovl.store.read_rare", "ovl.store.txn_rare",
        "ovl.store.damage", "ovl.store.format_rare", "ovl.store.stream")


def loaded():
    return [m.split(".")[-1] for m in RARE if m in sys.modules]


def failure(fn, *args, **opt):
    """(exception name, errno name or None, message) of what fn raised."""
    try:
        fn(*args, **opt)
    except OSError as e:
        name = compat.errno_name(compat.error_code(e))
        message = str(e.args[-1])
        if message.startswith(name + ": "):     # (CPython's oserror names it)
            message = message[len(name) + 2:]
        return ["OSError", name, message]
    except Exception as e:
        return [type(e).__name__, None, str(e)]
    return None


out = {}
f = SimFlash(64 * 1024, 4096, 256)
s = LogStore.format(f)
files = [create_file(s, "f%d" % i, b"%d" % i * 50) for i in range(8)]
s.sync()
s = LogStore.mount(f)
t = s.begin()
t.put_inode(files[1], mtime=5)
t.write(files[1], 0, b"x" * 10)
t.set_meta(files[1], b"k", b"v")
t.commit()
out["a plain mount, list, read, write: none of them imported"] = [
    len(list(s.listdir(ROOT_INO))),
    b"".join(p[2] for p in s.read(files[1], 0, 100))[:12].decode(),
    s.get_meta(files[1], "k").decode(), loaded()]

# a transaction's rare calls, from txn_rare
t = s.begin()
t.set_meta(files[2], b"k", b"new")
seen = [t.get_meta(files[2], "k").decode(), t.get_meta(files[3], b"k")]
t.write(files[2], 0, b"yy")
back = b"".join(p[2] for p in t.read(files[2], 0, 4))
t.unlink(ROOT_INO, "f3")
t.whiteout(ROOT_INO, "gone")
t.commit()
out["unlink, whiteout, get_meta, read: txn_rare's"] = [
    seen, back.decode(), s.lookup(ROOT_INO, "f3"), s.lookup(ROOT_INO, "gone"),
    loaded()]

# a store's rare read
t = s.begin()
link = t.new_ino()
t.put_inode(link, mode=0o120777)
t.set_symlink(link, "f0")
t.link(ROOT_INO, "l", link)
t.commit()
out["readlink: read_rare's"] = [
    s.readlink(link), failure(s.readlink, files[0]), loaded()]

# the core's errors, their messages made in ovl.store.errors
t = s.begin()
done = s.begin()
done.commit()
ro = LogStore.mount(f, readonly=True)
out["the core's errors keep their classes and messages"] = [
    failure(done.commit), failure(ro.begin),
    failure(s.read, files[0], -1, 4), failure(t.write, files[0], -1, b"a"),
    failure(t.put_inode, files[0], colour=1),
    failure(t.link, ROOT_INO, "z", 0), failure(t.put_inode, -1),
    failure(t.set_meta, files[0], b"", b"v"),
    failure(t.set_meta, files[0], b"k", b"v" * 1025),
    failure(LogStore, SimFlash(4 * 4096, 4096, 256)), loaded()]
t.abort()

# the format's refusals, made in format_rare (the encoder's, from the
# writer, loaded by the writes above)
from ovl.store import write
out["the format's refusals, from format_rare"] = [
    failure(write.pack_node, 4, 0, 1 << 48, 1, b""),
    failure(fmt.parse_body, 0x33, b"", 0),
    isinstance(fmt.CorruptError("x"), ValueError),
    failure(fmt.parse_body, fmt.NODE_DIRENT, b"\0" * 300, 300), loaded()]

# damage a read finds: an inode node's body failing its CRC
f2 = SimFlash(64 * 1024, 4096, 256)
s2 = LogStore.format(f2)
victim = create_file(s2, "v", b"v" * 40)
s2.sync()
s2 = LogStore.mount(f2)
addr = s2.inodes.addr(victim)
# its mode, under the body CRC, flipped after the mount (which would
# have found it): the first get reads the node and finds it
f2.mem[addr + fmt.NODE_HDR_SIZE + 20] ^= 0x01
got = failure(s2.get, victim)
out["a damaged inode: EIO, noted"] = [
    got[:2], got[2] == "inode %d: damaged on flash at 0x%x" % (victim, addr),
    [d[3] for d in s2.damage]]

# a block gone bad at its erase: retired, counted once, dropped
b = next(b for b in range(s2.nblocks) if s2.blocks.state[b] == 0)
f2.mark_bad(b, "erase")
out["a block bad at its erase: retired"] = [
    s2._erase(b), s2.blocks.state[b], s2.stats["blocks_retired"],
    b in s2.blocks.verified]

report(out)
