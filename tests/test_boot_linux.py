"""host_tools/linux/ovl-boot, the embedded-Linux boot hook, with image files
for the partitions and a file standing in for the reset button: a normal
boot mounts the overlay, `ovl.safe` on the kernel command line and a short
hold mount the firmware alone read-only, a long hold resets keeping the
keep list, and an upper that does not mount leaves the firmware mounted.
Needs root and /dev/fuse (CI has both)."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
    pytest.skip("FUSE mounts need root and /dev/fuse (CI has both)",
                allow_module_level=True)

HOOK = os.path.join(ROOT, "host_tools", "linux", "ovl-boot")
TIMEOUT = 60


def ovl(*args):
    proc = subprocess.run([sys.executable, "-m", "host_tools"] + list(args),
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


@pytest.fixture
def board(tmp_path):
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "keep").write_text("firmware keep\n")
    (tree / "etc" / "other").write_text("firmware other\n")
    ovl("mkimage", "-q", str(tree), str(tmp_path / "fw.sqfs"))
    ovl("format", "--size", "1M", "--erase-size", "4K",
        str(tmp_path / "upper.img"))
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    (tmp_path / "cmdline").write_text("console=ttyS0\n")
    env = dict(os.environ, OVL_CONF=str(tmp_path / "none"),
               OVL="%s -m host_tools" % sys.executable,
               OVL_LOWER=str(tmp_path / "fw.sqfs"),
               OVL_UPPER=str(tmp_path / "upper.img"), OVL_MOUNT=str(mnt),
               OVL_KEEP="/etc/keep", OVL_RESET_HOLD="2",
               OVL_BUTTON="test -e %s" % (tmp_path / "held"),
               OVL_CMDLINE=str(tmp_path / "cmdline"))
    yield tmp_path, mnt, env
    if is_mounted(mnt):
        subprocess.run(["fusermount3", "-u", "-z", str(mnt)], timeout=TIMEOUT)


def boot(env, mnt):
    """Run the hook; (its stderr, whether writes work), then unmount."""
    proc = subprocess.run(["sh", HOOK], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    assert is_mounted(mnt)
    try:
        with open(mnt / "probe", "w") as f:
            f.write("x")
        writable = True
    except OSError as e:
        assert e.errno == 30        # EROFS
        writable = False
    return proc.stderr, writable


def umount(mnt):
    ovl("umount", str(mnt))
    assert not is_mounted(mnt)


@pytest.mark.slow
def test_normal_safe_reset_and_a_broken_upper(board):
    tmp, mnt, env = board
    err, writable = boot(env, mnt)
    assert "ovl-boot: overlay mounted at %s" % mnt in err and writable
    (mnt / "etc" / "keep").write_text("user keep\n")
    (mnt / "etc" / "other").write_text("user other\n")
    umount(mnt)
    # safe mode from the kernel command line: the firmware alone
    (tmp / "cmdline").write_text("console=ttyS0 ovl.safe\n")
    err, writable = boot(env, mnt)
    assert "safe mode: the firmware alone, read-only" in err
    assert not writable
    assert (mnt / "etc" / "other").read_text() == "firmware other\n"
    umount(mnt)
    (tmp / "cmdline").write_text("console=ttyS0\n")
    # a short press: the button reads held once, then released
    (tmp / "held").write_text("")
    short = dict(env, OVL_BUTTON="test -e {0} && rm {0}".format(tmp / "held"))
    err, writable = boot(short, mnt)
    assert "button held 1 s" in err and "factory reset" not in err
    assert "safe mode: the firmware alone" in err and not writable
    umount(mnt)
    # held throughout: a long hold, a factory reset
    (tmp / "held").write_text("")
    err, writable = boot(env, mnt)
    assert "button held 2 s" in err
    assert "factory reset done, kept /etc/keep" in err
    assert not writable
    umount(mnt)
    os.remove(tmp / "held")
    err, writable = boot(env, mnt)
    assert writable
    assert (mnt / "etc" / "keep").read_text() == "user keep\n"
    assert (mnt / "etc" / "other").read_text() == "firmware other\n"
    umount(mnt)
    # garbage over the upper: the firmware alone, and why
    with open(tmp / "upper.img", "r+b") as f:
        f.write(os.urandom(65536))
    err, writable = boot(env, mnt)
    assert "the upper did not mount (above): the firmware alone" in err
    assert not writable
    assert (mnt / "etc" / "other").read_text() == "firmware other\n"
    umount(mnt)
