"""Run ovl's benchmarks: `python -m host_tools.bench all|NAME...`.

Each host_tools/bench/<name>.py is a standalone script that measures ovl
against a peer in the same run and prints ratios; this runs them in turn
with their default arguments (pass options by running a script directly).
"""

import os
import subprocess
import sys

from host_tools import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))


def bench_names():
    # _name.py: a helper the benchmarks share, not one of them
    return sorted(f[:-3] for f in os.listdir(HERE)
                  if f.endswith(".py") and not f.startswith("_"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    names = bench_names()
    wanted = names if not argv or argv == ["all"] else argv
    unknown = [n for n in wanted if n not in names]
    if unknown:
        print("bench: unknown benchmark %s (known: %s)"
              % (", ".join(unknown), ", ".join(names)), file=sys.stderr)
        return 2
    failed = []
    for name in wanted:
        print("\n######## bench %s" % name, flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "host_tools.bench." + name], cwd=ROOT)
        if proc.returncode:
            failed.append(name)
    if failed:
        print("bench: failed: %s" % ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
