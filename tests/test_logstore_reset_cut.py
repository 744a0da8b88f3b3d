"""A power cut during a factory reset of the log store that follows a
streamed write: the dead-byte accounting fsck checks stays right (the
NODE_COMMIT of the older stream is dead for mount, GC and fsck alike;
docs/STORE.md, "Factory reset")."""


def test_a_reset_cut_after_a_streamed_write_leaves_no_fsck_error(runtime):
    runtime.run_checks("reset_cut_after_stream.py", {
        "before, after": [["big"], []],
        "reset's flash operations": True,
        "states seen": ["after", "before"],
        "fsck errors at mount": [],
        "fsck errors after GC": [],
        "fsck errors after a remount": [],
    })
