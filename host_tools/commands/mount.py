"""`ovl mount` and `ovl umount`: the merged tree as a Linux filesystem.

    ovl mount --lower LOWER --upper UPPER MOUNTPOINT [-o OPTS] [--foreground]
    ovl umount MOUNTPOINT

LOWER is a SquashFS image (a file or a block device such as /dev/loopN or
/dev/mtdblockN) or a directory; UPPER an upper image file (`ovl format`) or
an MTD character device (/dev/mtdN).  Every flash program and erase goes
straight to UPPER, so killing the server is a power cut: the next mount
repairs.  Everything that can fail (layers, lock, mountpoint, /dev/fuse,
the kernel's INIT) fails before `ovl mount` returns; then, without
--foreground, a child process serves and the command exits 0.
"""

import argparse
import os
import signal
import time

from ovl.overlay import mount as mount_overlay, Overlay
from host_tools.cli import CliError, UsageError
from host_tools.commands.overlay import open_lower, lock_upper
from host_tools import argtypes
from host_tools.commands.store import (is_mtd_device, open_mtd,
                                  sniff_geometry, check_image_path)
from host_tools.fuse import mount as fuse_mount
from host_tools.fuse import server as fuse_server

BOOL_OPTIONS = ("ro", "rw", "allow_other", "dev", "nodev", "suid", "nosuid",
                "default_permissions")
UMOUNT_WAIT = 60


def parse_options(values):
    """-o a,b=c (repeatable) -> dict; unknown options and bad values are
    argument errors."""
    opts = {}
    for value in values:
        for item in value.split(","):
            if not item:
                continue
            key, eq, arg = item.partition("=")
            if key == "write_buffer" and eq:
                try:
                    opts[key] = argtypes.size(arg)
                except argparse.ArgumentTypeError as e:
                    raise UsageError("-o write_buffer: %s" % e)
            elif key in BOOL_OPTIONS and not eq:
                opts[key] = True
            else:
                raise UsageError("unknown mount option %r (known: %s, "
                               "write_buffer=SIZE)"
                               % (item, ", ".join(BOOL_OPTIONS)))
    return opts


def check_mountpoint(path):
    if not os.path.exists(path):
        raise CliError("mountpoint %s does not exist" % path)
    if not os.path.isdir(path):
        raise CliError("mountpoint %s is not a directory" % path)
    if os.path.ismount(path):
        raise CliError("mountpoint %s is busy: something is mounted there"
                       % path)


def check_apart(mountpoint, layers):
    """The server must never read its own mount (it would wait for itself):
    no layer may lie under the mountpoint, nor a lower directory hold it."""
    mnt = os.path.realpath(mountpoint)
    for what, path in layers:
        if not path:
            continue
        real = os.path.realpath(path)
        if real == mnt or real.startswith(mnt + "/") or \
                (os.path.isdir(real) and mnt.startswith(real + "/")):
            raise CliError("mountpoint %s overlaps the %s %s: the server "
                           "would read its own mount" % (mountpoint, what,
                                                         path))


def open_write_through(path):
    """The upper's flash, every program and erase written at once: an
    MTD device, or an image file through MtdFlash's file emulation (the
    image is never held in RAM and saved later, as `ovl fs` does)."""
    from ovl.mtd import MtdFlash
    if is_mtd_device(path):
        return open_mtd(path)
    check_image_path(path)
    size, es, ps, kind, _part = sniff_geometry(path)
    return MtdFlash(path, size, es, ps, ioctl=None, kind=kind)


def open_layers(lower_path, upper_path, readonly):
    """(overlay, flash or None, lock or None) for the two layers."""
    try:
        lower = open_lower(lower_path)
    except ValueError as e:
        raise CliError("lower %s is not a SquashFS image or a directory: %s"
                       % (lower_path, e))
    if not upper_path:
        return Overlay(lower, None), None, None
    if not is_mtd_device(upper_path):
        check_image_path(upper_path)
    try:
        lock = lock_upper(upper_path)
    except OSError as e:
        raise CliError(e.strerror)
    try:
        flash = open_write_through(upper_path)
        try:
            ovl = mount_overlay(lower, flash, readonly=readonly)
        except ValueError as e:
            raise CliError("upper %s: %s" % (upper_path, e))
    except BaseException:
        lock.close()
        raise
    return ovl, flash, lock


class Stop(Exception):
    """A termination signal arrived while the server waited for a request."""


class Lifecycle:
    """SIGTERM/SIGINT/SIGHUP: finish the request in hand, commit, unmount.
    The signal interrupts only the wait for the next request."""

    def __init__(self):
        self.requested = False
        self.waiting = False

    def install(self):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.on_signal)

    def on_signal(self, signum, frame):
        self.requested = True
        if self.waiting:
            raise Stop()

    def stop(self):
        return self.requested


