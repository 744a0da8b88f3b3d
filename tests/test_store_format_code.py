"""The store's format and block table keep what docs/FIT.md ("Store format
code") measured when imported on their own (python -m
host_tools.bench.store_code), within a margin: a change that adds globals,
functions or classes to them on a board's mount path shows here."""
from host_tools.bench import store_code

# measured 2026-12-06, after the store's heap round (.mpy bytes, heap from
# .mpy, heap from ROMFS) with ovl, ovl.compat, ovl.flash imported first;
# margins: 512 B of .mpy and of heap (a dict or a pool of names grows in
# steps).  The heaps are held for the two modules together: a pool of
# interned names opens during whichever import crosses its boundary, so a
# change elsewhere (fewer names in compat, say) moves ~1.8 KB from one
# module's figure to the other's while their sum stays put (format 5,408
# and blocks 1,344 B from ROMFS became 3,584 and 3,168 that way).  From
# .mpy, the pool that opened in ovl.flash's import (5,184 B) opens in
# blocks' since compat and flash shed names (2026-12-06, afternoon: flash
# 2,944, compat 3,200 instead of 4,352; format 10,688 -> 9,824, blocks
# 2,368 -> 4,192): the .mpy heap budgets are those figures.
BUDGET = {"ovl.store.format": (5176, 9824, 5408),
          "ovl.store.blocks": (1333, 4192, 1344)}
MARGIN = 512


def test_format_and_blocks_code_within_budget():
    res = store_code.measure()
    over = []
    for m, budget in BUDGET.items():
        if res["mpy_bytes"][m] > budget[0] + MARGIN:
            over.append("%s: %d B of .mpy, budget %d + %d"
                        % (m, res["mpy_bytes"][m], budget[0], MARGIN))
    for col, key in ((1, "import_mpy"), (2, "import_romfs")):
        got = sum(res[key][m] for m in BUDGET)
        budget = sum(b[col] for b in BUDGET.values())
        if got > budget + MARGIN:
            over.append("format + blocks %s: %d, budget %d + %d"
                        % (key, got, budget, MARGIN))
    assert not over, "\n" + "\n".join(over) + "\n" + store_code.report(res)
