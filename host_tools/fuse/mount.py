"""Attaching a FUSE connection to a mountpoint, and detaching it.

As root, `/dev/fuse` is opened and mount(2) is called through ctypes (the
standard library's door to libc; Python has no os.mount).  Otherwise
`fusermount3` (setuid, from the fuse3 package) mounts for us and hands the
/dev/fuse descriptor back over a socketpair (SCM_RIGHTS, socket.recv_fds).
No libfuse code runs in either case.
"""

import ctypes
import ctypes.util
import errno
import os
import shutil
import socket
import subprocess

from host_tools.cli import CliError

FUSE_DEVICE = "/dev/fuse"
FS_TYPE = "fuse.ovl"
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MNT_DETACH = 2
HELPER_TIMEOUT = 30


def _libc():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


def _fusermount():
    return shutil.which("fusermount3")


def open_device():
    try:
        return os.open(FUSE_DEVICE, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CliError("%s does not exist: this kernel has no FUSE (load the"
                       " fuse module)" % FUSE_DEVICE)
    except PermissionError:
        raise CliError("no permission to open %s (run as root, or install "
                       "fuse3 for fusermount3)" % FUSE_DEVICE)


def escape_option(text):
    return text.replace("\\", "\\\\").replace(",", "\\,")


def attach(mountpoint, source, readonly=False, allow_other=False,
           dev=False, suid=False):
    """Mount a new FUSE connection at mountpoint; returns its fd."""
    if os.geteuid() == 0:
        return _attach_root(mountpoint, source, readonly, allow_other, dev,
                            suid)
    helper = _fusermount()
    if helper is None:
        raise CliError("mounting as a user needs fusermount3 (Debian "
                       "package fuse3), or run as root")
    return _attach_helper(helper, mountpoint, source, readonly, allow_other)


def _attach_root(mountpoint, source, readonly, allow_other, dev, suid):
    fd = open_device()
    opts = "fd=%d,rootmode=40000,user_id=%d,group_id=%d,default_permissions" \
        % (fd, os.getuid(), os.getgid())
    if allow_other:
        opts += ",allow_other"
    flags = (MS_RDONLY if readonly else 0) | (0 if dev else MS_NODEV) | \
        (0 if suid else MS_NOSUID)
    libc = _libc()
    if libc.mount(source.encode(), mountpoint.encode(), FS_TYPE.encode(),
                  flags, opts.encode()) != 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise CliError("mount %s: %s" % (mountpoint, os.strerror(err)))
    return fd


def _attach_helper(helper, mountpoint, source, readonly, allow_other):
    opts = ["nosuid", "nodev", "default_permissions", "subtype=ovl",
            "fsname=" + escape_option(source), "ro" if readonly else "rw"]
    if allow_other:
        opts.append("allow_other")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        env = dict(os.environ, _FUSE_COMMFD=str(theirs.fileno()))
        proc = subprocess.Popen([helper, "-o", ",".join(opts), "--",
                                 mountpoint], env=env,
                                pass_fds=(theirs.fileno(),),
                                stderr=subprocess.PIPE)
        theirs.close()
        ours.settimeout(HELPER_TIMEOUT)
        try:
            _msg, fds, _flags, _addr = socket.recv_fds(ours, 1, 1)
        except (OSError, socket.timeout):
            fds = []
        try:
            _out, err = proc.communicate(timeout=HELPER_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            err = b"timed out"
        if not fds:
            raise CliError("fusermount3 could not mount %s: %s" % (
                mountpoint, " ".join(err.decode(errors="replace").split())))
        return fds[0]
    finally:
        ours.close()
        theirs.close()


def detach(mountpoint, lazy=False):
    """Unmount mountpoint; raises OSError (EBUSY, EINVAL, ...)."""
    if os.geteuid() == 0:
        if _libc().umount2(mountpoint.encode(), MNT_DETACH if lazy else 0):
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return
    helper = _fusermount()
    if helper is None:
        raise OSError(errno.EPERM, "unmounting as a user needs fusermount3")
    proc = subprocess.run([helper, "-u"] + (["-z"] if lazy else []) +
                          ["--", mountpoint], capture_output=True, text=True,
                          timeout=HELPER_TIMEOUT)
    if proc.returncode != 0:
        raise OSError(errno.EBUSY if "busy" in proc.stderr else errno.EPERM,
                      " ".join(proc.stderr.split()) or "fusermount3 -u failed")


def unescape_mountinfo(field):
    """mountinfo writes space, tab, newline and backslash as \\ooo."""
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and \
                len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def find_mount(mountpoint):
    """(fstype, source) of the mount at mountpoint, or None."""
    target = os.path.realpath(mountpoint)
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if "-" not in fields:
                continue
            sep = fields.index("-")
            if unescape_mountinfo(fields[4]) == target:
                # the last mount on a path is the one visible there
                found = (fields[sep + 1], unescape_mountinfo(fields[sep + 2]))
    return found
