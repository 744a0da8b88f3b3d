"""A damaged node's summary entry follows docs/FORMAT.md's NODE_SUMMARY
rule (bit 6 `SUM_DAMAGED`, its keep the node's protected prefix): the
summary of a block holding one parses, mount reads the block from it and
still reports the damage; a summary the old writer made (the keep its
rule does not say) is ignored and the block walked, as before."""


def mounts(damage, summaries=1, scanned=15):
    """A mount's [summaries_used, blocks_scanned, damage records at the
    node]: the closed block from its summary, the other 15 blocks (the
    empty ones and the open one) walked."""
    return [summaries, scanned, damage]


def test_a_damaged_node_keeps_its_block_summary(runtime):
    want = {}
    for case, kind in (("dirent", 0x03), ("inode", 0x01), ("data", 0x04)):
        record = [[kind, "body CRC"]]
        want[case + " summary parses"] = [True, True]
        want[case + " mount 1"] = mounts(record)
        want[case + " mount 2"] = mounts(record)
        # the old writer's entry: the summary fails to parse, the block is
        # walked node by node and the damage found there; but a data node
        # without a stamp: its keep (the 12-byte prefix) was the rule's,
        # so its summary parses, the damage found when the bytes are read
        want[case + " old summary"] = [True] + mounts([]) \
            if case == "data" else [False] + mounts(record, 0, 16)
    runtime.run_checks("damaged_node_summary.py", want)
