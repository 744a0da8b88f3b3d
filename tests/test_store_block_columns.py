"""The block table's columns (ovl.store.blocks): dead bytes as a signed
16-bit array on blocks under 32 KiB (32-bit above), which holds because
a summary whose nodes overlap is refused (ovl.store.format.read_summary),
so mount's count-down of a block's dead bytes never passes its start."""


def test_dead_bytes_array_and_summary_order(runtime):
    runtime.run_checks("store_block_columns.py", {
        "in log order, one after the other": [32, 68],
        "in log order, a gap between": [32, 104],
        "the second inside the first": None,
        "the second before the first": None,
        "dead bytes: bytes a block, signed, same after a mount, none below "
        "zero": [[2, True, True, True, []], [4, True, True, True, []]],
    })


def test_no_version_is_above_every_version():
    from ovl.store import blocks, format as fmt
    assert blocks.NO_VER == fmt.COUNTER_MAX + 1


def test_store_names_the_block_states_as_blocks_does():
    # ovl.store keeps the states as private consts (no global each on a
    # board); under CPython they are plain globals to compare
    import ovl.store as store
    from ovl.store import blocks, mount, write
    for mod in (store, mount):
        assert [mod._FREE, mod._OPEN, mod._FULL, mod._UNKNOWN] == \
            [blocks.FREE, blocks.OPEN, blocks.FULL, blocks.UNKNOWN]
    # (the writer names the three it opens, fills and picks from)
    assert [write._FREE, write._OPEN, write._FULL] == \
        [blocks.FREE, blocks.OPEN, blocks.FULL]
    assert store._FF4 == write._FF4 == b"\xff" * 4


def test_store_and_format_agree_on_their_private_consts():
    # ovl.store (and its txn_rare, write and mount) and ovl.store.format each keep the
    # writer's node types, flags, layouts and limits as private consts
    # (inlined on a board, no name kept); the format answers their public
    # names.  Every private const of theirs named like one of the
    # format's must have its value, and each such name must answer from
    # the format; one the format keeps private only (the node header's
    # layout the writer's encoder packs) must have the format's value.
    import re
    import ovl.store as store
    from ovl.store import format as fmt, txn_rare, mount, write
    shared = []
    for mod in (store, txn_rare, mount, write):
        src = open(mod.__file__).read()
        for n in re.findall(r"^_([A-Z][A-Z0-9_]*) = const\(", src, re.M):
            if hasattr(fmt, n):
                shared.append(n)
                assert getattr(mod, "_" + n) == getattr(fmt, n), n
            elif hasattr(fmt, "_" + n):
                shared.append(n)
                assert getattr(mod, "_" + n) == getattr(fmt, "_" + n), n
    assert len(shared) >= 31, shared
    assert fmt.NODE_INODE == 1 and fmt.VOID_BODY == "<QQI"
    assert "NODE_INODE" not in vars(store)
