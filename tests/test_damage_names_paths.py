"""Damage names the file (README: "damage answers EIO naming the file"):
a read of a file whose data node fails its CRC raises EIO with the
file's path, on both runtimes, and `ovl fsck` / `ovl fs get` name the
path, not only the inode the store knows."""

from test_backup import ovl
from test_logstore import run


def test_a_damaged_files_read_names_its_path(runtime):
    out = run(runtime, """
from ovl.overlay import mount
from ovl.dirlower import DirLower
import os
f = SimFlash(64 * 1024, 4096, 256)
LogStore.format(f)
try:
    os.mkdir('lowerdir')
except OSError:
    pass
fs = mount(DirLower('lowerdir'), f)
fs.mkdir('/etc')
fs.write_bytes('/etc/pat', b'PATTERN!' * 500)
fs.sync()
i = bytes(f.mem).find(b'PATTERN!' * 10)
f.mem[i + 100] ^= 4
fs = mount(DirLower('lowerdir'), f)
try:
    fs.read_bytes('/etc/pat')
    print('read')
except OSError as e:
    print(compat.error_code(e) == compat.EIO, str(e).count('/etc/pat: inode'))
""")
    assert out == ["True", "1"], out


def test_fsck_and_get_name_the_damaged_files_path(tmp_path):
    tree = tmp_path / "t"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "hostname").write_text("box\n")
    lower, upper = tmp_path / "L.sqfs", tmp_path / "U.img"
    assert ovl("mkimage", "-q", tree, lower)[0] == 0
    assert ovl("format", "--size", "64K", "--erase-size", "4K",
               upper)[0] == 0
    pat = tmp_path / "pat"
    pat.write_bytes(b"PATTERN!" * 500)
    layers = ["--lower", lower, "--upper", upper]
    assert ovl("fs", "put", pat, "/etc/pat", *layers)[0] == 0
    image = bytearray(upper.read_bytes())
    image[image.find(b"PATTERN!" * 10) + 100] ^= 4
    upper.write_bytes(bytes(image))
    status, out, err = ovl("fs", "get", "/etc/pat", tmp_path / "out",
                           *layers)
    assert status == 1 and "/etc/pat: inode" in err, err
    status, out, err = ovl("fsck", upper)
    assert status == 4, out + err
    assert [line for line in out.splitlines()
            if "fails its" in line and line.endswith("(/etc/pat)")], out
