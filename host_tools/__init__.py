"""Host tools for ovl: the `ovl` command line (CPython + pyserial).

The on-flash formats live in firmware/ovl and are imported from there; when
running from a checkout (python -m host_tools), firmware/ is put on sys.path.
"""

import os
import sys

# A checkout's own firmware/ wins over an installed copy, so a second
# checkout (a git worktree) sharing one venv runs its own device code.
_FIRMWARE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "firmware")
if os.path.isdir(os.path.join(_FIRMWARE, "ovl")):
    if _FIRMWARE not in sys.path:
        sys.path.insert(0, _FIRMWARE)
