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
