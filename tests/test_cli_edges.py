"""Edges of the host tools a reviewer found: argument errors exit 2 on every
command, `ovl fs diff` of a chmod-ed lower hard link, and read-only verbs
on an image in a directory the user cannot write."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


def ovl(*args, cwd=None, unprivileged=False, timeout=120):
    """Run the CLI; unprivileged: as a process that permission bits stop
    (root without its capabilities: setpriv; it can still read the
    checkout and the interpreter, which another uid may not)."""
    argv = [sys.executable, "-m", "host_tools"] + [str(a) for a in args]
    if unprivileged and os.geteuid() == 0:
        argv = DROP_CAPABILITIES + argv
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("OVL_DEBUG", None)
    return subprocess.run(argv, capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=timeout)


DROP_CAPABILITIES = ["setpriv", "--bounding-set", "-all", "--inh-caps", "-all",
                     "--"]


# ----- argument errors: exit 2, argparse's usage and one error line ------------

ARGUMENT_ERRORS = [
    (["fsck", "--size", "abc", "--erase-size", "4k", "{img}"], "--size"),
    (["fsck", "--size", "1M", "--erase-size", "3k", "{img}"],
     "not a power of two"),
    (["fsck", "--size", "1M", "--erase-size", "4k", "--page-size", "0",
      "{img}"], "--page-size"),
    (["fsck", "--size", "5k", "--erase-size", "4k", "{img}"],
     "whole number of 4096-byte erase blocks"),
    (["fsck", "--size", "1M", "{img}"], "give both"),
    (["fsck", "--size", "1M", "--erase-size", "4k", "--page-size", "8k",
      "{img}"], "larger than the erase size"),
    (["info", "--size", "0", "--erase-size", "4k", "{img}"], "--size"),
    (["format", "--size", "abc", "--erase-size", "4k", "{out}"], "--size"),
    (["format", "{out}"], "give --board"),
    (["format", "--board", "sim", "--nand", "{out}"], "not both"),
    (["install", "--port", "P", "--board", "sim", "--baud", "-1"], "--baud"),
    (["install", "--port", "P", "--board", "sim", "--baud", "0",
      "--dry-run"], "--baud"),
    (["dump", "--port", "P", "--baud", "0", "--partition", "x", "{out}"],
     "--baud"),
    (["flash", "--port", "P", "--baud", "0", "{img}"], "--baud"),
    (["remote", "--port", "P", "--baud", "0", "ls"], "--baud"),
    (["rig", "--port", "P", "--power", "dtr:x", "--workload", "w",
      "--cycles", "0"], "--cycles"),
    (["rig", "--port", "P", "--power", "dtr:x", "--workload", "w",
      "--cycles", "1", "--baud", "0"], "--baud"),
    (["sim", "{out}", "--socket", "70000"], "--socket"),
    (["sim", "{out}", "--socket", "-1"], "--socket"),
    (["sim", "{out}", "--hold-pin", "nan"], "--hold-pin"),
    (["sim", "{out}", "--hold-pin", "5000"], "--hold-pin"),
    (["sim", "{out}", "--baud", "0"], "--baud"),
    (["crashtest", "--list", "--jobs", "0"], "--jobs"),
    (["crashtest", "--list", "--seeds", "-1"], "--seeds"),
    (["crashtest", "--list", "--max-failures", "0"], "--max-failures"),
    (["crashtest", "--list", "--triples", "-1"], "--triples"),
    (["crashtest", "--list", "--depth2", "2"], "--depth2"),
    (["crashtest", "--list", "--shard", "3/2"], "--shard"),
    (["crashtest", "--list", "--upper-size", "abc"], "--upper-size"),
    (["crashtest", "--list", "--erase-size", "3k"], "--erase-size"),
    (["crashtest", "--list", "--erase-size", "256"], "--erase-size"),
    (["mkimage", "{dir}", "{out}", "-b", "3K"], "--block-size"),
    (["mkimage", "{dir}", "{out}", "--mtime", "-5"], "--mtime"),
    (["shell", "--lower", "{dir}", "--upper", "{img}",
      "--power-cut-after", "-1"], "--power-cut-after"),
    (["shell", "--lower", "{dir}", "--power-cut-after", "1"], "--upper"),
    (["shell", "--lower", "{dir}", "--upper", "{img}", "--torn", "prefix"],
     "--torn"),
    (["fs", "ls", "--lower", "{dir}", "--seed", "3"], "--seed"),
    (["mount", "--lower", "{dir}", "--upper", "{img}", "-o",
      "write_buffer=abc", "{dir}"], "write_buffer"),
    (["mount", "--lower", "{dir}", "--upper", "{img}", "-o",
      "write_buffer=-1", "{dir}"], "write_buffer"),
    (["mount", "--lower", "{dir}", "--upper", "{img}", "-o", "frob",
      "{dir}"], "unknown mount option"),
]


# (slow: 39 runs of the CLI, about 70 s on two cores; make test runs it)
@pytest.mark.slow
@pytest.mark.parametrize("argv,fragment", ARGUMENT_ERRORS,
                         ids=[" ".join(a[:3]) + " " + a[-1]
                              for a, _ in ARGUMENT_ERRORS])
def test_argument_errors_exit_2(tmp_path, argv, fragment):
    paths = {"img": tmp_path / "u.img", "out": tmp_path / "out",
             "dir": tmp_path / "d"}
    paths["img"].write_bytes(b"\xff" * 65536)
    paths["dir"].mkdir()
    p = ovl(*[a.format(**paths) for a in argv], cwd=str(tmp_path))
    lines = p.stderr.splitlines()
    assert p.returncode == 2, p.stderr
    assert lines[0].startswith("usage: ovl ") and len(lines) >= 2, p.stderr
    assert lines[-1].startswith("ovl %s: error: " % argv[0]), p.stderr
    assert fragment in lines[-1], p.stderr
    assert not os.path.exists(paths["out"]), "wrote %s" % paths["out"]


def test_good_sizes_still_parse():
    from host_tools import argtypes
    assert argtypes.size("1M") == 1 << 20
    assert argtypes.size("0x1000") == 4096
    assert argtypes.power_of_two_size("4KiB") == 4096
    assert argtypes.tcp_port("0") == 0
    assert argtypes.positive("115200") == 115200


# ----- fs diff: a chmod-ed lower hard link whose other name was removed ---------

def hard_linked_layers(tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "h1").write_text("hard\n")
    os.link(tree / "h1", tree / "h2")
    (tree / "plain").write_text("plain\n")
    lower, upper = tmp_path / "L.sqfs", tmp_path / "U.img"
    assert ovl("mkimage", "-q", tree, lower).returncode == 0
    assert ovl("format", "--board", "sim", upper).returncode == 0
    return ["--lower", str(lower), "--upper", str(upper)]


def fs(layers, *args):
    p = ovl("fs", *(list(args) + layers))
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


def test_diff_of_a_chmodded_hard_link_whose_twin_was_removed(tmp_path):
    layers = hard_linked_layers(tmp_path)
    fs(layers, "rm", "/h1")
    fs(layers, "chmod", "600", "/h2")
    assert fs(layers, "diff") == ["deleted", "/h1", "metadata", "/h2"]
    # a name the lower does not hold, or holds as another file, is new
    fs(layers, "mv", "/h2", "/h3")
    assert fs(layers, "diff") == ["deleted", "/h1", "deleted", "/h2",
                                  "added", "/h3"]
    fs(layers, "mv", "/h3", "/plain")
    assert fs(layers, "diff") == ["deleted", "/h1", "deleted", "/h2",
                                  "added", "/plain"]


def test_diff_of_an_edited_hard_link_whose_twin_was_removed(tmp_path):
    layers = hard_linked_layers(tmp_path)
    fs(layers, "rm", "/h1")
    (tmp_path / "new").write_text("HARD\n")
    fs(layers, "put", str(tmp_path / "new"), "/h2")
    assert fs(layers, "diff") == ["deleted", "/h1", "modified", "/h2"]


DIFF_SCRIPT = """
from ovl.flash import BytesSource
from ovl.squashfs import SquashFS
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.overlay import mount
with open(sys.argv[1], "rb") as f:
    lower = SquashFS(BytesSource(f.read()))
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(lower, flash)
fs.remove("/h1")
fs.chmod("/h2", 0o600)
print(fs.diff())
"""


def test_diff_of_a_hard_link_on_both_runtimes(runtime, tmp_path):
    layers = hard_linked_layers(tmp_path)
    out = runtime(DIFF_SCRIPT, args=[layers[1]]).strip()
    assert out == "[('deleted', '/h1'), ('metadata', '/h2')]", out


# ----- read-only verbs on an image in a directory the user cannot write --------

READ_ONLY_VERBS = [["ls", "/etc"], ["cat", "/etc/new"], ["stat", "/etc/new"],
                   ["diff"], ["layer", "/etc/new"], ["fsck"], ["conflicts"],
                   ["get", "/etc/new", "{out}"], ["cat", "--layer", "lower",
                                                 "/etc/hostname"]]


def layers_with_a_file(tmp_path, name):
    """(lower tree, layers, folder): L.sqfs and U.img in tmp_path/name,
    the upper holding /etc/new."""
    tree = tmp_path / "t"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "hostname").write_text("lower\n")
    folder = tmp_path / name
    folder.mkdir()
    lower, upper = folder / "L.sqfs", folder / "U.img"
    assert ovl("mkimage", "-q", tree, lower).returncode == 0
    assert ovl("format", "--board", "sim", upper).returncode == 0
    layers = ["--lower", str(lower), "--upper", str(upper)]
    fs(layers, "put", str(tree / "etc" / "hostname"), "/etc/new")
    return tree, layers, folder


@pytest.fixture
def locked_out(tmp_path):
    """(layers, folder): an upper with a file, in a folder nobody may
    write (mode 0555); the test's own process (root in CI) still can."""
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        print("setpriv is missing: cannot run the CLI without root's"
              " capabilities")
        pytest.skip("setpriv is missing: cannot drop root's capabilities")
    tree, layers, folder = layers_with_a_file(tmp_path, "ro")
    folder.chmod(0o555)
    p = ovl("fs", "put", str(tree / "etc" / "hostname"), "/etc/x", *layers,
            unprivileged=True)
    if p.returncode == 0:
        pytest.fail("permission bits did not stop the CLI: %s" % p.stdout)
    yield layers, folder
    folder.chmod(0o755)


