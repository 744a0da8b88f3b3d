"""The log store's parts a healthy board never runs are imported at their
first use (LogStore's and Txn's __getattr__) and still work there, on
both runtimes (tests/test_fit.py checks that the board job imports none
of them); those run at moments (reset, fsck, and the mount itself) are
released after each call."""

HEADER = "block header damaged (bit 3 of byte 6; mended)"


def test_store_parts_load_at_first_use_and_work(runtime):
    runtime.run_checks("store_lazy_parts.py", {
        "healthy mount, list, read, write, abort": [20, True, True, []],
        "a long txn streams, reads back, commits": [
            True, 1, True, ["ovl.store.stream", "ovl.store.txn_rare"]],
        "free_bytes, statvfs, counters": [
            True, True, True, 16, True,
            ["ovl.store.collect", "ovl.store.stream", "ovl.store.supersede",
             "ovl.store.txn_rare"]],
        "gc collects, data survive": [
            True, True, True, True,
            ["ovl.store.collect", "ovl.store.stream", "ovl.store.supersede",
             "ovl.store.txn_rare"]],
        # (reset runs at moments: released after the call)
        "reset empties the store": [
            [], [], "0o40700",
            ["ovl.store.collect", "ovl.store.stream",
             "ovl.store.supersede", "ovl.store.txn_rare"]],
        "a flipped header bit is mended and reported": [
            [HEADER], 1,
            ["ovl.store.collect", "ovl.store.damage",
             "ovl.store.stream", "ovl.store.supersede",
             "ovl.store.txn_rare"]],
        "fsck names it, and nothing else": ["block B: " + HEADER],
        "fsck's and reset's modules released after the call": [
            ["ovl.store.collect", "ovl.store.damage",
             "ovl.store.stream", "ovl.store.supersede",
             "ovl.store.txn_rare"], []],
        "CPython keeps them": True,
        "an unknown attribute": "AttributeError",
        "a lazy method is kept once reached": True,
        "a txn's rare calls, each on its own class": [
            4, "AttributeError", "AttributeError", "AttributeError", None,
            True],
    })


MOUNTED_NO_WRITER = [["f0", "f1", "f2"], True, False, False]
NO_ENCODERS = [False, False, False, False]
WRITER_LOADED = [True, True, True]
REMOUNTED = [["f0", "f1", "f2", "new"], []]


def test_writer_loads_at_the_first_begin(runtime):
    # (before: ovl.store held the writer, so a mount had it loaded)
    runtime.run_checks("store_lazy_write.py", {
        "mount, list, read, sync: no writer (loaded, on the class)":
            MOUNTED_NO_WRITER,
        "the mount path's format: no encoder, no builder's pack or parts":
            NO_ENCODERS,
        "the first begin loads it; the txn commits": WRITER_LOADED,
        "remounted": REMOUNTED,
    })


def test_writer_that_cannot_load_fails_the_begin_and_writes_nothing(mpy):
    # a heap full but for 3 KiB: importing the writer raises MemoryError
    # at begin(), nothing is programmed and no half module stays, so the
    # next begin() imports it whole and writes (before: begin() needed
    # no import and answered a txn)
    mpy.run_checks("store_lazy_write.py", {
        "mount, list, read, sync: no writer (loaded, on the class)":
            MOUNTED_NO_WRITER,
        "the mount path's format: no encoder, no builder's pack or parts":
            NO_ENCODERS,
        "begin() on a full heap: error, programs, writer loaded": [
            "MemoryError", 0, False],
        "the first begin loads it; the txn commits": WRITER_LOADED,
        "remounted": REMOUNTED,
    }, args=["heap"], heap="1M")
