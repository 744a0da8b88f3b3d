"""The crash oracle's own model and the workload generator (no ovl code)."""

import pytest

from host_tools.crash import workloads as wl
from host_tools.crash.model import Model, ModelError, tree_matches, tree_diff
from ovl import compat


def std_model(**kw):
    m = Model(wl.STD_LOWER, **kw)
    for op in wl.STD_SETUP:
        m.apply(op)
    return m


def err(model, op):
    with pytest.raises(ModelError) as e:
        model.apply(op)
    return compat.errno_name(e.value.errno)


def test_fixture_state_after_setup():
    s = std_model().snapshot()
    assert "/wh" not in s and "/md/y" not in s and "/od/old" not in s
    assert s["/od/new"][4] == b"new\n"
    assert s["/uf"][:5] == ("f", 0o644, 0, 0, b"upper file\n")
    # the lower hard-linked pair is one inode with two names
    assert s["/hl1"][5:7] == (2, "/hl1") and s["/hl2"][5:7] == (2, "/hl1")
    assert s["/lsym"] == ("l", "lf", "/lsym")


def test_partial_write_and_extend_keep_the_rest():
    m = std_model()
    m.apply(wl.CATALOGUE["write_lower"])
    m.apply(wl.CATALOGUE["write_past_end"])
    s = m.snapshot()
    assert s["/lf"][4] == b"lowerXYile: 0123456789abcdef\n"
    assert s["/ld/a"][4] == b"a in ld\n" + b"\0" * 12 + b"far"
    assert s["/lf"][7] is None          # mtime changed: not predicted
    assert s["/ld/b"][7] == wl.T0       # untouched: predicted


def test_hard_links_share_writes_and_metadata():
    m = std_model()
    m.apply(wl.CATALOGUE["write_hardlink"])
    m.apply(wl.CATALOGUE["chown_hardlink"])
    s = m.snapshot()
    assert s["/hl1"][2:5] == (7, 8, b"Hard-linked pair\n")
    assert s["/hl1"] == s["/hl2"]


def test_links_can_be_modelled_as_broken_by_copy_up():
    m = std_model(links_survive_copyup=False)
    m.apply(wl.CATALOGUE["write_hardlink"])
    s = m.snapshot()
    assert s["/hl2"][4] == b"hard-linked pair\n"
    assert s["/hl1"][6] == "/hl1" and s["/hl2"][6] == "/hl2"


@pytest.mark.parametrize("name, errno", [
    ("mkdir_existing", "EEXIST"), ("unlink_whiteout", "ENOENT"),
    ("unlink_dir", "EISDIR"), ("rmdir_nonempty", "ENOTEMPTY"),
    ("rename_dir_into_self", "EINVAL"), ("link_existing", "EEXIST"),
])
def test_expected_errnos(name, errno):
    m = std_model()
    before = m.snapshot()
    assert err(m, wl.CATALOGUE[name]) == errno
    assert m.snapshot() == before       # a failed op changes nothing


def test_rename_semantics():
    m = std_model()
    m.apply(wl.CATALOGUE["rename_to_own_link"])     # POSIX: no-op
    assert "/hl1" in m.snapshot()
    m.apply(wl.CATALOGUE["rename_dir_lower"])
    s = m.snapshot()
    assert "/ld" not in s and s["/ld2/sub/c"][4] == b"c\n"
    m.apply(("rename", "/uf", "/ld2/a"))
    s = m.snapshot()
    assert "/uf" not in s and s["/ld2/a"][4] == b"upper file\n"
    assert err(m, ("rename", "/ld2", "/lf")) == "ENOTDIR"
    assert err(m, ("rename", "/lf", "/ed")) == "EISDIR"
    assert err(m, ("rename", "/ed", "/ld2")) == "ENOTEMPTY"
    no_redirect = std_model(lower_dir_rename=False)
    assert err(no_redirect, wl.CATALOGUE["rename_dir_lower"]) == "EXDEV"
    no_redirect.apply(wl.CATALOGUE["rename_dir_upper"])  # upper dirs move


def test_symlinks_are_followed_where_posix_follows_them():
    m = std_model()
    m.apply(wl.CATALOGUE["utime_via_symlink"])
    s = m.snapshot()
    assert s["/lf"][7] == 6000
    m.apply(("write", "/lsym", "ab", 0, b"!"))
    assert m.snapshot()["/lf"][4].endswith(b"\n!")
    m.apply(wl.CATALOGUE["unlink_symlink"])         # removes the link itself
    assert "/lsym" not in m.snapshot() and "/lf" in m.snapshot()
    m.apply(("symlink", "loop", "/loop"))
    assert err(m, ("write", "/loop", "r+b", 0, b"x")) == "ELOOP"