def image_bytes(layers):
    with open(layers[3], "rb") as f:
        return f.read()


def test_read_only_verbs_need_no_lock_file(locked_out, tmp_path):
    layers, folder = locked_out
    before = image_bytes(layers)
    for verb in READ_ONLY_VERBS:
        out = str(tmp_path / "got")
        p = ovl("fs", *[w.format(out=out) for w in verb] + layers,
                unprivileged=True)
        assert p.returncode == 0, (verb, p.stderr)
    assert open(tmp_path / "got").read() == "lower\n"
    assert ovl("fsck", layers[3], unprivileged=True).returncode == 0
    assert ovl("backup", *layers, tmp_path / "b.tar",
               unprivileged=True).returncode == 0
    assert sorted(os.listdir(folder)) == ["L.sqfs", "U.img"]
    assert image_bytes(layers) == before


def test_a_writer_there_is_refused_in_one_line(locked_out):
    layers, folder = locked_out
    before = image_bytes(layers)
    p = ovl("fs", "rm", "/etc/new", *layers, unprivileged=True)
    assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
    assert "cannot change %s" % layers[3] in p.stderr and \
        ".U.img.lock cannot be made" in p.stderr, p.stderr
    p = ovl("fsck", "--repair", layers[3], unprivileged=True)
    assert p.returncode == 8 and "lock file" in p.stderr, p.stderr
    assert image_bytes(layers) == before


