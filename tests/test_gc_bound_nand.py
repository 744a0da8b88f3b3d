"""The GC bound on NAND with large pages (docs/STORE.md, "Bounded GC near
full"): counted in log bytes, a commit's padding to its page end
included, GC copies at most 3 bytes per byte written and erases at most
one block per KiB written.  tests/test_logstore.py holds the NOR runs."""

import pytest

HOLDS = {
    "gc log bytes <= 3 x log bytes written": True,
    "erases <= KiB of log written": True,
    "most writes went through": True,
    "fsck errors": [],
}


@pytest.mark.slow
def test_gc_bound_holds_on_nand_with_2k_pages(runtime):
    """512 KiB of NAND, 32 KiB blocks, 2 KiB pages, 75% full, 600
    rewrites and appends: before GC counted its own commit's padding
    against the space it frees, it copied 3.94 bytes of log per byte of
    log written here."""
    runtime.run_checks("gc_bound_nand.py", HOLDS,
                       args=["524288", "32768", "2048", "75", "600"],
                       timeout=600, heap="16M")


@pytest.mark.slow
@pytest.mark.parametrize("geometry", [
    ("1048576", "131072", "2048", "60"),    # the outside review's chip
    ("1048576", "131072", "2048", "75"),
    ("524288", "16384", "2048", "60"),      # 8 pages a block
    ("262144", "16384", "512", "75"),
])
def test_gc_bound_holds_on_other_nand_geometries(cpy, geometry):
    """The same workload on more NAND geometries and fills (CPython only:
    the test above runs the script under micropython too)."""
    cpy.run_checks("gc_bound_nand.py", HOLDS, args=list(geometry) + ["600"],
                   timeout=600)
