"""Host tools for ovl: the `ovl` command line (CPython + pyserial).

The on-flash formats live in firmware/ovl and are imported from there; when
running from a checkout (python -m host_tools), firmware/ is put on sys.path.
"""

import os
import sys

try:
    import ovl  # noqa: F401  (installed, or already on the path)
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "firmware"))
