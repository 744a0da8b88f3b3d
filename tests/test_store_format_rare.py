"""ovl.store.format's names a board's mount path never uses live in
ovl.store.format_rare, imported at the first such name and answered
through ovl.store.format, on both runtimes (tests/test_fit.py checks which
modules the board job imports); the block states answer through
ovl.store.blocks' __getattr__."""


def test_rare_format_names_load_at_first_use(runtime):
    runtime.run_checks("store_format_rare.py", {
        "a healthy format, write, sync, mount, read": [True, False],
        "sizes by their public names, from the layouts": [
            True, True, True, True, False],
        "the rest from format_rare, imported at the first such name": [
            True, True, True, True, True],
        "restamp: new txn and flags, version and body CRC kept": [
            True, True, True, True],
        "a blank chip: NotFormattedError, a CorruptError": [
            "NotFormattedError", True, True],
        "BlockCountError": [True, 8, 16],
        "an unknown name": ["AttributeError", "AttributeError", False,
                            "AttributeError", "AttributeError"],
        "each exported name is format_rare's": [True] * 6,
        "a header of format 3": [
            "log store format version 3 (this code reads version 4): format"
            " it again", None],
        "a body failing its CRC": [
            "body CRC", [9, 64, 3], [11, 12], 5, 100, "body CRC", None,
            True, None],
        "block states by name": [
            [0, 1, 2, 3, 4], ["free", "open", "full", "unknown", "bad"],
            ["open", "free", "free"], True, "AttributeError", False],
    })
