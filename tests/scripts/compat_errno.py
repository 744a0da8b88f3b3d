"""ovl.compat's errno numbers, looked up by name (compat.ENOENT) and
named back (compat.errno_name), for the names given on the command line; then what an unknown name or number gives
(tests/test_compat.py compares with the host's errno module)."""
import sys

from checklib import outcome, report
from ovl import compat

out = {}
for name in sys.argv[1:]:
    code = getattr(compat, name)
    out[name] = [code, compat.errno_name(code)]
out["unknown"] = [compat.errno_name(1000), compat.errno_name(3),
                  outcome(getattr, compat, "ENOPE")]
# a number or a non-E word of the table is no name; a str is no number
out["not names"] = [outcome(getattr, compat, "2"),
                    outcome(getattr, compat, "ENOENT 2"),
                    compat.errno_name("x")]
out["numbers kept as globals"] = len([n for n in sys.argv[1:]
                                      if n in compat.__dict__])
out["an oserror"] = [compat.error_code(compat.oserror(compat.ENOTEMPTY, "/d")),
                     compat.oserror(compat.ENOTEMPTY, "/d").args[1]]
# str() names the errno once: MicroPython prints the name of an errno it
# knows (ENOENT) itself, of one it does not (ENOTDIR) not
out["str of an oserror"] = [str(compat.oserror(compat.ENOENT, "/p")),
                            str(compat.oserror(compat.ENOENT)),
                            str(compat.oserror(compat.ENOTDIR, "/p")).count(
                                "ENOTDIR")]
report(out)
