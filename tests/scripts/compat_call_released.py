"""ovl.compat.call_released, as labelled results
(tests/test_compat_call_released.py checks each label on both runtimes).

Argument: DIR, holding the package `moments` with its module `moments.once`
(written by the test): add(a, b, scale=1), fail(why) (raises ValueError),
nested() (a call of its own module through the helper, from inside a call
of it), big() (a function whose code the release frees).
"""
import gc
import sys

from checklib import report
from ovl.compat import call_released, MICROPYTHON

sys.path.insert(0, sys.argv[1])
import moments  # noqa: E402

NAME = "moments.once"


def loaded():
    """Where moments.once is: sys.modules, the package's namespace."""
    return [NAME in sys.modules, "once" in moments.__dict__]


out = {"before a call": loaded()}
out["a call"] = [call_released(NAME, "add", (1, 2)), loaded()]
out["with keyword arguments"] = [
    call_released(NAME, "add", (1, 2), {"scale": 3}), loaded()]
try:
    call_released(NAME, "fail", ("refused",))
    out["after an exception"] = "no exception"
except ValueError as e:
    out["after an exception"] = [str(e), loaded()]
# an outer call of the same module holds it: the inner call leaves it
out["an outer call holds it"] = [call_released(NAME, "nested", ()),
                                 loaded()]
if MICROPYTHON:
    # the heap the call keeps: released, the module's code is garbage;
    # held (imported by the caller), it stays
    gc.collect()
    before = gc.mem_alloc()
    call_released(NAME, "big", ())
    gc.collect()
    released = gc.mem_alloc() - before
    before = gc.mem_alloc()
    import moments.once  # noqa: E402,F401   (held: a caller imported it)
    call_released(NAME, "big", ())
    gc.collect()
    out["heap kept: released, held"] = [released, gc.mem_alloc() - before]
else:
    import moments.once  # noqa: E402,F401
out["held by a caller"] = [call_released(NAME, "add", (2, 2)), loaded()]
report(out)
