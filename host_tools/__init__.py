"""Host tools for ovl: the `ovl` command line (CPython + pyserial).

The on-flash formats live in firmware/ovl and are imported from there; when
running from a checkout (python -m host_tools), firmware/ is put on sys.path.
"""

import os
import sys

# The checkout: the modules in subpackages find firmware/ and boards/ here.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")

# A checkout's own firmware/ wins over an installed copy, so a second
# checkout (a git worktree) sharing one venv runs its own device code.
if os.path.isdir(os.path.join(FIRMWARE, "ovl")):
    if FIRMWARE not in sys.path:
        sys.path.insert(0, FIRMWARE)