def test_a_reader_there_waits_for_no_writer_but_is_refused_by_one(locked_out):
    from host_tools.commands.overlay import UpperLock
    layers, folder = locked_out
    lock = UpperLock(layers[3])         # a writer at work (may write there)
    try:
        p = ovl("fs", "ls", "/etc", *layers, unprivileged=True)
        assert p.returncode == 1 and "in use by another ovl session" in \
            p.stderr, p.stderr
    finally:
        lock.close()
    # a lock file a writer left behind, not held: a reader shares it
    (folder / ".U.img.lock").touch()
    p = ovl("fs", "ls", "/etc", *layers, unprivileged=True)
    assert p.returncode == 0 and p.stdout.split() == ["hostname", "new"], \
        p.stderr
    (folder / ".U.img.lock").unlink()


def test_fsck_repair_is_refused_while_a_session_holds_the_image(tmp_path):
    from host_tools.commands.overlay import UpperLock
    img = tmp_path / "U.img"
    assert ovl("format", "--board", "sim", img).returncode == 0
    lock = UpperLock(str(img))
    try:
        p = ovl("fsck", "--repair", img)
        assert p.returncode == 8 and "in use by another ovl session" in \
            p.stderr, p.stderr
        assert ovl("fsck", img).returncode == 0      # reading needs no lock
    finally:
        lock.close()
    assert ovl("fsck", "--repair", img).returncode == 0


