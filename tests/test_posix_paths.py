"""The overlay's paths at the edges, as Linux resolves them (an outside
review ran the same calls on kernel overlayfs and on ovl): under both
runtimes, through the API (and the agent where it passes a path on)."""


def lower_tree(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_bytes(b"router\n")
    (tmp_path / "f").write_bytes(b"file\n")
    return str(tmp_path)


def test_an_empty_path_is_enoent_not_the_root(runtime, tmp_path):
    """`chmod 700 ""` changed "/": split_path drops empty names, so ""
    walked to the root."""
    expect = {"%s ''" % name: "ENOENT" for name in (
        "chmod", "chown", "utime", "stat", "lstat", "listdir", "open r",
        "open w", "mkdir", "rmdir", "remove", "rename from", "rename to",
        "symlink at", "link to", "readlink")}
    expect.update({"root mode unchanged": True, "changes": []})
    runtime.run_checks("posix_empty_path.py", expect,
                       args=[lower_tree(tmp_path)])
