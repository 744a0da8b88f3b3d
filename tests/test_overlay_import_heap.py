"""The overlay's share of the mount path's import heap (docs/FIT.md, "The
overlay's import heap, fourth round"): a board's plain job imports the
package's __init__ (the Overlay, its resolution, transactions and
copy-up, one module), meta and file (with the write-back), nothing else
of it; the rare operations' names (ovl.overlay.rare) and the messages of
a wrong-type write and of a bad mode (ovl.overlay.fileops) come at their
first use and still answer, on both runtimes."""

from host_tools.image.mkimage import build_image

# what a board's mount, writes, listings and reads import of the package
BOARD_JOB = ["ovl.overlay", "ovl.overlay.file", "ovl.overlay.meta"]


def lower_image(tmp_path):
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "config").write_bytes(b"option=1\n")
    image = tmp_path / "lower.sqfs"
    build_image(str(tree), str(image), block_size=4096, mtime=1700000000,
                all_root=True)
    return str(image)


def test_board_job_imports_four_overlay_modules_and_rare_names_answer(
        runtime, tmp_path):
    runtime.run_checks("overlay_import_heap.py", {
        "listing": [["etc", "new"], ["config"], ["a"]],
        "reads": ["option=1\noption=2\n", "new file"],
        "lower changed": False,
        "after the board's job": BOARD_JOB,
        "stat": [18, False],
        "after a stat": sorted(BOARD_JOB + ["ovl.overlay.hostops",
                                            "ovl.overlay.rare"]),
        "no such operation": "AttributeError",
        "str to a binary file": "a bytes-like object is required",
        # MicroPython's own text files take bytes too
        "bytes to a text file": "TypeError" if runtime.name == "cpython"
        else "ok",
        "str to a text file": 4,
        "a bad mode": "invalid mode: 'rwb'",
        "written": ["", "text" if runtime.name == "cpython" else "bytestext"],
    }, args=[lower_image(tmp_path)])
