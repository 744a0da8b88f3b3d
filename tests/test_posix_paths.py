"""The overlay's paths at the edges, as Linux resolves them (an outside
review ran the same calls on kernel overlayfs and on ovl): under both
runtimes, through the API (and the agent where it passes a path on)."""


def lower_tree(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hostname").write_bytes(b"router\n")
    (tmp_path / "f").write_bytes(b"file\n")
    return str(tmp_path)


def test_revert_of_a_path_that_only_normalises_to_the_root(runtime, tmp_path):
    """`ovl fs revert ""`, `.`, `/nope/..`, `/f/..` did a factory reset;
    now they fail as Linux resolves them, and only a path of slashes is
    the whole upper; a reset's keep path with "." or ".." is refused (it
    kept "/", that is everything)."""
    changed = [["metadata", "/etc/hostname"], ["added", "/etc/wifi"]]
    expect = {}
    for path, code in (("", "ENOENT"), (".", "EINVAL"),
                       ("/nope/..", "ENOENT"), ("/f/..", "ENOTDIR"),
                       ("/etc/..", "EINVAL"), ("/etc/.", "EINVAL"),
                       ("etc/..", "EINVAL")):
        expect["revert %r" % path] = code
        expect["agent revert %r" % path] = code
    for keep in ("/nope/..", "/etc/..", "/etc/./wifi"):
        expect["reset, keep %r" % keep] = "EINVAL"
        expect["request_reset, keep %r" % keep] = "EINVAL"
    expect.update({
        "changes after the refusals": changed,
        "changes after the refused keeps": changed,
        "reset requested": False,
        "revert '/etc/wifi'": "ok",
        "changes after a revert of one file": changed[:1],
        "revert '/'": "ok",
        "changes after revert '/'": [],
        "revert '//'": "ok",
        "changes after revert '//'": []})
    runtime.run_checks("posix_revert_paths.py", expect,
                       args=[lower_tree(tmp_path)])


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


def test_a_trailing_slash_as_linux_reads_it(runtime, tmp_path):
    """symlink("x", "/new/") and link("/f", "/x/") made files, rename of
    "/f" to "/f/" did nothing, open("/etc/dangling/", "a") created the
    file the link names, open("/missing/", "r") said EISDIR and
    open("/f/", "w") ENOTDIR, lstat("/sl_dir/") did not follow the link."""
    expect = {
        "symlink to a new name/": "ENOENT",
        "symlink to an existing name/": "EEXIST",
        "link to a new name/": "ENOENT",
        "mknod of a new name/": "ENOENT",
        "rename f to f/": "ENOTDIR",
        "rename f/ to f": "ENOTDIR",
        "open a dangling link/ a": "EISDIR",
        "open a missing name/ r": "ENOENT",
        "open a missing name/ r+": "ENOENT",
        "open a missing name/ w": "EISDIR",
        "open a file/ r": "ENOTDIR",
        "open a file/ r+": "ENOTDIR",
        "open a file/ w": "EISDIR",
        "open a file/ a": "EISDIR",
        "open a link to a file/ a": "EISDIR",
        "lstat a link to a dir/": "ok",
        "lstat a link to a file/": "ENOTDIR",
        "lstat a dangling link/": "ENOENT",
        "readlink a link to a dir/": "EINVAL",
        "mkdir a new name/": "ok",
        "lstat a link to a dir/, kind": "dir",
        "lstat a link to a dir, kind": "link",
        "listdir a link to a dir/": ["dangling", "hostname"],
        "changes": ["/etc/dangling", "/newdir", "/sl_dir", "/sl_file"]}
    runtime.run_checks("posix_trailing_slash.py", expect,
                       args=[lower_tree(tmp_path)])


def test_an_empty_write_changes_nothing(runtime, tmp_path):
    """write(b"") after a seek past the end grew the file, and a
    zero-byte append bumped a firmware file's mtime."""
    runtime.run_checks("posix_empty_write.py", {
        "write b'' past the end returns": 0,
        "size while open": 3,
        "size after close": 3,
        "firmware file's mtime kept": True,
        "changes": [["added", "/new"]]}, args=[lower_tree(tmp_path)])


def test_mkdir_drops_set_id_bits(runtime, tmp_path):
    """mkdir("/d", 0o4755) kept set-uid (umask 022 applies too)."""
    runtime.run_checks("posix_mkdir_mode.py", {
        "mkdir 4755, mode": "755", "mkdir 2755, mode": "755",
        "mkdir 1777, mode": "1755", "mkdir 7777, mode": "1755"},
        args=[lower_tree(tmp_path)])
