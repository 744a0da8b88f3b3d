"""What ovl.store's import leaves for later (docs/FIT.md, "The store's
import heap, third round"): a plain mount, list, read and write import
none of it, and each part still answers as before, on both runtimes."""

EIO_NAME = "inode %d: damaged on flash at 0x%x"


def test_store_rare_parts_answer_once_reached(runtime):
    got = runtime.run_checks("store_import_heap.py", {
        "a plain mount, list, read, write: none of them imported": [
            8, "xxxxxxxxxx11", "v", []],
        "unlink, whiteout, get_meta, read: txn_rare's": [
            ["new", None], "yy22", None, -1, ["txn_rare", "stream"]],
        "readlink: read_rare's": [
            "f0", ["OSError", "EINVAL", "inode 2 is not a symlink"],
            ["read_rare", "txn_rare", "stream"]],
        "the core's errors keep their classes and messages": [
            ["ValueError", None, "transaction already committed or aborted"],
            ["OSError", "EROFS", "log store mounted read-only"],
            ["OSError", "EINVAL", "negative offset"],
            ["OSError", "EINVAL", "negative offset"],
            ["ValueError", None, "unknown inode attribute 'colour'"],
            ["ValueError", None, "cannot link inode number 0"],
            ["ValueError", None,
             "ino must be a 32-bit unsigned int, not -1"],
            ["ValueError", None, "metadata key must be 1..255 bytes"],
            ["OSError", "E2BIG",
             "metadata value of 1025 bytes is over 1024"],
            ["ValueError", None, "log store needs at least 5 erase blocks,"
             " flash has 4"],
            ["errors", "read_rare", "txn_rare", "stream"]],
        "the format's refusals, from format_rare": [
            ["ValueError", None, "version or txn id past 48 bits"],
            ["CorruptError", None, "unknown node type 0x33"],
            True,
            ["ValueError", None, "dirent name longer than NAME_MAX"],
            ["errors", "read_rare", "txn_rare", "format_rare", "stream"]],
        "a block bad at its erase: retired": [False, 4, 1, False],
    })
    eio = got["a damaged inode: EIO, noted"]
    assert eio[0] == ["OSError", "EIO"] and eio[1] is True
    assert eio[2] == ["inode CRC"]