def test_revert_and_reset_bring_the_lower_back():
    m = std_model()
    pristine = m.snapshot()
    m.apply(wl.CATALOGUE["write_lower"])
    m.apply(wl.CATALOGUE["unlink_in_opaque"])
    m.apply(wl.CATALOGUE["revert_file"])
    assert m.snapshot()["/lf"] == pristine["/lf"]
    m.apply(wl.CATALOGUE["revert_whiteout"])
    assert m.snapshot()["/wh"][4] == b"whited out\n"
    m.apply(("revert", "/od"))          # opaque dir: the lower one returns
    s = m.snapshot()
    assert "/od/old" in s and "/od/new" not in s
    m.apply(wl.CATALOGUE["reset"])
    s = m.snapshot()
    assert "/uf" not in s and "/md/y" in s and "/wh" in s


def test_revert_under_a_renamed_dir_follows_the_redirect():
    m = std_model()
    m.apply(wl.CATALOGUE["rename_dir_lower"])
    m.apply(("write", "/ld2/a", "wb", 0, b"changed"))
    m.apply(("revert", "/ld2/a"))
    assert m.snapshot()["/ld2/a"][4] == b"a in ld\n"


def test_tree_matching_treats_unknown_mtime_as_wildcard():
    m = std_model()
    want = m.snapshot()
    got = dict(want)
    got["/lf"] = want["/lf"][:7] + (12345,)
    assert not tree_matches(got, want)
    assert "/lf" in tree_diff(got, want)
    m.apply(wl.CATALOGUE["write_lower"])
    want = m.snapshot()
    got = dict(want)
    got["/lf"] = want["/lf"][:7] + (12345,)
    assert tree_matches(got, want)
    del got["/uf"]
    assert not tree_matches(got, want)


def test_script_lines_round_trip():
    for name, op in wl.CATALOGUE.items():
        line = wl.format_op(op)
        assert wl.parse_line(line) == op, line
    assert wl.parse_line("  # a comment") is None
    assert wl.parse_line("ls /") is None
    assert wl.parse_line("write /x wb 0 'a b\\n\\x00'") == (
        "write", "/x", "wb", 0, b"a b\n\0")
    with pytest.raises(ValueError, match="bad command"):
        wl.parse_line("frobnicate /x")
    with pytest.raises(ValueError, match="MODE"):
        wl.parse_line("write /x rw 0 data")


def test_script_workload_keys_are_self_contained(tmp_path):
    (tmp_path / "hostfile").write_bytes(b"hello")
    key = wl.parse_script("put hostfile /n\nls /\nmv /n /ld/n\nsync\n",
                          base_dir=str(tmp_path))
    fixture, names, ops = wl.parse_workload(key)
    assert fixture == "std" and names[-1] == "sync"
    assert ops == [("write", "/n", "wb", 0, b"hello"),
                   ("rename", "/n", "/ld/n"), ("sync",)]
    assert wl.op_label(names[0]) == "script:write"
    with pytest.raises(ValueError, match="<script>:2: bad command"):
        wl.parse_script("sync\nbogus\n")
    with pytest.raises(ValueError, match="fixture"):
        wl.parse_workload("nope:sync")
    with pytest.raises(ValueError, match="unknown op"):
        wl.parse_workload("std:no_such_op")


