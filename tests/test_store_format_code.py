"""The store's format and block table keep what docs/FIT.md ("Store format
code") measured when imported on their own (python -m
host_tools.bench.store_code), within a margin: a change that adds globals,
functions or classes to them on a board's mount path shows here."""
from host_tools.bench import store_code

# measured 2026-12-06, after the store's heap round (.mpy bytes, heap from
# .mpy, heap from ROMFS) with ovl, ovl.compat, ovl.flash imported first;
# margins: 512 B of .mpy and of heap (a dict or a pool of names grows in
# steps)
BUDGET = {"ovl.store.format": (5176, 10496, 5408),
          "ovl.store.blocks": (1333, 2336, 1344)}
MARGIN = 512


def test_format_and_blocks_code_within_budget():
    res = store_code.measure()
    over = []
    for m, budget in BUDGET.items():
        got = (res["mpy_bytes"][m], res["import_mpy"][m],
               res["import_romfs"][m])
        if any(g > b + MARGIN for g, b in zip(got, budget)):
            over.append("%s: %s, budget %s + %d" % (m, got, budget, MARGIN))
    assert not over, "\n" + "\n".join(over) + "\n" + store_code.report(res)