def serve_until_done(server, fd, mountpoint, life):
    """Serve; on a signal, commit and detach the mount.  Exit status 0,
    or 1 when a commit failed (logged)."""
    try:
        fuse_server.serve(server, fd, stop=life.stop, waiting=life)
    except Stop:
        pass                     # serve() committed on its way out
    if life.requested:
        try:
            fuse_mount.detach(mountpoint, lazy=True)
        except OSError:
            pass                 # already gone (umount raced the signal)
    os.close(fd)
    return 1 if server.failures else 0


def run_mount(args):
    opts = parse_options(args.options)
    readonly = bool(opts.get("ro"))
    mountpoint = os.path.abspath(args.mountpoint)
    check_mountpoint(mountpoint)
    check_apart(mountpoint, [("lower", args.lower), ("upper", args.upper)])
    if os.geteuid() == 0 and not os.path.exists(fuse_mount.FUSE_DEVICE):
        raise CliError("%s does not exist: this kernel has no FUSE (load "
                       "the fuse module)" % fuse_mount.FUSE_DEVICE)
    ovl, flash, lock = open_layers(args.lower, args.upper, readonly)
    if flash is not None and opts.get("write_buffer", 0) > flash.size:
        # a file's data past the upper's size never commits: only RAM grows
        release(flash, lock)
        raise CliError("write_buffer=%d is more than the upper holds (%d "
                       "bytes)" % (opts["write_buffer"], flash.size))
    try:
        server, fd = start_serving(ovl, args, opts, mountpoint, readonly)
    except BaseException:
        release(flash, lock)
        raise
    life = Lifecycle()
    life.install()
    if args.foreground:
        try:
            return serve_until_done(server, fd, mountpoint, life)
        finally:
            release(flash, lock)
    if os.fork():
        os._exit(0)              # the child serves; it alone releases
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    os.close(null)
    try:
        status = serve_until_done(server, fd, mountpoint, life)
        release(flash, lock)
    except BaseException:
        status = 1
    os._exit(status)


def start_serving(ovl, args, opts, mountpoint, readonly):
    """Mount and answer INIT; returns (server, the connection's fd)."""
    server = fuse_server.FuseServer(
        ovl, write_buffer=opts.get("write_buffer",
                                   fuse_server.DEFAULT_WRITE_BUFFER),
        log=fuse_server.log_stderr)
    fd = fuse_mount.attach(mountpoint, os.path.abspath(args.upper or
                                                       args.lower),
                           readonly=readonly,
                           allow_other=bool(opts.get("allow_other")),
                           dev=bool(opts.get("dev")),
                           suid=bool(opts.get("suid")))
    try:
        handshake(server, fd)
    except BaseException:
        try:
            fuse_mount.detach(mountpoint, lazy=True)
        finally:
            os.close(fd)
        raise
    return server, fd


def release(flash, lock):
    if flash is not None:
        flash.close()
    if lock is not None:
        lock.close()


def handshake(server, fd):
    """Answer the kernel's INIT before going on: a refusal shows here."""
    buf = bytearray(fuse_server.READ_BUFFER)
    raw = fuse_server.read_request(fd, buf)
    out = server.handle(raw)
    if out is not None:
        fuse_server.write_reply(fd, out)
    if not server.initialized:
        raise CliError("the kernel's FUSE INIT was not accepted")


def wait_for_server(source):
    """After the kernel let go, the server still commits and exits: wait
    until it releases the upper (its lock), so a new mount finds it free."""
    if not (is_mtd_device(source) or os.path.isfile(source)):
        return                   # a lower-only mount locks nothing
    deadline = time.monotonic() + UMOUNT_WAIT
    while True:
        try:
            lock_upper(source).close()
            return
        except (OSError, CliError):
            if time.monotonic() > deadline:
                raise CliError("unmounted, but the server still holds %s"
                               " after %d s" % (source, UMOUNT_WAIT))
            time.sleep(0.05)


def run_umount(args):
    mountpoint = os.path.abspath(args.mountpoint)
    found = fuse_mount.find_mount(mountpoint)
    if found is None or found[0] != fuse_mount.FS_TYPE:
        raise CliError("%s is not an ovl mount" % mountpoint)
    try:
        fuse_mount.detach(mountpoint)
    except OSError as e:
        raise CliError("umount %s: %s" % (mountpoint, e.strerror or e))
    wait_for_server(found[1])


def add_mount_args(p):
    p.add_argument("--lower", required=True, help="SquashFS image, block "
                   "device or directory")
    p.add_argument("--upper", help="upper image (`ovl format`) or MTD "
                   "device /dev/mtdN; without it the mount is read-only")
    p.add_argument("mountpoint")
    p.add_argument("-o", dest="options", action="append", default=[],
                   metavar="OPTS", help="ro, allow_other, dev, suid, "
                   "write_buffer=SIZE (comma-separated)")
    p.add_argument("--foreground", "-f", action="store_true",
                   help="serve in this process until unmounted")


def add_umount_args(p):
    p.add_argument("mountpoint")


COMMANDS = {
    "mount": ("mount the merged tree at MOUNTPOINT (FUSE)", add_mount_args,
              run_mount),
    "umount": ("unmount an `ovl mount`, waiting until the upper is "
               "committed", add_umount_args, run_umount),
}