# ----- read-only verbs never save the image -------------------------------------

def read_only_runs(layers, out):
    """Every command that only reads an upper image: the fs verbs,
    `ovl backup`, `ovl info` and `ovl fsck` without --repair."""
    upper = layers[3]
    runs = [["fs"] + [w.format(out=out) for w in verb] + layers
            for verb in READ_ONLY_VERBS]
    return runs + [["backup"] + layers + [out + ".tar"], ["info", upper],
                   ["fsck", upper], ["fsck", "--json", upper]]


def image_state(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return f.read(), st.st_mtime_ns, st.st_ino


@pytest.fixture
def upper_with_a_file(tmp_path):
    tree, layers, folder = layers_with_a_file(tmp_path, "up")
    upper = layers[3]
    # an mtime a save could not keep, whatever the clock's granularity
    os.utime(upper, ns=(10 ** 18, 10 ** 18))
    return layers, folder


def test_read_only_verbs_leave_the_image_and_its_mtime_alone(
        upper_with_a_file, tmp_path):
    layers, folder = upper_with_a_file
    before = image_state(layers[3])
    for argv in read_only_runs(layers, str(tmp_path / "got")):
        p = ovl(*argv)
        assert p.returncode == 0, (argv, p.stderr)
        assert image_state(layers[3]) == before, argv
        assert sorted(os.listdir(folder)) == ["L.sqfs", "U.img"], argv


def test_a_reader_in_a_writable_folder_still_locks_out_a_writer(
        upper_with_a_file):
    from host_tools.commands.overlay import UpperLock
    layers, folder = upper_with_a_file
    lock = UpperLock(layers[3], reader=True)
    try:
        assert not lock.shared          # it could make the lock file
        p = ovl("fs", "rm", "/etc/new", *layers)
        assert p.returncode == 1 and "in use by another ovl session" in \
            p.stderr, p.stderr
    finally:
        lock.close()


@pytest.fixture
def sticky_shared(upper_with_a_file):
    """The upper in a sticky world-writable folder (/tmp's mode 1777),
    folder and image owned by another user (nobody)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give the image to another user")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is missing: cannot drop root's capabilities")
    layers, folder = upper_with_a_file
    for path in (folder, layers[3]):
        os.chown(path, 65534, 65534)
    folder.chmod(0o1777)
    yield layers, folder
    folder.chmod(0o755)


def test_read_only_verbs_work_in_a_sticky_folder_of_another_user(
        sticky_shared, tmp_path):
    layers, folder = sticky_shared
    before = image_state(layers[3])
    for argv in read_only_runs(layers, str(tmp_path / "got")):
        p = ovl(*argv, unprivileged=True)
        assert p.returncode == 0, (argv, p.stderr)
        assert image_state(layers[3]) == before, argv
        assert sorted(os.listdir(folder)) == ["L.sqfs", "U.img"], argv
    assert open(tmp_path / "got").read() == "lower\n"


def test_a_failed_save_leaves_no_saving_file(sticky_shared, tmp_path):
    layers, folder = sticky_shared
    before = image_state(layers[3])
    src = tmp_path / "src"
    src.write_text("new\n")
    p = ovl("fs", "put", src, "/etc/x", *layers, unprivileged=True)
    assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
    assert "U.img" in p.stderr, p.stderr
    assert image_state(layers[3]) == before
    assert sorted(os.listdir(folder)) == ["L.sqfs", "U.img"]


# ----- a verb's own arguments: exit 2 too, before any image is opened -----------

VERB_USAGE_ERRORS = [
    (["cat"], "usage: cat PATH"),
    (["ls", "/a", "/b"], "usage: ls [-l] [PATH]"),
    (["mv", "/a"], "usage: mv SRC DST"),
    (["ln", "-s", "/a"], "usage: ln [-s] SRC DST"),
    (["reset", "now"], "usage: reset [--next-boot]"),
    (["chown", "5:6"], "usage: chown UID[:GID] PATH"),
    (["chmod", "zz", "/etc/a"], "MODE must be an octal number"),
    (["truncate", "/etc/a", "abc"], "SIZE must be a number"),
]


@pytest.mark.parametrize("words,fragment", VERB_USAGE_ERRORS,
                         ids=[" ".join(w) for w, _ in VERB_USAGE_ERRORS])
def test_fs_verb_argument_errors_exit_2(tmp_path, words, fragment):
    # the arity is checked before the images are opened: the missing upper
    # is not what is reported for a verb short of a word
    upper = tmp_path / "absent.img"
    if "must be" in fragment:       # a number is read once the verb runs
        tree = tmp_path / "t"
        (tree / "etc").mkdir(parents=True)
        (tree / "etc" / "a").write_text("a\n")
        assert ovl("mkimage", "-q", tree, tmp_path / "L.sqfs").returncode == 0
        assert ovl("format", "--board", "sim", upper).returncode == 0
    p = ovl("fs", *words, "--lower", tmp_path / "L.sqfs", "--upper", upper)
    lines = p.stderr.splitlines()
    assert p.returncode == 2, p.stderr
    assert lines[-1].startswith("ovl fs: error: "), p.stderr
    assert fragment in lines[-1], p.stderr


def test_remote_argument_errors_exit_2():
    # no port is opened: the words are wrong before anything is sent
    for words, fragment in ((["cat"], "remote cat takes 1 argument"),
                            (["ls", "/a", "/b"], "remote ls takes 0 to 1"),
                            (["-l", "cat", "/a"], "-l is an option of")):
        p = ovl("remote", *words, "--port", "/nonexistent/tty")
        assert p.returncode == 2, p.stderr
        assert fragment in p.stderr.splitlines()[-1], p.stderr


def test_every_verb_usage_line_states_its_arity():
    # the shell, `ovl fs` and the verbs share one check: each usage line
    # (help up to ": ") accepts exactly its own words
    from host_tools.commands.overlay import (SHELL_ONLY, VERBS, ShellError,
                                             check_arity)
    flags = 0
    for name, (_, help_line) in list(VERBS.items()) + list(SHELL_ONLY.items()):
        names = help_line.split(": ", 1)[0].split()[1:]
        flag = names.pop(0)[1:-1] if names[:1] and names[0][:2] == "[-" \
            else None
        required = [n for n in names if not n.startswith("[")]
        for given in ([], [flag]) if flag else ([],):
            flags += len(given)
            check_arity([name] + given + ["x"] * len(required))
            check_arity([name] + given + ["x"] * len(names))
            with pytest.raises(ShellError):
                check_arity([name] + given + ["x"] * (len(names) + 1))
            if required:
                with pytest.raises(ShellError):
                    check_arity([name] + given + ["x"] * (len(required) - 1))
    assert flags == 3       # ls -l, ln -s, reset --next-boot


# ----- the files a command writes: a symlinked upper, every writer locks, -------
# ----- an output that is one of the command's inputs --------------------------

def test_an_upper_given_through_a_symlink_is_written_where_it_points(
        upper_with_a_file, tmp_path):
    layers, folder = upper_with_a_file
    link = folder / "link.img"
    link.symlink_to("U.img")
    src = tmp_path / "src"
    src.write_text("new\n")
    through_link = layers[:3] + [str(link)]
    fs(through_link, "put", str(src), "/etc/put")
    assert ovl("format", "--force", "--board", "sim", link).returncode == 0
    fs(through_link, "put", str(src), "/etc/after")
    # the link is still a link, the image it names has what was written
    assert os.readlink(link) == "U.img"
    assert fs(layers, "ls", "/etc") == ["after", "hostname"]
    assert sorted(os.listdir(folder)) == ["L.sqfs", "U.img", "link.img"]


def test_a_session_through_a_symlink_is_refused_while_one_holds_the_image(
        upper_with_a_file, tmp_path):
    from host_tools.commands.overlay import UpperLock
    layers, folder = upper_with_a_file
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "elsewhere" / "link.img"
    link.symlink_to(layers[3])
    before = image_state(layers[3])
    lock = UpperLock(layers[3])
    try:
        p = ovl("fs", "rm", "/etc/new", *layers[:3], link)
        assert p.returncode == 1 and "in use by another ovl session" in \
            p.stderr, p.stderr
    finally:
        lock.close()
    assert image_state(layers[3]) == before


def writers_of_an_upper(layers, folder):
    """Every command that writes an upper image file, as argv."""
    lower, upper = layers[1], layers[3]
    tar = str(folder / "b.tar")
    assert ovl("backup", *layers, tar).returncode == 0
    return {"format": ["format", "--force", "--board", "sim", upper],
            "fsck --repair": ["fsck", "--repair", upper],
            "fs": ["fs", "rm", "/etc/new"] + layers,
            "shell": ["shell"] + layers,
            "restore": ["restore"] + layers + [tar],
            "reset": ["reset", "--keep", "/etc/new"] + layers}


def test_every_writer_is_refused_while_a_session_holds_the_image(
        upper_with_a_file):
    from host_tools.commands.overlay import UpperLock
    layers, folder = upper_with_a_file
    writers = writers_of_an_upper(layers, folder)
    before = image_state(layers[3])
    lock = UpperLock(layers[3])
    try:
        for name, argv in writers.items():
            p = ovl(*argv)
            assert p.returncode != 0 and "in use by another ovl session" \
                in p.stderr, (name, p.stderr)
            assert image_state(layers[3]) == before, name
    finally:
        lock.close()


def same_file_runs(layers, folder):
    """(argv, the file it must leave alone): outputs that are an input."""
    lower, upper = layers[1], layers[3]
    link = folder / "to_upper"
    link.symlink_to("U.img")
    return [(["fs", "get", "/etc/hostname", upper] + layers, upper),
            (["fs", "get", "/etc/hostname", lower] + layers, lower),
            (["fs", "get", "/etc/hostname", str(link)] + layers, upper),
            (["backup"] + layers + [upper], upper),
            (["backup"] + layers + [lower], lower)]


def test_an_output_that_is_an_input_is_refused_as_cp_does(upper_with_a_file):
    layers, folder = upper_with_a_file
    for argv, kept in same_file_runs(layers, folder):
        before = image_state(kept)
        p = ovl(*argv)
        assert p.returncode == 1 and p.stderr.count("\n") == 1, \
            (argv, p.stderr)
        assert "are the same file" in p.stderr, (argv, p.stderr)
        assert image_state(kept) == before, argv


def test_shell_get_onto_its_own_upper_is_refused(upper_with_a_file):
    layers, folder = upper_with_a_file
    before = image_state(layers[3])
    p = subprocess.run([sys.executable, "-m", "host_tools", "shell"] + layers,
                       input="get /etc/hostname %s\n" % layers[3],
                       capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert p.returncode == 1 and "are the same file" in p.stdout + p.stderr, \
        (p.stdout, p.stderr)
    assert image_state(layers[3])[0] == before[0]


def test_mkimage_onto_its_own_pseudo_file_is_refused(tmp_path):
    tree = tmp_path / "t"
    tree.mkdir()
    pseudo = tmp_path / "pf"
    pseudo.write_text("/dev d 755 0 0\n")
    p = ovl("mkimage", "-q", "-pf", pseudo, tree, pseudo)
    assert p.returncode == 1 and "are the same file" in p.stderr, p.stderr
    assert pseudo.read_text() == "/dev d 755 0 0\n"