def test_generator_covers_every_op_and_pair_and_shards_partition():
    keys = wl.generate("ci")
    assert len(keys) == len(set(keys))
    pairs = {k for k in keys if k.count("+") == 1 and "sync" not in k and
             k.startswith("std:")}
    assert len(pairs) == len(wl.OPS) ** 2
    synced = [k for k in keys if "+sync+" in k and k.startswith("std:")]
    assert len(synced) == len(wl.OPS) ** 2 // 2
    for op in wl.OPS:
        assert "std:%s" % op in keys and "std:%s+sync" % op in keys
    assert any(k.startswith("gc:") for k in keys)
    big = [k for k in keys if k.startswith("big:")]
    for n in wl.LARGE_SIZES:      # every size, as a new file and a rewrite
        assert "big:big_new_%d" % n in big and "big:big_wb_lower_%d" % n in big
    assert wl.generate("ci") == keys            # deterministic
    full = wl.generate("full")
    assert len([k for k in full if k.count("+") == 1 and "sync" not in k
                and k.startswith("std:")]) == len(wl.OPS) ** 2
    parts = [wl.shard(keys, i, 3) for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(keys)
    assert not set(parts[0]) & set(parts[1])
    with pytest.raises(ValueError):
        wl.shard(keys, 4, 3)


def test_every_catalogue_op_is_meaningful_on_the_fixture():
    """Each generated op either changes the tree or fails with an errno it
    was chosen for, so no op silently tests nothing."""
    base = std_model().snapshot()
    for name, op in wl.CATALOGUE.items():
        m = std_model()
        try:
            m.apply(op)
        except ModelError:
            continue
        if name not in ("sync", "checkpoint", "revert_upper_only",
                        "rename_to_own_link", "revert_file", "revert_dir"):
            assert m.snapshot() != base, name


def test_link_counts_of_lower_hard_links():
    static = std_model(lower_nlink_static=True)
    static.apply(wl.CATALOGUE["unlink_hardlink"])
    assert static.snapshot()["/hl2"][5] == 2    # the lower's count, as shown
    static.apply(("chmod", "/hl2", 0o600))      # copy-up keeps the ghost
    assert static.snapshot()["/hl2"][5] == 2
    static.apply(("link", "/hl2", "/x"))
    assert static.snapshot()["/x"][5] == 3
    exact = std_model()             # ovl's behaviour: the names there are
    exact.apply(wl.CATALOGUE["unlink_hardlink"])
    assert exact.snapshot()["/hl2"][5] == 1
    exact.apply(("link", "/hl2", "/x"))
    assert exact.snapshot()["/x"][5] == 2


def test_hard_links_must_stay_one_inode():
    want = std_model().snapshot()
    got = dict(want)
    got["/hl2"] = want["/hl2"][:6] + ("/hl2",) + want["/hl2"][7:]
    assert not tree_matches(got, want)          # the pair came apart
    assert "one inode" in tree_diff(got, want)
    got = dict(want)
    got["/lf"] = want["/lf"][:6] + ("/hl1",) + want["/lf"][7:]
    assert tree_matches(got, want)      # a shared st_ino is not our check


def test_revert_of_a_name_no_layer_has_is_enoent():
    m = std_model()
    m.apply(wl.CATALOGUE["revert_upper_only"])
    assert err(m, wl.CATALOGUE["revert_upper_only"]) == "ENOENT"
    m.apply(wl.CATALOGUE["revert_whiteout"])      # a whiteout: allowed
    m.apply(wl.CATALOGUE["revert_whiteout"])      # a lower name: a no-op


@pytest.mark.parametrize("perm", [-1, 0o10000])
def test_chmod_outside_0_to_7777_is_einval_as_the_overlay_says(perm):
    """The oracle agrees with Overlay.chmod, which refuses rather than
    masks (a script line `chmod -1 /lf` was modelled as mode 7777)."""
    m = std_model()
    before = m.snapshot()
    assert err(m, ("chmod", "/lf", perm)) == "EINVAL"
    assert m.snapshot() == before


def test_chown_minus_one_leaves_that_id():
    """chown(path, -1, gid) and the shell's `chown UID PATH` change one id
    (the model stored -1)."""
    m = std_model()
    m.apply(wl.parse_line("chown 5 /ld/a"))
    m.apply(("chown", "/hl1", -1, -1))
    m.apply(("chown", "/uf", -1, 9))
    s = m.snapshot()
    assert s["/ld/a"][2:4] == (5, 0)
    assert s["/hl1"][2:4] == (0, 0)
    assert s["/uf"][2:4] == (0, 9)
    # past uid_t/gid_t, time_t: EINVAL (the model took any number)
    for op in (("chown", "/lf", 1 << 32, -1), ("chown", "/lf", 0, -2),
               ("utime", "/lf", 1 << 63), ("chown", "/nope", 1 << 40, 0)):
        assert err(m, op) == "EINVAL", op


def test_script_lines_take_the_shells_write_modes():
    for mode, want in (("w", "wb"), ("a", "ab"), ("r+", "r+b"),
                       ("rb+", "r+b"), ("xb", "xb")):
        assert wl.parse_line("write /x %s 3 d" % mode) == (
            "write", "/x", want, 3, b"d"), mode
    m = std_model()
    m.apply(wl.parse_line("write /xn x 2 new"))
    assert m.snapshot()["/xn"][4] == b"\0\0new"
    assert err(m, ("write", "/uf", "xb", 0, b"x")) == "EEXIST"
    assert err(m, ("write", "/lsym", "xb", 0, b"x")) == "EEXIST"


def test_script_sizes_and_offsets_are_bounded_at_parse_time(tmp_path):
    limit = wl.SCRIPT_FILE_LIMIT
    for line in ("truncate /lf %d" % (limit + 1), "truncate /lf %d" % 10**20,
                 "write /lf r+b %d a" % 10**20, "write /lf r+b -1 a",
                 "write /lf wb %d ab" % (limit - 1)):
        with pytest.raises(ValueError, match="must be"):
            wl.parse_line(line)
    assert wl.parse_line("truncate /lf %d" % limit) == ("truncate", "/lf",
                                                        limit)
    assert wl.parse_line("truncate /lf -1") == ("truncate", "/lf", -1)
    with pytest.raises(ValueError, match="not a regular file"):
        wl.parse_line("put /dev/zero /x")
    with pytest.raises(ValueError, match="nothere"):
        wl.parse_line("put nothere /x", base_dir=str(tmp_path))


def test_inline_ops_of_a_key_must_be_commands():
    """"=" + base64 of a line that changes the tree; anything else is a
    ValueError (a blank decoded line made a None op)."""
    for name in ("=!!!", "=", "=" + "bHMgLw", "=//8"):    # ls /, b"\xff\xff"
        with pytest.raises(ValueError, match="inline op"):
            wl.op_by_name(name)
