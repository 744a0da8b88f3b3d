"""Hostile upper images, as an outside reader of docs/FORMAT.md can make
them with CRCs fixed (tests/scripts/hostile_upper.py): a directory loop,
entry names that break the name rule, a node of an unknown type.  Each is
refused or reported, never walked forever."""


def test_a_directory_loop_is_reported_not_walked_forever(tmp_path, runtime):
    lower = tmp_path / "lower"
    lower.mkdir()
    want = {}
    for case in ("to /etc", "to the root"):
        want[case + " diff"] = "EIO"
        want[case + " fsck names it"] = True
        want[case + " store fsck"] = [
            "/etc/loop: names directory %d, which has a name already"
            " (a loop or a second name); --repair drops this entry"
            % (2 if case == "to /etc" else 1)]
        want[case + " repaired"] = ["dropped entry /etc/loop (a second name"
                                    " of directory %d)"
                                    % (2 if case == "to /etc" else 1)]
        want[case + " after"] = [[], []]
        want[case + " listed after"] = ["Q7", "hostname"]
        want[case + " diff after"] = 3
    runtime.run_checks("upper_loops.py", want, args=[str(lower)],
                       timeout=30)



def test_a_node_of_an_unknown_type_is_refused(tmp_path, runtime):
    lower = tmp_path / "lower"
    lower.mkdir()
    want = {case + " mount": ["CorruptError", "node at ADDR has unknown"
                              " type 0x0d (written by a newer ovl?):"
                              " refusing the image"]
            for case in ("end", "middle", "summary")}
    runtime.run_checks("unknown_node_type.py", want, args=[str(lower)])


def test_the_cli_refuses_an_unknown_node_type(tmp_path, cpy):
    from test_backup import ovl
    lower = tmp_path / "lower"
    lower.mkdir()
    image = tmp_path / "upper.img"
    cpy.run_file("unknown_node_type.py", args=[str(lower), str(image)])
    # fsck: 8, could not check (the repair too: it writes nothing)
    for argv, want in ((("fsck", image), 8), (("fsck", "--repair", image), 8),
                       (("fs", "ls", "/", "--lower", lower,
                         "--upper", image), 1)):
        status, out, err = ovl(*argv)
        assert status == want, (argv, status, out, err)
        assert "unknown type 0x0d" in err and len(err.splitlines()) == 1, \
            (argv, err)
